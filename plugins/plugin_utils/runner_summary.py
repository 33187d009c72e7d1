# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""Pass/fail counts from a test runner's output (pytest, jest, mocha, TAP, "5/5", a regex), and the threshold. Pure."""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

FORMATS = ("auto", "pytest", "jest", "mocha", "tap", "fraction", "regex")


@dataclass(frozen=True)
class Counts:
    passed: int
    failed: int
    skipped: int
    format: str
    line: str  # the summary line the counts came from (TAP: the plan or the last result line)

    @property
    def ran(self) -> int:
        """Tests that passed or failed (skipped ones left out)."""
        return self.passed + self.failed

    @property
    def ratio(self) -> float | None:
        return self.passed / self.ran if self.ran else None

    def to_dict(self) -> dict[str, Any]:
        """For the evidence: ``succeeded``, not ``passed`` (the journal masks values under *pass* names)."""
        data = asdict(self)
        data["succeeded"] = data.pop("passed")
        return {**data, "ran": self.ran, "ratio": self.ratio}


_WORD_COUNT = re.compile(r"(\d+)\s+([a-z]+)", re.IGNORECASE)
_PYTEST_LINE = re.compile(r"^=*\s*(?:\d+\s+[a-z]+(?:,\s*)?)+\s+in\s+[\d.]+\s*m?s\b.*$", re.IGNORECASE | re.MULTILINE)
_JEST_LINE = re.compile(r"^\s*Tests:\s+(.*\d+\s+total.*)$", re.MULTILINE)
_MOCHA_LINE = re.compile(r"^\s*(\d+)\s+(passing|failing|pending)\b", re.MULTILINE)
_TAP_RESULT = re.compile(r"^\s*(not ok|ok)\b(.*)$", re.MULTILINE)
_TAP_SUMMARY = re.compile(r"^#\s+(pass|fail|skip|todo)(?:ped)?\s+(\d+)\s*$", re.MULTILINE)
_FRACTION = re.compile(r"(\d+)\s*/\s*(\d+)\s*(?:tests?\s+)?(?:pass(?:ed|ing)?|ok|succeeded)\b"
                       r"|(?:pass(?:ed|ing)?|ok)\s*:?\s*(\d+)\s*/\s*(\d+)", re.IGNORECASE)


