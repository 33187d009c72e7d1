# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Private to the liftoff.release collection.
"""The deploy lock's decisions, shared by every backend, and the lock file backend.

A lock names its owner, the run holding it, a random owner token, the environment, when it was
acquired and when it expires (``ttl`` seconds after it was taken or last renewed). Past its
expiry it is *stale*: it is never broken automatically, only when the caller asks
(``break_stale``), and the broken lock is returned so the run can record whose it was.

A backend is a :class:`Store`: it reads the lock's raw text and replaces it only while it still
holds the text it read (compare-and-swap). :func:`acquire`, :func:`heartbeat` and
:func:`release` read, decide with a pure function of what they read and the clock, and swap; a
swap that loses a race is retried from a fresh read. The file store swaps under an exclusive
``fcntl`` lock on ``<path>.guard``; the Redis store (controller only, ``plugin_utils.lock``)
swaps with Lua compare-and-set / compare-and-delete scripts.

This file is imported by the ``lock_file`` module on a remote host too: standard library only.
"""
from __future__ import annotations

import fcntl
import json
import os
import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

#: A swap that loses this many races in a row gives up (another process keeps changing the lock).
SWAP_ATTEMPTS = 20
UNREADABLE = "unknown (unreadable lock {what})"


class LockHeld(RuntimeError):
    """Another run holds the lock (or this run no longer does)."""


