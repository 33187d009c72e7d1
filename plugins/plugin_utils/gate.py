# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""The gate's decision engine: metric specs, per-sample evaluation and the verdict.

Pure and typed: no Ansible, no I/O. Providers (``prom_text``, later others) turn the
world into numbers; this module turns numbers into PROCEED / HOLD / ROLLBACK.

Semantics (a subset of Argo Rollouts' analysis, grown additively later):

- a sample is ``pass`` / ``fail`` against the spec's ``min`` / ``max``, ``nodata`` when
  the provider had nothing to measure, ``error`` when the provider failed;
- a metric *fails* when its failed samples exceed ``failure_limit`` (``nodata`` samples
  count as failed under ``no_data: fail``);
- a metric is *inconclusive* when its ``nodata`` samples exceed ``inconclusive_limit``
  (under ``no_data: inconclusive``), or when not one sample had a value: a gate that
  saw nothing never says PROCEED;
- a metric *errors* when more than ``consecutive_error_limit`` samples in a row were
  provider errors; an error decides like a failure;
- decision: a failed/errored critical or high metric -> ROLLBACK; a failed/errored
  medium metric -> HOLD; an inconclusive metric -> HOLD; otherwise PROCEED.
  ``dry_run`` metrics are measured and reported but never decide.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

KINDS = ("error_ratio", "latency_quantile", "value")
SEVERITIES = ("critical", "high", "medium")
NO_DATA_POLICIES = ("fail", "inconclusive", "ignore")
DECISIONS = ("PROCEED", "HOLD", "ROLLBACK")

DEFAULT_SERIES: dict[str, str] = {
    "error_ratio": "http_requests_total",
    "latency_quantile": "http_request_duration_seconds",
}

Kind = Literal["error_ratio", "latency_quantile", "value"]
Severity = Literal["critical", "high", "medium"]
NoDataPolicy = Literal["fail", "inconclusive", "ignore"]
SampleStatus = Literal["pass", "fail", "nodata", "error"]
MetricOutcome = Literal["pass", "fail", "inconclusive", "error"]
Decision = Literal["PROCEED", "HOLD", "ROLLBACK"]

_FIELDS = (
    "name", "kind", "min", "max", "quantile", "route", "series", "severity",
    "failure_limit", "no_data", "inconclusive_limit", "consecutive_error_limit", "dry_run",
)
_RANK: dict[str, int] = {"PROCEED": 0, "HOLD": 1, "ROLLBACK": 2}


class GateSpecError(ValueError):
    """A metric spec is malformed; the message names the variable and the expected form."""


@dataclass(frozen=True)
class MetricSpec:
    """What to measure and what counts as healthy."""

    name: str
    kind: Kind
    min: float | None = None
    max: float | None = None
    quantile: float = 0.95
    route: str | None = None
    series: str | None = None
    severity: Severity = "critical"
    failure_limit: int = 0
    no_data: NoDataPolicy = "inconclusive"
    # One quiet interval (e.g. right after a restart) is tolerated; two are not.
    inconclusive_limit: int = 1
    consecutive_error_limit: int = 4
    dry_run: bool = False

    @property
    def threshold(self) -> dict[str, float | None]:
        return {"min": self.min, "max": self.max}

    @property
    def source_series(self) -> str:
        """The Prometheus series the provider reads (defaults by kind)."""
        return self.series or DEFAULT_SERIES.get(self.kind, "")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "min": self.min, "max": self.max,
            "quantile": self.quantile if self.kind == "latency_quantile" else None,
            "route": self.route, "series": self.source_series, "severity": self.severity,
            "failure_limit": self.failure_limit, "no_data": self.no_data,
            "inconclusive_limit": self.inconclusive_limit,
            "consecutive_error_limit": self.consecutive_error_limit, "dry_run": self.dry_run,
        }


