"""The release history every strategy keeps: previous never points at a rolled-back release."""
from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.liftoff.release.plugins.filter.releases import release_history_advance
from ansible_collections.liftoff.release.plugins.plugin_utils.releases import ReleaseHistoryError, advance, empty, kept


def play(*steps: tuple[str, str]) -> dict[str, Any]:
    state: dict[str, Any] = empty()
    for version, action in steps:
        state = advance(state, version, action, run_id="r", at="t")
    return state


def test_deploys_move_previous_along() -> None:
    state = play(("v1", "deploy"), ("v2", "deploy"))
    assert (state["current"], state["previous"]) == ("v2", "v1")
    assert [e["from"] for e in state["history"]] == [None, "v1"]


def test_redeploying_the_current_release_keeps_previous() -> None:
    state = play(("v1", "deploy"), ("v2", "deploy"), ("v2", "deploy"))
    assert (state["current"], state["previous"]) == ("v2", "v1")


def test_after_a_rollback_previous_is_what_ran_before_not_the_bad_release() -> None:
    state = play(("v1", "deploy"), ("v2", "deploy"), ("v3", "deploy"), ("v2", "rollback"))
    assert (state["current"], state["previous"]) == ("v2", "v1")
    assert state["rolled_back"] == ["v3"]
    again = advance(state, state["previous"], "rollback")
    assert (again["current"], again["previous"]) == ("v1", None)
    assert again["rolled_back"] == ["v3", "v2"]


def test_deploying_a_rolled_back_release_again_clears_its_mark() -> None:
    state = play(("v1", "deploy"), ("v2", "deploy"), ("v1", "rollback"), ("v2", "deploy"))
    assert (state["current"], state["previous"], state["rolled_back"]) == ("v2", "v1", [])


def test_first_release_has_no_previous() -> None:
    assert play(("v1", "deploy"))["previous"] is None


@pytest.mark.parametrize(("version", "action", "message"), [
    ("v1", "undo", "action must be one of deploy, rollback, got 'undo'"),
    ("", "deploy", "the version to make current is empty"),
])
def test_bad_requests_are_refused(version: str, action: str, message: str) -> None:
    with pytest.raises(ReleaseHistoryError, match=message):
        advance(empty(), version, action)


def test_filter_names_itself_in_errors() -> None:
    with pytest.raises(Exception, match=r"liftoff\.release\.release_history_advance: .*action must be one of"):
        release_history_advance(empty(), "v1", "undo")


def test_kept_keeps_recent_current_and_previous() -> None:
    state = play(*[(f"v{n}", "deploy") for n in range(1, 8)])
    assert kept(state, 3) == ["v7", "v6", "v5"]
    rolled = advance(state, "v2", "rollback")
    assert set(kept(rolled, 2, ["v9"])) == {"v2", "v7", "v1", "v9"}
    with pytest.raises(ReleaseHistoryError, match="keep must be at least 1"):
        kept(state, 0)
