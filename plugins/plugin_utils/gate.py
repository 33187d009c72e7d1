# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""The gate's decision engine: per-sample evaluation, per-metric results and the verdict.

Pure and typed: no Ansible, no I/O. Providers turn the world into numbers (see
``gate_spec.py`` for the metric definitions); this module turns numbers into
PROCEED / HOLD / ROLLBACK, with Argo Rollouts' analysis semantics and the seed
checklists' tiers:

- a sample is ``pass`` / ``fail`` against the spec's bounds (``min`` / ``max`` /
  ``between``, tightened by ``max_increase`` / ``max_decrease`` of the baseline captured
  before the deploy), ``nodata`` when the provider had nothing to measure, ``error``
  when the provider failed;
- a metric *fails* when its counted failed samples exceed ``failure_limit`` (``nodata``
  samples count as failed under ``no_data: fail``);
- a metric *errors* when more than ``consecutive_error_limit`` samples in a row were
  provider errors; an error decides like a failure;
- a metric is *inconclusive* when its ``nodata`` samples exceed ``inconclusive_limit``
  (under ``no_data: inconclusive``), when not one sample had a value, or when a relative
  bound has no baseline: a gate that saw nothing never says PROCEED;
- tiers: a failed ``critical`` metric -> ROLLBACK (at the first confirmed breach: the
  sampler stops early); a failed ``high`` metric -> ROLLBACK, but a breach that clears
  (a passing sample) within ``grace`` seconds of its first failing sample is not
  counted, and one still open and younger than ``grace`` is *pending* (HOLD while the
  sampler waits for it to clear or expire); a failed ``medium`` metric -> HOLD;
- a canary ``judge`` compares the canary's samples with the baseline's (Mann-Whitney U,
  see ``judge.py``) and fails the metric when the canary is significantly worse by at
  least ``min_effect``;
- the verdict is the worst metric decision (ROLLBACK > HOLD > PROCEED); ``dry_run``
  metrics are measured and reported but never decide.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ansible_collections.liftoff.release.plugins.plugin_utils.gate_spec import (
    DEFAULT_SERIES,
    KINDS,
    NO_DATA_POLICIES,
    PROVIDERS,
    SEVERITIES,
    GateSpecError,
    MetricSpec,
    fmt,
    parse_metric_spec,
    parse_metric_specs,
    with_baseline,
)
from ansible_collections.liftoff.release.plugins.plugin_utils.judge import Judgement, judge

__all__ = [
    "DECISIONS", "DEFAULT_SERIES", "KINDS", "NO_DATA_POLICIES", "PROVIDERS", "SEVERITIES",
    "GateSpecError", "MetricResult", "MetricSpec", "Sample", "Verdict", "breaches",
    "decide", "error_sample", "evaluate_metric", "evaluate_sample", "json_number",
    "make_sample", "parse_metric_spec", "parse_metric_specs", "percentile",
    "ratio_to_baseline", "reduce_values", "with_baseline", "with_baselines",
]

DECISIONS = ("PROCEED", "HOLD", "ROLLBACK")

SampleStatus = Literal["pass", "fail", "nodata", "error"]
MetricOutcome = Literal["pass", "fail", "inconclusive", "error", "pending"]
Decision = Literal["PROCEED", "HOLD", "ROLLBACK"]

_RANK: dict[str, int] = {"PROCEED": 0, "HOLD": 1, "ROLLBACK": 2}


def json_number(value: float | int | None) -> float | int | str | None:
    """A number JSON can carry: infinities as Prometheus writes them (``+Inf``/``-Inf``), NaN as None."""
    if value is None or isinstance(value, int):
        return value
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return value


@dataclass(frozen=True)
class Sample:
    """One measurement of one metric.

    ``t`` is seconds since the gate started (the grace window is measured on it);
    ``baseline_value`` is the baseline track's value, for a canary judge.
    """

    metric: str
    at: str
    value: float | None
    status: SampleStatus
    detail: str = ""
    t: float = 0.0
    baseline_value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"metric": self.metric, "at": self.at, "t": round(self.t, 3),
                               "value": json_number(self.value), "status": self.status,
                               "detail": self.detail}
        if self.baseline_value is not None:
            out["baseline_value"] = json_number(self.baseline_value)
        return out


