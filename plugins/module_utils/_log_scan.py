# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Private to the liftoff.release collection.
"""Log sanitisation: count lines that leak a raw token and lines that show it masked. Never keeps a line.

Imported by the ``log_scan`` module on the target host: standard library only.
"""
from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

DEFAULT_PATTERN = r"token=[a-f0-9]"
DEFAULT_MASKED = r"token=\*\*\*"
MAX_LINE_NUMBERS = 20


@dataclass
class FileScan:
    path: str
    lines: int = 0
    leaks: int = 0
    masked: int = 0
    leak_lines: list[int] = field(default_factory=list)  # line numbers only, the first MAX_LINE_NUMBERS


def scan_lines(path: str, lines: Iterable[str], leak: re.Pattern[str], masked: re.Pattern[str]) -> FileScan:
    """Count the lines matching ``leak`` and those matching ``masked``; keep only line numbers of leaks."""
    result = FileScan(path)
    for number, line in enumerate(lines, start=1):
        result.lines = number
        if leak.search(line):
            result.leaks += 1
            if len(result.leak_lines) < MAX_LINE_NUMBERS:
                result.leak_lines.append(number)
        if masked.search(line):
            result.masked += 1
    return result


def expand(paths: Iterable[str]) -> tuple[list[str], list[str]]:
    """Files the paths and globs name, sorted and without duplicates; and the paths that named none."""
    files: list[str] = []
    unmatched: list[str] = []
    for raw in paths:
        path = os.path.expanduser(raw)
        found = sorted(p for p in glob.glob(path) if os.path.isfile(p)) if glob.has_magic(path) else (
            [path] if os.path.isfile(path) else [])
        if not found:
            unmatched.append(raw)
        files.extend(p for p in found if p not in files)
    return files, unmatched


def scan_files(files: Iterable[str], pattern: str = DEFAULT_PATTERN,
               masked_pattern: str = DEFAULT_MASKED) -> list[FileScan]:
    leak, masked = re.compile(pattern), re.compile(masked_pattern)
    scans = []
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as handle:
            scans.append(scan_lines(path, handle, leak, masked))
    return scans


def verdict(scans: list[FileScan], unmatched: list[str], *, max_leaks: int = 0,
            min_masked: int = 0) -> dict[str, Any]:
    """The module's result: totals, per-file counts, and why it failed (never a line's text)."""
    leaks = sum(s.leaks for s in scans)
    masked = sum(s.masked for s in scans)
    failures = [f"no log file at {path}" for path in unmatched]
    if leaks > max_leaks:
        where = ", ".join(f"{s.path} lines {s.leak_lines}" for s in scans if s.leaks)
        failures.append(f"{leaks} line{'s' if leaks != 1 else ''} with a raw token (allowed {max_leaks}): {where}")
    if masked < min_masked:
        failures.append(f"{masked} masked occurrences, expected at least {min_masked}")
    return {"files": [asdict(s) for s in scans], "lines_scanned": sum(s.lines for s in scans), "leaks": leaks,
            "masked": masked, "unmatched": unmatched, "failures": failures, "passed": not failures}
