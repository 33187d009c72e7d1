"""The deploy under ansible-runner, the way AWX / AAP runs a job template: a private data dir whose project/ is the
collection's checkout (AWX's project sync), inventory/hosts, env/extravars (the job template's extra_vars from
awx/vars/main.yml plus the survey answers and the awx_* variables AWX adds), env/envvars and env/settings.

Two runs on one real environment (PostgreSQL, pm2, Prometheus): v2 succeeds, then the bad v3 is rolled back by
the gate, which AWX must see as a failed job. Each asserts runner's status and rc, the event stream, the
artifacts, the record on disk and the version the app serves.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import ansible_runner
import pytest
import yaml
from conftest import REPO, checked_record, evidence, served_version
from localenv import LocalEnv

pytestmark = pytest.mark.integration

# The survey's environment answer (awx/surveys/deploy.yml offers staging and production); the record and the lock
# go under <record dir>/staging/.
ENVIRONMENT = "staging"
AWX_USER = "alice"


class _Loader(yaml.SafeLoader):
    """awx/vars/main.yml marks the job templates' Jinja !unsafe (templated by the job, not by configure.yml)."""


_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def job_template(name: str) -> dict[str, Any]:
    settings = yaml.load((REPO / "awx" / "vars" / "main.yml").read_text(encoding="utf-8"), Loader=_Loader)
    template: dict[str, Any] = next(t for t in settings["liftoff_awx_job_templates"] if t["name"] == name)
    return template


def private_data_dir(env: LocalEnv, base: Path, version: str, job_id: int) -> Path:
    """What AWX lays out for one job of the 'liftoff deploy' job template."""
    pdd = base / f"job_{job_id}"
    (pdd / "inventory").mkdir(parents=True)
    (pdd / "env").mkdir()
    # The project: AWX syncs the git repository; here it is the checkout itself (its ansible.cfg included).
    (pdd / "project").symlink_to(REPO, target_is_directory=True)
    # The inventory: the demo's hosts and its group_vars (which read the environment's env.yml).
    shutil.copyfile(REPO / "inventories" / "local" / "hosts.yml", pdd / "inventory" / "hosts")
    group_vars = REPO / "inventories" / "local" / "group_vars"
    (pdd / "inventory" / "group_vars").symlink_to(group_vars, target_is_directory=True)
    template = job_template("liftoff deploy")
    extravars = {
        **template["extra_vars"],  # the job template's own extra_vars: Jinja the job renders (liftoff_operator ...)
        "liftoff_version": version, "liftoff_environment": ENVIRONMENT, "survey_approver": "",  # the survey's answers
        "awx_job_id": job_id, "awx_user_name": AWX_USER, "awx_job_template_name": template["name"],  # AWX adds these
    }
    (pdd / "env" / "extravars").write_text(json.dumps(extravars), encoding="utf-8")
    envvars = {"LIFTOFF_DEMO_ROOT": str(env.root), "ANSIBLE_NOCOLOR": "1",
               "PATH": f"{REPO / '.venv' / 'bin'}:/usr/local/bin:/usr/bin:/bin"}
    (pdd / "env" / "envvars").write_text(json.dumps(envvars), encoding="utf-8")
    settings = {"job_timeout": 1200, "idle_timeout": 900, "pexpect_timeout": 5, "suppress_ansible_output": True}
    (pdd / "env" / "settings").write_text(json.dumps(settings), encoding="utf-8")
    return pdd


def deploy(env: LocalEnv, base: Path, version: str, job_id: int,
           monkeypatch: pytest.MonkeyPatch) -> tuple[ansible_runner.Runner, Path]:
    # AWX sets no ANSIBLE_CONFIG: the project's own ansible.cfg (collections_path, the record_guard callback) is
    # found in the job's working directory, the project.
    monkeypatch.delenv("ANSIBLE_CONFIG", raising=False)
    # Nor the stdout callback conftest.py sets for the other tests: ansible-runner's own event callback must run.
    monkeypatch.delenv("ANSIBLE_STDOUT_CALLBACK", raising=False)
    pdd = private_data_dir(env, base, version, job_id)
    runner = ansible_runner.run(private_data_dir=str(pdd), playbook="playbooks/deploy.yml", ident=f"job-{job_id}",
                                quiet=True)
    return runner, pdd


