# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""The Prometheus text exposition format, and the gate's measures over two scrapes.

Pure: parsing text and arithmetic on parsed samples, no I/O. A *scrape* is the list of
samples of one target; several targets (pm2 cluster workers, each on its own metrics
port) are measured per target and summed. Measures are taken over the *delta* between
a scrape before and a scrape after an interval, so each sample describes that interval
only, not the process lifetime; a counter that went down (a worker restarted) counts
from zero, as Prometheus' ``increase()`` does.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_STATUS_LABELS = ("status", "code", "status_code")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n"}


class PromParseError(ValueError):
    """The text is not in the Prometheus exposition format."""


@dataclass(frozen=True)
class PromSample:
    """One line of an exposition: series name, labels, value."""

    name: str
    labels: Mapping[str, str]
    value: float

    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return self.name, tuple(sorted(self.labels.items()))


Scrape = list[PromSample]


def _parse_labels(line: str, pos: int, lineno: int) -> tuple[dict[str, str], int]:
    """Parse ``{a="x",b="y"}`` starting at the ``{``; return labels and the index after ``}``."""
    labels: dict[str, str] = {}
    pos += 1
    n = len(line)
    while True:
        while pos < n and line[pos] in " \t":
            pos += 1
        if pos < n and line[pos] == "}":
            return labels, pos + 1
        m = _LABEL_NAME.match(line, pos)
        if not m:
            raise PromParseError(f"line {lineno}: expected a label name at column {pos + 1}")
        lname = m.group(0)
        pos = m.end()
        while pos < n and line[pos] in " \t":
            pos += 1
        if pos + 1 >= n or line[pos] != "=" or line[pos + 1] != '"':
            raise PromParseError(f'line {lineno}: expected =" after label {lname}')
        pos += 2
        chars: list[str] = []
        while True:
            if pos >= n:
                raise PromParseError(f"line {lineno}: unterminated value of label {lname}")
            c = line[pos]
            if c == "\\":
                if pos + 1 >= n:
                    raise PromParseError(f"line {lineno}: dangling escape in label {lname}")
                nxt = line[pos + 1]
                chars.append(_ESCAPES.get(nxt, "\\" + nxt))
                pos += 2
                continue
            if c == '"':
                pos += 1
                break
            chars.append(c)
            pos += 1
        labels[lname] = "".join(chars)
        while pos < n and line[pos] in " \t":
            pos += 1
        if pos < n and line[pos] == ",":
            pos += 1
            continue
        if pos < n and line[pos] == "}":
            return labels, pos + 1
        raise PromParseError(f"line {lineno}: expected , or }} after label {lname}")


def parse_value(text: str) -> float:
    """A sample value: a float, ``+Inf``, ``-Inf`` or ``NaN``."""
    try:
        return float(text)
    except ValueError:
        raise PromParseError(f"not a sample value: {text!r}") from None


def parse_text(text: str) -> Scrape:
    """Parse an exposition into samples; comments (``# HELP``, ``# TYPE``, ``# EOF``) are skipped."""
    samples: Scrape = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _NAME.match(line)
        if not m:
            raise PromParseError(f"line {lineno}: expected a metric name, got {raw!r}")
        name = m.group(0)
        pos = m.end()
        labels: dict[str, str] = {}
        if pos < len(line) and line[pos] == "{":
            labels, pos = _parse_labels(line, pos, lineno)
        rest = line[pos:].split()
        if not rest or len(rest) > 2:
            raise PromParseError(f"line {lineno}: expected a value (and optional timestamp) "
                                 f"after {name}, got {line[pos:]!r}")
        try:
            value = parse_value(rest[0])
        except PromParseError as exc:
            raise PromParseError(f"line {lineno}: {exc}") from None
        samples.append(PromSample(name, labels, value))
    return samples


def _matches(labels: Mapping[str, str], label_filter: Mapping[str, str] | None) -> bool:
    """Each filter value is a regular expression the label must match fully (PromQL ``=~``)."""
    if not label_filter:
        return True
    return all(re.fullmatch(pattern, labels.get(lname, "")) is not None
               for lname, pattern in label_filter.items())


def sum_counter(samples: Sequence[PromSample], name: str,
                label_filter: Mapping[str, str] | None = None) -> float:
    """Sum of every sample of series ``name`` whose labels match ``label_filter``."""
    return sum(s.value for s in samples if s.name == name and _matches(s.labels, label_filter))


def has_series(samples: Sequence[PromSample], name: str,
               label_filter: Mapping[str, str] | None = None) -> bool:
    return any(s.name == name and _matches(s.labels, label_filter) for s in samples)


