"""A throwaway Redis server for tests.

It binds 127.0.0.1 on a free port chosen at run time, saves nothing to disk, keeps its pid
file and log in its own directory, and is stopped by its own pid (SIGTERM, then SIGKILL).
With ``password`` it requires that password (``--requirepass``), for secret-leak tests.

    server = RedisServer.start(tmp_dir, password="s3cret-planted")
    server.url            # redis://:s3cret-planted@127.0.0.1:PORT/0
    server.client().ping()
    server.stop()
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.pg import _wait_gone, free_port, pid_alive

MISSING_MSG = (
    "the `redis-server` binary was not found; install the Debian package `redis-server` "
    "(apt-get install -y --no-install-recommends redis-server) or put the binary on PATH"
)


class RedisServerError(RuntimeError):
    """The throwaway server could not be started or stopped."""


def find_redis_server() -> str:
    found = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").is_file() else None)
    if not found:
        raise RedisServerError(MISSING_MSG)
    return found


@dataclass
class RedisServer:
    directory: Path
    port: int
    password: str | None = None
    pid: int | None = None
    _stopped: bool = field(default=False, repr=False)

    @classmethod
    def start(cls, directory: Path, password: str | None = None) -> RedisServer:
        binary = find_redis_server()
        directory.mkdir(parents=True, exist_ok=True)
        last = ""
        for _attempt in range(3):  # a chosen port can be taken between pick and bind
            server = cls(directory=directory, port=free_port(), password=password)
            pidfile = directory / "redis.pid"
            pidfile.unlink(missing_ok=True)
            cmd = [binary, "--bind", "127.0.0.1", "--port", str(server.port), "--daemonize", "yes",
                   "--pidfile", str(pidfile), "--save", "", "--appendonly", "no", "--dir", str(directory),
                   "--logfile", str(directory / "redis.log")]
            if password:
                cmd += ["--requirepass", password]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                last = proc.stderr or proc.stdout
                continue
            if server._wait_ready(pidfile):
                return server
            server.stop()
            last = (directory / "redis.log").read_text(errors="replace")[-2000:]
        raise RedisServerError(f"could not start redis-server in {directory}: {last}")

    def _wait_ready(self, pidfile: Path, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.pid is None:
                try:
                    self.pid = int(pidfile.read_text().strip())
                except (OSError, ValueError):
                    time.sleep(0.02)
                    continue
            try:
                if self.client().ping():
                    return True
            except Exception:  # not ready yet
                time.sleep(0.02)
        return False

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self) -> Any:
        import redis

        return redis.Redis(host="127.0.0.1", port=self.port, password=self.password, db=0,
                           decode_responses=True, socket_timeout=5)

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self.pid is None:
            # a daemon slow to write its pid file (a loaded machine) is still this server's: read it now
            try:
                self.pid = int((self.directory / "redis.pid").read_text().strip())
            except (OSError, ValueError):
                return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while pid_alive(self.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)


def stop_strays(root: Path) -> list[int]:
    """SIGTERM (SIGKILL after 10 s) every redis-server working in a directory under ``root``: the
    ``--dir`` of a RedisServer whose process could not stop it. Returns their pids."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv0 = (proc / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            cwd = os.readlink(proc / "cwd").removesuffix(" (deleted)")
        except OSError:
            continue
        if argv0 and Path(argv0.split()[0]).name == "redis-server" and (cwd == str(root) or cwd.startswith(f"{root}/")):
            pids.append(int(proc.name))
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    for pid in pids:
        _wait_gone(pid)
    return pids


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One throwaway Redis per test module (no password), stopped by its pid."""
    server = RedisServer.start(tmp_path_factory.mktemp("redis"))
    try:
        yield server
    finally:
        server.stop()
