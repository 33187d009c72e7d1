"""The deploy lock file: owner, run id, TTL, heartbeat, explicit breaking of stale locks."""
from __future__ import annotations

import json
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.liftoff.release.plugins.plugin_utils.lock import (
    LockHeld,
    LockInfo,
    acquire,
    decide_acquire,
    decide_heartbeat,
    decide_release,
    heartbeat,
    open_store,
    parse,
    plan,
    read,
    release,
)

ROOT = Path(__file__).resolve().parents[4]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support import redis as redis_support
from tests.support.redis import RedisServer

redis_server = redis_support.redis_server  # a throwaway redis-server, started only by the redis cases

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


def _contend(spec: dict[str, Any], n: int, start_at: float, results: multiprocessing.Queue[tuple[int, str]]) -> None:
    store = open_store(spec)
    while time.time() < start_at:
        time.sleep(0.001)
    try:
        acquire(store, f"owner-{n}", f"run-{n}", "staging", 600)
        results.put((n, "won"))
    except LockHeld:
        results.put((n, "refused"))


@pytest.mark.parametrize("backend", ["file", "redis"])
def test_race_exactly_one_wins(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    """Eight processes acquire at the same instant, five trials: exactly one wins each time."""
    for trial in range(5):
        if backend == "redis":
            server: RedisServer = request.getfixturevalue("redis_server")
            spec = {"backend": "redis", "redis_url": server.url, "redis_key": f"liftoff:lock:race-{trial}",
                    "redis_retain": 60}
        else:
            spec = {"backend": "file", "path": str(tmp_path / f"race-{trial}.lock")}
        ctx = multiprocessing.get_context("fork")
        results: multiprocessing.Queue[tuple[int, str]] = ctx.Queue()
        start_at = time.time() + 0.3
        procs = [ctx.Process(target=_contend, args=(spec, n, start_at, results)) for n in range(8)]
        for p in procs:
            p.start()
        outcomes = [results.get(timeout=30) for _unused in procs]
        for p in procs:
            p.join(30)
            assert p.exitcode == 0
        winners = [n for n, what in outcomes if what == "won"]
        assert len(winners) == 1 and len(outcomes) == 8, (trial, outcomes)
        assert read(open_store(spec)).run_id == f"run-{winners[0]}"  # type: ignore[union-attr]


# --------------------------------------------------------------------------- the pure decisions

HELD = LockInfo(owner="alice", run_id="run-1", environment="staging", acquired=NOW, expires=NOW + 60, ttl=60,
                token="tok-1")


def test_parse_round_trip_and_public_view_hides_the_token() -> None:
    assert parse(HELD.dumps()) == HELD
    assert parse(None) is None
    assert "token" not in HELD.public() and HELD.public()["owner"] == "alice"
    assert parse("{}", "key").owner == "unknown (unreadable lock key)"  # type: ignore[union-attr]


def test_token_decides_ownership_when_given() -> None:
    assert HELD.ours("run-1") and HELD.ours("run-1", "tok-1")
    assert not HELD.ours("run-1", "tok-other") and not HELD.ours("run-2") and not HELD.ours("run-2", "tok-1")
    with pytest.raises(LockHeld, match=r"run run-1 no longer holds the deploy lock \(held by owner 'alice', run run-1"):
        decide_heartbeat(HELD, "run-1", 60, NOW + 1, token="tok-other")
    kept = decide_release(HELD, "run-1", token="tok-other")
    assert kept.keep and kept.outcome["released"] is False and "held by another run" in kept.outcome["reason"]
    renewed = decide_heartbeat(HELD, "run-1", 90, NOW + 10, token="tok-1")
    assert renewed.lock == LockInfo("alice", "run-1", "staging", NOW, NOW + 100, 90, "tok-1")
    assert renewed.outcome == {"lock": renewed.lock.public(), "token": "tok-1"}  # type: ignore[union-attr]


def test_reentry_keeps_the_acquisition_and_its_token() -> None:
    change = decide_acquire(HELD, "alice", "run-1", "staging", 30, False, NOW + 50, token="tok-new")
    assert change.lock == LockInfo("alice", "run-1", "staging", NOW, NOW + 80, 30, "tok-1")
    assert change.outcome["reentered"] is True and change.outcome["token"] == "tok-1"


@pytest.mark.parametrize(("now", "break_stale", "expect"), [
    (NOW + 59, False, "held by owner 'alice'"),
    (NOW + 59, True, "held by owner 'alice'"),  # a live lock is never broken
    (NOW + 60, False, r"is stale \(owner 'alice'.*lock_break_stale=true"),
])
def test_refusals_name_the_holder(now: float, break_stale: bool, expect: str) -> None:
    with pytest.raises(LockHeld, match=expect):
        decide_acquire(HELD, "bob", "run-2", "staging", 60, break_stale, now, token="tok-2")


def test_break_is_recorded_in_the_outcome() -> None:
    change = decide_acquire(HELD, "bob", "run-2", "staging", 60, True, NOW + 60, token="tok-2")
    assert change.outcome["broken"] == HELD.public() and change.outcome["reentered"] is False
    assert change.lock == LockInfo("bob", "run-2", "staging", NOW + 60, NOW + 120, 60, "tok-2")


@pytest.mark.parametrize(("held", "run_id", "now", "failed"), [
    (None, "run-2", NOW, False),
    (HELD, "run-1", NOW, False),
    (HELD, "run-2", NOW + 59, True),
    (HELD, "run-2", NOW + 60, False),  # stale: the real run decides (break or refuse)
])
def test_check_mode_plan(held: LockInfo | None, run_id: str, now: float, failed: bool) -> None:
    outcome = plan(held, run_id, now)
    assert outcome.get("failed", False) is failed
    assert ("held by owner 'alice'" in outcome["msg"]) is failed


# --------------------------------------------------------------------------- the action plugin's argument checks

def _args(**over: Any) -> dict[str, Any]:
    return {"ttl": 60, "redis_retain": 0, "host": "", "backend": "file", **over}


@pytest.mark.parametrize(("over", "delegate_to", "message"), [
    ({}, None, None),
    ({"ttl": 0}, None, "ttl must be a positive number of seconds, got 0"),
    ({"redis_retain": -1}, None, "redis_retain must be zero or more seconds, got -1"),
    ({"host": "bastion", "backend": "redis"}, "bastion", "host='bastion' is for the file backend only"),
    ({"host": "bastion"}, None, "the task must be delegated to it (delegate_to: bastion), not to None"),
    ({"host": "bastion"}, "other", "not to 'other'"),
    ({"host": "bastion"}, "bastion", None),
])
def test_action_argument_combinations(over: dict[str, Any], delegate_to: str | None, message: str | None) -> None:
    from ansible_collections.liftoff.release.plugins.action.lock import _bad_args

    problem = _bad_args(_args(**over), delegate_to)
    assert problem is None if message is None else (problem is not None and message in problem)


def test_redis_url_argument_is_no_log() -> None:
    from ansible_collections.liftoff.release.plugins.action.lock import ActionModule

    assert ActionModule.ARGUMENT_SPEC["redis_url"]["no_log"] is True
