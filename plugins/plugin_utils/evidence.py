# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""The evidence journal: one JSON line per check or action, appended on the controller as it happens."""
from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ansible_collections.liftoff.release.plugins.plugin_utils.redact import redact

STATUSES = ("pass", "fail", "skip", "info")
PHASES = ("run", "preflight", "backup", "migrate", "rollout", "cdn", "smoke", "verify", "rollback", "record")
JOURNAL = "evidence.jsonl"


class EvidenceError(ValueError):
    """An evidence item that breaks the contract."""


def utc_now() -> str:
    """Current UTC time as ISO-8601 with milliseconds and a Z suffix."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Evidence:
    """One evidence item, as fixed by the architecture's evidence contract."""

    id: str
    phase: str
    title: str
    status: str
    target: Any = None
    actual: Any = None
    started: str = ""
    ended: str = ""
    host: str = "controller"
    details: dict[str, Any] = field(default_factory=dict)

    def validate(self) -> None:
        if not self.id or not isinstance(self.id, str):
            raise EvidenceError("evidence 'id' must be a non-empty string such as 'backup.verify'")
        if self.phase not in PHASES:
            raise EvidenceError(f"evidence {self.id!r}: 'phase' must be one of {', '.join(PHASES)}, got {self.phase!r}")
        if self.status not in STATUSES:
            raise EvidenceError(f"evidence {self.id!r}: 'status' must be one of {', '.join(STATUSES)}, got {self.status!r}")
        if not isinstance(self.details, dict):
            raise EvidenceError(f"evidence {self.id!r}: 'details' must be a mapping")

    def to_dict(self) -> dict[str, Any]:
        now = utc_now()
        return {
            "id": self.id,
            "phase": self.phase,
            "title": self.title,
            "target": self.target,
            "actual": self.actual,
            "status": self.status,
            "started": self.started or now,
            "ended": self.ended or now,
            "host": self.host,
            "details": self.details,
        }


class EvidenceJournal:
    """Append-only JSON-lines journal in a run directory, safe for concurrent writers."""

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / JOURNAL

    def append(self, item: Evidence, secrets: Iterable[str] = ()) -> dict[str, Any]:
        """Validate, redact and append ``item``; return the stored dict (with ``seq``)."""
        item.validate()
        record = redact(item.to_dict(), secrets)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            record["seq"] = _count_lines(self.path) + 1
            os.write(fd, (json.dumps(record, sort_keys=True, default=str) + "\n").encode("utf-8"))
            os.fsync(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        return record

    def read(self) -> list[dict[str, Any]]:
        return list(iter_journal(self.path))


def _count_lines(path: Path) -> int:
    with path.open("rb") as handle:
        return sum(1 for _ in handle)


def iter_journal(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Yield items from a journal; a torn last line (crash mid-write) is skipped, not fatal."""
    journal = Path(path)
    if not journal.exists():
        return
    with journal.open(encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError:
                continue
