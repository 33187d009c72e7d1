"""The deploy lock in Redis, against a real throwaway redis-server: SET NX PX, compare-and-set, the break."""
from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ansible_collections.liftoff.release.plugins.plugin_utils.lock import (
    LockBackendError,
    LockHeld,
    RedisStore,
    acquire,
    heartbeat,
    keep_ms,
    read,
    release,
    scrub,
)
from tests.support import redis as redis_support
from tests.support.redis import RedisServer

redis_server = redis_support.redis_server  # the fixture: one throwaway redis-server for this module

NOW = time.time()
PLANTED = "pl4nted-redis-Secret"


@pytest.fixture
def store(redis_server: RedisServer, request: pytest.FixtureRequest) -> Iterator[RedisStore]:
    key = f"liftoff:lock:test-{request.node.name}"
    redis_server.client().delete(key)
    s = RedisStore(redis_server.url, key, retain=60)
    try:
        yield s
    finally:
        s.close()


def stored(redis_server: RedisServer, store: RedisStore) -> dict[str, object]:
    return dict(json.loads(redis_server.client().get(store.key)))


def test_acquire_free_sets_json_with_token_and_key_expiry(redis_server: RedisServer, store: RedisStore) -> None:
    result = acquire(store, "alice", "run-1", "staging", 600, now=NOW)
    assert result["broken"] is None and result["reentered"] is False
    value = stored(redis_server, store)
    assert value.pop("token") == result["token"] and len(result["token"]) == 32
    assert value == result["lock"] == {"owner": "alice", "run_id": "run-1", "environment": "staging",
                                       "acquired": NOW, "expires": NOW + 600, "ttl": 600}
    assert keep_ms(600, 60) - 5000 < store.pttl() <= keep_ms(600, 60)


def test_second_run_refused_naming_holder(redis_server: RedisServer, store: RedisStore) -> None:
    acquire(store, "alice", "run-1", "staging", 600, now=NOW)
    with pytest.raises(LockHeld, match=r"deploy lock for 'staging' is held by owner 'alice', run run-1, .*"
                                       r"wait for that run to finish"):
        acquire(store, "bob", "run-2", "staging", 600, now=NOW + 1)
    assert stored(redis_server, store)["run_id"] == "run-1"


def test_reentrant_keeps_token_and_acquisition(redis_server: RedisServer, store: RedisStore) -> None:
    first = acquire(store, "alice", "run-1", "staging", 600, now=NOW)
    again = acquire(store, "alice", "run-1", "staging", 300, now=NOW + 100)
    assert again["reentered"] is True and again["token"] == first["token"]
    assert (again["lock"]["acquired"], again["lock"]["expires"]) == (NOW, NOW + 400)
    assert stored(redis_server, store)["token"] == first["token"]


def test_stale_refused_then_broken_explicitly_and_recorded(redis_server: RedisServer, store: RedisStore) -> None:
    acquire(store, "carol", "dead-run", "staging", 1, now=NOW - 3600)
    assert read(store).stale(time.time())  # type: ignore[union-attr]
    with pytest.raises(LockHeld, match=r"is stale \(owner 'carol', run dead-run.*lock_break_stale=true"):
        acquire(store, "bob", "run-2", "staging", 600)
    assert stored(redis_server, store)["run_id"] == "dead-run"  # still there: nothing broke it
    result = acquire(store, "bob", "run-2", "staging", 600, break_stale=True)
    assert result["broken"]["owner"] == "carol" and result["broken"]["run_id"] == "dead-run"
    assert "token" not in result["broken"]
    assert stored(redis_server, store)["owner"] == "bob"


def test_heartbeat_and_release_compare_token_and_run(redis_server: RedisServer, store: RedisStore) -> None:
    token = acquire(store, "alice", "run-1", "staging", 60, now=NOW)["token"]
    with pytest.raises(LockHeld, match=r"run run-2 no longer holds the deploy lock \(held by owner 'alice'"):
        heartbeat(store, "run-2", 60)
    with pytest.raises(LockHeld, match="run run-1 no longer holds"):
        heartbeat(store, "run-1", 60, token="someone-elses-token")
    beat = heartbeat(store, "run-1", 120, now=NOW + 30, token=token)
    assert beat["lock"]["expires"] == NOW + 150 and stored(redis_server, store)["expires"] == NOW + 150
    assert release(store, "run-2")["released"] is False
    assert release(store, "run-1", token="someone-elses-token")["released"] is False
    assert redis_server.client().exists(store.key) == 1
    done = release(store, "run-1", token=token)
    assert done["released"] is True and redis_server.client().exists(store.key) == 0
    assert release(store, "run-1") == {"released": False, "reason": "not held"}


def test_swap_is_compare_and_set(redis_server: RedisServer, store: RedisStore) -> None:
    """A swap based on a value that changed since it was read does nothing (the Lua scripts compare first)."""
    acquire(store, "alice", "run-1", "staging", 60, now=NOW)
    old = store.get()
    heartbeat(store, "run-1", 60, now=NOW + 1)  # changes the value under the reader
    current = store.get()
    assert old != current
    info = read(store)
    assert store.swap(old, info) is False and store.swap(old, None) is False
    assert store.get() == current
    assert store.swap(current, None) is True and store.get() is None


def test_unreadable_value_is_a_stale_lock_broken_only_explicitly(redis_server: RedisServer,
                                                                 store: RedisStore) -> None:
    redis_server.client().set(store.key, "not json")
    with pytest.raises(LockHeld, match=r"is stale \(owner 'unknown \(unreadable lock key\)'"):
        acquire(store, "bob", "run-2", "staging", 60)
    result = acquire(store, "bob", "run-2", "staging", 60, break_stale=True)
    assert result["broken"]["owner"] == "unknown (unreadable lock key)"


def test_key_expires_after_ttl_plus_retain(redis_server: RedisServer) -> None:
    key = "liftoff:lock:test-expiry"
    short = RedisStore(redis_server.url, key, retain=0)
    acquire(short, "alice", "run-1", "staging", 1)
    assert redis_server.client().exists(key) == 1
    deadline = time.monotonic() + 5
    while redis_server.client().exists(key) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert redis_server.client().exists(key) == 0
    short.close()


def test_password_never_in_errors(tmp_path: Path) -> None:
    server = RedisServer.start(tmp_path / "auth", password=PLANTED)
    try:
        wrong = f"redis://:{PLANTED}-wrong@127.0.0.1:{server.port}/0"
        with pytest.raises(LockBackendError) as refused:
            acquire(RedisStore(wrong, "k"), "alice", "run-1", "staging", 60)
        assert PLANTED not in str(refused.value) and "127.0.0.1" in str(refused.value)
        assert read(RedisStore(server.url, "k")) is None  # the right password works
    finally:
        server.stop()
    with pytest.raises(LockBackendError, match=r"Redis key 'k' at redis://127\.0\.0\.1:\d+/0: ConnectionError") as down:
        acquire(RedisStore(server.url, "k", timeout=1), "alice", "run-1", "staging", 60)
    assert PLANTED not in str(down.value)


def test_scrub_masks_password_and_url() -> None:
    url = f"redis://user:{PLANTED}@h:1/0"
    assert scrub(f"failed on {url} with {PLANTED}", url) == "failed on redis://h:1/0 with ***"
    assert scrub("nothing here", None) == "nothing here"


def test_missing_redis_package_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)  # makes `import redis` raise ImportError
    with pytest.raises(LockBackendError, match=r"needs the Python package `redis`.*pip install redis==8\.1\.0"):
        RedisStore("redis://127.0.0.1:1/0", "k")
