"""The deploy lock, end to end: real ansible-playbook runs of the lock role against a lock file and a real Redis.

Two runs started at the same instant (both wait at a barrier the test lifts at once): exactly one
proceeds, the other is refused naming the holder, 20 trials per backend. A stale lock is refused until
it is broken explicitly, and the break is recorded. The renewer keeps a run's lock alive while its
ansible-playbook lives, and lets it go stale when the run is killed. A Redis password never shows.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, evidence, latest_record
from localenv import LocalEnv

if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from ansible_collections.liftoff.release.plugins.plugin_utils import lock
from tests.support import redis as redis_support
from tests.support.redis import RedisServer

pytestmark = pytest.mark.integration

PLAYBOOK = REPO / "tests" / "integration" / "playbooks" / "lock_hold.yml"
PLANTED = "Pl4nted-lock-redis-pw"
TRIALS = 20

redis_server = redis_support.redis_server  # one throwaway redis-server for this module


def environ() -> dict[str, str]:
    return {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
            "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ.get('PATH', '')}"}


@dataclass
class Backend:
    """Where the lock of one test lives, and how to read it from the test."""

    name: str
    root: Path
    url: str = ""
    key: str = ""

    def settings(self) -> dict[str, Any]:
        if self.name == "redis":
            return {"lock_backend": "redis", "lock_redis_url": self.url, "lock_redis_key": self.key}
        return {"lock_backend": "file", "lock_path": str(self.root / "deploy.lock")}

    def store(self) -> lock.Store:
        if self.name == "redis":
            return lock.RedisStore(self.url, self.key)
        return lock.FileStore(self.root / "deploy.lock")

    def held(self) -> lock.LockInfo | None:
        return lock.read(self.store())


@pytest.fixture(params=["file", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        return Backend("redis", tmp_path, url=server.url, key=f"liftoff:lock:it-{request.node.name}")
    return Backend("file", tmp_path)


def start(backend: Backend, run_id: str, operator: str, *args: str, hold: float = 0,
          barrier: Path | None = None, **extra: Any) -> subprocess.Popen[str]:
    """One ansible-playbook run of the lock role; the settings (Redis URL included) go in a vars file, not argv."""
    run_dir = backend.root / "runs" / run_id
    variables = {"run_id": run_id, "run_operator": operator, "run_dir": str(run_dir), "lock_hold_seconds": hold,
                 "lock_barrier_dir": str(barrier or ""), **backend.settings(), **extra}
    vars_file = backend.root / f"vars-{run_id}.json"
    vars_file.write_text(json.dumps(variables), encoding="utf-8")
    vars_file.chmod(0o600)
    inventory = backend.root / "local.yml"
    if not inventory.exists():
        inventory.write_text(json.dumps({"all": {"hosts": {"localhost": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}), encoding="utf-8")
    return subprocess.Popen([str(REPO / ".venv/bin/ansible-playbook"), str(PLAYBOOK), "-i", str(inventory),
                             "-e", f"@{vars_file}", *args],
                            cwd=REPO, env=environ(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def finish(proc: subprocess.Popen[str], timeout: float = 120) -> tuple[int, str]:
    out, _unused = proc.communicate(timeout=timeout)
    return proc.returncode, out


def has_lock_evidence(backend: Backend, run_id: str) -> bool:
    """The run recorded its lock (the journal exists a moment before the item is in it)."""
    path = backend.root / "runs" / run_id / "evidence.jsonl"
    return path.exists() and '"preflight.lock"' in path.read_text(encoding="utf-8")


def lock_evidence(backend: Backend, run_id: str) -> dict[str, Any]:
    items = [json.loads(line) for line in
             (backend.root / "runs" / run_id / "evidence.jsonl").read_text(encoding="utf-8").splitlines()]
    return evidence({"evidence": items}, "preflight.lock")


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def wait_until(predicate: Any, timeout: float, step: float = 0.02) -> float:
    """Seconds until ``predicate()`` is true; fails the test after ``timeout``."""
    began = time.monotonic()
    while not predicate():
        if time.monotonic() - began > timeout:
            raise AssertionError(f"not true after {timeout} s: {predicate}")
        time.sleep(step)
    return time.monotonic() - began


def kill_group(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the run (ansible-playbook, its workers and their commands) by its own process group."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.communicate(timeout=30)


# --------------------------------------------------------------------------- two runs at once

def test_two_concurrent_runs_exactly_one_proceeds(backend: Backend, record_property: Any) -> None:
    """20 trials: two runs wait at a barrier, the test lifts it, both acquire at once; exactly one proceeds.

    The next trial's pair starts (and waits at its own barrier, touching no lock) while this trial's pair
    runs, so ansible-playbook's start-up overlaps and the 20 trials stay near two minutes.
    """
    began = time.monotonic()
    skews: list[float] = []

    def launch(trial: int) -> tuple[Path, list[str], list[subprocess.Popen[str]]]:
        barrier = backend.root / f"barrier-{trial}"
        barrier.mkdir()
        ids = [f"t{trial}-a", f"t{trial}-b"]
        extra = {"lock_redis_key": f"liftoff:lock:it-race-{trial}"} if backend.name == "redis" else {}
        return barrier, ids, [start(backend, ids[0], "alice", hold=2, barrier=barrier, **extra),
                              start(backend, ids[1], "bob", hold=2, barrier=barrier, **extra)]

    upcoming = launch(0)
    try:
        for trial in range(TRIALS):
            barrier, ids, runs = upcoming
            if backend.name == "redis":
                backend.key = f"liftoff:lock:it-race-{trial}"  # a fresh key: one trial's failure cannot spill over
            wait_until(lambda b=barrier: len(list(b.glob("ready-*"))) == 2, timeout=90)
            (barrier / "go").touch()
            if trial + 1 < TRIALS:
                upcoming = launch(trial + 1)
            results = [finish(proc) for proc in runs]
            winners = [i for i, (rc, _unused) in enumerate(results) if rc == 0]
            assert len(winners) == 1, f"trial {trial}: return codes {[rc for rc, _unused in results]}\n" + \
                "\n".join(out[-2500:] for _unused, out in results)
            won, lost = winners[0], 1 - winners[0]
            holder = ["alice", "bob"][won]
            assert f"is held by owner '{holder}', run {ids[won]}" in results[lost][1], results[lost][1][-2500:]
            refused = lock_evidence(backend, ids[lost])
            assert refused["status"] == "fail" and f"owner '{holder}'" in refused["actual"]
            taken = lock_evidence(backend, ids[won])
            assert taken["status"] == "pass" and taken["details"]["backend"] == backend.name
            skews.append(abs(_when(refused) - _when(taken)))
            assert backend.held() is None, f"trial {trial}: the winner must release the lock"
    finally:
        for proc in upcoming[2]:
            if proc.poll() is None:
                kill_group(proc)
    elapsed = time.monotonic() - began
    record_property("lock_trials", {"backend": backend.name, "trials": TRIALS, "seconds": round(elapsed, 1),
                                    "max_acquire_skew_s": round(max(skews), 3)})
    print(f"\n{backend.name}: {TRIALS} trials, exactly one proceeded in each; {elapsed:.1f} s; "
          f"acquisition skew max {max(skews):.3f} s, median {sorted(skews)[len(skews) // 2]:.3f} s")


def _when(item: dict[str, Any]) -> float:
    return time.mktime(time.strptime(item["ended"][:19], "%Y-%m-%dT%H:%M:%S")) + float("0" + item["ended"][19:-1])


# --------------------------------------------------------------------------- stale locks

def test_stale_lock_refused_without_break_and_broken_with_it(backend: Backend) -> None:
    lock.acquire(backend.store(), "carol", "dead-run", "locktest", ttl=1, now=time.time() - 3600)
    rc, out = finish(start(backend, "r-refused", "dave"))
    assert rc != 0
    assert "is stale (owner 'carol', run dead-run" in out and "lock_break_stale=true" in out
    assert backend.held().run_id == "dead-run"  # type: ignore[union-attr]  # not broken behind anyone's back
    assert lock_evidence(backend, "r-refused")["status"] == "fail"

    rc, out = finish(start(backend, "r-breaks", "dave", lock_break_stale=True))
    assert rc == 0, out[-3000:]
    recorded = lock_evidence(backend, "r-breaks")
    assert recorded["status"] == "pass"
    assert recorded["details"]["broken_stale_lock"]["owner"] == "carol"
    assert recorded["details"]["broken_stale_lock"]["run_id"] == "dead-run"
    assert "broke the stale lock of owner carol, run dead-run" in recorded["actual"]
    assert backend.held() is None


def test_live_lock_is_not_broken_even_when_asked(backend: Backend) -> None:
    lock.acquire(backend.store(), "carol", "live-run", "locktest", ttl=600)
    rc, out = finish(start(backend, "r-eager", "dave", lock_break_stale=True))
    assert rc != 0 and "is held by owner 'carol', run live-run" in out
    assert backend.held().run_id == "live-run"  # type: ignore[union-attr]


# --------------------------------------------------------------------------- the renewer

def test_renewer_holds_the_lock_while_the_run_lives_then_stops(backend: Backend) -> None:
    """ttl=3 and a run that holds the lock 10 s with no phase heartbeat: never stale; released at the end."""
    proc = start(backend, "r-long", "erin", hold=10, lock_ttl=3)
    try:
        wait_until(lambda: backend.held() is not None, timeout=60)
        first = backend.held()
        seen = 0
        while proc.poll() is None:
            held = backend.held()
            if held is None:
                break  # released at the end of the run
            assert held.run_id == "r-long" and not held.stale(time.time()), \
                f"the lock went stale while the run lived: {held}"
            seen += 1
            time.sleep(0.1)
        rc, out = finish(proc)
    finally:
        if proc.poll() is None:
            kill_group(proc)
    assert rc == 0, out[-3000:]
    assert seen > 50, "the lock was watched too briefly to prove anything"
    renewer = lock_evidence(backend, "r-long")["details"]["renewer"]
    assert renewer["running"] is True and renewer["period"] == 1.0
    assert first is not None and renewer["pid"] != proc.pid
    wait_until(lambda: not pid_alive(renewer["pid"]), timeout=1.5)
    assert backend.held() is None


def test_renewer_stops_when_the_run_is_killed_and_the_lock_goes_stale(backend: Backend) -> None:
    proc = start(backend, "r-killed", "frank", hold=60, lock_ttl=3)
    try:
        wait_until(lambda: has_lock_evidence(backend, "r-killed"), timeout=60)
        renewer = lock_evidence(backend, "r-killed")["details"]["renewer"]
        assert renewer["watching"] == proc.pid, "the renewer must watch the ansible-playbook process itself"
        assert "liftoff-lock-renewer" in Path(f"/proc/{renewer['pid']}/cmdline").read_text()
        time.sleep(4.5)  # past the TTL: only the renewer kept it alive
        held = backend.held()
        assert held is not None and held.run_id == "r-killed" and not held.stale(time.time())
    finally:
        kill_group(proc)  # kill -9 of ansible-playbook (and its workers)
    gone = wait_until(lambda: not pid_alive(renewer["pid"]), timeout=3)
    assert gone <= lock.renew_period(3) + 0.6, f"the renewer outlived the run by {gone:.2f} s"
    held = backend.held()
    assert held is not None and held.run_id == "r-killed", "a killed run's lock is left, never released"
    stale_after = wait_until(lambda: backend.held().stale(time.time()), timeout=5)  # type: ignore[union-attr]
    assert stale_after <= 3.2
    print(f"\n{backend.name}: renewer gone {gone:.2f} s after kill -9 (period 1 s); lock stale {stale_after:.2f} s later")
    rc, out = finish(start(backend, "r-next", "grace"))
    assert rc != 0 and "is stale (owner 'frank', run r-killed" in out


# --------------------------------------------------------------------------- secrets and settings

def test_redis_password_never_in_output_evidence_or_process_list(tmp_path: Path) -> None:
    server = RedisServer.start(tmp_path / "redis-auth", password=PLANTED)
    try:
        backend = Backend("redis", tmp_path, url=server.url, key="liftoff:lock:secret-test")
        holder = start(backend, "r-secret", "alice", "-vvv", hold=4, lock_ttl=3)
        wait_until(lambda: has_lock_evidence(backend, "r-secret"), timeout=60)
        renewer = lock_evidence(backend, "r-secret")["details"]["renewer"]
        assert PLANTED not in Path(f"/proc/{renewer['pid']}/cmdline").read_text()
        assert PLANTED not in Path(f"/proc/{holder.pid}/cmdline").read_text()
        refused_rc, refused = finish(start(backend, "r-refused", "bob", "-vvv"))
        held_rc, held_out = finish(holder)
        wrong = Backend("redis", tmp_path, url=server.url.replace(PLANTED, PLANTED + "-wrong"), key="k")
        bad_rc, bad = finish(start(wrong, "r-badpw", "bob", "-vvv"))
    finally:
        server.stop()
    down_rc, down = finish(start(backend, "r-down", "bob", "-vvv"))
    assert held_rc == 0, held_out[-3000:]
    assert refused_rc != 0 and "is held by owner 'alice', run r-secret" in refused
    assert bad_rc != 0 and "AuthenticationError" in bad and "127.0.0.1" in bad, bad[-3000:]
    assert down_rc != 0 and "ConnectionError" in down, down[-3000:]
    for name, text in (("holder", held_out), ("refused", refused), ("wrong password", bad), ("down", down)):
        assert PLANTED not in text, f"the Redis password leaked into the {name} run's -vvv output"
        assert "redis://127.0.0.1:" in text or name == "holder", f"the {name} run should name the server"
    for path in (tmp_path / "runs").rglob("*"):
        if path.is_file():
            assert PLANTED.encode() not in path.read_bytes(), f"the Redis password leaked into {path}"


def test_bad_settings_are_refused_before_any_change(tmp_path: Path) -> None:
    backend = Backend("file", tmp_path)
    rc, out = finish(start(backend, "r-bad", "alice", lock_backend="zookeeper"))
    assert rc != 0 and "lock_backend" in out and "zookeeper" in out
    rc, out = finish(start(Backend("redis", tmp_path, url="", key="k"), "r-nourl", "alice"))
    assert rc != 0 and "lock_redis_url must be set when lock_backend is redis" in out
    assert not (tmp_path / "deploy.lock").exists()


def test_file_lock_on_a_designated_host(tmp_path: Path) -> None:
    """lock_host: the lock_file module runs on that inventory host (here a second host reached locally)."""
    inventory = tmp_path / "bastion.yml"
    inventory.write_text(json.dumps({"all": {"hosts": {
        "bastion": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    backend = Backend("file", tmp_path)
    remote_path = tmp_path / "bastion" / "locktest.lock"
    runs = []
    for trial in range(3):
        barrier = tmp_path / f"barrier-{trial}"
        barrier.mkdir()
        pair = [start(backend, f"h{trial}-{who}", who, "-i", str(inventory), hold=1, barrier=barrier,
                      lock_host="bastion", lock_path=str(remote_path)) for who in ("alice", "bob")]
        wait_until(lambda b=barrier: len(list(b.glob("ready-*"))) == 2, timeout=90)
        (barrier / "go").touch()
        runs.append([finish(proc) for proc in pair])
    for trial, results in enumerate(runs):
        assert sorted(rc == 0 for rc, _unused in results) == [False, True], [out[-2000:] for _unused, out in results]
        loser = next(out for rc, out in results if rc != 0)
        assert "is held by owner '" in loser
        winner = next(who for (rc, _unused), who in zip(results, ("alice", "bob"), strict=True) if rc == 0)
        item = lock_evidence(backend, f"h{trial}-{winner}")
        assert item["details"]["where"] == f"lock file {remote_path} on bastion"
        assert item["details"]["renewer"] is None or item["details"]["renewer"].get("running") is not True
    assert not remote_path.exists(), "released on the designated host"
    assert (tmp_path / "bastion" / "locktest.lock.guard").exists(), "the module took the lock there"


# --------------------------------------------------------------------------- the pipeline on Redis

def test_full_deploy_with_the_redis_lock(local_env: LocalEnv, redis_server: RedisServer, tmp_path: Path) -> None:
    vars_file = tmp_path / "lock.json"
    vars_file.write_text(json.dumps({"lock_backend": "redis", "lock_redis_url": redis_server.url}))
    result = local_env.playbook("deploy.yml", "-e", f"@{vars_file}", version="v1")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    record = latest_record(local_env)
    assert record["outcome"] == "success", (record["failed_phase"], record["reason"])
    taken = evidence(record, "preflight.lock")
    assert taken["status"] == "pass" and taken["details"]["backend"] == "redis"
    assert taken["details"]["where"] == f"Redis key 'liftoff:lock:local' at redis://127.0.0.1:{redis_server.port}/0"
    assert redis_server.client().exists("liftoff:lock:local") == 0, "released at the end of the run"
    assert not (local_env.root / "records" / "local" / "deploy.lock").exists()
