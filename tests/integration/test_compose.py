"""The compose strategy end to end: real ansible-playbook runs of the collection's playbooks
against a throwaway dockerd (Debian docker.io) and the Compose v1 CLI.

Deploys run playbooks/deploy.yml, the whole pipeline, with `liftoff_skip_phases: [backup, migrate,
verify]`: the busybox demo app has no database and no metrics. The manual rollback runs
playbooks/rollback.yml.

The images are the busybox demo app (examples/compose/app) built FROM scratch: v1 and v2
healthy, v3 failing its HEALTHCHECK. The tests share one environment and run in file order:
v1, v2, an unhealthy v3 rolled back, a rollback to a named release, bad input.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, evidence

from tests.support.docker import DockerDaemon, DockerDaemonError, free_port
from tests.support.receiver import Receiver

pytestmark = pytest.mark.integration

HERE = REPO / "tests" / "integration" / "compose"
INVENTORY = HERE / "hosts.yml"
PROJECT = "liftoff-demo"


# Planted secrets of the notification targets: the Slack webhook's token and the PagerDuty key.
SLACK_TOKEN = "T0LIFTOFF/B0DEMO/s3cr3t-slack-token-4242"
ROUTING_KEY = "pd-routing-key-0123456789abcdef"


@dataclass
class ComposeEnv:
    root: Path
    app_port: int
    docker: DockerDaemon
    hooks: Receiver

    @property
    def project_dir(self) -> Path:
        return self.root / "srv" / "compose"

    def playbook(self, playbook: str | Path, *args: str, version: str | None = None) -> subprocess.CompletedProcess[str]:
        path = playbook if isinstance(playbook, Path) else REPO / "playbooks" / playbook
        cmd = [str(REPO / ".venv" / "bin" / "ansible-playbook"), str(path), "-i", str(INVENTORY)]
        if version:
            cmd += ["-e", f"liftoff_version={version}"]
        cmd += list(args)
        env = dict(os.environ, LIFTOFF_COMPOSE_ROOT=str(self.root), ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
                   ANSIBLE_NOCOLOR="1", PATH=f"{REPO / '.venv' / 'bin'}:{os.environ.get('PATH', '')}")
        env.pop("DOCKER_HOST", None)
        started = time.monotonic()
        result = subprocess.run(cmd, cwd=REPO, env=env, text=True, capture_output=True, timeout=900, check=False)
        print(f"{path.name} {' '.join(args)} ({version}): rc={result.returncode} in {time.monotonic() - started:.1f} s")
        return result

    def deploy(self, version: str, *args: str) -> subprocess.CompletedProcess[str]:
        return self.playbook("deploy.yml", *args, version=version)

    def served_version(self) -> str | None:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(f"http://127.0.0.1:{self.app_port}/version", timeout=5) as reply:
                return str(json.load(reply)["version"])
        except OSError:
            return None

    def runs(self) -> list[Path]:
        return sorted(p for p in (self.root / "records" / "local").glob("*") if p.is_dir())

    def latest_record(self) -> dict[str, Any]:
        return dict(json.loads((self.runs()[-1] / "record.json").read_text(encoding="utf-8")))

    def state(self) -> dict[str, Any]:
        return dict(json.loads((self.project_dir / "releases.json").read_text(encoding="utf-8")))

    def containers(self) -> list[dict[str, Any]]:
        return [c for c in self.docker.containers(PROJECT) if isinstance(c, dict)]

    def running(self) -> dict[str, Any]:
        """The one running container of the web service (docker inspect), asserting there is exactly one."""
        running = [c for c in self.containers() if c["State"]["Running"]]
        assert len(running) == 1, [(c["Name"], c["Config"]["Image"], c["State"]["Status"]) for c in self.containers()]
        assert running[0]["Config"]["Labels"]["com.docker.compose.service"] == "web"
        return running[0]


@pytest.fixture(scope="module")
def compose_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeEnv]:
    try:
        docker = DockerDaemon().start()
    except DockerDaemonError as exc:
        pytest.fail(str(exc))
    try:
        docker.build_app(f"{PROJECT}:v1", "v1")
        docker.build_app(f"{PROJECT}:v2", "v2")
        docker.build_app(f"{PROJECT}:v3", "v3", healthy=False)
        root = tmp_path_factory.mktemp("compose-env").resolve()
        hooks = Receiver(fail_paths=("/down",)).start()
        cenv = ComposeEnv(root, free_port(), docker, hooks)
        (root / "env.json").write_text(json.dumps({
            "root": str(root), "python": sys.executable, "app_port": cenv.app_port,
            "docker_host": docker.host, "client": docker.client,
            "notify": {"slack": hooks.url(f"/slack/services/{SLACK_TOKEN}"), "webhook": hooks.url("/hook"),
                       "pagerduty": hooks.url("/pd/v2/enqueue"), "routing_key": ROUTING_KEY,
                       "down": hooks.url("/down")}}), encoding="utf-8")
        try:
            yield cenv
        finally:
            hooks.stop()
    finally:
        docker.stop()


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def assert_no_notify_secret(cenv: ComposeEnv, result: subprocess.CompletedProcess[str]) -> None:
    """The webhook token and the routing key never appear in the output or anything under records/."""
    for secret in (SLACK_TOKEN, ROUTING_KEY):
        assert secret not in result.stdout + result.stderr
        for path in (cenv.root / "records").rglob("*"):
            if path.is_file():
                assert secret.encode() not in path.read_bytes(), f"{secret} leaked into {path}"


def assert_serves(cenv: ComposeEnv, version: str) -> dict[str, Any]:
    """The app on the port answers ``version`` from a healthy container of image liftoff-demo:<version>."""
    assert cenv.served_version() == version
    container = cenv.running()
    assert container["Config"]["Image"] == f"{PROJECT}:{version}"
    assert container["Image"] == cenv.docker.image_id(f"{PROJECT}:{version}")
    assert container["State"]["Health"]["Status"] == "healthy"
    return container


def test_first_deploy_v1(compose_env: ComposeEnv) -> None:
    result = compose_env.deploy("v1")
    assert result.returncode == 0, output(result)[-4000:]
    assert_serves(compose_env, "v1")
    record = compose_env.latest_record()
    assert record["outcome"] == "success", (record["failed_phase"], record["reason"])
    assert evidence(record, "preflight.health")["status"] == "skip"  # nothing ran before
    # The phases this app does not have are recorded as skipped, saying why; no database was checked.
    for phase in ("backup", "migrate", "verify"):
        skipped = evidence(record, f"{phase}.phase")
        assert skipped["status"] == "skip" and "liftoff_skip_phases lists it" in skipped["actual"], skipped
    assert not [i for i in record["evidence"] if i["id"] == "preflight.database"]
    # The readiness checks ran in preflight, on the host, before the deploy.
    assert evidence(record, "preflight.disk_project")["status"] == "pass"
    engine = evidence(record, "preflight.docker_engine")
    assert engine["status"] == "pass" and engine["actual"].startswith("exit 0: "), engine
    state = compose_env.state()
    assert (state["current"], state["previous"]) == ("v1", None)
    assert state["releases"] == {"v1": {"web": f"{PROJECT}:v1"}}


def test_good_deploy_v2(compose_env: ComposeEnv) -> None:
    assert_serves(compose_env, "v1")
    compose_env.hooks.clear()
    result = compose_env.deploy("v2")
    assert result.returncode == 0, output(result)[-4000:]
    # Notifications: the audit webhook heard the start and the end; Slack (failures only for phases)
    # the same; PagerDuty resolves; the target that is down is recorded, the deploy goes on.
    hooks = compose_env.hooks
    assert [b["event"] for b in hooks.bodies("/hook")] == ["start", "end"]
    end = hooks.bodies("/hook")[-1]
    assert (end["outcome"], end["version"], end["app"]) == ("success", "v2", "liftoff-demo")
    assert end["record"].endswith("/record.md") and end["summary"] == "liftoff-demo v2 to local: SUCCESS"
    assert [b["text"].split(" ", 1)[0] for b in hooks.bodies("/slack/")] == [":rocket:", ":white_check_mark:"]
    assert [b["event_action"] for b in hooks.bodies("/pd/")] == ["resolve"]
    assert hooks.bodies("/pd/")[0]["routing_key"] == ROUTING_KEY  # delivered to PagerDuty, shown nowhere else
    assert_no_notify_secret(compose_env, result)
    assert_serves(compose_env, "v2")
    assert "image: liftoff-demo:v2" in (compose_env.project_dir / "compose.yml").read_text(encoding="utf-8")
    state = compose_env.state()
    assert (state["current"], state["previous"]) == ("v2", "v1")
    assert [(h["action"], h["version"], h["from"]) for h in state["history"]] == [("deploy", "v1", None),
                                                                                  ("deploy", "v2", "v1")]
    assert state["releases"] == {"v1": {"web": f"{PROJECT}:v1"}, "v2": {"web": f"{PROJECT}:v2"}}
    record = compose_env.latest_record()
    assert record["outcome"] == "success" and record["previous_version"] == "v1" and record["version"] == "v2"
    change = evidence(record, "rollout.change")
    assert change["details"]["undo"] == {"kind": "app", "strategy": "compose", "previous": "v1", "to": "v2"}
    assert change["details"]["images"] == {"web": f"{PROJECT}:v2"}
    deployed = evidence(record, "rollout.deploy")
    release = deployed["details"]  # compose_release, as the rollout role reports it
    assert (release["strategy"], release["previous"], release["current"], release["changed"]) == \
        ("compose", "v1", "v2", True)
    assert release["images"] == {"web": f"{PROJECT}:v2"} and release["rolled_back"] == []
    assert [(c["service"], c["image"], c["state"]) for c in release["containers"]] == \
        [("web", f"{PROJECT}:v2", "running")]
    assert evidence(record, "smoke.phase")["status"] == "pass"
    told = evidence(record, "record.notify.end")
    assert told["status"] == "fail" and "down HTTP 500" in told["actual"], told
    assert {d["name"]: d["ok"] for d in told["details"]["deliveries"]} == {
        "ops": True, "audit": True, "on-call": True, "down": False}


def test_unhealthy_release_is_rolled_back(compose_env: ComposeEnv) -> None:
    before = assert_serves(compose_env, "v2")
    compose_env.hooks.clear()
    result = compose_env.deploy("v3")
    assert result.returncode != 0
    # Slack heard the start, the failed phase, the rollback and the end; PagerDuty was paged twice
    # (the rollback, then the rolled-back end) under one dedup key, with the record's link.
    hooks = compose_env.hooks
    slack = [b["text"] for b in hooks.bodies("/slack/")]
    assert [t.split(" ", 1)[0] for t in slack] == [":rocket:", ":x:", ":rewind:", ":rewind:"], slack
    assert "phase rollout fail" in slack[1] and "rolling back after rollout" in slack[2]
    assert "ROLLED BACK" in slack[3] and "Record: " in slack[3]
    pages = hooks.bodies("/pd/")
    assert [p["event_action"] for p in pages] == ["trigger", "trigger"]
    assert len({p["dedup_key"] for p in pages}) == 1 and pages[1]["payload"]["severity"] == "critical"
    assert pages[1]["links"][0]["href"].endswith("/record.md")
    assert [b["event"] for b in hooks.bodies("/hook")] == ["start", "rollback", "end"]
    assert_no_notify_secret(compose_env, result)
    after = assert_serves(compose_env, "v2")
    assert after["Id"] != before["Id"]  # v3 replaced it, then the rollback brought v2 back
    record = compose_env.latest_record()
    assert record["outcome"] == "rolled_back" and record["failed_phase"] == "rollout"
    # Why, in the journal: the health check's own words (in the rollout phase's error or, with the
    # rolling rollout, in the host's failure item).
    why = [json.dumps(i) for i in record["evidence"] if i["phase"] == "rollout" and i["status"] == "fail"]
    assert any("service web (liftoff-demo:v3) is unhealthy" in w and "404 Not Found" in w for w in why), why
    assert evidence(record, "rollout.change")["details"]["undo"]["previous"] == "v2"
    assert evidence(record, "rollback.undo_app")["status"] == "pass"
    assert evidence(record, "rollback.smoke")["status"] == "pass"
    assert "ROLLED BACK" in (compose_env.runs()[-1] / "record.md").read_text(encoding="utf-8")
    # v3 went live (the history says so) and is marked rolled back: "previous" can never bring it back.
    state = compose_env.state()
    assert state["current"] == "v2" and state["rolled_back"] == ["v3"]
    assert [(h["action"], h["version"], h["from"]) for h in state["history"][-2:]] == \
        [("deploy", "v3", "v2"), ("rollback", "v2", "v3")]
    assert "is unhealthy" in output(result)


def test_rollback_to_a_named_release(compose_env: ComposeEnv) -> None:
    assert_serves(compose_env, "v2")
    result = compose_env.playbook("rollback.yml", "-e", "rollback_to=v1", version="v2")
    assert result.returncode == 0, output(result)[-4000:]
    assert_serves(compose_env, "v1")
    assert "image: liftoff-demo:v1" in (compose_env.project_dir / "compose.yml").read_text(encoding="utf-8")
    state = compose_env.state()
    assert state["current"] == "v1" and set(state["rolled_back"]) == {"v2", "v3"}
    assert state["history"][-1]["action"] == "rollback" and state["history"][-1]["from"] == "v2"
    record = compose_env.latest_record()
    manual = evidence(record, "rollback.manual")
    assert manual["status"] == "pass" and manual["details"]["current"] == "v1"
    assert manual["details"]["previous"] == "v2"
    # A release the history does not hold is refused, naming what it holds; nothing changes.
    unknown = compose_env.playbook("rollback.yml", "-e", "rollback_to=v9", version="v2")
    assert unknown.returncode != 0
    assert "release v9 is not in the release history" in output(unknown)
    assert_serves(compose_env, "v1")


def test_bad_input_names_the_variable_and_changes_nothing(compose_env: ComposeEnv) -> None:
    before = assert_serves(compose_env, "v1")
    state = compose_env.state()
    count = len(compose_env.runs())
    result = compose_env.deploy("v2", "-e", '{"compose_images": {"web": "liftoff-demo"}}')
    assert result.returncode != 0
    assert "compose_images.web" in output(result) and "tag or a digest" in output(result)
    after = assert_serves(compose_env, "v1")
    assert after["Id"] == before["Id"]
    assert compose_env.state() == state
    assert len(compose_env.runs()) == count + 1
    record = compose_env.latest_record()
    assert record["outcome"] == "failed" and record["failed_phase"] == "preflight"
    assert evidence(record, "rollout.phase")["status"] == "skip"
    # A notification target without its URL: refused before the run starts (so before the lock and
    # the first notification), naming the item; nobody is told anything.
    compose_env.hooks.clear()
    runs_before = len(compose_env.runs())
    result = compose_env.deploy("v2", "-e", json.dumps({"notify_targets": [{"name": "ops", "type": "slack"}]}))
    assert result.returncode != 0
    assert "notify_targets[0] (slack) needs url, an http(s) URL (the incoming webhook)" in output(result)
    assert len(compose_env.runs()) == runs_before and compose_env.hooks.received == []
    assert not (compose_env.root / "records" / "local" / "deploy.lock").exists()
    # The database check asked for without the database's inputs: refused, naming them.
    result = compose_env.deploy("v2", "-e", "preflight_db_check=true")
    assert result.returncode != 0
    assert "the database check needs liftoff_db_host, liftoff_db_port, liftoff_db_name, liftoff_db_user" \
        in output(result)
    assert compose_env.running()["Id"] == before["Id"] and compose_env.state() == state