def _words(text: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for number, word in _WORD_COUNT.findall(text):
        found[word.lower()] = found.get(word.lower(), 0) + int(number)
    return found


def parse_pytest(text: str) -> Counts | None:
    """``=== 1 failed, 4 passed, 2 skipped in 0.31s ===`` (errors count as failed)."""
    lines = _PYTEST_LINE.findall(text)
    if not lines:
        return None
    line = lines[-1].strip()
    words = _words(line.split(" in ")[0])
    if not {"passed", "failed", "error", "errors", "skipped"} & set(words):
        return None
    failed = words.get("failed", 0) + words.get("error", 0) + words.get("errors", 0)
    return Counts(words.get("passed", 0), failed, words.get("skipped", 0), "pytest", line)


def parse_jest(text: str) -> Counts | None:
    """``Tests:       1 failed, 2 skipped, 4 passed, 7 total``."""
    lines = _JEST_LINE.findall(text)
    if not lines:
        return None
    words = _words(lines[-1])
    return Counts(words.get("passed", 0), words.get("failed", 0), words.get("skipped", 0) + words.get("todo", 0),
                  "jest", "Tests: " + lines[-1].strip())


def parse_mocha(text: str) -> Counts | None:
    """``5 passing (20ms)``, ``1 failing``, ``2 pending``."""
    found = _MOCHA_LINE.findall(text)
    if not found:
        return None
    words = {word: int(number) for number, word in found}
    line = ", ".join(f"{n} {w}" for w, n in words.items())
    return Counts(words.get("passing", 0), words.get("failing", 0), words.get("pending", 0), "mocha", line)


def parse_tap(text: str) -> Counts | None:
    """TAP: ``# pass N`` / ``# fail N`` summaries (node --test, tape) or else the ``ok`` / ``not ok`` lines."""
    summary = {key: int(value) for key, value in _TAP_SUMMARY.findall(text)}
    if "pass" in summary or "fail" in summary:
        line = ", ".join(f"# {k} {v}" for k, v in summary.items())
        return Counts(summary.get("pass", 0), summary.get("fail", 0),
                      summary.get("skip", 0) + summary.get("todo", 0), "tap", line)
    results = _TAP_RESULT.findall(text)
    if not results:
        return None
    passed = failed = skipped = 0
    for verdict, rest in results:
        directive = rest.partition("#")[2].strip().lower()
        if directive.startswith("skip"):
            skipped += 1
        elif verdict == "ok" or directive.startswith("todo"):
            passed += 1
        else:
            failed += 1
    plan = re.search(r"^\s*1\.\.(\d+)", text, re.MULTILINE)
    line = f"1..{plan.group(1)}" if plan else f"{len(results)} results"
    return Counts(passed, failed, skipped, "tap", line)


def parse_fraction(text: str) -> Counts | None:
    """``5/5 PASS``, ``Tests passing: 4/5``, ``passed: 9/10``."""
    found = list(_FRACTION.finditer(text))
    if not found:
        return None
    match = found[-1]
    passed, total = (int(g) for g in (match.group(1, 2) if match.group(1) else match.group(3, 4)))
    return Counts(min(passed, total), max(total - passed, 0), 0, "fraction", match.group(0))


def parse_regex(text: str, pattern: str) -> Counts | None:
    """The last match of ``pattern``, with named groups: two of ``passed``, ``failed``, ``total``
    (and optionally ``skipped``)."""
    found = list(re.finditer(pattern, text, re.MULTILINE))
    if not found:
        return None
    groups = {k: int(v) for k, v in found[-1].groupdict().items() if v is not None and v.isdigit()}
    skipped = groups.get("skipped", 0)
    if "passed" in groups and "failed" in groups:
        passed, failed = groups["passed"], groups["failed"]
    elif "total" in groups and ("passed" in groups or "failed" in groups):
        known = groups.get("passed", groups.get("failed", 0))
        other = max(groups["total"] - skipped - known, 0)
        passed, failed = (known, other) if "passed" in groups else (other, known)
    else:
        return None
    return Counts(passed, failed, skipped, "regex", found[-1].group(0))


def regex_errors(pattern: str | None) -> list[str]:
    """Problems with a user's summary regex (it must compile and name two of passed/failed/total)."""
    if not pattern:
        return ["regex: format regex needs a regex with two named groups of (?P<passed>...), (?P<failed>...), "
                "(?P<total>...)"]
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        return [f"regex: {pattern!r} is not a valid regular expression ({exc})"]
    named = set(compiled.groupindex) & {"passed", "failed", "total"}
    if len(named) < 2:
        return [f"regex: name two of the groups passed, failed, total; {pattern!r} names {sorted(named) or 'none'}"]
    return []


_PARSERS: dict[str, Callable[[str], Counts | None]] = {
    "jest": parse_jest, "pytest": parse_pytest, "mocha": parse_mocha, "tap": parse_tap, "fraction": parse_fraction,
}


def parse_counts(text: str, fmt: str = "auto", pattern: str | None = None) -> Counts | None:
    """Counts from ``text`` in format ``fmt``; ``auto`` tries jest, pytest, mocha, TAP, then a fraction."""
    if fmt == "regex":
        return parse_regex(text, pattern or "")
    if fmt != "auto":
        return _PARSERS[fmt](text)
    for parser in _PARSERS.values():
        counts = parser(text)
        if counts is not None:
            return counts
    return None


def judge_counts(counts: Counts | None, *, min_success_ratio: float = 1.0, min_ran: int = 1) -> list[str]:
    """Every way the counts miss the threshold; the ratio is passed / (passed + failed), skipped left out."""
    if counts is None:
        return ["no test summary found in the output"]
    failures: list[str] = []
    if counts.ran < min_ran:
        failures.append(f"{counts.ran} tests ran, expected at least {min_ran}")
    ratio = counts.ratio
    if ratio is not None and ratio < min_success_ratio:
        wanted = "expected all to pass" if min_success_ratio >= 1 else f"expected at least {min_success_ratio:.1%}"
        failures.append(f"{counts.passed}/{counts.ran} passed ({ratio:.1%}), {wanted}")
    return failures


def describe(counts: Counts | None) -> str:
    """The evidence's actual, for example ``4/5 passed (80.0%), 1 skipped [pytest]``."""
    if counts is None:
        return "no test summary found"
    ratio = f" ({counts.ratio:.1%})" if counts.ratio is not None else ""
    skipped = f", {counts.skipped} skipped" if counts.skipped else ""
    return f"{counts.passed}/{counts.ran} passed{ratio}{skipped} [{counts.format}]"
