#!/usr/bin/env python
"""The throwaway local environment for the demo and the integration tests.

Everything lives under one root (default .demo/): a PostgreSQL cluster on a free port,
a Prometheus (Debian's package) scraping the app's per-worker metrics ports every second,
a private PM2_HOME, the built release artifacts, backups, app releases and records.
`env.yml` in the root tells the local inventory where everything is.

    localenv.py start [--root DIR]     start PostgreSQL, build artifacts, write env.yml
    localenv.py stop  [--root DIR]     stop pm2, Prometheus and PostgreSQL started there
"""
from __future__ import annotations

import argparse
import atexit
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "examples" / "app"))

from build_release import build_release  # noqa: E402

from tests.support.pg import PgCluster, free_port, free_ports  # noqa: E402
from tests.support.prometheus import PrometheusServer  # noqa: E402

VERSIONS = ("v1", "v2", "v3")


def free_port_pair() -> int:
    """A port p such that p and p+1 are both free and reserved (per-worker metrics ports)."""
    return free_ports(2)


@dataclass
class LocalEnv:
    root: Path
    pg: PgCluster
    app_port: int
    metrics_port_base: int
    db_password: str
    prometheus: PrometheusServer | None = None

    @property
    def pm2_bin(self) -> str:
        return str(REPO / ".tools" / "node_modules" / ".bin" / "pm2")

    @classmethod
    def start(cls, root: Path) -> LocalEnv:
        root = root.resolve()
        root.mkdir(parents=True, exist_ok=True)
        pg = PgCluster.start(root / "pg")
        pg.create_db("demo")
        env = cls(root=root, pg=pg, app_port=free_port(), metrics_port_base=free_port_pair(),
                  db_password="demo-" + secrets.token_hex(12))
        try:
            env.prometheus = PrometheusServer(
                [f"127.0.0.1:{env.metrics_port_base}", f"127.0.0.1:{env.metrics_port_base + 1}"],
                job="liftoff-demo", base_dir=root / "prometheus").start()
            # it outlives this process when `localenv.py start` runs it for the demo: stop() or
            # stop_root() stop it by its pid, not an exit hook
            atexit.unregister(env.prometheus.stop)
            for version in VERSIONS:
                build_release(version, root / "artifacts" / version)
            env.write()
        except BaseException:
            env.stop()
            raise
        return env

    def write(self) -> None:
        data = {
            "root": str(self.root),
            "python": str(REPO / ".venv" / "bin" / "python"),
            "pg_port": self.pg.port,
            "pg_data_dir": str(self.pg.data_dir),
            "app_port": self.app_port,
            "metrics_port_base": self.metrics_port_base,
            "pm2_bin": self.pm2_bin,
            "db_password": self.db_password,
            "prometheus_url": self.prometheus.url if self.prometheus else "",
        }
        (self.root / "env.yml").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        pids = {"postmaster": self.pg.postmaster_pid(),
                "prometheus": self.prometheus.pid if self.prometheus else None}
        (self.root / "pids.json").write_text(json.dumps(pids), encoding="utf-8")

    def environ(self) -> dict[str, str]:
        """Environment for ansible-playbook runs against this local environment."""
        env = dict(os.environ)
        env.update(LIFTOFF_DEMO_ROOT=str(self.root), ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
                   ANSIBLE_NOCOLOR="1", PATH=f"{REPO / '.venv' / 'bin'}:{env.get('PATH', '')}")
        return env

    def playbook(self, playbook: str, *args: str, version: str | None = None, timeout: float = 1200,
                 extra_env: dict[str, str] | None = None,
                 inventory: Path | None = None) -> subprocess.CompletedProcess[str]:
        # The timeout only catches a hung run: a deploy with a rollback takes 1-2 min on an idle
        # 2-core machine, but took over 10 min there with parallel workers beside other sessions.
        path = playbook if Path(playbook).is_absolute() else str(REPO / "playbooks" / playbook)
        cmd = [str(REPO / ".venv" / "bin" / "ansible-playbook"), path,
               "-i", str(inventory or REPO / "inventories" / "local")]
        if version:
            cmd += ["-e", f"liftoff_version={version}"]
        cmd += list(args)
        return subprocess.run(cmd, cwd=REPO, env={**self.environ(), **(extra_env or {})}, text=True,
                              capture_output=True, timeout=timeout, check=False)

    def stop(self) -> None:
        stop_pm2(self.root, self.pm2_bin)
        if self.prometheus is not None:
            self.prometheus.stop()
        self.pg.stop()


def stop_pm2(root: Path, pm2_bin: str) -> None:
    """Stop the pm2 daemon of this environment (and its workers), by its own pid."""
    home = root / "pm2"
    pidfile = home / "pm2.pid"
    if not pidfile.exists():
        return
    subprocess.run([pm2_bin, "kill"], env=dict(os.environ, PM2_HOME=str(home)), capture_output=True,
                   timeout=60, check=False)
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return
    for _unused in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def stop_pid_of(root: Path, key: str, name: str) -> None:
    """SIGTERM (then SIGKILL) the process pids.json names, if it still is that program."""
    try:
        pid = int(json.loads((root / "pids.json").read_text(encoding="utf-8")).get(key) or 0)
    except (OSError, ValueError, AttributeError):
        return
    try:
        comm = Path(f"/proc/{pid}/comm").read_text(encoding="utf-8").strip() if pid else ""
    except OSError:
        comm = ""
    if comm != name:
        return  # gone, or the pid was reused by another program
    os.kill(pid, signal.SIGTERM)
    for _unused in range(100):
        try:
            os.kill(pid, 0)
            if Path(f"/proc/{pid}/stat").read_text(encoding="utf-8").split()[2] == "Z":
                return  # a zombie: stopped, waiting for its parent
        except (ProcessLookupError, OSError):
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)


def stop_root(root: Path) -> None:
    """Stop what a previous `start` left running under root (used by `make demo`'s cleanup)."""
    root = root.resolve()
    env_file = root / "env.yml"
    if not env_file.exists():
        return
    data = json.loads(env_file.read_text(encoding="utf-8"))
    stop_pm2(root, data["pm2_bin"])
    stop_pid_of(root, "prometheus", "prometheus")
    pg_dir = root / "pg"
    pg_ctl = shutil.which("pg_ctl") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))), None)
    data_dir = next((p.parent for p in pg_dir.rglob("postmaster.pid")), None)
    if pg_ctl and data_dir:
        cmd = [str(pg_ctl), "-D", str(data_dir), "-m", "fast", "-w", "stop"]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, capture_output=True, timeout=60, check=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("--root", type=Path, default=REPO / ".demo")
    args = parser.parse_args()
    if args.action == "start":
        stop_root(args.root)
        if args.root.exists():
            shutil.rmtree(args.root)
        env = LocalEnv.start(args.root)
        print(f"local environment ready in {env.root}: PostgreSQL on 127.0.0.1:{env.pg.port}, "
              f"Prometheus on {env.prometheus.url if env.prometheus else '(none)'}, "
              f"app will serve on 127.0.0.1:{env.app_port}")
    else:
        stop_root(args.root)
        print(f"stopped what ran under {args.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
