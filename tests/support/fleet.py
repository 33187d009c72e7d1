"""A fleet of real SSH hosts running the demo app, for the multi-host tests and the fleet benchmark.

:meth:`Fleet.start` makes ``count`` hosts (tests/support/netns.py: one network namespace and one
sshd per host, reached as root over real SSH), a throwaway PostgreSQL cluster (tests/support/pg.py,
reached through its unix socket: the namespaces share the filesystem), the demo app's releases
(examples/app/build_release.py) and an inventory for ``playbooks/deploy.yml`` on the pm2 strategy:
each host runs the app under its own pm2 daemon (``pm2_instances`` cluster workers) in
``root/hosts/<name>``, the rollout goes in ``rollout_steps: [10, 50, 100]`` with a gate after each
step on the hosts upgraded so far.

:meth:`Fleet.stop` stops everything it started, also after a failure part way: ``pm2 kill`` on each
host, then every process left in the namespaces (sshd, pm2 daemons and their workers), the
namespaces and the veth pairs, then PostgreSQL.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO / "examples" / "app") not in sys.path:
    sys.path.insert(0, str(REPO / "examples" / "app"))

from build_release import build_release

from tests.support.netns import SshFleet, SshHost
from tests.support.pg import PgCluster

APP_PORT = 3000  # inside each host's own namespace: nothing else listens there
METRICS_PORT = 9100  # the first worker's /metrics; worker i listens on METRICS_PORT + i
PM2_BIN = REPO / ".tools" / "node_modules" / ".bin" / "pm2"
ENVIRONMENT = "fleet"


@dataclass
class Fleet:
    root: Path
    ssh: SshFleet
    pg: PgCluster
    inventory: Path

    @classmethod
    def start(cls, root: Path, count: int, *, instances: int = 2, faulty: Collection[str] = (),
              versions: Iterable[str] = ("v1", "v2")) -> Fleet:
        """``count`` hosts, PostgreSQL with an empty ``demo`` database, ``versions`` built in ``root/artifacts``.

        ``instances``: pm2 cluster workers per host. ``faulty``: the hosts that set LIFTOFF_DEMO_FAULTY
        (where a release built with ``error_ratio_env`` or ``crash_env`` misbehaves). Whatever was
        started is stopped again when a later step fails.
        """
        root = root.resolve()
        pg = PgCluster.start(root / "pg")
        ssh: SshFleet | None = None
        try:
            pg.create_db("demo")
            ssh = SshFleet.start(root, count)
            for version in versions:
                build_release(version, root / "artifacts" / version)
            inventory = write_inventory(root, ssh, pg, instances=instances, faulty=faulty)
            return cls(root=root, ssh=ssh, pg=pg, inventory=inventory)
        except BaseException:
            try:
                if ssh is not None:
                    ssh.stop()
            finally:
                pg.stop()
            raise

    def stop(self) -> None:
        """pm2 kill on every host, then every process in the namespaces and the namespaces, then PostgreSQL."""
        try:
            self.stop_pm2()
        finally:
            try:
                self.ssh.stop()
            finally:
                self.pg.stop()

    def stop_pm2(self) -> None:
        """``pm2 kill`` over SSH on each host that started a pm2 daemon (up to 10 hosts at once)."""
        def kill(host: SshHost) -> None:
            home = self.root / "hosts" / host.name / "pm2"
            if (home / "pm2.pid").exists():
                try:
                    self.ssh.ssh(host, f"PM2_HOME={home} {PM2_BIN} kill")
                except (OSError, subprocess.SubprocessError):
                    pass  # SshFleet.stop kills whatever is left in the namespace

        with ThreadPoolExecutor(max_workers=max(1, min(10, len(self.ssh.hosts)))) as pool:
            list(pool.map(kill, self.ssh.hosts))

    def playbook(self, playbook: str, *args: str, version: str | None = None, timeout: float = 900,
                 extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        cmd = [str(REPO / ".venv" / "bin" / "ansible-playbook"), str(REPO / "playbooks" / playbook),
               "-i", str(self.inventory)]
        if version:
            cmd += ["-e", f"liftoff_version={version}"]
        env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                   PATH=f"{REPO / '.venv' / 'bin'}:{os.environ.get('PATH', '')}", **(extra_env or {}))
        return subprocess.run([*cmd, *args], cwd=REPO, env=env, text=True, capture_output=True, timeout=timeout,
                              check=False)

    def served(self) -> dict[str, str | None]:
        """Each host's /version (None: no answer)."""
        out: dict[str, str | None] = {}
        for host in self.ssh.hosts:
            try:
                with urllib.request.urlopen(f"http://{host.address}:{APP_PORT}/version", timeout=5) as reply:
                    out[host.name] = str(json.load(reply)["version"])
            except OSError:
                out[host.name] = None
        return out

    def history(self, host: str) -> dict[str, Any]:
        """The host's release history (the pm2 role's releases.json)."""
        history: dict[str, Any] = json.loads((self.root / "hosts" / host / "app" / "releases.json").read_text(
            encoding="utf-8"))
        return history

    def latest_record(self) -> dict[str, Any]:
        """The record of the newest run."""
        runs = sorted(p for p in (self.root / "records" / ENVIRONMENT).glob("*") if p.is_dir())
        record: dict[str, Any] = json.loads((runs[-1] / "record.json").read_text(encoding="utf-8"))
        return record


