"""The compose strategy rolled out across real SSH hosts, in steps.

Three hosts, each its own network namespace with sshd (tests/support/netns.py) and its own
dockerd started inside that namespace (tests/support/docker.py): a container with host
networking serves on its host's own address. ansible-playbook reaches the hosts over real SSH
and runs the whole of playbooks/deploy.yml with `rollout_steps: [10, 50, 100]` (batches [h1],
[h2], [h3]) and `liftoff_skip_phases: [backup, migrate, verify]`: the busybox demo app has no
database and no metrics, so a batch passes when its hosts' containers turn healthy and report
the version.

- v1, then v2 through the steps: every host serves v2, each batch recorded with its host.
- v3 is unhealthy only where LIFTOFF_DEMO_FAULTY is set (h2): the first batch (h1) passes, the
  second (h2) fails its health check, and the rollback puts back BOTH upgraded hosts; h3 was
  never touched. The record says which host ran what at the stop and after the rollback.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import evidence, evidence_all

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.support.docker import DockerDaemon, DockerDaemonError
from tests.support.fleet import save_inventory
from tests.support.netns import NetnsError, SshFleet

pytestmark = pytest.mark.integration

APP_PORT = 8080  # inside each host's own namespace: nothing else listens there
PROJECT = "liftoff-demo"
TIMINGS: dict[str, float] = {}


@dataclass
class ComposeFleet:
    root: Path
    ssh: SshFleet
    inventory: Path
    daemons: dict[str, DockerDaemon] = field(default_factory=dict)

    def playbook(self, playbook: str, *args: str, version: str | None = None) -> subprocess.CompletedProcess[str]:
        cmd = [str(REPO / ".venv" / "bin" / "ansible-playbook"), str(REPO / "playbooks" / playbook),
               "-i", str(self.inventory)]
        if version:
            cmd += ["-e", f"liftoff_version={version}"]
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                   PATH=f"{REPO / '.venv' / 'bin'}:{os.environ.get('PATH', '')}")
        env.pop("DOCKER_HOST", None)
        return subprocess.run([*cmd, *args], cwd=REPO, env=env, text=True, capture_output=True, timeout=900,
                              check=False)

    def served(self) -> dict[str, str | None]:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        out: dict[str, str | None] = {}
        for host in self.ssh.hosts:
            try:
                with opener.open(f"http://{host.address}:{APP_PORT}/version", timeout=5) as reply:
                    out[host.name] = str(json.load(reply)["version"])
            except OSError:
                out[host.name] = None
        return out

    def images(self) -> dict[str, list[str]]:
        """The image of each running container of the project, per host (from that host's own dockerd)."""
        return {name: sorted(str(c["Config"]["Image"]) for c in daemon.containers(PROJECT)  # type: ignore[index]
                             if c["State"]["Running"])  # type: ignore[index]
                for name, daemon in self.daemons.items()}

    def state(self, host: str) -> dict[str, Any]:
        return dict(json.loads((self.root / "hosts" / host / "compose" / "releases.json").read_text(encoding="utf-8")))

    def latest_record(self) -> dict[str, Any]:
        runs = sorted(p for p in (self.root / "records" / "fleet").glob("*") if p.is_dir())
        return dict(json.loads((runs[-1] / "record.json").read_text(encoding="utf-8")))


def _inventory(root: Path, ssh: SshFleet, daemons: dict[str, DockerDaemon]) -> Path:
    python = str(REPO / ".venv" / "bin" / "python")
    hosts: dict[str, Any] = {}
    for host in ssh.hosts:
        url = f"http://{host.address}:{APP_PORT}"
        environment = {"PORT": str(APP_PORT), "BIND": host.address,
                       **({"LIFTOFF_DEMO_FAULTY": "1"} if host.name == "h2" else {})}
        hosts[host.name] = {
            **host.inventory(ssh.key, ssh.known_hosts, python),
            "liftoff_app_url": url,
            "compose_project_dir": str(root / "hosts" / host.name / "compose"),
            "compose_docker_host": daemons[host.name].host,
            "compose_services": {"web": {"network_mode": "host", "environment": environment}},
        }
    group = {
        "liftoff_environment": "fleet",
        "liftoff_record_dir": str(root / "records"),
        "liftoff_strategy": "compose",
        "liftoff_skip_phases": ["backup", "migrate", "verify"],
        "preflight_health_url": "{{ liftoff_app_url }}/health",
        "compose_project_name": PROJECT,
        "compose_docker_bin": daemons["h1"].client,
        "compose_images": {"web": PROJECT + ":{{ liftoff_version }}"},
        "compose_health_url": "{{ liftoff_app_url }}/version",
        "compose_health_retries": 30,
        "rollout_steps": [10, 50, 100],
        "smoke_checks": [
            {"name": "health", "url": "{{ liftoff_app_url }}/health", "json": {"status": "ok"}},
            {"name": "version", "url": "{{ liftoff_app_url }}/version", "json": {"version": "{{ liftoff_version }}"}},
        ],
        "rollback_health_url": "{{ liftoff_app_url }}/health",
    }
    return save_inventory(root, hosts, group)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeFleet]:
    root = tmp_path_factory.mktemp("cfleet").resolve()
    ssh: SshFleet | None = None
    daemons: dict[str, DockerDaemon] = {}
    try:
        try:
            ssh = SshFleet.start(root, 3)
            for host in ssh.hosts:
                # A short directory of its own: the daemon's unix socket path must stay short.
                daemon = DockerDaemon(netns=host.netns).start()
                daemons[host.name] = daemon
                daemon.build_app(f"{PROJECT}:v1", "v1")
                daemon.build_app(f"{PROJECT}:v2", "v2")
                daemon.build_app(f"{PROJECT}:v3", "v3", unhealthy_if="LIFTOFF_DEMO_FAULTY")
        except (DockerDaemonError, NetnsError) as exc:
            pytest.fail(str(exc))
        yield ComposeFleet(root=root, ssh=ssh, inventory=_inventory(root, ssh, daemons), daemons=daemons)
    finally:
        for daemon in daemons.values():
            daemon.stop()
        if ssh is not None:
            ssh.stop()


