"""The renewer that keeps a run's lock alive while its ansible-playbook process lives: real processes."""
from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ansible_collections.liftoff.release.plugins.plugin_utils.lock import (
    FileStore,
    Process,
    acquire,
    is_playbook_command,
    playbook_process,
    poll_interval,
    read,
    release,
    renew_loop,
    renew_period,
    renewer_pidfile,
    renewer_running,
    start_renewer,
)


@pytest.mark.parametrize(("argv", "expected"), [
    (["/usr/bin/python3.12", "/work/.venv/bin/ansible-playbook", "deploy.yml"], True),
    (["ansible-playbook", "-i", "inv", "x.yml"], True),
    (["/usr/bin/python3", "/usr/bin/ansible", "all", "-m", "ping"], False),
    (["/usr/bin/python3", "-c", "print('ansible-playbook')"], False),
    ([], False),
])
def test_is_playbook_command(argv: list[str], expected: bool) -> None:
    assert is_playbook_command(argv) is expected


def _start_time(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[19])


def _wait_gone(pid: int, timeout: float) -> float:
    """Seconds until /proc/<pid> is gone or a zombie; raises when it outlives ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            return time.monotonic() - started
        if state in ("Z", "X"):
            return time.monotonic() - started
        time.sleep(0.02)
    raise AssertionError(f"pid {pid} still runs after {timeout} s")


@pytest.fixture
def fake_playbook() -> Iterator[tuple[subprocess.Popen[bytes], Process]]:
    """A process whose command line is ansible-playbook's, with a child under it (where tasks would run)."""
    proc = subprocess.Popen(["bash", "-c", "exec -a /opt/venv/bin/ansible-playbook bash -c 'sleep 60; true'"])
    children: list[str] = []
    deadline = time.monotonic() + 5
    while not children and time.monotonic() < deadline:
        time.sleep(0.05)
        children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    try:
        yield proc, Process(proc.pid, _start_time(proc.pid))
    finally:
        for child in children:  # the sleep, by its own pid
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(child), signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_playbook_process_is_the_ansible_playbook_ancestor(fake_playbook: tuple[subprocess.Popen[bytes], Process]) -> None:
    proc, watched = fake_playbook
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    assert children, "the fake playbook has no child"
    assert playbook_process(start=int(children[0])) == watched
    # With no ansible-playbook above it, the start process itself is watched (ansible's main process).
    me = playbook_process(start=os.getpid())
    assert me.pid == os.getpid() and me.alive()
    assert not Process(me.pid, me.started + 1).alive()  # a reused pid is not the same process


def test_period_and_poll() -> None:
    assert renew_period(1800) == 600 and renew_period(3) == 1
    assert poll_interval(600) == 0.5 and poll_interval(1) == 0.25 and poll_interval(0.1) == 0.05


def test_loop_stops_when_the_run_is_gone_and_leaves_the_lock(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "deploy.lock")
    token = acquire(store, "alice", "run-1", "staging", 60)["token"]
    before = read(store)
    why = renew_loop(store, "run-1", token, 60, Process(os.getpid(), -1))
    assert "ansible-playbook process is gone" in why
    assert read(store) == before  # neither renewed nor released


def test_loop_stops_when_the_lock_is_no_longer_ours(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "deploy.lock")
    token = acquire(store, "alice", "run-1", "staging", 1)["token"]
    release(store, "run-1")
    acquire(store, "alice", "run-1", "staging", 60)  # same run id, a new acquisition (new token)
    me = Process(os.getpid(), _start_time(os.getpid()))
    started = time.monotonic()
    why = renew_loop(store, "run-1", token, 1, me)
    assert "no longer this run's" in why and time.monotonic() - started < 2
    assert read(store).ttl == 60  # type: ignore[union-attr]  # the new acquisition was not renewed


def _spec(path: Path, run_id: str, token: str, ttl: int) -> dict[str, object]:
    return {"backend": "file", "path": str(path), "redis_url": None, "redis_key": None, "redis_retain": 0,
            "run_id": run_id, "token": token, "ttl": ttl}


def test_detached_renewer_holds_the_lock_until_the_playbook_dies(
        tmp_path: Path, fake_playbook: tuple[subprocess.Popen[bytes], Process]) -> None:
    proc, watched = fake_playbook
    path = tmp_path / "deploy.lock"
    ttl = 1
    token = acquire(path, "alice", "run-1", "staging", ttl)["token"]
    pidfile = renewer_pidfile(f"lock file {path}", "run-1", watched, base=tmp_path)
    pid = start_renewer(_spec(path, "run-1", token, ttl), watched, pidfile)
    deadline = time.monotonic() + 5
    while renewer_running(pidfile) != pid and time.monotonic() < deadline:
        time.sleep(0.05)
    assert renewer_running(pidfile) == pid
    assert "liftoff-lock-renewer" in Path(f"/proc/{pid}/cmdline").read_text()
    first_expiry = read(path).expires  # type: ignore[union-attr]
    end = time.monotonic() + 3 * ttl
    while time.monotonic() < end:  # three TTLs with no other heartbeat: never stale
        held = read(path)
        assert held is not None and not held.stale(time.time()), "the lock went stale while the run lived"
        time.sleep(0.05)
    assert read(path).expires > first_expiry + ttl  # type: ignore[union-attr]
    proc.kill()
    proc.wait(10)
    gone_after = _wait_gone(pid, timeout=renew_period(ttl) + 2)
    assert gone_after <= renew_period(ttl) + 0.5
    assert not pidfile.exists()
    held = read(path)
    assert held is not None and held.run_id == "run-1", "the renewer must never release the lock"
    time.sleep(ttl + 0.1)
    assert read(path).stale(time.time())  # type: ignore[union-attr]


def test_detached_renewer_stops_on_release(tmp_path: Path,
                                           fake_playbook: tuple[subprocess.Popen[bytes], Process]) -> None:
    _unused, watched = fake_playbook
    path = tmp_path / "deploy.lock"
    token = acquire(path, "alice", "run-1", "staging", 2)["token"]
    pidfile = renewer_pidfile(f"lock file {path}", "run-1", watched, base=tmp_path)
    pid = start_renewer(_spec(path, "run-1", token, 2), watched, pidfile)
    time.sleep(0.3)
    assert release(path, "run-1")["released"] is True
    assert _wait_gone(pid, timeout=renew_period(2) + 2) <= renew_period(2) + 0.5
    assert read(path) is None, "the renewer must not recreate a released lock"
