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
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
            raise EvidenceError(
                f"evidence {self.id!r}: 'status' must be one of {', '.join(STATUSES)}, got {self.status!r}")
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
        record: dict[str, Any] = redact(item.to_dict(), secrets)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            lines, torn = _count_lines(self.path)
            record["seq"] = lines + 1
            line = json.dumps(record, sort_keys=True, default=str) + "\n"
            # A writer that crashed mid-line left no newline: start a fresh line, or this item
            # would be glued to the torn one and lost with it.
            os.write(fd, (("\n" if torn else "") + line).encode("utf-8"))
            os.fsync(fd)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        return record

    def read(self) -> list[dict[str, Any]]:
        return list(iter_journal(self.path))


def _count_lines(path: Path) -> tuple[int, bool]:
    """Lines in the journal, and whether the last one is torn (no trailing newline)."""
    count, last = 0, b"\n"
    with path.open("rb") as handle:
        for line in handle:
            count, last = count + 1, line
    return count, not last.endswith(b"\n")


def iter_journal(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Yield items from a journal; a torn last line (crash mid-write) is skipped, not fatal."""
    journal = Path(path)
    if not journal.exists():
        return
    # errors="replace": a line torn inside a multi-byte character is skipped like any torn line.
    with journal.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            line = line.strip()
            if not line:
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(item, dict):
                yield item
