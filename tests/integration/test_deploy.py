"""The backbone, end to end: real ansible-playbook runs against real PostgreSQL and pm2.

The tests in this module share one environment and run in file order, like an operator's
day: v1, v2, a plan (--check), a failed migration, a bad release, the lock, bad input.
Each test asserts the state it starts from, so a failure points at the right step.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path

import pytest
from conftest import (
    REPO,
    applied_migrations,
    assert_no_secret,
    backups,
    evidence,
    latest_record,
    release_state,
    runs,
    served_version,
)
from localenv import LocalEnv

from ansible_collections.liftoff.release.plugins.plugin_utils import lock

pytestmark = pytest.mark.integration

SCHEMA_SQL = (
    "SELECT string_agg(table_name || '.' || column_name || ':' || data_type, ',' ORDER BY table_name, column_name) "
    "FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> 'liftoff_schema_migrations'"
)
INDEX_SQL = "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes WHERE schemaname = 'public'"


def schema(env: LocalEnv) -> str:
    return env.pg.psql(SCHEMA_SQL, db="demo") + "|" + env.pg.psql(INDEX_SQL, db="demo")


def items(env: LocalEnv) -> str:
    return env.pg.psql("SELECT string_agg(id || ':' || name, ',' ORDER BY id) FROM items", db="demo")


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def pm2_processes(env: LocalEnv) -> dict[int, dict[str, str]]:
    """The environment of every process under the demo's pm2 (its daemon and the app's workers), by pid."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            raw = (proc / "environ").read_bytes()
        except OSError:
            continue
        pairs = dict(p.split("=", 1) for p in raw.decode(errors="replace").split("\0") if "=" in p)
        if pairs.get("PM2_HOME") == str(env.root / "pm2"):
            found[int(proc.name)] = pairs
    return found


def worker_environments(env: LocalEnv) -> list[dict[str, str]]:
    """The environment of every process under the demo's pm2 (its daemon and the app's workers)."""
    return list(pm2_processes(env).values())


def app_pids(env: LocalEnv) -> set[int]:
    """The pids of the demo's pm2 daemon and the app's workers (a reload or restart changes them)."""
    return set(pm2_processes(env))


def test_first_deploy_v1(local_env: LocalEnv) -> None:
    # A controller-side secret (a CI token, a cloud key) must not reach the app through pm2.
    planted = "controller-only-" + hashlib.sha256(str(local_env.root).encode()).hexdigest()[:16]
    result = local_env.playbook("deploy.yml", version="v1", extra_env={"LIFTOFF_TEST_CI_TOKEN": planted})
    assert result.returncode == 0, output(result)[-3000:]
    assert served_version(local_env) == "v1"
    environments = worker_environments(local_env)
    assert len(environments) >= 3  # pm2's daemon and the two workers
    assert all(planted not in e.values() and "LIFTOFF_TEST_CI_TOKEN" not in e for e in environments)
    assert all(e.get("PORT") == str(local_env.app_port) for e in environments if "NODE_APP_INSTANCE" in e)
    assert applied_migrations(local_env) == ["001"]
    record = latest_record(local_env)
    assert record["outcome"] == "success", (record["failed_phase"], record["reason"])
    assert evidence(record, "preflight.health")["status"] == "skip"  # nothing ran before
    assert_no_secret(local_env, output(result))


def test_good_deploy_v2(local_env: LocalEnv) -> None:
    assert served_version(local_env) == "v1"
    rows = items(local_env)
    result = local_env.playbook("deploy.yml", version="v2")
    assert result.returncode == 0, output(result)[-3000:]
    assert served_version(local_env) == "v2"
    assert applied_migrations(local_env) == ["001", "002"]
    assert items(local_env) == rows
    record = latest_record(local_env)
    assert record["outcome"] == "success" and record["verdict"] == "PROCEED"
    assert record["previous_version"] == "v1" and record["version"] == "v2"
    # The backup on disk is the one recorded, and it was verified.
    dump = evidence(record, "backup.dump")
    path = Path(dump["details"]["path"])
    assert path.exists() and path.stat().st_size == int(dump["details"]["bytes"])
    assert hashlib.sha256(path.read_bytes()).hexdigest() == dump["details"]["sha256"]
    verify = evidence(record, "backup.verify")
    assert verify["status"] == "pass" and int(verify["details"]["tables_with_data"]) == 2
    assert evidence(record, "migrate.apply")["details"]["applied"][0]["version"] == "002"
    state = release_state(local_env)
    assert (state["current"], state["previous"]) == ("v2", "v1")
    assert (local_env.root / "srv" / "app" / "current").resolve().name == "v2"
    markdown = (runs(local_env)[-1] / "record.md").read_text(encoding="utf-8")
    assert "**Outcome:** `SUCCESS`" in markdown and "Gate verdict | PROCEED" in markdown
    assert_no_secret(local_env, output(result))


