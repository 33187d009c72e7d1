"""Rolling and canary batches across hosts: cumulative steps, failure tolerance, the fleet map."""
from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.liftoff.release.plugins.plugin_utils.rollout import (
    RolloutStepsError,
    batch_outcome,
    batches,
    fleet,
    step_errors,
    tolerance_errors,
)


def hosts(n: int) -> list[str]:
    return [f"h{i}" for i in range(1, n + 1)]


@pytest.mark.parametrize(("n", "steps", "sizes"), [
    (3, [10, 50, 100], [1, 1, 1]),
    (10, [10, 50, 100], [1, 4, 5]),
    (100, [10, 50, 100], [10, 40, 50]),
    (1, [10, 50, 100], [1]),
    (2, [10, 50, 100], [1, 1]),
    (4, [25, 50, 100], [1, 1, 2]),
    (5, [100], [5]),
    (7, [33.3, 100], [3, 4]),
])
def test_batch_sizes(n: int, steps: list[float], sizes: list[int]) -> None:
    assert [len(b["hosts"]) for b in batches(hosts(n), steps)] == sizes


def test_batches_are_cumulative_and_labelled_by_the_first_step_reaching_them() -> None:
    plan = batches(hosts(3), [10, 50, 100])
    assert [b["step"] for b in plan] == ["10", "50", "100"]
    assert [b["upgraded"] for b in plan] == [["h1"], ["h1", "h2"], ["h1", "h2", "h3"]]
    assert [b["last"] for b in plan] == [False, False, True]
    assert [b["share"] for b in plan] == [33.33, 66.67, 100.0]
    # one host: the 10% step already takes the whole fleet; the later steps add nobody
    single = batches(["only"], [10, 50, 100])
    assert single == [{"step": "10", "percent": 10.0, "hosts": ["only"], "upgraded": ["only"], "share": 100.0,
                       "last": True}]


def test_fractional_step_label() -> None:
    assert [b["step"] for b in batches(hosts(10), [12.5, 100])] == ["12.5", "100"]


@pytest.mark.parametrize(("steps", "needle"), [
    ([], "non-empty list"),
    ("10,50,100", "non-empty list"),
    ([10, 50], "must end at 100"),
    ([50, 10, 100], "strictly ascending"),
    ([10, 10, 100], "strictly ascending"),
    ([0, 100], "rollout_steps[0]"),
    ([10, 150], "rollout_steps[1]"),
    ([True, 100], "rollout_steps[0]"),
    (["10", 100], "rollout_steps[0]"),
])
def test_bad_steps_are_named(steps: object, needle: str) -> None:
    errors = step_errors(steps)
    assert errors and any(needle in e for e in errors), errors
    assert all("rollout_steps" in e for e in errors)
    with pytest.raises(RolloutStepsError):
        batches(hosts(3), steps)  # type: ignore[arg-type]


def test_duplicate_hosts_are_refused() -> None:
    with pytest.raises(RolloutStepsError, match="distinct"):
        batches(["a", "a"], [100])


@given(n=st.integers(min_value=1, max_value=300),
       steps=st.lists(st.integers(min_value=1, max_value=99), max_size=5, unique=True))
def test_every_host_exactly_once_in_order(n: int, steps: list[int]) -> None:
    plan = batches(hosts(n), [*sorted(steps), 100])
    flat = [h for b in plan for h in b["hosts"]]
    assert flat == hosts(n)  # every host once, in inventory order
    assert all(b["hosts"] for b in plan)  # no empty batch
    assert plan[-1]["last"] and not any(b["last"] for b in plan[:-1])
    for batch in plan:
        # after a step of p%, at least p% of the fleet is upgraded (a canary gets at least one host)
        assert len(batch["upgraded"]) >= math.ceil(n * batch["percent"] / 100 - 1e-9)


@pytest.mark.parametrize(("failed", "tolerance", "stop"), [
    ([], 0, False),
    (["h1"], 0, True),
    (["h1"], 50, False),  # 1 of 4 = 25% <= 50%
    (["h1", "h2"], 50, False),  # 50% is not greater than 50%
    (["h1", "h2", "h3"], 50, True),
    (["h1", "h2", "h3", "h4"], 99, True),  # every host failed: always stops
])
def test_batch_outcome(failed: list[str], tolerance: float, stop: bool) -> None:
    outcome = batch_outcome(hosts(4), failed, tolerance)
    assert outcome["stop"] is stop
    assert outcome["failed"] == failed
    assert outcome["succeeded"] == [h for h in hosts(4) if h not in failed]


def test_failed_hosts_outside_the_batch_do_not_count() -> None:
    outcome = batch_outcome(["h2"], ["h1"], 0)
    assert outcome == {"hosts": ["h2"], "failed": [], "succeeded": ["h2"], "failed_share": 0.0,
                       "max_fail_percentage": 0, "stop": False}


@pytest.mark.parametrize("bad", [-1, 100, 150, "10", True, None])
def test_bad_tolerance_is_named(bad: object) -> None:
    errors = tolerance_errors(bad)
    assert errors and "rollout_max_fail_percentage" in errors[0]
    with pytest.raises(RolloutStepsError):
        batch_outcome(["h1"], [], bad)  # type: ignore[arg-type]


def test_fleet_map_says_which_host_runs_what() -> None:
    releases = {"h1": {"current": "v3"}, "h2": {"current": "v3"}, "h3": {"current": "v2"}}
    split = fleet(["h1", "h2", "h3", "h4"], releases, "v3")
    assert split["hosts"] == {"h1": "v3", "h2": "v3", "h3": "v2", "h4": None}
    assert split["by_version"] == {"v3": ["h1", "h2"], "v2": ["h3"], "unknown": ["h4"]}
    assert split["on_target"] == ["h1", "h2"] and split["off_target"] == ["h3"] and split["unknown"] == ["h4"]
    assert split["split"] is True
    whole = fleet(["h1", "h2"], {"h1": {"current": "v2"}, "h2": {"current": "v2"}}, "v2")
    assert whole["split"] is False and whole["by_version"] == {"v2": ["h1", "h2"]}
