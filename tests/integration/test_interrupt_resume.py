"""A run interrupted with SIGINT is recorded as interrupted; liftoff_resume continues it, or refuses.

One environment, in file order: v1 is deployed; a v2 run is interrupted (Ctrl-C) once its rollout
has passed; resuming with another version, or after the app was switched by hand, is refused
before anything changes; once the app runs what the run left, the resume finishes the run
without repeating its completed phases; a finished run cannot be resumed.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, applied_migrations, checked_record, evidence_all, runs, served_version
from localenv import LocalEnv

pytestmark = pytest.mark.integration

SWITCH = str(REPO / "tests" / "integration" / "playbooks" / "pm2_switch.yml")


def journal(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / "evidence.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def record(run_dir: Path) -> dict[str, Any]:
    return checked_record(run_dir / "record.json")


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def interrupt_after(env: LocalEnv, version: str, phase: str, signum: signal.Signals) -> dict[str, Any]:
    """Deploy ``version`` and send ``signum`` to ansible-playbook once ``<phase>.phase`` has passed."""
    before = set(runs(env))
    cmd = [str(REPO / ".venv" / "bin" / "ansible-playbook"), str(REPO / "playbooks" / "deploy.yml"),
           "-i", str(REPO / "inventories" / "local"), "-e", f"liftoff_version={version}"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env.environ(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    run_dir: Path | None = None
    while time.monotonic() < deadline and proc.poll() is None:
        new = [p for p in runs(env) if p not in before]
        run_dir = new[0] if new else None
        if run_dir and any(i["id"] == f"{phase}.phase" and i["status"] == "pass" for i in journal(run_dir)):
            break
        time.sleep(0.1)
    if proc.poll() is not None:
        pytest.fail(f"the run ended before it could be interrupted:\n{(proc.stdout.read() if proc.stdout else '')[-3000:]}")
    assert run_dir is not None
    proc.send_signal(signum)
    out, _unused = proc.communicate(timeout=120)
    return {"run_dir": run_dir, "rc": proc.returncode, "output": out, "run_id": run_dir.name}


@pytest.fixture(scope="module")
def interrupted(local_env: LocalEnv) -> dict[str, Any]:
    """v1 deployed, then a v2 run stopped with SIGINT after its rollout passed (during cdn, smoke or verify)."""
    first = local_env.playbook("deploy.yml", version="v1")
    assert first.returncode == 0, output(first)[-3000:]
    return interrupt_after(local_env, "v2", "rollout", signal.SIGINT)


def test_sigint_leaves_an_interrupted_record_that_says_how_to_go_on(local_env: LocalEnv,
                                                                    interrupted: dict[str, Any]) -> None:
    run_dir, run_id = interrupted["run_dir"], interrupted["run_id"]
    assert interrupted["rc"] == 99, interrupted["output"][-3000:]  # ansible-playbook's "User interrupted execution"
    assert f"liftoff.release: run {run_id} stopped before it ended (SIGINT)" in interrupted["output"]
    rec = record(run_dir)
    assert rec["outcome"] == "interrupted"
    assert rec["interruption"]["signal"] == "SIGINT"
    assert rec["failed_phase"] in ("cdn", "smoke", "verify")
    pending = [c["id"] for c in rec["rollback"]["pending"]]
    assert pending == ["rollout.change", "migrate.change"], pending
    assert [i["id"] for i in journal(run_dir)[-2:]] == ["run.stopped", "run.end"]
    text = (run_dir / "record.md").read_text(encoding="utf-8")
    assert "**Outcome:** `INTERRUPTED`" in text and f"-e liftoff_resume={run_id}" in text
    # nothing was undone, and the lock stays with the run for its resume or its rollback
    assert served_version(local_env) == "v2"
    lock = json.loads((run_dir.parent / "deploy.lock").read_text(encoding="utf-8"))
    assert lock["run_id"] == run_id


def test_resume_with_another_version_is_refused_before_anything_changes(local_env: LocalEnv,
                                                                        interrupted: dict[str, Any]) -> None:
    run_dir, run_id = interrupted["run_dir"], interrupted["run_id"]
    lines = len(journal(run_dir))
    result = local_env.playbook("deploy.yml", "-e", f"liftoff_resume={run_id}", version="v3")
    assert result.returncode != 0
    assert (f"liftoff_resume={run_id}: run {run_id} of local cannot be resumed: it deployed liftoff_version "
            "'v2', this run asks for 'v3'") in output(result)
    assert len(journal(run_dir)) == lines
    assert served_version(local_env) == "v2"


def test_resume_after_a_switch_by_hand_is_refused(local_env: LocalEnv, interrupted: dict[str, Any]) -> None:
    run_dir, run_id = interrupted["run_dir"], interrupted["run_id"]
    lines = len(journal(run_dir))
    switched = local_env.playbook(SWITCH, "-e", "pm2_rollback_to=v1", version="v2")
    assert switched.returncode == 0, output(switched)[-3000:]
    assert served_version(local_env) == "v1"
    result = local_env.playbook("deploy.yml", "-e", f"liftoff_resume={run_id}", version="v2")
    assert result.returncode != 0
    assert (f"liftoff_resume={run_id}: cannot resume: app1 runs v1, but run {run_id} left it on v2") in output(result)
    assert served_version(local_env) == "v1"
    assert len(journal(run_dir)) == lines


def test_resume_finishes_the_run_without_repeating_what_passed(local_env: LocalEnv,
                                                               interrupted: dict[str, Any]) -> None:
    run_dir, run_id = interrupted["run_dir"], interrupted["run_id"]
    back = local_env.playbook(SWITCH, "-e", "pm2_rollback_to=v2", version="v2")
    assert back.returncode == 0, output(back)[-3000:]
    result = local_env.playbook("deploy.yml", "-e", f"liftoff_resume={run_id}", version="v2")
    assert result.returncode == 0, output(result)[-4000:]
    rec = record(run_dir)
    assert rec["outcome"] == "success", (rec["failed_phase"], rec["reason"])
    assert rec["interruption"] is None and len(rec["resumed"]) == 1  # the refused ones wrote nothing
    for ident in ("preflight.phase", "backup.dump", "migrate.apply", "rollout.change", "rollout.phase"):
        assert len(evidence_all(rec, ident)) == 1, ident  # done before the interruption, not again
    assert evidence_all(rec, "verify.verdict")[-1]["actual"] == "PROCEED"
    assert {p["name"]: p["status"] for p in rec["phases"]}["smoke"] == "pass"
    assert served_version(local_env) == "v2"
    assert applied_migrations(local_env) == ["001", "002"]
    assert "| Resumed |" in (run_dir / "record.md").read_text(encoding="utf-8")
    assert not (run_dir.parent / "deploy.lock").exists() or \
        json.loads((run_dir.parent / "deploy.lock").read_text(encoding="utf-8")).get("run_id") != run_id


def test_a_finished_run_cannot_be_resumed(local_env: LocalEnv, interrupted: dict[str, Any]) -> None:
    run_id = interrupted["run_id"]
    result = local_env.playbook("deploy.yml", "-e", f"liftoff_resume={run_id}", version="v2")
    assert result.returncode != 0
    assert "it ended successfully: there is nothing to resume" in output(result)
    assert os.path.exists(interrupted["run_dir"] / "record.md")


def test_sigterm_then_resume_reuses_the_backup_and_rolls_back_a_bad_release(local_env: LocalEnv) -> None:
    """v3 (bad) stopped by SIGTERM (an AWX cancel) right after its backup; the resume migrates with that
    backup recorded for the rollback, the gate says ROLLBACK, and v2 serves again."""
    stopped = interrupt_after(local_env, "v3", "backup", signal.SIGTERM)
    run_dir, run_id = stopped["run_dir"], stopped["run_id"]
    assert stopped["rc"] == -signal.SIGTERM, stopped["output"][-3000:]
    rec = record(run_dir)
    assert (rec["outcome"], rec["interruption"]["signal"]) == ("interrupted", "SIGTERM")
    backup_path = rec["backup"]["path"]
    result = local_env.playbook("deploy.yml", "-e", f"liftoff_resume={run_id}", version="v3")
    assert result.returncode != 0, output(result)[-3000:]
    rec = record(run_dir)
    assert rec["outcome"] == "rolled_back", (rec["failed_phase"], rec["reason"])
    assert rec["verdict"] == "ROLLBACK"
    assert len(evidence_all(rec, "backup.dump")) == 1
    change = evidence_all(rec, "migrate.change")[-1]
    assert change["details"]["undo"]["backup"]["path"] == backup_path  # the backup taken before the SIGTERM
    assert served_version(local_env) == "v2"


def test_an_interrupted_run_is_undone_by_rollback_yml(local_env: LocalEnv) -> None:
    """The record's other way on: playbooks/rollback.yml -e run_id=<id> undoes what the stopped run changed."""
    stopped = interrupt_after(local_env, "v3", "rollout", signal.SIGINT)
    run_dir, run_id = stopped["run_dir"], stopped["run_id"]
    assert record(run_dir)["outcome"] == "interrupted"
    assert served_version(local_env) == "v3"  # nothing was undone by the interruption
    result = local_env.playbook("rollback.yml", "-e", f"run_id={run_id}", version="v3")
    assert result.returncode != 0, output(result)[-3000:]  # a rolled-back run is a failed run
    rec = record(run_dir)
    assert rec["outcome"] == "rolled_back", (rec["failed_phase"], rec["reason"])
    assert rec["interruption"] is None and rec["rollback"]["performed"]
    assert rec["rollback"]["pending"] == [], rec["rollback"]["pending"]
    assert served_version(local_env) == "v2"
    assert not (run_dir.parent / "deploy.lock").exists() or \
        json.loads((run_dir.parent / "deploy.lock").read_text(encoding="utf-8")).get("run_id") != run_id