def records(env: LocalEnv) -> list[Path]:
    return sorted(p for p in (env.root / "records" / ENVIRONMENT).glob("*") if p.is_dir())


def stats(runner: ansible_runner.Runner) -> dict[str, Any]:
    events = [e for e in runner.events if e.get("event") == "playbook_on_stats"]
    assert len(events) == 1, f"{len(events)} playbook_on_stats events"
    data: dict[str, Any] = events[0]["event_data"]
    return data


def assert_artifacts(runner: ansible_runner.Runner, pdd: Path, status: str, env: LocalEnv) -> None:
    artifacts = pdd / "artifacts" / runner.config.ident
    assert Path(runner.config.artifact_dir) == artifacts
    assert (artifacts / "status").read_text(encoding="utf-8") == status
    assert (artifacts / "rc").read_text(encoding="utf-8") == str(runner.rc)
    events = sorted((artifacts / "job_events").glob("*.json"))
    assert len(events) == len(list(runner.events)) > 50
    assert "PLAY RECAP" in (artifacts / "stdout").read_text(encoding="utf-8")
    # The artifacts (the command file holds the job's whole environment) never hold the database password.
    for path in artifacts.rglob("*"):
        if path.is_file():
            assert env.db_password.encode() not in path.read_bytes(), f"secret leaked into {path}"


def test_deploy_through_ansible_runner_succeeds(local_env: LocalEnv, tmp_path_factory: pytest.TempPathFactory,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    assert served_version(local_env) is None and records(local_env) == []
    runner, pdd = deploy(local_env, tmp_path_factory.mktemp("runner"), "v2", 101, monkeypatch)
    assert (runner.status, runner.rc) == ("successful", 0), runner.stdout.read()[-3000:]
    # Lines printed before the play (a library's deprecation warning on stderr) are 'verbose' events.
    events = [e for e in runner.events if e["event"] != "verbose"]
    assert events[0]["event"] == "playbook_on_start"
    assert any(e["event"] == "runner_on_ok" and e["event_data"].get("host") == "app1" for e in events)
    recap = stats(runner)
    assert (recap["failures"], recap["dark"]) == ({}, {}) and recap["ok"].get("app1", 0) > 0
    assert_artifacts(runner, pdd, "successful", local_env)
    # The world: the record, and the app serving v2 on its port.
    assert len(records(local_env)) == 1
    record = checked_record(records(local_env)[-1] / "record.json")
    assert (record["outcome"], record["version"], record["environment"]) == ("success", "v2", ENVIRONMENT)
    # The job template's extra var liftoff_operator was templated by the job from AWX's awx_user_name.
    assert record["operator"] == AWX_USER
    assert evidence(record, "run.start")["details"]["operator"] == AWX_USER
    assert served_version(local_env) == "v2"


def test_a_rolled_back_deploy_is_a_failed_job(local_env: LocalEnv, tmp_path_factory: pytest.TempPathFactory,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    assert served_version(local_env) == "v2" and len(records(local_env)) == 1
    runner, pdd = deploy(local_env, tmp_path_factory.mktemp("runner"), "v3", 102, monkeypatch)
    assert runner.status == "failed" and runner.rc != 0, (runner.status, runner.rc)
    recap = stats(runner)
    assert "app1" in recap["failures"], recap
    failed = [e for e in runner.events if e["event"] == "runner_on_failed" and not e["event_data"].get("ignore_errors")]
    assert failed, "no failed task in the event stream"
    assert_artifacts(runner, pdd, "failed", local_env)
    assert len(records(local_env)) == 2
    record = checked_record(records(local_env)[-1] / "record.json")
    assert (record["outcome"], record["verdict"], record["version"]) == ("rolled_back", "ROLLBACK", "v3")
    assert "error_ratio" in record["reason"]
    assert served_version(local_env) == "v2"