@dataclass(frozen=True)
class MetricResult:
    """How one metric came out, with the evidence that drove it."""

    spec: MetricSpec
    result: MetricOutcome
    decision: Decision
    samples: tuple[Sample, ...]
    failed: int
    inconclusive: int
    errors: int
    stats: dict[str, float | int | None]
    limit: dict[str, float | int]
    reason: str
    pending_until: float | None = None
    tolerated: int = 0
    judgement: Judgement | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "unit": self.spec.unit,
            "provider": self.spec.provider,
            "kind": self.spec.kind,
            "severity": self.spec.severity,
            "dry_run": self.spec.dry_run,
            "result": self.result,
            "decision": self.decision,
            "threshold": {k: json_number(v) for k, v in self.spec.threshold.items()},
            "limit": dict(self.limit),
            "failed": self.failed,
            "tolerated": self.tolerated,
            "inconclusive": self.inconclusive,
            "errors": self.errors,
            "count": len(self.samples),
            "stats": {k: json_number(v) for k, v in self.stats.items()},
            "judge": self.judgement.to_dict() if self.judgement else None,
            "reason": self.reason,
            "spec": self.spec.to_dict(),
            "samples": [s.to_dict() for s in self.samples],
        }


@dataclass(frozen=True)
class Verdict:
    """The gate's answer and everything that led to it."""

    decision: Decision
    reasons: tuple[str, ...]
    metrics: tuple[MetricResult, ...]
    driving: tuple[str, ...] = field(default=())

    @property
    def critical_failures(self) -> tuple[str, ...]:
        """Deciding critical metrics that already failed: more samples cannot clear them."""
        return tuple(
            m.spec.name for m in self.metrics
            if not m.spec.dry_run and m.spec.severity == "critical"
            and m.result in ("fail", "error")
        )

    @property
    def pending(self) -> dict[str, float]:
        """Metrics whose breach is still inside its grace window: name -> when it expires (t)."""
        return {m.spec.name: m.pending_until for m in self.metrics
                if m.result == "pending" and m.pending_until is not None}

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.decision,
            "reasons": list(self.reasons),
            "driving": list(self.driving),
            "metrics": [m.to_dict() for m in self.metrics],
        }


def with_baselines(specs: Sequence[MetricSpec],
                   baselines: Mapping[str, float | None]) -> list[MetricSpec]:
    """Every spec with its baseline (relative bounds resolve against it); others unchanged."""
    return [with_baseline(s, baselines.get(s.name)) if s.relative else s for s in specs]


# --------------------------------------------------------------------------- numbers

