"""The deploy lock file: owner, run id, TTL, heartbeat, explicit breaking of stale locks."""
from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path

import pytest

from ansible_collections.liftoff.release.plugins.plugin_utils.lock import LockHeld, acquire, heartbeat, read, release

NOW = 1_800_000_000.0


@pytest.fixture
def lock(tmp_path: Path) -> Path:
    return tmp_path / "locks" / "staging.lock"


def test_acquire_free(lock: Path) -> None:
    result = acquire(lock, "alice", "run-1", "staging", 600, now=NOW)
    assert result["broken"] is None and result["reentered"] is False
    assert result["lock"] == {"owner": "alice", "run_id": "run-1", "environment": "staging",
                              "acquired": NOW, "expires": NOW + 600, "ttl": 600}
    stored = json.loads(lock.read_text())
    assert stored.pop("token") == result["token"] and len(result["token"]) == 32
    assert stored == result["lock"]  # the public view is the stored lock without its owner token


def test_second_run_refused_naming_holder(lock: Path) -> None:
    acquire(lock, "alice", "run-1", "staging", 600, now=NOW)
    with pytest.raises(LockHeld, match=r"deploy lock for 'staging' is held by owner 'alice', run run-1, "
                                       r"acquired .*, expires .*; wait for that run to finish"):
        acquire(lock, "bob", "run-2", "staging", 600, now=NOW + 10)
    assert read(lock).run_id == "run-1"  # type: ignore[union-attr]


def test_reentrant_for_same_run(lock: Path) -> None:
    acquire(lock, "alice", "run-1", "staging", 600, now=NOW)
    again = acquire(lock, "alice", "run-1", "staging", 300, now=NOW + 100)
    assert again["reentered"] is True and again["broken"] is None
    assert (again["lock"]["acquired"], again["lock"]["expires"]) == (NOW, NOW + 400)


def test_stale_lock_refused_without_break(lock: Path) -> None:
    acquire(lock, "alice", "run-1", "staging", 60, now=NOW)
    with pytest.raises(LockHeld, match=r"deploy lock for 'staging' is stale \(owner 'alice', run run-1, .*\); "
                                       r"it is not broken automatically: re-run with -e lock_break_stale=true"):
        acquire(lock, "bob", "run-2", "staging", 600, now=NOW + 60)
    assert read(lock).run_id == "run-1"  # type: ignore[union-attr]


def test_stale_lock_broken_explicitly(lock: Path) -> None:
    acquire(lock, "alice", "run-1", "staging", 60, now=NOW)
    result = acquire(lock, "bob", "run-2", "staging", 600, break_stale=True, now=NOW + 61)
    assert result["broken"] == {"owner": "alice", "run_id": "run-1", "environment": "staging",
                                "acquired": NOW, "expires": NOW + 60, "ttl": 60}
    assert result["lock"]["owner"] == "bob" and result["lock"]["acquired"] == NOW + 61


def test_break_stale_does_not_break_a_live_lock(lock: Path) -> None:
    acquire(lock, "alice", "run-1", "staging", 600, now=NOW)
    with pytest.raises(LockHeld, match="is held by owner 'alice'"):
        acquire(lock, "bob", "run-2", "staging", 600, break_stale=True, now=NOW + 1)


def test_heartbeat_extends(lock: Path) -> None:
    acquire(lock, "alice", "run-1", "staging", 60, now=NOW)
    beat = heartbeat(lock, "run-1", 120, now=NOW + 50)
    assert (beat["lock"]["expires"], beat["lock"]["ttl"], beat["lock"]["acquired"]) == (NOW + 170, 120, NOW)
    # Kept alive past the original expiry: another run is still refused.
    with pytest.raises(LockHeld, match="is held by"):
        acquire(lock, "bob", "run-2", "staging", 60, now=NOW + 100)


def test_heartbeat_by_non_holder_raises(lock: Path) -> None:
    with pytest.raises(LockHeld, match=r"run run-2 no longer holds the deploy lock \(held by nobody\)"):
        heartbeat(lock, "run-2", 60, now=NOW)
    acquire(lock, "alice", "run-1", "staging", 60, now=NOW)
    with pytest.raises(LockHeld, match=r"run run-2 no longer holds the deploy lock \(held by owner 'alice', run run-1"):
        heartbeat(lock, "run-2", 60, now=NOW)


def test_release(lock: Path) -> None:
    assert release(lock, "run-1") == {"released": False, "reason": "not held"}
    acquire(lock, "alice", "run-1", "staging", 60, now=NOW)
    refused = release(lock, "run-2")
    assert refused["released"] is False
    assert refused["reason"].startswith("held by another run: owner 'alice', run run-1")
    assert lock.exists()
    done = release(lock, "run-1")
    assert done["released"] is True and done["lock"]["run_id"] == "run-1"
    assert not lock.exists()


@pytest.mark.parametrize("content", ["{not json", "", "[]", '"x"', '{"owner": "alice"}',
                                     '{"owner": "a", "run_id": "r", "environment": "e", "acquired": "soon",'
                                     ' "expires": 1, "ttl": 1}'])
def test_unreadable_lock_is_held_and_stale(lock: Path, content: str) -> None:
    lock.parent.mkdir(parents=True)
    lock.write_text(content)
    info = read(lock)
    assert info is not None and info.owner == "unknown (unreadable lock file)" and info.stale(NOW)
    with pytest.raises(LockHeld, match=r"is stale \(owner 'unknown \(unreadable lock file\)', run unknown"):
        acquire(lock, "bob", "run-2", "staging", 60, now=NOW)
    result = acquire(lock, "bob", "run-2", "staging", 60, break_stale=True, now=NOW)
    assert result["broken"]["owner"] == "unknown (unreadable lock file)"
    assert read(lock).owner == "bob"  # type: ignore[union-attr]


def _contend(path: str, n: int, start_at: float, results: multiprocessing.Queue[tuple[int, str]]) -> None:
    while time.time() < start_at:
        time.sleep(0.001)
    try:
        acquire(Path(path), f"owner-{n}", f"run-{n}", "staging", 600)
        results.put((n, "won"))
    except LockHeld:
        results.put((n, "refused"))


def test_race_exactly_one_wins(lock: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    results: multiprocessing.Queue[tuple[int, str]] = ctx.Queue()
    start_at = time.time() + 0.5
    procs = [ctx.Process(target=_contend, args=(str(lock), n, start_at, results)) for n in range(8)]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    winners = [n for n, what in outcomes if what == "won"]
    assert len(winners) == 1 and len(outcomes) == 8
    assert read(lock).run_id == f"run-{winners[0]}"  # type: ignore[union-attr]
