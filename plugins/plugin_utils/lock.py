# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""The deploy lock on the controller: the Redis backend and the renewer that keeps a run's lock alive.

The decisions and the lock file backend live in ``module_utils/_lock.py`` (a remote host's
``lock_file`` module needs them too); they are re-exported here for the controller's callers.

Redis: the lock is one key (``liftoff:lock:<environment>`` by default) holding the same JSON as
the lock file, token included. It is taken with ``SET NX PX`` and changed only by Lua scripts
that compare the whole stored value first (compare-and-set, compare-and-delete), so a run never
renews or deletes a lock that is not the one it read. The JSON ``expires`` decides staleness,
exactly as for the file: the key's own expiry is ``ttl + retain`` seconds, so a lock that went
stale stays visible (and must be broken explicitly, which is recorded) for ``retain`` seconds
before Redis forgets it.

The renewer: a detached process started on acquisition that renews the lock every ``ttl / 3``
seconds while the ansible-playbook process that took it lives. It never releases the lock: when
the playbook dies it stops, so the lock goes stale after the TTL. It stops too as soon as the
lock is no longer this acquisition's (released, or broken by another run).
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from hashlib import sha256
from pathlib import Path
from typing import Any

from ansible_collections.liftoff.release.plugins.module_utils._lock import (
    SWAP_ATTEMPTS,
    Change,
    FileStore,
    LockHeld,
    LockInfo,
    Store,
    acquire,
    decide_acquire,
    decide_heartbeat,
    decide_release,
    heartbeat,
    new_token,
    parse,
    perform,
    plan,
    read,
    release,
)
from ansible_collections.liftoff.release.plugins.plugin_utils.prom_api import safe_address

__all__ = [
    "SWAP_ATTEMPTS", "Change", "FileStore", "LockBackendError", "LockHeld", "LockInfo", "RedisStore", "Store",
    "acquire", "decide_acquire", "decide_heartbeat", "decide_release", "heartbeat", "new_token", "parse", "perform",
    "plan", "read", "release",
]

REDIS_PACKAGE_MSG = ("the Redis lock backend needs the Python package `redis` on the controller "
                     "(pip install redis==8.1.0, it is in the collection's requirements.txt)")
DEFAULT_RETAIN = 86400
RENEWER_MARK = "liftoff-lock-renewer"


class LockBackendError(RuntimeError):
    """The backend could not be reached or used (never names a secret)."""


# --------------------------------------------------------------------------- Redis

# Both scripts compare the whole stored value with what the caller read: atomic on the server.
_CAS_SET = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0
"""
_CAS_DEL = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def redis_key(environment: str, key: str | None = None) -> str:
    return key or f"liftoff:lock:{environment}"


def keep_ms(ttl: int, retain: int) -> int:
    """The Redis key's own expiry: the TTL plus the window in which a stale lock stays visible."""
    return (ttl + retain) * 1000


def scrub(text: str, secret: str | None) -> str:
    """``text`` with the password of ``secret`` (a URL) and the URL itself masked."""
    if not secret:
        return text
    text = text.replace(secret, safe_address(secret))
    userinfo = secret.partition("://")[2].rpartition("@")[0]
    for part in (userinfo, userinfo.partition(":")[2]):
        if len(part) >= 4:
            text = text.replace(part, "***")
    return text


class RedisStore:
    """The lock as a Redis key; swaps are atomic Lua compare-and-set / compare-and-delete scripts."""

    what = "key"

    def __init__(self, url: str, key: str, retain: int = DEFAULT_RETAIN, timeout: float = 5.0) -> None:
        try:
            import redis  # only this backend needs it
        except ImportError as exc:
            raise LockBackendError(REDIS_PACKAGE_MSG) from exc
        self._url = url
        self._errors: tuple[type[BaseException], ...] = (redis.exceptions.RedisError, OSError)
        self.key = key
        self.retain = retain
        self.where = f"Redis key {key!r} at {safe_address(url)}"
        try:
            self._client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout,
                                                decode_responses=True)
        except (ValueError, *self._errors) as exc:
            raise LockBackendError(f"bad Redis URL for the deploy lock ({safe_address(url)}): "
                                   f"{scrub(str(exc), url)}") from None
        self._set = self._client.register_script(_CAS_SET)
        self._del = self._client.register_script(_CAS_DEL)

    def _fail(self, exc: BaseException) -> LockBackendError:
        return LockBackendError(f"{self.where}: {type(exc).__name__}: {scrub(str(exc), self._url)}")

    def session(self) -> contextlib.nullcontext[None]:
        return contextlib.nullcontext()

    def get(self) -> str | None:
        try:
            value = self._client.get(self.key)
        except self._errors as exc:
            raise self._fail(exc) from None
        return None if value is None else str(value)

    def swap(self, old: str | None, new: LockInfo | None) -> bool:
        try:
            if new is None:
                return old is None or int(self._del(keys=[self.key], args=[old])) == 1
            px = keep_ms(new.ttl, self.retain)
            if old is None:
                return bool(self._client.set(self.key, new.dumps(), nx=True, px=px))
            return int(self._set(keys=[self.key], args=[old, new.dumps(), px])) == 1
        except self._errors as exc:
            raise self._fail(exc) from None

    def pttl(self) -> int:
        """The key's remaining life in ms (-2: no key), for tests and the docs' promise."""
        try:
            return int(self._client.pttl(self.key))
        except self._errors as exc:
            raise self._fail(exc) from None

    def close(self) -> None:
        self._client.close()