def percentile(values: Sequence[float], q: float) -> float:
    """The q-quantile (0..1) of values, linear interpolation between closest ranks."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"percentile q must be within 0..1, got {q}")
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = math.ceil(pos)
    if lo == hi or ordered[lo] == ordered[hi]:  # also inf == inf: inf - inf is NaN
        return ordered[lo]
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def ratio_to_baseline(value: float, baseline: float) -> float:
    """Relative change of value against baseline: +0.5 is 50% above, -0.05 is 5% below.

    A zero baseline gives +/-inf for any other value (and 0 for zero).
    """
    if baseline == 0:
        if value == 0:
            return 0.0
        return math.inf if value > 0 else -math.inf
    return (value - baseline) / abs(baseline)


def reduce_values(values: Sequence[float], how: str, spec: MetricSpec | None = None) -> float | None:
    """Several values (series, points of a range) into one; None when none is a number.

    ``worst`` picks the value furthest on the unhealthy side of spec's bounds: the
    highest when there is an upper bound, else the lowest; a value below ``min`` wins
    over one above ``max`` only when it breaches further.
    """
    finite = [v for v in values if not math.isnan(v)]
    if not finite:
        return None
    if how == "last":
        return finite[-1]
    if how == "min":
        return min(finite)
    if how == "max":
        return max(finite)
    if how == "sum":
        return math.fsum(finite)
    if how == "avg":
        return math.fsum(finite) / len(finite)
    if how == "p95":
        return percentile(finite, 0.95)
    if how != "worst":
        raise ValueError(f"unknown reduction {how!r}")
    return _worst(finite, spec)


def _worst(values: Sequence[float], spec: MetricSpec | None) -> float:
    low = spec.effective_min if spec else None
    high = spec.effective_max if spec else None
    if high is None and low is not None:
        return min(values)
    if high is None or low is None:
        return max(values)
    over = max(values) - high
    under = low - min(values)
    return min(values) if under > over else max(values)


# --------------------------------------------------------------------------- samples

def evaluate_sample(spec: MetricSpec, value: float | None) -> SampleStatus:
    """pass / fail against the effective bounds; nodata when there is no (finite) value."""
    if value is None or math.isnan(value):
        return "nodata"
    low, high = spec.effective_min, spec.effective_max
    if low is not None and value < low:
        return "fail"
    if high is not None and value > high:
        return "fail"
    return "pass"


def breach_detail(spec: MetricSpec, value: float | None) -> str:
    """A short note saying which bound a value breaches, or that it is within them."""
    if value is None or math.isnan(value):
        return "no data"
    low, high = spec.effective_min, spec.effective_max
    if low is not None and value < low:
        return f"{fmt(value)} < min {fmt(low)}{_baseline_note(spec)}"
    if high is not None and value > high:
        return f"{fmt(value)} > max {fmt(high)}{_baseline_note(spec)}"
    bounds = _bounds_text(spec)
    return f"{fmt(value)} within {bounds}" if bounds else fmt(value)


def _baseline_note(spec: MetricSpec) -> str:
    if spec.baseline is None or not spec.relative:
        return ""
    return f" (baseline {fmt(spec.baseline)})"


def make_sample(spec: MetricSpec, at: str, value: float | None, *, t: float = 0.0,
                baseline_value: float | None = None) -> Sample:
    """A sample evaluated against spec."""
    if value is not None and math.isnan(value):
        value = None
    if baseline_value is not None and math.isnan(baseline_value):
        baseline_value = None
    status = evaluate_sample(spec, value)
    detail = breach_detail(spec, value)
    if spec.judge is not None and status != "nodata" and baseline_value is None:
        status, detail = "nodata", f"{detail}; no baseline sample for the judge"
    return Sample(spec.name, at, value, status, detail, t, baseline_value)


def error_sample(spec: MetricSpec, at: str, message: str, *, t: float = 0.0) -> Sample:
    """A sample whose provider failed."""
    return Sample(spec.name, at, None, "error", message, t)


def breaches(spec: MetricSpec, values: Sequence[float | None]) -> list[dict[str, Any]]:
    """The values that breach spec's bounds: index, value and which bound."""
    out = []
    for i, value in enumerate(values):
        if evaluate_sample(spec, value) == "fail":
            out.append({"index": i, "value": json_number(value), "detail": breach_detail(spec, value)})
    return out


def _bounds_text(spec: MetricSpec) -> str:
    parts = []
    if spec.effective_min is not None:
        parts.append(f"min {fmt(spec.effective_min)}")
    if spec.effective_max is not None:
        parts.append(f"max {fmt(spec.effective_max)}")
    return " and ".join(parts) + _baseline_note(spec)


def _breached(spec: MetricSpec, samples: Sequence[Sample]) -> str:
    low, high = spec.effective_min, spec.effective_max
    under = any(s.value is not None and low is not None and s.value < low for s in samples)
    over = any(s.value is not None and high is not None and s.value > high for s in samples)
    parts = []
    if under:
        parts.append(f"min {fmt(low)}")
    if over:
        parts.append(f"max {fmt(high)}")
    return (" and ".join(parts) + _baseline_note(spec)) if parts else _bounds_text(spec)


def _stats(samples: Sequence[Sample]) -> dict[str, float | int | None]:
    values = [s.value for s in samples if s.value is not None]
    if not values:
        return {"count": 0, "min": None, "max": None, "last": None, "p95": None}
    return {
        "count": len(values),
        "min": min(values),
        "max": max(values),
        "last": values[-1],
        "p95": percentile(values, 0.95),
    }


def _longest_error_run(samples: Sequence[Sample]) -> int:
    longest = run = 0
    for s in samples:
        run = run + 1 if s.status == "error" else 0
        longest = max(longest, run)
    return longest


# --------------------------------------------------------------------------- grace

@dataclass(frozen=True)
class _Breaches:
    """Failed samples, split by the grace window."""

    counted: int  # failures that count towards failure_limit
    tolerated: int  # failures in breaches that cleared within grace
    pending: int  # failures in the open breach that is still younger than grace
    pending_until: float | None  # when that open breach's grace expires (t)


def _is_failure(spec: MetricSpec, sample: Sample) -> bool:
    return sample.status == "fail" or (sample.status == "nodata" and spec.no_data == "fail")


