"""Log sanitisation: counts of raw and masked tokens, never a line's text."""
from __future__ import annotations

import json
import re
from pathlib import Path

from ansible_collections.liftoff.release.plugins.module_utils._log_scan import (
    DEFAULT_MASKED,
    DEFAULT_PATTERN,
    MAX_LINE_NUMBERS,
    expand,
    scan_files,
    scan_lines,
    verdict,
)

RAW = "7d03490e1486dbd901a237aff828b77590f265e8dae37d823f93b697206c"
LINES = [
    "access GET /api/events?token=*** 200",
    f"access GET /api/protected?token={RAW} 403",
    "access GET /health 200",
    "access GET /api/events?x=1&token=*** 200",
    f"user token={RAW[:8]} and again",
]


def test_scan_lines_counts_and_line_numbers() -> None:
    scan = scan_lines("app.log", LINES, re.compile(DEFAULT_PATTERN), re.compile(DEFAULT_MASKED))
    assert (scan.lines, scan.leaks, scan.masked, scan.leak_lines) == (5, 2, 2, [2, 5])


def test_only_the_first_line_numbers_are_kept() -> None:
    lines = [f"token={i:x}abc" for i in range(50)]
    scan = scan_lines("x", lines, re.compile(DEFAULT_PATTERN), re.compile(DEFAULT_MASKED))
    assert scan.leaks == 50 and scan.leak_lines == list(range(1, MAX_LINE_NUMBERS + 1))


def test_files_globs_and_the_verdict_never_hold_a_line(tmp_path: Path) -> None:
    (tmp_path / "out-0.log").write_text("\n".join(LINES) + "\n")
    (tmp_path / "out-1.log").write_text("access GET /api/events?token=*** 200\n")
    files, unmatched = expand([str(tmp_path / "out-*.log"), str(tmp_path / "out-0.log"), str(tmp_path / "nope.log")])
    assert files == [str(tmp_path / "out-0.log"), str(tmp_path / "out-1.log")]
    assert unmatched == [str(tmp_path / "nope.log")]
    result = verdict(scan_files(files), unmatched)
    assert (result["lines_scanned"], result["leaks"], result["masked"], result["passed"]) == (6, 2, 3, False)
    assert result["failures"] == [
        f"no log file at {tmp_path / 'nope.log'}",
        f"2 lines with a raw token (allowed 0): {tmp_path / 'out-0.log'} lines [2, 5]"]
    text = json.dumps(result)
    assert RAW not in text and RAW[:8] not in text


def test_thresholds(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_text("\n".join(LINES))
    scans = scan_files([str(tmp_path / "a.log")])
    assert verdict(scans, [], max_leaks=2)["passed"] is True
    clean = scan_files([str(tmp_path / "a.log")], pattern=r"token=[0-9]{99}")
    assert verdict(clean, [], min_masked=3)["failures"] == ["2 masked occurrences, expected at least 3"]
    assert verdict(clean, [], min_masked=2)["passed"] is True