@dataclass(frozen=True)
class Sample:
    """One measurement of one metric over one interval."""

    metric: str
    at: str
    value: float | None
    status: SampleStatus
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"metric": self.metric, "at": self.at, "value": self.value,
                "status": self.status, "detail": self.detail}


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
    limit: dict[str, int]
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.spec.name,
            "kind": self.spec.kind,
            "severity": self.spec.severity,
            "dry_run": self.spec.dry_run,
            "result": self.result,
            "decision": self.decision,
            "threshold": self.spec.threshold,
            "limit": dict(self.limit),
            "failed": self.failed,
            "inconclusive": self.inconclusive,
            "errors": self.errors,
            "count": len(self.samples),
            "stats": dict(self.stats),
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

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.decision,
            "reasons": list(self.reasons),
            "driving": list(self.driving),
            "metrics": [m.to_dict() for m in self.metrics],
        }


# --------------------------------------------------------------------------- parsing

def _fmt(value: float | None) -> str:
    return "none" if value is None else f"{value:g}"


def _number(raw: dict[str, Any], key: str, where: str) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool):
        raise GateSpecError(f"{where}.{key} must be a number, got a boolean {value!r}")
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise GateSpecError(
                f"{where}.{key} must be a number (e.g. 0.05), got {value!r}"
            ) from None
    else:
        raise GateSpecError(
            f"{where}.{key} must be a number (e.g. 0.05), got {type(value).__name__}"
        )
    if not math.isfinite(number):
        raise GateSpecError(f"{where}.{key} must be a finite number, got {value!r}")
    return number


def _count(raw: dict[str, Any], key: str, where: str, default: int) -> int:
    value = raw.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise GateSpecError(
            f"{where}.{key} must be a whole number >= 0, got {value!r}"
        )
    try:
        number = int(value)
    except ValueError:
        raise GateSpecError(
            f"{where}.{key} must be a whole number >= 0, got {value!r}"
        ) from None
    if number < 0:
        raise GateSpecError(f"{where}.{key} must be a whole number >= 0, got {value!r}")
    return number


def _choice(raw: dict[str, Any], key: str, where: str, choices: Sequence[str],
            default: str | None) -> str:
    value = raw.get(key, default)
    if value is None:
        raise GateSpecError(f"{where}.{key} is required; expected one of {', '.join(choices)}")
    if value not in choices:
        raise GateSpecError(
            f"{where}.{key} must be one of {', '.join(choices)}, got {value!r}"
        )
    return str(value)