def counter_delta(before: Sequence[Sequence[PromSample]],
                  after: Sequence[Sequence[PromSample]]) -> Scrape:
    """Per-target, per-series increase between two scrapes, targets concatenated.

    A series that went down (process restart) counts from zero; a series new in
    ``after`` counts in full. Targets are matched by position.
    """
    if len(before) != len(after):
        raise ValueError(f"scrapes of {len(before)} and {len(after)} targets cannot be compared")
    out: Scrape = []
    for b_scrape, a_scrape in zip(before, after, strict=True):
        previous = {s.key(): s.value for s in b_scrape}
        for s in a_scrape:
            old = previous.get(s.key(), 0.0)
            if math.isnan(s.value) or math.isnan(old):
                continue
            inc = s.value - old if s.value >= old else s.value
            out.append(PromSample(s.name, s.labels, inc))
    return out


def _route_filter(route: str | None) -> dict[str, str]:
    return {"route": re.escape(route)} if route else {}


def _is_5xx(labels: Mapping[str, str]) -> bool:
    return any(re.fullmatch(r"5\d\d", labels.get(lname, "")) for lname in _STATUS_LABELS)


def error_ratio(delta: Sequence[PromSample], route: str | None = None,
                series: str = "http_requests_total") -> float | None:
    """5xx requests / all requests over the delta; None when there were no requests.

    The status is read from the ``status``, ``code`` or ``status_code`` label.
    """
    flt = _route_filter(route)
    chosen = [s for s in delta if s.name == series and _matches(s.labels, flt)]
    total = sum(s.value for s in chosen)
    if total <= 0:
        return None
    errors = sum(s.value for s in chosen if _is_5xx(s.labels))
    return errors / total


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """Prometheus' ``histogram_quantile``: ``buckets`` are (upper bound ``le``, cumulative count).

    None when there are no observations. Linear interpolation within the bucket holding
    the rank; the first bucket starts at 0 (unless its bound is <= 0); a rank in the
    ``+Inf`` bucket returns the highest finite bound.
    """
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"quantile must be within 0..1, got {q}")
    ordered = sorted(buckets, key=lambda b: b[0])
    if len(ordered) < 2 or not math.isinf(ordered[-1][0]):
        return None
    # cumulative counts must not decrease (sums of scrapes can be off by a race)
    counts: list[float] = []
    for _unused, c in ordered:
        counts.append(max(c, counts[-1]) if counts else c)
    total = counts[-1]
    if total <= 0:
        return None
    rank = q * total
    idx = next(i for i, c in enumerate(counts) if c >= rank)
    if idx == len(ordered) - 1:
        return ordered[-2][0]
    upper = ordered[idx][0]
    if idx == 0:
        if upper <= 0:
            return upper
        lower, below = 0.0, 0.0
    else:
        lower, below = ordered[idx - 1][0], counts[idx - 1]
    in_bucket = counts[idx] - below
    if in_bucket <= 0:
        return upper
    return lower + (upper - lower) * (rank - below) / in_bucket


def latency_quantile(delta: Sequence[PromSample], q: float, route: str | None = None,
                     series: str = "http_request_duration_seconds") -> float | None:
    """The q-quantile of a histogram over the delta, buckets summed across labels and targets."""
    flt = _route_filter(route)
    by_le: dict[float, float] = {}
    for s in delta:
        if s.name != f"{series}_bucket" or not _matches(s.labels, flt):
            continue
        try:
            le = parse_value(s.labels.get("le", ""))
        except PromParseError:
            continue
        by_le[le] = by_le.get(le, 0.0) + s.value
    return histogram_quantile(q, sorted(by_le.items()))


def gauge_value(after: Sequence[Sequence[PromSample]], series: str,
                route: str | None = None) -> float | None:
    """A gauge summed across targets at the end of the interval; None when absent."""
    flt = _route_filter(route)
    flat = [s for scrape in after for s in scrape]
    if not has_series(flat, series, flt):
        return None
    return sum_counter(flat, series, flt)


def measure(kind: str, before: Sequence[Sequence[PromSample]],
            after: Sequence[Sequence[PromSample]], *, quantile: float = 0.95,
            route: str | None = None, series: str | None = None) -> float | None:
    """One gate metric over one interval: ``kind`` is error_ratio, latency_quantile or value."""
    if kind == "error_ratio":
        return error_ratio(counter_delta(before, after), route, series or "http_requests_total")
    if kind == "latency_quantile":
        return latency_quantile(counter_delta(before, after), quantile, route,
                                series or "http_request_duration_seconds")
    if kind == "value":
        if not series:
            raise ValueError("kind value needs a series")
        return gauge_value(after, series, route)
    raise ValueError(f"unknown metric kind {kind!r}")


def samples_to_dicts(samples: Sequence[PromSample]) -> list[dict[str, Any]]:
    return [{"name": s.name, "labels": dict(s.labels), "value": s.value} for s in samples]