def _tally_breaches(spec: MetricSpec, samples: Sequence[Sample]) -> _Breaches:
    """Group failures into breaches (runs until a passing sample) and apply the grace window.

    With ``grace`` 0 (and for every tier but high) every failure counts. A breach is
    cleared by a ``pass`` sample; errors and samples without data neither clear it nor
    count in it (unless ``no_data: fail``).
    """
    grace = spec.grace if spec.severity == "high" else 0.0
    counted = tolerated = 0
    start: float | None = None
    run = 0
    for s in samples:
        if _is_failure(spec, s):
            if start is None:
                start = s.t
            run += 1
        elif s.status == "pass" and start is not None:
            if grace > 0 and s.t - start <= grace:
                tolerated += run
            else:
                counted += run
            start, run = None, 0
    if start is None:
        return _Breaches(counted, tolerated, 0, None)
    last = samples[-1].t
    if grace > 0 and last - start < grace:
        return _Breaches(counted, tolerated, run, start + grace)
    return _Breaches(counted + run, tolerated, 0, None)


# --------------------------------------------------------------------------- metric

def _failure_decision(spec: MetricSpec) -> Decision:
    return "HOLD" if spec.severity == "medium" else "ROLLBACK"


def _judge(spec: MetricSpec, samples: Sequence[Sample]) -> Judgement | None:
    if spec.judge is None:
        return None
    # Mann-Whitney ranks need finite numbers: an infinite sample (a +Inf quantile) is left to
    # the metric's own bounds, which see it as the breach it is.
    pairs = [(s.value, s.baseline_value) for s in samples
             if s.value is not None and s.baseline_value is not None
             and math.isfinite(s.value) and math.isfinite(s.baseline_value)]
    j = spec.judge
    return judge([c for c, _unused in pairs], [b for _unused, b in pairs], direction=j.direction,
                 confidence=j.confidence, min_effect=j.min_effect, min_samples=j.min_samples)


@dataclass(frozen=True)
class _Counts:
    """What a metric's samples add up to, counted once per evaluation."""

    nodata: int
    errors: int
    valued: int
    stats: dict[str, float | int | None]


def _count(samples: Sequence[Sample]) -> _Counts:
    return _Counts(
        nodata=sum(1 for s in samples if s.status == "nodata"),
        errors=sum(1 for s in samples if s.status == "error"),
        valued=sum(1 for s in samples if s.value is not None),
        stats=_stats(samples),
    )


def _outcome(spec: MetricSpec, samples: Sequence[Sample], counts: _Counts, tally: _Breaches,
             judgement: Judgement | None) -> tuple[MetricOutcome, dict[str, float | int], str]:
    """The metric's result, the limit that drove it, and what happened (without the decision)."""
    n = len(samples)
    nodata, errors, valued, stats = counts.nodata, counts.errors, counts.valued, counts.stats
    error_run = _longest_error_run(samples)
    inconclusive = nodata if spec.no_data == "inconclusive" else 0
    grace_note = (f", {tally.tolerated} more cleared within grace {fmt(spec.grace)} s"
                  if tally.tolerated else "")

    if error_run > spec.consecutive_error_limit:
        last_error = next((s.detail for s in reversed(samples) if s.status == "error"), "")
        return "error", {"consecutive_error_limit": spec.consecutive_error_limit}, (
            f"{spec.name} could not be measured in {error_run} consecutive samples, "
            f"more than consecutive_error_limit {spec.consecutive_error_limit} "
            f"(last error: {last_error})")
    if tally.counted > spec.failure_limit:
        nodata_note = f", {nodata} without data" if spec.no_data == "fail" and nodata else ""
        unresolved = (f" not cleared within grace {fmt(spec.grace)} s" if spec.grace
                      and spec.severity == "high" else "")
        return "fail", {"failure_limit": spec.failure_limit}, (
            f"{spec.name} breached {_breached(spec, samples)}{unresolved} in {tally.counted} of "
            f"{n} samples{nodata_note}{grace_note} (last {fmt(stats['last'])}), more than "
            f"failure_limit {spec.failure_limit}")
    if judgement is not None and judgement.outcome == "fail":
        return "fail", {"confidence": judgement.confidence, "min_effect": judgement.min_effect}, (
            f"{spec.name}: {judgement.reason}")
    if tally.pending and tally.counted + tally.pending > spec.failure_limit:
        return "pending", {"grace": spec.grace, "failure_limit": spec.failure_limit}, (
            f"{spec.name} breached {_breached(spec, samples)} in its last {tally.pending} "
            f"samples (last {fmt(stats['last'])}), not cleared yet: grace {fmt(spec.grace)} s "
            f"runs until t={fmt(tally.pending_until)} s")
    if spec.relative and spec.baseline is None:
        return "inconclusive", {"inconclusive_limit": spec.inconclusive_limit}, (
            f"{spec.name} has no baseline: its relative bound (max_increase/max_decrease) "
            f"needs the value measured before the deploy")
    if inconclusive > spec.inconclusive_limit:
        return "inconclusive", {"inconclusive_limit": spec.inconclusive_limit}, (
            f"{spec.name} had no data in {inconclusive} of {n} samples, more than "
            f"inconclusive_limit {spec.inconclusive_limit}")
    if valued == 0:
        what = (f"{spec.name} has no samples" if n == 0 else
                f"{spec.name} had no value in any of {n} samples ({nodata} without data, "
                f"{errors} errors)")
        return "inconclusive", {"inconclusive_limit": spec.inconclusive_limit}, what
    if judgement is not None and judgement.outcome == "inconclusive":
        return "inconclusive", {"min_samples": spec.judge.min_samples if spec.judge else 0}, (
            f"{spec.name}: {judgement.reason}")
    if tally.counted:
        return "pass", {"failure_limit": spec.failure_limit}, (
            f"{spec.name} breached {_breached(spec, samples)} in {tally.counted} of {n} "
            f"samples{grace_note} (last {fmt(stats['last'])}), within failure_limit "
            f"{spec.failure_limit}")
    judged = f"; {judgement.reason}" if judgement is not None else ""
    bounds = _bounds_text(spec)
    within = f" within {bounds}" if bounds else " measured"
    return "pass", {"failure_limit": spec.failure_limit}, (
        f"{spec.name}{within} in {valued} of {n} samples{grace_note} "
        f"(last {fmt(stats['last'])}, max {fmt(stats['max'])}){judged}")