def write_inventory(root: Path, ssh: SshFleet, pg: PgCluster, *, instances: int = 2,
                    faulty: Collection[str] = ()) -> Path:
    """The inventory of the fleet (``root/inventory``): every host in ``liftoff_app``."""
    python = str(REPO / ".venv" / "bin" / "python")
    hosts: dict[str, Any] = {}
    for host in ssh.hosts:
        base = root / "hosts" / host.name
        url = f"http://{host.address}:{APP_PORT}"
        hosts[host.name] = {
            **host.inventory(ssh.key, ssh.known_hosts, python),
            "liftoff_app_url": url,
            "pm2_base_dir": str(base / "app"),
            "pm2_home": str(base / "pm2"),
            "pm2_env": {"HOST": host.address, "PORT": str(APP_PORT), "METRICS_PORT_BASE": str(METRICS_PORT),
                        **({"LIFTOFF_DEMO_FAULTY": "1"} if host.name in faulty else {})},
            "rollout_host_url": url,
            "rollout_host_metrics": [f"http://{host.address}:{METRICS_PORT + i}/metrics" for i in range(instances)],
        }
    group = {
        "liftoff_environment": ENVIRONMENT,
        "liftoff_record_dir": str(root / "records"),
        "liftoff_strategy": "pm2",
        "liftoff_release_src": str(root / "artifacts") + "/{{ liftoff_version }}",
        "liftoff_db_host": str(pg.data_dir),  # the unix socket directory: every namespace sees it
        "liftoff_db_port": pg.port,
        "liftoff_db_name": "demo",
        "liftoff_db_user": "postgres",
        "preflight_health_url": "{{ liftoff_app_url }}/health",
        "backup_dir": str(root / "backups"),
        "pm2_app_name": "liftoff-fleet",
        "pm2_bin": str(PM2_BIN),
        "pm2_instances": instances,
        "pm2_health_url": "{{ liftoff_app_url }}/version",
        "rollout_steps": [10, 50, 100],
        "smoke_checks": [
            {"name": "version", "url": "{{ liftoff_app_url }}/version", "json": {"version": "{{ liftoff_version }}"}},
        ],
        "gate_targets": "{{ groups['liftoff_app'] | map('extract', hostvars, 'rollout_host_metrics') | flatten }}",
        "gate_interval": 1,
        "gate_count": 4,
        "gate_step_count": 3,
        "gate_load": {
            "url": "{{ hostvars[groups['liftoff_app'][0]].rollout_host_url }}",
            "paths": "{{ groups['liftoff_app'] | map('extract', hostvars, 'rollout_host_url')"
                     " | product(['/api/items']) | map('join') | list }}",
            "rate": 40,
        },
        "gate_metrics": [{"name": "error_ratio", "kind": "error_ratio", "max": 0.05, "severity": "critical"}],
        "rollback_health_url": "{{ liftoff_app_url }}/health",
    }
    return save_inventory(root, hosts, group)


def save_inventory(root: Path, hosts: dict[str, Any], group: dict[str, Any]) -> Path:
    """``root``/inventory: the hosts in group liftoff_app (hosts.yml) and the group's variables."""
    inv = root / "inventory"
    (inv / "group_vars").mkdir(parents=True, exist_ok=True)
    (inv / "hosts.yml").write_text(json.dumps({"liftoff_app": {"hosts": hosts}}, indent=2), encoding="utf-8")
    (inv / "group_vars" / "liftoff_app.yml").write_text(json.dumps(group, indent=2), encoding="utf-8")
    return inv
