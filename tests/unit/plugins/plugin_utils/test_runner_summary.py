"""Pass/fail counts from test runners' summaries, and the pass-ratio threshold."""
from __future__ import annotations

import pytest

from ansible_collections.liftoff.release.plugins.plugin_utils.runner_summary import (
    Counts,
    describe,
    judge_counts,
    parse_counts,
    regex_errors,
)

PYTEST = """
tests/test_api.py ....F                                                  [100%]
=================================== FAILURES ===================================
FAILED tests/test_api.py::test_login - assert 401 == 200
========================= 1 failed, 4 passed, 2 skipped in 0.31s ===============
"""
PYTEST_Q = "....\n4 passed in 0.05s\n"
PYTEST_ERRORS = "==== 3 passed, 1 error in 1.20s ====\n"
JEST = """
PASS src/health.test.ts
FAIL src/auth.test.ts
Test Suites: 1 failed, 1 passed, 2 total
Tests:       1 failed, 1 skipped, 4 passed, 6 total
Snapshots:   0 total
Time:        1.234 s
"""
MOCHA = "\n  health\n    ✓ answers\n\n  9 passing (40ms)\n  1 pending\n  1 failing\n"
TAP = "TAP version 13\n1..5\nok 1 - health\nok 2 - items\nnot ok 3 - auth\nok 4 - sse # SKIP no stream\n" \
      "not ok 5 - todo thing # TODO later\n"
NODE_TEST = "# tests 5\n# suites 0\n# pass 5\n# fail 0\n# cancelled 0\n# skipped 0\n# todo 0\n# duration_ms 80\n"
SEED_000 = "Running ephemeral token tests...\nTests passing: 5/5\n"
SEED_FRACTION = "smoke: 9/10 PASS\n"


@pytest.mark.parametrize(("text", "fmt", "expected"), [
    (PYTEST, "auto", Counts(4, 1, 2, "pytest", "========================= 1 failed, 4 passed, 2 skipped in 0.31s "
                                               "===============")),
    (PYTEST_Q, "pytest", Counts(4, 0, 0, "pytest", "4 passed in 0.05s")),
    (PYTEST_ERRORS, "auto", Counts(3, 1, 0, "pytest", "==== 3 passed, 1 error in 1.20s ====")),
    (JEST, "auto", Counts(4, 1, 1, "jest", "Tests: 1 failed, 1 skipped, 4 passed, 6 total")),
    (MOCHA, "auto", Counts(9, 1, 1, "mocha", "9 passing, 1 pending, 1 failing")),
    (TAP, "auto", Counts(3, 1, 1, "tap", "1..5")),
    (NODE_TEST, "tap", Counts(5, 0, 0, "tap", "# pass 5, # fail 0, # skip 0, # todo 0")),
    (SEED_000, "auto", Counts(5, 0, 0, "fraction", "passing: 5/5")),
    (SEED_FRACTION, "fraction", Counts(9, 1, 0, "fraction", "9/10 PASS")),
    ("nothing to see", "auto", None),
    (PYTEST, "jest", None),
])
def test_parse_counts(text: str, fmt: str, expected: Counts | None) -> None:
    assert parse_counts(text, fmt) == expected


def test_the_last_summary_counts() -> None:
    assert parse_counts("1 failed, 1 passed in 1s\nrerun:\n2 passed in 1s\n") == Counts(2, 0, 0, "pytest",
                                                                                        "2 passed in 1s")


@pytest.mark.parametrize(("text", "pattern", "expected"), [
    ("checks: 7 ok, 1 bad", r"checks: (?P<passed>\d+) ok, (?P<failed>\d+) bad", (7, 1)),
    ("ran 10, 2 failed", r"ran (?P<total>\d+), (?P<failed>\d+) failed", (8, 2)),
    ("ran 10, 9 fine, 1 skipped", r"ran (?P<total>\d+), (?P<passed>\d+) fine, (?P<skipped>\d+) skipped", (9, 0)),
])
def test_parse_regex(text: str, pattern: str, expected: tuple[int, int]) -> None:
    counts = parse_counts(text, "regex", pattern)
    assert counts is not None and (counts.passed, counts.failed) == expected and counts.format == "regex"


def test_regex_errors() -> None:
    assert regex_errors(r"(?P<passed>\d+)/(?P<total>\d+)") == []
    assert regex_errors(r"(?P<passed>\d+)") == [
        "regex: name two of the groups passed, failed, total; '(?P<passed>\\\\d+)' names ['passed']"]
    assert regex_errors("(") and regex_errors(None)


@pytest.mark.parametrize(("counts", "kw", "failures"), [
    (Counts(5, 0, 0, "fraction", ""), {}, []),
    (Counts(4, 1, 0, "pytest", ""), {}, ["4/5 passed (80.0%), expected all to pass"]),
    (Counts(19, 1, 3, "jest", ""), {"min_success_ratio": 0.9}, []),  # seed 002: >90 %
    (Counts(8, 2, 0, "jest", ""), {"min_success_ratio": 0.9}, ["8/10 passed (80.0%), expected at least 90.0%"]),
    (Counts(0, 0, 4, "pytest", ""), {}, ["0 tests ran, expected at least 1"]),
    (Counts(3, 0, 0, "pytest", ""), {"min_ran": 5}, ["3 tests ran, expected at least 5"]),
    (None, {}, ["no test summary found in the output"]),
])
def test_judge_counts(counts: Counts | None, kw: dict[str, float], failures: list[str]) -> None:
    assert judge_counts(counts, **kw) == failures  # type: ignore[arg-type]


def test_describe_and_to_dict() -> None:
    counts = Counts(4, 1, 2, "pytest", "1 failed, 4 passed, 2 skipped in 0.3s")
    assert describe(counts) == "4/5 passed (80.0%), 2 skipped [pytest]"
    assert describe(None) == "no test summary found"
    assert counts.to_dict() == {"succeeded": 4, "failed": 1, "skipped": 2, "format": "pytest",
                                "line": "1 failed, 4 passed, 2 skipped in 0.3s", "ran": 5, "ratio": 0.8}