def test_check_mode_is_a_plan_that_changes_nothing(local_env: LocalEnv) -> None:
    assert served_version(local_env) == "v2"
    before = (schema(local_env), items(local_env), applied_migrations(local_env), release_state(local_env),
              backups(local_env))
    result = local_env.playbook("deploy.yml", "--check", version="v3")
    assert result.returncode == 0, output(result)[-3000:]
    after = (schema(local_env), items(local_env), applied_migrations(local_env), release_state(local_env),
             backups(local_env))
    assert after == before
    assert served_version(local_env) == "v2"
    record = latest_record(local_env)
    assert record["check_mode"] is True
    plan = evidence(record, "migrate.apply")
    assert plan["status"] == "skip" and "003" in plan["actual"]
    assert "plan" in evidence(record, "rollout.deploy")["actual"]


def test_failed_migration_leaves_schema_data_and_app_as_they_were(local_env: LocalEnv, tmp_path: Path) -> None:
    from build_release import build_release

    assert served_version(local_env) == "v2"
    broken = build_release("v3", tmp_path / "v3-broken", broken_migration=True)
    before = (schema(local_env), items(local_env), applied_migrations(local_env), release_state(local_env))
    result = local_env.playbook("deploy.yml", "-e", f"liftoff_release_src={broken}", version="v3")
    assert result.returncode != 0
    # 003 was applied and committed before 004 failed: the policy restores the verified backup.
    after = (schema(local_env), items(local_env), applied_migrations(local_env), release_state(local_env))
    assert after == before
    assert served_version(local_env) == "v2"
    record = latest_record(local_env)
    assert record["outcome"] == "rolled_back" and record["failed_phase"] == "migrate"
    assert "004_broken.sql" in record["reason"]
    restore = evidence(record, "rollback.undo_database")
    assert restore["status"] == "pass" and restore["details"]["migrations_undone"] == ["003"]
    assert evidence(record, "rollout.phase")["status"] == "skip"
    assert "ROLLED BACK" in (runs(local_env)[-1] / "record.md").read_text(encoding="utf-8")


def test_bad_release_rolls_back_to_v2(local_env: LocalEnv) -> None:
    assert served_version(local_env) == "v2"
    rows = items(local_env)
    result = local_env.playbook("deploy.yml", version="v3")
    assert result.returncode != 0
    assert served_version(local_env) == "v2"
    assert items(local_env) == rows
    state = release_state(local_env)
    assert state["current"] == "v2" and state["history"][-1]["action"] == "rollback"
    record = latest_record(local_env)
    assert record["outcome"] == "rolled_back" and record["verdict"] == "ROLLBACK"
    assert "error_ratio" in record["reason"]
    gate = record["gate"]
    breached = next(m for m in gate["metrics"] if m["name"] == "error_ratio")
    assert breached["result"] == "fail" and breached["threshold"]["max"] == 0.05
    assert breached["samples"] and max(s["value"] for s in breached["samples"]) > 0.05
    assert evidence(record, "rollback.undo_app")["status"] == "pass"
    assert evidence(record, "rollback.smoke")["status"] == "pass"
    # Migration 003 succeeded: by the default policy the database is not restored (writes kept).
    assert evidence(record, "rollback.undo_database")["status"] == "skip"
    assert "error_ratio" in output(result)
    assert_no_secret(local_env, output(result))