@dataclass
class LockInfo:
    owner: str
    run_id: str
    environment: str
    acquired: float
    expires: float
    ttl: int
    token: str = ""

    def stale(self, now: float) -> bool:
        return now >= self.expires

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.acquired))
        until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.expires))
        return f"owner {self.owner!r}, run {self.run_id}, acquired {when}, expires {until}"

    def public(self) -> dict[str, Any]:
        """The lock as shown in results and evidence: everything but the owner token."""
        shown = asdict(self)
        del shown["token"]
        return shown

    def dumps(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def ours(self, run_id: str, token: str = "") -> bool:
        """Held by ``run_id`` (and, when a token is given, by the acquisition that token names)."""
        return self.run_id == run_id and (not token or self.token == token)


def parse(raw: str | None, what: str = "file") -> LockInfo | None:
    """The lock held in ``raw`` (None: no lock). Unreadable text is a lock held by nobody known, stale."""
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        return LockInfo(owner=str(data["owner"]), run_id=str(data["run_id"]), environment=str(data["environment"]),
                        acquired=float(data["acquired"]), expires=float(data["expires"]), ttl=int(data["ttl"]),
                        token=str(data.get("token", "")))
    except (ValueError, KeyError, TypeError, AttributeError):
        # An unreadable (or not lock-shaped) lock is still a lock: held and stale, so only an
        # explicit break clears it.
        return LockInfo(owner=UNREADABLE.format(what=what), run_id="unknown", environment="",
                        acquired=0.0, expires=0.0, ttl=0)


def new_token() -> str:
    return secrets.token_hex(16)


# --------------------------------------------------------------------------- decisions (pure)

@dataclass(frozen=True)
class Change:
    """What a decision does to the stored lock: write ``lock``, delete it (``lock`` None), or keep it."""

    keep: bool
    lock: LockInfo | None
    outcome: dict[str, Any]


def decide_acquire(held: LockInfo | None, owner: str, run_id: str, environment: str, ttl: int,
                   break_stale: bool, now: float, token: str) -> Change:
    """Take a free lock, re-enter our own, break a stale one when asked; else raise LockHeld naming the holder."""
    broken: LockInfo | None = None
    if held is not None and held.run_id != run_id:
        if not held.stale(now):
            raise LockHeld(f"deploy lock for {environment!r} is held by {held.describe()}; "
                           "wait for that run to finish")
        if not break_stale:
            raise LockHeld(f"deploy lock for {environment!r} is stale ({held.describe()}); "
                           "it is not broken automatically: re-run with -e lock_break_stale=true to break it")
        broken = held
    reentered = held is not None and held.run_id == run_id
    if reentered and held is not None:
        info = replace(held, owner=owner, environment=environment, expires=now + ttl, ttl=ttl,
                       token=held.token or token)
    else:
        info = LockInfo(owner=owner, run_id=run_id, environment=environment, acquired=now,
                        expires=now + ttl, ttl=ttl, token=token)
    return Change(keep=False, lock=info, outcome={
        "lock": info.public(), "broken": broken.public() if broken else None, "reentered": reentered,
        "token": info.token})


def decide_heartbeat(held: LockInfo | None, run_id: str, ttl: int, now: float, token: str = "") -> Change:
    """Renew our lock's expiry; raise LockHeld when the lock is no longer ours."""
    if held is None or not held.ours(run_id, token):
        who = held.describe() if held else "nobody"
        raise LockHeld(f"run {run_id} no longer holds the deploy lock (held by {who})")
    info = replace(held, expires=now + ttl, ttl=ttl)
    return Change(keep=False, lock=info, outcome={"lock": info.public(), "token": info.token})


def decide_release(held: LockInfo | None, run_id: str, token: str = "") -> Change:
    """Remove our lock; a lock held by another run (or none) is kept, and the outcome says why."""
    if held is None:
        return Change(keep=True, lock=None, outcome={"released": False, "reason": "not held"})
    if not held.ours(run_id, token):
        return Change(keep=True, lock=None,
                      outcome={"released": False, "reason": f"held by another run: {held.describe()}"})
    return Change(keep=False, lock=None, outcome={"released": True, "lock": held.public()})


def plan(held: LockInfo | None, run_id: str, now: float) -> dict[str, Any]:
    """Check mode: take nothing, but fail when the lock would be refused (held by another run, not stale)."""
    if held is not None and held.run_id != run_id and not held.stale(now):
        return {"failed": True, "acquired": False, "changed": False,
                "msg": f"deploy lock would be refused: held by {held.describe()}"}
    return {"changed": False, "acquired": True, "held": held is not None, "msg": "check mode: lock not taken"}


# --------------------------------------------------------------------------- stores

class Store(Protocol):
    #: What the lock is, for messages (never a secret): "lock file /x", "Redis key k at redis://h:p/0".
    where: str
    #: The word for an unreadable lock's owner: "file" or "key".
    what: str

    def session(self) -> AbstractContextManager[None]:
        """Held around one read-decide-swap (the file store serialises processes; Redis needs nothing)."""

    def get(self) -> str | None:
        """The lock's raw text, None when there is no lock."""

    def swap(self, old: str | None, new: LockInfo | None) -> bool:
        """Replace ``old`` by ``new`` (None: delete) only if the store still holds ``old``; True when done."""


@contextmanager
def _guard(path: Path) -> Iterator[None]:
    """Serialise lock-file updates between processes on the host holding the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(path) + ".guard", os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class FileStore:
    """A JSON lock file; every swap happens inside :meth:`session` (the guard), so it never loses a race."""

    what = "file"

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.where = f"lock file {self.path}"

    def session(self) -> AbstractContextManager[None]:
        return _guard(self.path)

    def get(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError):
            return ""  # there, but unreadable: parse() makes it a stale lock held by nobody known

    def swap(self, old: str | None, new: LockInfo | None) -> bool:
        if new is None:
            self.path.unlink(missing_ok=True)
            return True
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        tmp.write_text(new.dumps(), encoding="utf-8")
        os.replace(tmp, self.path)
        return True


def _store(where: Store | Path | str) -> Store:
    return FileStore(where) if isinstance(where, (Path, str)) else where


def _transact(store: Store, decide: Callable[[LockInfo | None], Change]) -> dict[str, Any]:
    for _attempt in range(SWAP_ATTEMPTS):
        with store.session():
            raw = store.get()
            change = decide(parse(raw, store.what))
            if change.keep or store.swap(raw, change.lock):
                return change.outcome
    raise LockHeld(f"the deploy lock ({store.where}) changed under this run {SWAP_ATTEMPTS} times in a row; "
                   "another process keeps rewriting it")


# --------------------------------------------------------------------------- operations

def read(where: Store | Path | str) -> LockInfo | None:
    store = _store(where)
    return parse(store.get(), store.what)


def acquire(where: Store | Path | str, owner: str, run_id: str, environment: str, ttl: int,
            break_stale: bool = False, now: float | None = None) -> dict[str, Any]:
    """Take the lock, or raise LockHeld naming the holder. Re-entrant for the same run id.

    Returns ``lock`` and ``broken`` (public views, no token), ``reentered``, and ``token``: the owner
    token of this acquisition, for a renewer that must stop once the lock is no longer this one.
    """
    store = _store(where)
    token = new_token()
    return _transact(store, lambda held: decide_acquire(
        held, owner, run_id, environment, ttl, break_stale, time.time() if now is None else now, token))


def heartbeat(where: Store | Path | str, run_id: str, ttl: int, now: float | None = None,
              token: str = "") -> dict[str, Any]:
    store = _store(where)
    return _transact(store, lambda held: decide_heartbeat(
        held, run_id, ttl, time.time() if now is None else now, token))


def release(where: Store | Path | str, run_id: str, token: str = "") -> dict[str, Any]:
    store = _store(where)
    return _transact(store, lambda held: decide_release(held, run_id, token))


def perform(where: Store | Path | str, state: str, run_id: str, owner: str = "unknown", environment: str = "",
            ttl: int = 1800, break_stale: bool = False, check_mode: bool = False) -> dict[str, Any]:
    """One task's worth of lock work, as the action plugin and the lock_file module both return it.

    ``state`` is acquired, heartbeat, released or query. A refusal is ``failed`` with a ``msg`` naming the
    holder. Acquired and heartbeat results carry the owner ``token`` for a renewer: callers drop it
    before returning the result.
    """
    store = _store(where)
    if state == "query":
        held = read(store)
        return {"changed": False, "held": held is not None, "holder": held.public() if held else None}
    if check_mode:
        return plan(read(store), run_id, time.time())
    try:
        if state == "acquired":
            outcome = acquire(store, owner, run_id, environment, ttl, break_stale)
            return {"changed": not outcome["reentered"], "acquired": True, **outcome}
        if state == "heartbeat":
            return {"changed": False, **heartbeat(store, run_id, ttl)}
        outcome = release(store, run_id)
        return {"changed": bool(outcome["released"]), **outcome}
    except LockHeld as exc:
        return {"failed": True, "acquired": False, "changed": False, "msg": str(exc)}