def open_store(spec: Mapping[str, Any]) -> Store:
    """The store a renewer spec (or the action plugin) names: ``{"backend": "file", "path": ...}`` or redis."""
    if spec["backend"] == "redis":
        return RedisStore(str(spec["redis_url"]), str(spec["redis_key"]), int(spec["redis_retain"]))
    return FileStore(Path(str(spec["path"])))


# --------------------------------------------------------------------------- processes (Linux /proc)

@dataclass(frozen=True)
class Process:
    """A process identified by pid and start time, so a reused pid is not mistaken for it."""

    pid: int
    started: int

    def alive(self) -> bool:
        return _start_time(self.pid) == self.started


def _stat_fields(pid: int) -> list[str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may hold spaces and parentheses: the fields after it start past the last ')'.
    return stat.rsplit(")", 1)[-1].split()


def _start_time(pid: int) -> int | None:
    fields = _stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def _parent(pid: int) -> int | None:
    fields = _stat_fields(pid)
    return int(fields[1]) if fields else None


def cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def is_playbook_command(argv: list[str]) -> bool:
    """True for ``ansible-playbook ...`` or ``python .../ansible-playbook ...`` (the argv of /proc/<pid>/cmdline)."""
    return any(os.path.basename(arg) == "ansible-playbook" for arg in argv[:3])


def playbook_process(start: int | None = None) -> Process:
    """The ansible-playbook process this task runs under: the nearest ancestor whose command is
    ansible-playbook; failing that (ansible-runner under another name, an ad hoc command) the parent
    of the worker, which is ansible's main process."""
    first = os.getppid() if start is None else start
    pid: int | None = first
    while pid and pid > 1:
        if is_playbook_command(cmdline(pid)):
            started = _start_time(pid)
            if started is not None:
                return Process(pid, started)
        pid = _parent(pid)
    started = _start_time(first)
    if started is None:
        raise LockBackendError(f"cannot read /proc/{first}/stat to watch the run's process")
    return Process(first, started)


# --------------------------------------------------------------------------- the renewer

def renew_period(ttl: int) -> float:
    return ttl / 3.0


def poll_interval(period: float) -> float:
    """How often the renewer looks at the playbook process: never later than one period after it dies."""
    return max(0.05, min(0.5, period / 4.0))


def renewer_pidfile(store_where: str, run_id: str, watched: Process, base: Path | None = None) -> Path:
    digest = sha256(f"{store_where}\0{run_id}\0{watched.pid}\0{watched.started}".encode()).hexdigest()[:20]
    directory = (base or Path(tempfile.gettempdir())) / "liftoff-lock-renewers"
    return directory / f"{digest}.pid"


def renewer_running(pidfile: Path) -> int | None:
    """The pid of the live renewer recorded in ``pidfile`` (None: none is running)."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if RENEWER_MARK in cmdline(pid) and _start_time(pid) is not None else None


def _collections_root() -> str:
    """The directory holding ``ansible_collections/`` this file was imported from."""
    here = Path(__file__)
    for parent in here.parents:
        if parent.name == "ansible_collections":
            return str(parent.parent)
    raise LockBackendError(f"cannot find the ansible_collections directory above {here}")


_BOOT = ("import sys; sys.path.insert(0, sys.argv[2]); "
         "from ansible_collections.liftoff.release.plugins.plugin_utils.lock import renewer_main; renewer_main()")


def start_renewer(spec: dict[str, Any], watched: Process, pidfile: Path) -> int:
    """Start the detached renewer; the spec (which may hold the Redis URL) goes through its stdin, never argv."""
    pidfile.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    proc = subprocess.Popen([sys.executable, "-c", _BOOT, RENEWER_MARK, _collections_root()],
                            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            close_fds=True, start_new_session=True, cwd="/")
    if proc.stdin is None:
        raise AssertionError("proc.stdin is unset")
    proc.stdin.write(json.dumps({**spec, "watch_pid": watched.pid, "watch_started": watched.started,
                                 "pidfile": str(pidfile)}).encode())
    proc.stdin.close()
    return proc.pid


def renew_loop(store: Store, run_id: str, token: str, ttl: int, watched: Process,
               sleep: Any = time.sleep, clock: Any = time.monotonic) -> str:
    """Renew every ttl/3 seconds while ``watched`` lives; return why it stopped. Never releases the lock."""
    period = renew_period(ttl)
    poll = poll_interval(period)
    next_renewal = clock() + period
    while True:
        if not watched.alive():
            return "the run's ansible-playbook process is gone; the lock is left to go stale"
        if clock() >= next_renewal:
            try:
                heartbeat(store, run_id, ttl, token=token)
            except LockHeld as exc:
                return f"the lock is no longer this run's: {exc}"
            except (LockBackendError, OSError):
                pass  # unreachable for now: try again next period; the lock goes stale if it stays so
            next_renewal = clock() + period
        sleep(poll)


def renewer_main() -> None:
    """Entry point of the detached renewer process (spec as JSON on stdin)."""
    spec = json.loads(sys.stdin.read())
    sys.stdin.close()
    pidfile = Path(spec["pidfile"])
    tmp = pidfile.with_name(pidfile.name + f".{os.getpid()}")
    tmp.write_text(str(os.getpid()))
    os.replace(tmp, pidfile)
    try:
        store = open_store(spec)
        renew_loop(store, str(spec["run_id"]), str(spec["token"]), int(spec["ttl"]),
                   Process(int(spec["watch_pid"]), int(spec["watch_started"])))
    finally:
        with contextlib.suppress(OSError, ValueError):
            if int(pidfile.read_text().strip()) == os.getpid():
                pidfile.unlink()
