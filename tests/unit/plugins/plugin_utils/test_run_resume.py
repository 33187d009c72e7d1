"""Interrupted runs (run.stopped) and resumed ones (run.resume): folding, refusals, what the guard writes."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.liftoff.release.plugins.plugin_utils.run_guard import (
    close_stopped_run,
    running_phase,
    stop_text,
)
from ansible_collections.liftoff.release.plugins.plugin_utils.run_state import (
    expected_releases,
    fold,
    resume_facts,
    resume_refusal,
)

T0 = "2026-11-23T06:40:00.000Z"
REQUEST = {"version": "v2", "strategy": "pm2", "check_mode": False, "hosts": ["app1", "app2"]}


def ev(ident: str, status: str = "pass", seq: int = 0, **kw: Any) -> dict[str, Any]:
    return {"id": ident, "phase": ident.split(".")[0], "title": kw.pop("title", ident), "status": status,
            "started": kw.pop("started", T0), "ended": T0, "host": kw.pop("host", "app1"), "seq": seq,
            "details": kw.pop("details", {}), "actual": kw.pop("actual", None)}


def interrupted_journal() -> list[dict[str, Any]]:
    return [
        ev("run.start", "info", 1, details={"run_id": "r1", "environment": "prod", "version": "v2",
                                            "strategy": "pm2", "check_mode": False, "hosts": ["app1", "app2"]}),
        ev("preflight.baseline", "pass", 2, details={"remember": {"gate_baselines": {"error_ratio": 0.01}}}),
        ev("preflight.phase", "pass", 3),
        ev("backup.result", "info", 4, details={"remember": {"backup_result": {"path": "/b/x.pgc"}}}),
        ev("backup.phase", "pass", 5),
        ev("migrate.change", "info", 6, title="Schema changed", details={"undo": {"kind": "database"}}),
        ev("migrate.phase", "pass", 7),
        ev("rollout.change", "info", 8, title="v1 -> v2", details={"undo": {"kind": "app", "previous": "v1"}}),
        ev("run.stopped", "fail", 9, actual="interrupted by SIGINT during rollout",
           details={"signal": "SIGINT", "phase": "rollout"}),
        ev("run.end", "fail", 10, actual="interrupted"),
    ]


def test_a_stopped_run_is_interrupted_with_its_changes_pending() -> None:
    state = fold(interrupted_journal())
    assert (state.outcome, state.failed_phase, state.interrupted, state.ended) == (
        "interrupted", "rollout", True, True)
    assert state.reason == "interrupted by SIGINT during rollout"
    assert [c["id"] for c in state.pending_undo] == ["rollout.change", "migrate.change"]


def test_resume_clears_the_failure_and_keeps_what_passed_and_what_changed() -> None:
    state = fold([*interrupted_journal(), ev("run.resume", "info", 11)])
    assert (state.failed, state.failed_phase, state.reason, state.interrupted, state.ended) == (
        False, None, None, False, False)
    assert state.completed == ["preflight", "backup", "migrate"]
    assert state.resumed == 1 and state.outcome == "success"
    assert [c["id"] for c in state.pending_undo] == ["rollout.change", "migrate.change"]
    assert expected_releases(state) == {"app1": "v2"}
    assert resume_facts(state) == {"app1": {"gate_baselines": {"error_ratio": 0.01},
                                            "backup_result": {"path": "/b/x.pgc"}}}


def test_a_phase_that_failed_runs_again_after_a_resume() -> None:
    journal = [*interrupted_journal()[:7], ev("rollout.phase", "fail", 8, details={"error": "pm2 refused"}),
               ev("rollback.phase", "skip", 9), ev("run.end", "fail", 10, actual="failed")]
    assert fold(journal).outcome == "failed"
    assert resume_refusal(fold(journal), REQUEST) is None
    resumed = fold([*journal, ev("run.resume", "info", 11)])
    assert "rollout" not in resumed.completed and resumed.rollback_status is None


@pytest.mark.parametrize(("change", "why"), [
    ({"version": "v3"}, "it deployed liftoff_version 'v2', this run asks for 'v3'"),
    ({"strategy": "compose"}, "it deployed liftoff_strategy 'pm2', this run asks for 'compose'"),
    ({"check_mode": True}, "check mode differs"),
    ({"hosts": ["app1"]}, "the hosts changed: it ran on app1, app2, this run targets app1"),
])
def test_resume_is_refused_when_the_request_changed(change: dict[str, Any], why: str) -> None:
    refusal = resume_refusal(fold(interrupted_journal()), {**REQUEST, **change})
    assert refusal is not None and refusal.startswith(why)


def test_resume_is_refused_after_success_rollback_or_a_later_run() -> None:
    state = fold(interrupted_journal())
    assert resume_refusal(state, REQUEST) is None
    assert "later runs of this environment (r2)" in str(resume_refusal(state, REQUEST, ["r2"]))
    assert "no such run" in str(resume_refusal(fold([]), REQUEST))
    done = [*interrupted_journal()[:8], ev("run.end", "pass", 9, actual="success")]
    assert "nothing to resume" in str(resume_refusal(fold(done), REQUEST))
    rolled = [*interrupted_journal()[:8], ev("smoke.phase", "fail", 9), ev("rollback.undo_app", "pass", 10),
              ev("rollback.phase", "pass", 11)]
    assert "rolled back" in str(resume_refusal(fold(rolled), REQUEST))


def test_running_phase_is_the_first_without_an_outcome_since_the_last_start_or_resume() -> None:
    journal = interrupted_journal()
    assert running_phase(journal[:3]) == "backup"
    assert running_phase(journal) == "rollout"
    failed_then_resumed = [*journal[:5], ev("migrate.phase", "fail", 6), ev("run.resume", "info", 7)]
    assert running_phase(failed_then_resumed) == "migrate"
    assert stop_text("SIGTERM", "smoke", "Smoke: health") == (
        "interrupted by SIGTERM during smoke (task: Smoke: health), before the run ended")
    assert stop_text(None, "verify", None) == "ansible-playbook stopped during verify, before the run ended"


def write_journal(directory: Path, items: list[dict[str, Any]]) -> None:
    directory.mkdir(parents=True)
    (directory / "evidence.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")


def test_close_stopped_run_writes_the_stop_and_the_record_once(tmp_path: Path) -> None:
    run_dir = tmp_path / "prod" / "r1"
    write_journal(run_dir, interrupted_journal()[:8])
    paths = close_stopped_run(run_dir, "SIGINT", "liftoff.release.pm2 : Start or reload app", "Rollout",
                              secrets=["s3cr3t-value"])
    assert paths is not None and set(paths) >= {"json", "markdown"}
    record = json.loads((run_dir / "record.json").read_text(encoding="utf-8"))
    assert record["outcome"] == "interrupted" and record["failed_phase"] == "rollout"
    assert record["interruption"]["signal"] == "SIGINT"
    assert [c["id"] for c in record["interruption"]["pending_undo"]] == ["rollout.change", "migrate.change"]
    assert [c["id"] for c in record["rollback"]["pending"]] == ["rollout.change", "migrate.change"]
    text = (run_dir / "record.md").read_text(encoding="utf-8")
    assert "**Outcome:** `INTERRUPTED`" in text and "## Interrupted" in text
    assert "-e liftoff_resume=r1" in text and "playbooks/rollback.yml -e run_id=r1" in text
    lines = (run_dir / "evidence.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["id"] for line in lines[-2:]] == ["run.stopped", "run.end"]
    assert close_stopped_run(run_dir, "SIGINT", None, None) is None  # it has ended: nothing more is written
    assert len((run_dir / "evidence.jsonl").read_text(encoding="utf-8").splitlines()) == len(lines)


def test_close_stopped_run_leaves_a_finished_run_alone(tmp_path: Path) -> None:
    run_dir = tmp_path / "prod" / "r1"
    write_journal(run_dir, [*interrupted_journal()[:8], ev("run.end", "pass", 9, actual="success")])
    assert close_stopped_run(run_dir, None, None, None) is None
    assert not (run_dir / "record.json").exists()
    assert close_stopped_run(tmp_path / "nothing", "SIGINT", None, None) is None
