# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""The deploy lock as a file: owner, run id, TTL, heartbeat; a stale lock is broken only explicitly."""
from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any


class LockHeld(RuntimeError):
    """Another run holds the lock."""


@dataclass
class LockInfo:
    owner: str
    run_id: str
    environment: str
    acquired: float
    expires: float
    ttl: int

    def stale(self, now: float) -> bool:
        return now >= self.expires

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.acquired))
        until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.expires))
        return f"owner {self.owner!r}, run {self.run_id}, acquired {when}, expires {until}"


@contextmanager
def _guard(path: Path) -> Iterator[None]:
    """Serialise lock-file updates between processes on this controller."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(str(path) + ".guard", os.O_RDWR | os.O_CREAT, 0o640)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def read(path: Path) -> LockInfo | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return LockInfo(owner=str(data["owner"]), run_id=str(data["run_id"]), environment=str(data["environment"]),
                        acquired=float(data["acquired"]), expires=float(data["expires"]), ttl=int(data["ttl"]))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        # An unreadable (or not lock-shaped) lock is still a lock: treat it as held and stale so
        # only an explicit break clears it.
        return LockInfo(owner="unknown (unreadable lock file)", run_id="unknown", environment="",
                        acquired=0.0, expires=0.0, ttl=0)


def _write(path: Path, info: LockInfo) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(asdict(info), sort_keys=True), encoding="utf-8")
    os.replace(tmp, path)


def acquire(path: Path, owner: str, run_id: str, environment: str, ttl: int,
            break_stale: bool = False, now: float | None = None) -> dict[str, Any]:
    """Take the lock, or raise LockHeld naming the holder. Re-entrant for the same run id."""
    moment = time.time() if now is None else now
    with _guard(path):
        held = read(path)
        broken: dict[str, Any] | None = None
        if held is not None and held.run_id != run_id:
            if not held.stale(moment):
                raise LockHeld(f"deploy lock for {environment!r} is held by {held.describe()}; "
                               "wait for that run to finish")
            if not break_stale:
                raise LockHeld(f"deploy lock for {environment!r} is stale ({held.describe()}); "
                               "it is not broken automatically: re-run with -e lock_break_stale=true to break it")
            broken = asdict(held)
        info = LockInfo(owner=owner, run_id=run_id, environment=environment,
                        acquired=held.acquired if held and held.run_id == run_id else moment,
                        expires=moment + ttl, ttl=ttl)
        _write(path, info)
        return {"lock": asdict(info), "broken": broken, "reentered": bool(held and held.run_id == run_id)}


def heartbeat(path: Path, run_id: str, ttl: int, now: float | None = None) -> dict[str, Any]:
    moment = time.time() if now is None else now
    with _guard(path):
        held = read(path)
        if held is None or held.run_id != run_id:
            who = held.describe() if held else "nobody"
            raise LockHeld(f"run {run_id} no longer holds the deploy lock (held by {who})")
        held.expires = moment + ttl
        held.ttl = ttl
        _write(path, held)
        return {"lock": asdict(held)}


def release(path: Path, run_id: str) -> dict[str, Any]:
    with _guard(path):
        held = read(path)
        if held is None:
            return {"released": False, "reason": "not held"}
        if held.run_id != run_id:
            return {"released": False, "reason": f"held by another run: {held.describe()}"}
        path.unlink()
        return {"released": True, "lock": asdict(held)}