def _text(raw: dict[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise GateSpecError(f"{where}.{key} must be a non-empty string, got {value!r}")
    return value


def parse_metric_spec(raw: Mapping[str, Any], index: int,
                      var: str = "gate_metrics") -> MetricSpec:
    """Validate one raw metric spec (as written in YAML) into a :class:`MetricSpec`.

    Every error names ``<var>[<index>].<field>`` and the expected form.
    """
    where = f"{var}[{index}]"
    if not isinstance(raw, Mapping):
        raise GateSpecError(
            f"{where} must be a mapping with at least name, kind and min or max, "
            f"got {type(raw).__name__}"
        )
    spec = dict(raw)
    unknown = sorted(str(k) for k in spec if k not in _FIELDS)
    if unknown:
        raise GateSpecError(
            f"{where}.{unknown[0]} is not a known field; expected only: {', '.join(_FIELDS)}"
        )

    name = _text(spec, "name", where)
    if name is None:
        raise GateSpecError(f"{where}.name is required: a short unique name, e.g. error_ratio")
    kind = _choice(spec, "kind", where, KINDS, None)
    low = _number(spec, "min", where)
    high = _number(spec, "max", where)
    if low is None and high is None:
        raise GateSpecError(f"{where}.min or {where}.max is required: at least one threshold")
    if low is not None and high is not None and low > high:
        raise GateSpecError(
            f"{where}.min ({_fmt(low)}) must not be greater than {where}.max ({_fmt(high)})"
        )
    if kind == "error_ratio":
        for key, bound in (("min", low), ("max", high)):
            if bound is not None and not 0.0 <= bound <= 1.0:
                raise GateSpecError(
                    f"{where}.{key} is a ratio for kind error_ratio: expected 0..1 "
                    f"(0.05 = 5%), got {_fmt(bound)}"
                )

    quantile = 0.95
    if spec.get("quantile") is not None:
        if kind != "latency_quantile":
            raise GateSpecError(
                f"{where}.quantile only applies to kind latency_quantile, not {kind}"
            )
        q = _number(spec, "quantile", where)
        assert q is not None
        if not 0.0 < q < 1.0:
            raise GateSpecError(
                f"{where}.quantile must be between 0 and 1 exclusive (e.g. 0.95), got {_fmt(q)}"
            )
        quantile = q

    series = _text(spec, "series", where)
    if kind == "value" and series is None:
        raise GateSpecError(
            f"{where}.series is required for kind value: the Prometheus series to read, "
            f"e.g. process_resident_memory_bytes"
        )

    dry_run = spec.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise GateSpecError(f"{where}.dry_run must be true or false, got {dry_run!r}")

    return MetricSpec(
        name=name,
        kind=kind,  # type: ignore[arg-type]
        min=low,
        max=high,
        quantile=quantile,
        route=_text(spec, "route", where),
        series=series,
        severity=_choice(spec, "severity", where, SEVERITIES, "critical"),  # type: ignore[arg-type]
        failure_limit=_count(spec, "failure_limit", where, 0),
        no_data=_choice(spec, "no_data", where, NO_DATA_POLICIES, "inconclusive"),  # type: ignore[arg-type]
        inconclusive_limit=_count(spec, "inconclusive_limit", where, 1),
        consecutive_error_limit=_count(spec, "consecutive_error_limit", where, 4),
        dry_run=dry_run,
    )


def parse_metric_specs(raw: Any, var: str = "gate_metrics") -> list[MetricSpec]:
    """Validate a list of metric specs: non-empty, each valid, names unique."""
    if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)):
        raise GateSpecError(f"{var} must be a list of metric specs, got {type(raw).__name__}")
    if not raw:
        raise GateSpecError(f"{var} must list at least one metric: a gate with none cannot fail")
    specs = [parse_metric_spec(item, i, var) for i, item in enumerate(raw)]
    seen: dict[str, int] = {}
    for i, spec in enumerate(specs):
        if spec.name in seen:
            raise GateSpecError(
                f"{var}[{i}].name {spec.name!r} is already used by {var}[{seen[spec.name]}]; "
                f"names must be unique"
            )
        seen[spec.name] = i
    return specs


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


def evaluate_sample(spec: MetricSpec, value: float | None) -> SampleStatus:
    """pass / fail against the thresholds; nodata when there is no (finite) value."""
    if value is None or math.isnan(value):
        return "nodata"
    if spec.min is not None and value < spec.min:
        return "fail"
    if spec.max is not None and value > spec.max:
        return "fail"
    return "pass"


def breach_detail(spec: MetricSpec, value: float | None) -> str:
    """A short note saying which bound a value breaches, or that it is within them."""
    if value is None or math.isnan(value):
        return "no data"
    if spec.min is not None and value < spec.min:
        return f"{_fmt(value)} < min {_fmt(spec.min)}"
    if spec.max is not None and value > spec.max:
        return f"{_fmt(value)} > max {_fmt(spec.max)}"
    return f"{_fmt(value)} within {_bounds(spec)}"


def make_sample(spec: MetricSpec, at: str, value: float | None) -> Sample:
    """A sample evaluated against spec."""
    if value is not None and math.isnan(value):
        value = None
    return Sample(spec.name, at, value, evaluate_sample(spec, value), breach_detail(spec, value))


def error_sample(spec: MetricSpec, at: str, message: str) -> Sample:
    """A sample whose provider failed."""
    return Sample(spec.name, at, None, "error", message)


def _bounds(spec: MetricSpec) -> str:
    parts = []
    if spec.min is not None:
        parts.append(f"min {_fmt(spec.min)}")
    if spec.max is not None:
        parts.append(f"max {_fmt(spec.max)}")
    return " and ".join(parts)