def test_second_run_is_refused_while_the_first_holds_the_lock(local_env: LocalEnv) -> None:
    assert served_version(local_env) == "v2"
    first = subprocess.Popen(
        [str(REPO / ".venv/bin/ansible-playbook"), "playbooks/deploy.yml", "-i", "inventories/local",
         "-e", "liftoff_version=v2", "-e", "liftoff_operator=alice"],
        cwd=REPO, env=local_env.environ(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lock_file = local_env.root / "records" / "local" / "deploy.lock"
    deadline = time.monotonic() + 60
    while not lock_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert lock_file.exists(), "the first run never took the lock"
    second = local_env.playbook("deploy.yml", "-e", "liftoff_operator=bob", version="v2")
    first_out, _unused = first.communicate(timeout=600)
    assert first.returncode == 0, first_out[-3000:]
    assert second.returncode != 0
    assert "held by owner 'alice'" in output(second)
    bob = [json.loads((p / "record.json").read_text()) for p in runs(local_env)
           if (p / "record.json").exists() and json.loads((p / "record.json").read_text())["operator"] == "bob"]
    assert bob and bob[-1]["outcome"] == "failed"
    assert evidence(bob[-1], "preflight.lock")["status"] == "fail"
    assert not lock_file.exists(), "the lock must be released when the first run ends"


def test_stale_lock_is_broken_only_explicitly(local_env: LocalEnv) -> None:
    lock_file = local_env.root / "records" / "local" / "deploy.lock"
    lock.acquire(lock_file, "carol", "dead-run", "local", ttl=1, now=time.time() - 3600)
    refused = local_env.playbook("preflight.yml", version="v2")
    assert refused.returncode != 0
    assert "stale" in output(refused) and "lock_break_stale=true" in output(refused)
    assert json.loads(lock_file.read_text())["run_id"] == "dead-run"
    broken = local_env.playbook("preflight.yml", "-e", "lock_break_stale=true", version="v2")
    assert broken.returncode == 0, output(broken)[-3000:]
    record = latest_record(local_env)
    assert evidence(record, "preflight.lock")["details"]["broken_stale_lock"]["owner"] == "carol"
    assert not lock_file.exists()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "liftoff_version"),
        (["-e", "liftoff_version=v2", "-e", "liftoff_strategy=helm"], "liftoff_strategy"),
        (["-e", "liftoff_version=v2", "-e",
          '{"gate_metrics": [{"name": "error_ratio", "kind": "error_ratio", "max": "five percent"}]}'],
         "gate_metrics[0].max"),
        (["-e", "liftoff_version=v2", "-e", '{"smoke_checks": [{"url": "http://x"}]}'], "name"),
        (["-e", "liftoff_version=v2", "-e", '{"liftoff_skip_phases": ["rollout"]}'], "liftoff_skip_phases"),
    ],
    ids=["missing-version", "unknown-strategy", "malformed-threshold", "smoke-check-without-name",
         "skip-a-phase-that-cannot-be-skipped"],
)
def test_bad_input_is_rejected_before_any_change(local_env: LocalEnv, extra: list[str], message: str) -> None:
    before = (len(runs(local_env)), backups(local_env), release_state(local_env), applied_migrations(local_env))
    result = local_env.playbook("deploy.yml", *extra)
    assert result.returncode != 0
    assert message in output(result)
    after = (len(runs(local_env)), backups(local_env), release_state(local_env), applied_migrations(local_env))
    assert after == before
    assert not (local_env.root / "records" / "local" / "deploy.lock").exists()


@pytest.mark.parametrize("phase", ["preflight", "backup", "migrate", "rollout", "smoke", "verify"])
def test_each_phase_playbook_runs_alone(local_env: LocalEnv, phase: str) -> None:
    assert served_version(local_env) == "v2"
    count = len(backups(local_env))
    pids = app_pids(local_env)
    result = local_env.playbook(f"{phase}.yml", version="v2")
    assert result.returncode == 0, output(result)[-3000:]
    record = latest_record(local_env)
    assert record["outcome"] == "success", (record["failed_phase"], record["reason"])
    assert evidence(record, "preflight.lock")["status"] == "pass"  # a run of its own, under the lock
    assert evidence(record, f"{phase}.phase")["status"] == "pass"
    expected = ["preflight"] if phase == "preflight" else ["preflight", phase]
    assert [p["name"] for p in record["phases"] if p["name"] != "run"] == expected
    assert len(backups(local_env)) == count + (1 if phase == "backup" else 0)
    if phase == "backup":
        assert evidence(record, "backup.verify")["status"] == "pass"
    if phase == "verify":
        assert record["verdict"] == "PROCEED"
    if phase == "rollout":  # v2 runs already: nothing to deploy, and nothing reloaded
        assert evidence(record, "rollout.deploy")["actual"].endswith(", already deployed"), evidence(
            record, "rollout.deploy")
    assert served_version(local_env) == "v2"
    assert len(pids) >= 3 and app_pids(local_env) == pids  # daemon and 2 workers, none restarted
    assert not (local_env.root / "records" / "local" / "deploy.lock").exists()