def evaluate_metric(spec: MetricSpec, samples: Sequence[Sample]) -> MetricResult:
    """Fold one metric's samples into its result, decision and reason."""
    samples = tuple(samples)
    counts = _count(samples)
    tally = _tally_breaches(spec, samples)
    judgement = _judge(spec, samples)
    result, limit, what = _outcome(spec, samples, counts, tally, judgement)

    decision: Decision
    if result in ("fail", "error"):
        decision = _failure_decision(spec)
    elif result in ("inconclusive", "pending"):
        decision = "HOLD"
    else:
        decision = "PROCEED"

    if spec.unit:
        what = f"{what} [{spec.unit}]"
    if spec.dry_run:
        reason = f"dry run, not deciding: {what}" + (
            f" (would be {decision})" if decision != "PROCEED" else "")
        decision = "PROCEED"
    elif decision != "PROCEED":
        reason = f"{what} -> {decision} ({spec.severity})"
    else:
        reason = what

    return MetricResult(
        spec=spec, result=result, decision=decision, samples=samples,
        failed=tally.counted, inconclusive=counts.nodata if spec.no_data == "inconclusive" else 0,
        errors=counts.errors, stats=counts.stats,
        limit=limit, reason=reason,
        pending_until=tally.pending_until if result == "pending" else None,
        tolerated=tally.tolerated, judgement=judgement,
    )


def decide(specs: Sequence[MetricSpec],
           samples_by_metric: Mapping[str, Sequence[Sample]]) -> Verdict:
    """The verdict over every metric: ROLLBACK > HOLD > PROCEED.

    Reasons list the metrics that drove the decision first, then the rest.
    """
    if not specs:
        raise GateSpecError("gate_metrics must list at least one metric: a gate with none cannot fail")
    names = {s.name for s in specs}
    unknown = sorted(set(samples_by_metric) - names)
    if unknown:
        raise ValueError(f"samples for metrics not in the specs: {', '.join(unknown)}")
    results = tuple(evaluate_metric(s, samples_by_metric.get(s.name, ())) for s in specs)
    decision: Decision = "PROCEED"
    for r in results:
        if _RANK[r.decision] > _RANK[decision]:
            decision = r.decision
    driving = tuple(r.spec.name for r in results
                    if decision != "PROCEED" and r.decision == decision)
    reasons = tuple(
        [r.reason for r in results if r.spec.name in driving]
        + [r.reason for r in results if r.spec.name not in driving]
    )
    return Verdict(decision=decision, reasons=reasons, metrics=results, driving=driving)
