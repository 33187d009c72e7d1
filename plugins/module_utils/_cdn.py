# Copyright: (c) 2026, liftoff.release maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Private to the liftoff.release collection.
"""Pure decisions of a CDN deploy: cache headers per path, what changed, and waiting for an invalidation.

Nothing here talks to S3 or CloudFront: the modules read, these functions decide.
"""
from __future__ import annotations

import fnmatch
import mimetypes
import posixpath
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# What mimetypes does not know everywhere (a browser refuses a module script served as octet-stream).
EXTRA_TYPES = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".svg": "image/svg+xml",
    ".wasm": "application/wasm",
}
COMPLETED = "Completed"


def cache_control_for(rel_path: str, rules: Sequence[Mapping[str, Any]], default: str) -> str:
    """The Cache-Control of the first rule whose glob ``pattern`` matches ``rel_path`` (``*`` spans ``/``)."""
    for rule in rules:
        if fnmatch.fnmatchcase(rel_path, str(rule["pattern"])):
            return str(rule["value"])
    return default


def content_type_for(rel_path: str) -> str:
    ext = posixpath.splitext(rel_path)[1].lower()
    if ext in EXTRA_TYPES:
        return EXTRA_TYPES[ext]
    guessed = mimetypes.guess_type(rel_path, strict=False)[0]
    return guessed or "application/octet-stream"


def join_key(prefix: str, rel_path: str) -> str:
    """The S3 key of ``rel_path`` under ``prefix`` (keys never start with ``/``)."""
    prefix = prefix.strip("/")
    rel_path = rel_path.lstrip("/")
    return f"{prefix}/{rel_path}" if prefix else rel_path


def under(key: str, prefix: str) -> bool:
    prefix = prefix.strip("/")
    return not prefix or key.startswith(prefix + "/")


@dataclass(frozen=True)
class LocalFile:
    rel: str
    key: str
    md5: str
    bytes: int
    cache_control: str
    content_type: str


@dataclass(frozen=True)
class RemoteObject:
    key: str
    etag: str
    bytes: int


@dataclass
class Plan:
    new: list[LocalFile] = field(default_factory=list)
    changed: list[LocalFile] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # in the bucket, not in the build, left there (no delete)

    @property
    def uploads(self) -> list[LocalFile]:
        return sorted(self.new + self.changed, key=lambda f: f.key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "upload": [vars(f) | {"existed": f in self.changed} for f in self.uploads],
            "new": sorted(f.key for f in self.new),
            "changed": sorted(f.key for f in self.changed),
            "unchanged": sorted(self.unchanged),
            "delete": sorted(self.deleted),
            "kept": sorted(self.kept),
            "upload_bytes": sum(f.bytes for f in self.uploads),
            # what a rollback must put back (the objects the upload overwrites or deletes)
            "previous": sorted([f.key for f in self.changed] + self.deleted),
        }


def etag_matches(local: LocalFile, remote: RemoteObject) -> bool:
    return remote.etag.strip('"') == local.md5 and remote.bytes == local.bytes


def same_after_head(local: LocalFile, head: Mapping[str, Any]) -> bool:
    """Whether an object whose ETag is not the file's md5 (multipart, SSE-KMS) still holds this very file.

    Objects this module uploads carry the file's md5 in their ``liftoff-md5`` metadata; the headers must also
    be what the rules ask for now.
    """
    metadata = {str(k).lower(): str(v) for k, v in (head.get("Metadata") or {}).items()}
    return (metadata.get("liftoff-md5") == local.md5 and head.get("CacheControl") == local.cache_control
            and head.get("ContentType") == local.content_type)


def plan(local: Iterable[LocalFile], remote: Mapping[str, RemoteObject], delete: bool,
         confirmed_same: Iterable[str] = ()) -> Plan:
    """What a deploy of ``local`` onto ``remote`` (the keys under the prefix) uploads and deletes.

    ``confirmed_same``: keys whose ETag differs but whose head says they hold the file already.
    """
    same = set(confirmed_same)
    result = Plan()
    local_keys: set[str] = set()
    for item in local:
        local_keys.add(item.key)
        found = remote.get(item.key)
        if found is None:
            result.new.append(item)
        elif etag_matches(item, found) or item.key in same:
            result.unchanged.append(item.key)
        else:
            result.changed.append(item)
    for key in sorted(set(remote) - local_keys):
        (result.deleted if delete else result.kept).append(key)
    return result


def suspects(local: Iterable[LocalFile], remote: Mapping[str, RemoteObject]) -> list[LocalFile]:
    """Files in the bucket whose ETag differs from their md5: worth a head before uploading them again."""
    return [f for f in local if f.key in remote and not etag_matches(f, remote[f.key])]


# --- waiting for an invalidation ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class WaitStep:
    action: str  # done | timeout | sleep
    seconds: float = 0.0


def next_wait_step(status: str, elapsed: float, timeout: float, poll: float) -> WaitStep:
    """After reading ``status`` ``elapsed`` seconds into the wait: done, out of time, or sleep how long."""
    if status.strip().lower() == COMPLETED.lower():  # AWS says Completed, moto COMPLETED
        return WaitStep("done")
    if elapsed >= timeout:
        return WaitStep("timeout")
    return WaitStep("sleep", max(0.0, min(poll, timeout - elapsed)))


@dataclass
class WaitOutcome:
    status: str
    completed: bool
    timed_out: bool
    waited: float
    polls: int
    seen: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "completed": self.completed, "timed_out": self.timed_out,
                "waited_s": round(self.waited, 3), "polls": self.polls, "seen": self.seen}


def wait_for(read_status: Callable[[], str], timeout: float, poll: float, clock: Callable[[], float],
             sleep: Callable[[float], None]) -> WaitOutcome:
    """Read the status until it is Completed or ``timeout`` seconds have passed, every ``poll`` seconds.

    The status is read at least once, also with ``timeout`` 0. Every status read is kept with the seconds since the
    start (``seen``), so the evidence can show the in-progress reads.
    """
    started = clock()
    seen: list[dict[str, Any]] = []
    while True:
        status = read_status()
        elapsed = clock() - started
        seen.append({"status": status, "at_s": round(elapsed, 3)})
        step = next_wait_step(status, elapsed, timeout, poll)
        if step.action != "sleep":
            return WaitOutcome(status=status, completed=step.action == "done", timed_out=step.action == "timeout",
                               waited=elapsed, polls=len(seen), seen=seen[-50:])
        sleep(step.seconds)
