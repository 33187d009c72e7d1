"""Folding the evidence journal into the run's state."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from ansible_collections.liftoff.release.plugins.plugin_utils.run_state import change_key, fold, new_run_id

T0 = "2026-11-23T06:40:00.000Z"


def ev(ident: str, status: str = "pass", seq: int = 0, **kw: Any) -> dict[str, Any]:
    return {"id": ident, "phase": ident.split(".")[0], "title": ident, "status": status, "started": T0,
            "ended": T0, "host": kw.pop("host", "app1"), "seq": seq, "details": kw.pop("details", {}), **kw}


def start() -> dict[str, Any]:
    return ev("run.start", "info", 1, details={"run_id": "20261123T064000Z-abc123", "environment": "staging",
                                               "version": 2, "check_mode": True})


def test_success() -> None:
    state = fold([start(), ev("preflight.phase", seq=2), ev("rollout.change", "info", 3,
                                                            details={"undo": {"kind": "app", "previous": "v1"}}),
                  ev("rollout.phase", seq=4), ev("verify.verdict", "pass", 5, actual="PROCEED")])
    assert (state.outcome, state.failed, state.failed_phase, state.reason) == ("success", False, None, None)
    assert (state.run_id, state.environment, state.version, state.check_mode, state.started) == (
        "20261123T064000Z-abc123", "staging", "2", True, T0)
    assert state.phases == {"preflight": "pass", "rollout": "pass"}
    assert state.verdict == "PROCEED"
    assert state.changes == [{"id": "rollout.change", "seq": 3, "phase": "rollout", "host": "app1",
                              "undo": {"kind": "app", "previous": "v1"}, "title": "rollout.change"}]


def test_empty_journal_is_success_nothing_known() -> None:
    state = fold([])
    assert state.outcome == "success" and state.run_id == "" and state.changes == []


@pytest.mark.parametrize(("failing", "expected_reason"), [
    (ev("migrate.phase", "fail", 3, details={"error": "relation users does not exist"}),
     "relation users does not exist"),
    (ev("migrate.phase", "fail", 3, actual="exit 3"), "exit 3"),
    (ev("migrate.phase", "fail", 3), "migrate failed"),
])
def test_failed_phase(failing: dict[str, Any], expected_reason: str) -> None:
    state = fold([start(), ev("backup.phase", seq=2), failing,
                  ev("rollout.phase", "fail", 4, details={"error": "later failure must not win"})])
    assert (state.failed, state.failed_phase, state.reason, state.outcome) == (
        True, "migrate", expected_reason, "failed")
    assert state.phases == {"backup": "pass", "migrate": "fail", "rollout": "fail"}


def test_verdict_rollback_marks_failed_with_reasons() -> None:
    reasons = ["error_ratio breached max 0.05 in 3 of 5 samples", "p95 latency over 0.5 s"]
    state = fold([start(), ev("verify.verdict", "fail", 2, actual="ROLLBACK",
                              details={"verdict": "ROLLBACK", "reasons": reasons})])
    assert (state.failed, state.failed_phase, state.verdict) == (True, "verify", "ROLLBACK")
    assert state.reason == "gate verdict ROLLBACK: " + "; ".join(reasons)


def test_verdict_rollback_without_reasons() -> None:
    state = fold([ev("verify.verdict", "fail", 1, actual="ROLLBACK")])
    assert state.reason == "gate verdict ROLLBACK: no reason given"


@pytest.mark.parametrize(("rollback_status", "changed", "outcome"), [
    ("pass", True, "rolled_back"),
    ("pass", False, "failed"),  # nothing was changed, so nothing was rolled back
    ("fail", True, "rollback_failed"),
    ("fail", False, "rollback_failed"),
    ("skip", True, "failed"),
])
def test_rollback_outcomes(rollback_status: str, changed: bool, outcome: str) -> None:
    change = [ev("rollout.change", "info", 2, details={"undo": {"kind": "app"}})] if changed else []
    state = fold([start(), *change, ev("smoke.phase", "fail", 3, details={"error": "health 500"}),
                  ev("rollback.phase", rollback_status, 4)])
    assert state.outcome == outcome
    assert state.rollback_status == rollback_status
    assert state.failed_phase == "smoke", "the rollback phase never becomes the failed phase"


def test_rollback_phase_without_failure_is_success() -> None:
    assert fold([ev("rollback.phase", "skip", 1)]).outcome == "success"


def test_changes_in_order_and_pending_undo_newest_first() -> None:
    items = [
        start(),
        ev("backup.change", "info", 2, details={"undo": {"kind": "database", "dump": "/b/1.dump"}}),
        ev("migrate.change", "info", 3, details={"undo": {"kind": "database"}}),
        ev("rollout.change", "info", 4, host="app1", details={"undo": {"kind": "app", "previous": "v1"}}),
        ev("rollout.change", "info", 5, host="app2", details={"undo": {"kind": "app", "previous": "v1"}}),
        ev("verify.verdict", "fail", 6, actual="ROLLBACK", details={"reasons": ["bad"]}),
        ev("rollback.undo_app", "pass", 7, details={"change": "rollout.change#5"}),
        ev("rollback.undo_app", "fail", 8, details={"change": "rollout.change#4"}),
        ev("rollback.undo_db", "skip", 9, details={"change": "migrate.change#3"}),
        ev("rollback.note", "pass", 10, details={"change": "backup.change#2"}),
    ]
    state = fold(items)
    assert [change_key(c) for c in state.changes] == [
        "backup.change#2", "migrate.change#3", "rollout.change#4", "rollout.change#5"]
    assert state.undone == ["rollout.change#5", "migrate.change#3"]
    assert [change_key(c) for c in state.pending_undo] == ["rollout.change#4", "backup.change#2"]
    assert state.to_dict()["undone"] == state.undone


def test_new_run_id_format() -> None:
    moment = dt.datetime(2026, 11, 23, 6, 45, 0, tzinfo=dt.UTC)
    assert new_run_id(moment, "1a2b3c") == "20261123T064500Z-1a2b3c"
    assert re.fullmatch(r"\d{8}T\d{6}Z-[0-9a-f]{6}", new_run_id())
    assert new_run_id(moment) != new_run_id(moment)


def test_new_run_id_converts_aware_time_to_utc() -> None:
    local = dt.datetime(2026, 11, 23, 8, 45, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert new_run_id(local, "abcdef") == "20261123T064500Z-abcdef"


def test_a_rollback_run_on_its_own_that_fails_is_a_failed_run() -> None:
    state = fold([start(), ev("rollback.phase", "fail", 2, details={"error": "no previous release is recorded"})])
    assert state.outcome == "rollback_failed"
    assert state.failed_phase == "rollback" and state.reason == "no previous release is recorded"


def test_the_reason_names_only_the_metrics_that_drove_the_verdict() -> None:
    verdict = {"driving": ["error_ratio"], "reasons": ["error_ratio breached", "latency_p95 within max 0.5"],
               "metrics": [{"name": "error_ratio", "reason": "error_ratio breached max 0.05"},
                           {"name": "latency_p95", "reason": "latency_p95 within max 0.5"}]}
    state = fold([start(), ev("verify.verdict", "fail", 2, actual="ROLLBACK", details=verdict)])
    assert state.reason == "gate verdict ROLLBACK: error_ratio breached max 0.05"


def test_hold_answered_proceed_does_not_fail_the_run() -> None:
    hold = {"decision": "PROCEED", "why": "ana answered proceed at T", "by": "ana"}
    state = fold([start(), ev("verify.verdict", "pass", 2, actual="HOLD",
                              details={"final": "PROCEED", "hold": hold, "reasons": ["m had no data"]})])
    assert not state.failed and state.verdict == "HOLD" and state.outcome == "success"


def test_hold_that_nobody_answered_fails_the_run_and_says_why() -> None:
    hold = {"decision": "ROLLBACK", "why": "nobody answered within 60 s (playbooks/hold.yml): rolled back"}
    state = fold([start(), ev("verify.verdict", "fail", 2, actual="HOLD",
                              details={"final": "ROLLBACK", "hold": hold, "driving": ["m"],
                                       "metrics": [{"name": "m", "reason": "m had no data -> HOLD (critical)"}]})])
    assert state.failed and state.failed_phase == "verify"
    assert state.reason == ("gate verdict HOLD (nobody answered within 60 s (playbooks/hold.yml): rolled back): "
                            "m had no data -> HOLD (critical)")


@pytest.mark.parametrize(("status", "undone"), [("pass", True), ("skip", True), ("fail", False), ("info", False)])
def test_an_undo_recorded_outside_rollback_marks_the_change_undone(status: str, undone: bool) -> None:
    # A flag restored after verify passed (maintenance.restore, phase verify) names the change it undid.
    items = [
        start(),
        ev("maintenance.change", "info", 2, details={"undo": {"kind": "maintenance", "flag": "auto_sync"}}),
        ev("rollout.change", "info", 3, details={"undo": {"kind": "app", "previous": "v1"}}),
        ev("maintenance.restore", status, 4, phase="verify", details={"undoes": "maintenance.change#2"}),
    ]
    state = fold(items)
    assert state.undone == (["maintenance.change#2"] if undone else [])
    assert [change_key(c) for c in state.pending_undo] == (
        ["rollout.change#3"] if undone else ["rollout.change#3", "maintenance.change#2"])
    assert state.outcome == "success"


def test_undoes_without_a_value_marks_nothing() -> None:
    state = fold([start(), ev("maintenance.change", "info", 2, details={"undo": {"kind": "maintenance"}}),
                  ev("maintenance.restore", "pass", 3, details={"undoes": ""})])
    assert state.undone == [] and len(state.pending_undo) == 1


def test_remembered_values_are_kept_per_host_and_the_latest_wins() -> None:
    from ansible_collections.liftoff.release.plugins.plugin_utils.run_state import fold

    state = fold([
        {"id": "run.start", "status": "info", "details": {"run_id": "r1"}},
        {"id": "migrate.counters", "phase": "migrate", "status": "info", "host": "db1",
         "details": {"remember": {"counters_after_migrate": {"public.t": 5}}}},
        {"id": "migrate.counters", "phase": "migrate", "status": "info", "host": "db1",
         "details": {"remember": {"counters_after_migrate": {"public.t": 7}}}},
        {"id": "x.other", "phase": "migrate", "status": "info", "host": "db2", "details": {"remember": {"k": 1}}},
    ])
    assert state.remembered == {"db1": {"counters_after_migrate": {"public.t": 7}}, "db2": {"k": 1}}
    assert state.to_dict()["remembered"]["db2"] == {"k": 1}
    assert state.failed is False  # remembering changes nothing else