def _out(result: subprocess.CompletedProcess[str]) -> str:
    return (result.stdout + result.stderr)[-4000:]


def test_first_deploy_reaches_every_host(fleet: ComposeFleet) -> None:
    result = fleet.playbook("deploy.yml", version="v1")
    assert result.returncode == 0, _out(result)
    assert fleet.served() == {"h1": "v1", "h2": "v1", "h3": "v1"}
    assert fleet.images() == {h: [f"{PROJECT}:v1"] for h in ("h1", "h2", "h3")}
    record = fleet.latest_record()
    assert record["outcome"] == "success", (record["failed_phase"], record["reason"])
    assert [evidence(record, f"rollout.batch_{s}")["details"]["hosts"] for s in ("10", "50", "100")] == [
        ["h1"], ["h2"], ["h3"]]


def test_steps_pass_and_every_host_serves_the_new_images(fleet: ComposeFleet) -> None:
    started = time.monotonic()
    result = fleet.playbook("deploy.yml", version="v2")
    TIMINGS["steps"] = time.monotonic() - started
    assert result.returncode == 0, _out(result)
    assert fleet.served() == {"h1": "v2", "h2": "v2", "h3": "v2"}
    assert fleet.images() == {h: [f"{PROJECT}:v2"] for h in ("h1", "h2", "h3")}
    record = fleet.latest_record()
    assert record["outcome"] == "success", (record["failed_phase"], record["reason"])
    # Each host records its own switch, with the images it now runs.
    changes = {c["host"]: c["details"] for c in evidence_all(record, "rollout.change")}
    assert sorted(changes) == ["h1", "h2", "h3"]
    assert all(c["images"] == {"web": f"{PROJECT}:v2"} and c["undo"]["previous"] == "v1" for c in changes.values())
    assert evidence(record, "rollout.fleet")["details"]["hosts"] == {"h1": "v2", "h2": "v2", "h3": "v2"}
    for host in ("h1", "h2", "h3"):
        state = fleet.state(host)
        assert (state["current"], state["previous"]) == ("v2", "v1")
        assert state["releases"]["v2"] == {"web": f"{PROJECT}:v2"}
    print(f"\n3-host compose rollout v1 -> v2 ([10, 50, 100]): {TIMINGS['steps']:.1f} s")


def test_unhealthy_second_batch_rolls_back_every_upgraded_host(fleet: ComposeFleet) -> None:
    started = time.monotonic()
    result = fleet.playbook("deploy.yml", version="v3")
    TIMINGS["breach"] = time.monotonic() - started
    assert result.returncode != 0
    assert fleet.served() == {"h1": "v2", "h2": "v2", "h3": "v2"}
    assert fleet.images() == {h: [f"{PROJECT}:v2"] for h in ("h1", "h2", "h3")}
    record = fleet.latest_record()
    assert record["outcome"] == "rolled_back", (record["failed_phase"], record["reason"])
    assert record["failed_phase"] == "rollout"
    # The run's reason is h2's own health failure.
    assert "h2" in record["reason"] and "is unhealthy" in record["reason"], record["reason"]
    assert evidence(record, "rollout.batch_10")["status"] == "pass"
    stopped = evidence(record, "rollout.batch_50")
    assert stopped["status"] == "fail" and stopped["details"]["outcome"]["failed"] == ["h2"]
    assert not evidence_all(record, "rollout.batch_100")  # h3 was never touched
    assert "v3" not in fleet.state("h3")["releases"]
    undone = sorted(i["host"] for i in evidence_all(record, "rollback.undo_app") if i["status"] == "pass")
    assert undone == ["h1", "h2"]
    for host in ("h1", "h2"):
        state = fleet.state(host)
        assert state["current"] == "v2" and state["rolled_back"] == ["v3"]
    at_stop = evidence(record, "rollout.fleet")
    assert at_stop["details"]["split"] and at_stop["details"]["hosts"]["h3"] == "v2"
    assert at_stop["details"]["hosts"]["h1"] == "v3"
    after = evidence(record, "rollback.fleet")
    assert after["details"]["hosts"] == {"h1": "v2", "h2": "v2", "h3": "v2"} and not after["details"]["split"]
    print(f"\n3-host compose v2 -> v3, h2 unhealthy at step 50, rollback of h1 and h2: {TIMINGS['breach']:.1f} s")