def _breached(spec: MetricSpec, samples: Sequence[Sample]) -> str:
    low = any(s.value is not None and spec.min is not None and s.value < spec.min
              for s in samples)
    high = any(s.value is not None and spec.max is not None and s.value > spec.max
               for s in samples)
    parts = []
    if low:
        parts.append(f"min {_fmt(spec.min)}")
    if high:
        parts.append(f"max {_fmt(spec.max)}")
    return " and ".join(parts) or _bounds(spec)


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


def _failure_decision(spec: MetricSpec) -> Decision:
    return "HOLD" if spec.severity == "medium" else "ROLLBACK"


def evaluate_metric(spec: MetricSpec, samples: Sequence[Sample]) -> MetricResult:
    """Fold one metric's samples into its result, decision and reason."""
    samples = tuple(samples)
    n = len(samples)
    nodata = sum(1 for s in samples if s.status == "nodata")
    failed = sum(1 for s in samples if s.status == "fail")
    errors = sum(1 for s in samples if s.status == "error")
    if spec.no_data == "fail":
        failed += nodata
    inconclusive = nodata if spec.no_data == "inconclusive" else 0
    valued = sum(1 for s in samples if s.value is not None)
    stats = _stats(samples)
    error_run = _longest_error_run(samples)
    last_error = next((s.detail for s in reversed(samples) if s.status == "error"), "")

    result: MetricOutcome
    limit: dict[str, int]
    if error_run > spec.consecutive_error_limit:
        result = "error"
        limit = {"consecutive_error_limit": spec.consecutive_error_limit}
        what = (f"{spec.name} could not be measured in {error_run} consecutive samples, "
                f"more than consecutive_error_limit {spec.consecutive_error_limit} "
                f"(last error: {last_error})")
    elif failed > spec.failure_limit:
        result = "fail"
        limit = {"failure_limit": spec.failure_limit}
        nodata_note = f", {nodata} without data" if spec.no_data == "fail" and nodata else ""
        what = (f"{spec.name} breached {_breached(spec, samples)} in {failed} of {n} samples"
                f"{nodata_note} (last {_fmt(stats['last'])}), more than failure_limit "
                f"{spec.failure_limit}")
    elif inconclusive > spec.inconclusive_limit:
        result = "inconclusive"
        limit = {"inconclusive_limit": spec.inconclusive_limit}
        what = (f"{spec.name} had no data in {inconclusive} of {n} samples, more than "
                f"inconclusive_limit {spec.inconclusive_limit}")
    elif valued == 0:
        result = "inconclusive"
        limit = {"inconclusive_limit": spec.inconclusive_limit}
        if n == 0:
            what = f"{spec.name} has no samples"
        else:
            what = (f"{spec.name} had no value in any of {n} samples "
                    f"({nodata} without data, {errors} errors)")
    else:
        result = "pass"
        limit = {"failure_limit": spec.failure_limit}
        if failed:
            what = (f"{spec.name} breached {_breached(spec, samples)} in {failed} of {n} "
                    f"samples (last {_fmt(stats['last'])}), within failure_limit "
                    f"{spec.failure_limit}")
        else:
            what = (f"{spec.name} within {_bounds(spec)} in {valued} of {n} samples "
                    f"(last {_fmt(stats['last'])}, max {_fmt(stats['max'])})")

    decision: Decision
    if result in ("fail", "error"):
        decision = _failure_decision(spec)
    elif result == "inconclusive":
        decision = "HOLD"
    else:
        decision = "PROCEED"

    if spec.dry_run:
        reason = f"dry run, not deciding: {what}" + (
            f" (would be {decision})" if decision != "PROCEED" else "")
        decision = "PROCEED"
    elif decision != "PROCEED":
        reason = f"{what} -> {decision} ({spec.severity})"
    else:
        reason = what

    return MetricResult(
        spec=spec, result=result, decision=decision, samples=samples, failed=failed,
        inconclusive=inconclusive, errors=errors, stats=stats, limit=limit, reason=reason,
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