def test_manual_rollback_playbook(local_env: LocalEnv) -> None:
    assert served_version(local_env) == "v2"
    result = local_env.playbook("rollback.yml", version="v2")
    assert result.returncode == 0, output(result)[-3000:]
    assert served_version(local_env) == "v1"
    state = release_state(local_env)
    # previous is what ran before v1 was deployed (nothing); v2 is marked rolled back, so another
    # "roll back to previous" can never bring it back by accident.
    assert (state["current"], state["previous"]) == ("v1", None)
    assert "v2" in state["rolled_back"]
    nothing_before = local_env.playbook("rollback.yml", version="v2")
    assert nothing_before.returncode != 0 and "no previous release is recorded" in output(nothing_before)
    assert served_version(local_env) == "v1"
    forward = local_env.playbook("rollback.yml", "-e", "rollback_to=v2", version="v2")
    assert forward.returncode == 0, output(forward)[-3000:]
    assert served_version(local_env) == "v2"


def test_a_crash_outside_any_phase_still_rolls_back_and_records(local_env: LocalEnv) -> None:
    assert served_version(local_env) == "v2"
    crash = Path(__file__).parent / "playbooks" / "crash_after_rollout.yml"
    result = local_env.playbook(str(crash), version="v1")
    assert result.returncode != 0
    assert served_version(local_env) == "v2"  # the rollout to v1 was undone
    record = latest_record(local_env)
    assert record["outcome"] == "rolled_back", (record["failed_phase"], record["reason"])
    assert record["failed_phase"] == "run" and "outside a phase" in record["reason"]
    assert evidence(record, "rollback.undo_app")["status"] == "pass"
    assert evidence(record, "smoke.phase")["status"] == "skip"
    assert "simulated crash" in evidence(record, "run.interrupted")["details"]["error"]
    assert not (local_env.root / "records" / "local" / "deploy.lock").exists()


def test_go_no_go_and_a_refused_final_sign_off(local_env: LocalEnv) -> None:
    """Seed 003's go/no-go before any change and seed 004's final sign-off after the verdict:
    approved by alice up front; the sign-off nobody gave fails verify and the deploy is rolled back."""
    from build_release import build_release

    assert served_version(local_env) == "v2"
    v2s = build_release("v2", local_env.root / "artifacts" / "v2s")
    release = json.loads((v2s / "release.json").read_text(encoding="utf-8"))
    (v2s / "release.json").write_text(json.dumps({**release, "version": "v2s"}), encoding="utf-8")
    approvals = {"approval_gates": [{"name": "go_no_go", "question": "Go for production?", "approvers": ["alice"]},
                                    {"name": "final_sign_off", "question": "Signed off?", "at": "verify"}],
                 "approval_given": {"go_no_go": {"by": "alice", "note": "CAB-77"}}, "approval_mode": "variable"}
    result = local_env.playbook("deploy.yml", "-e", json.dumps(approvals), version="v2s")
    assert result.returncode != 0
    assert served_version(local_env) == "v2"
    record = latest_record(local_env)
    assert record["outcome"] == "rolled_back", (record["failed_phase"], record["reason"])
    assert record["failed_phase"] == "verify" and "not approved: final_sign_off" in record["reason"]
    go = evidence(record, "preflight.approval.go_no_go")
    assert go["status"] == "pass" and go["details"]["by"] == "alice" and go["details"]["note"] == "CAB-77"
    assert evidence(record, "verify.verdict")["actual"] == "PROCEED"
    sign_off = evidence(record, "verify.approval.final_sign_off")
    assert sign_off["status"] == "fail" and "no approval given: set approval_given.final_sign_off" in sign_off["actual"]
    assert evidence(record, "rollback.undo_app")["status"] == "pass"
    md = (runs(local_env)[-1] / "record.md").read_text(encoding="utf-8")
    assert "approved by alice (variable, CAB-77)" in md and "FAILED: **Approval: Signed off?**" in md
    # Each approval is decided and recorded once, at its own point of the run.
    assert [i["id"] for i in record["evidence"] if ".approval." in i["id"]] == [
        "preflight.approval.go_no_go", "verify.approval.final_sign_off"]
