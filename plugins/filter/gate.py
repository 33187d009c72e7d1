# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over the gate's pure decision logic (plugin_utils/gate.py, hold.py)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.liftoff.release.plugins.plugin_utils import gate, hold
from ansible_collections.liftoff.release.plugins.plugin_utils.gate_spec import fmt


def _fail(name: str, exc: Exception, what: Any) -> AnsibleFilterError:
    return AnsibleFilterError(f"liftoff.release.{name}: {exc} (input {what!r})")


def gate_spec_errors(metrics: Any, var: str = "gate_metrics") -> list[str]:
    """Every problem with a list of metric definitions, as messages naming the variable; [] when valid."""
    if not isinstance(metrics, list):
        return [f"{var} must be a list of metric definitions, got {type(metrics).__name__}"]
    errors: list[str] = []
    for index, raw in enumerate(metrics):
        try:
            gate.parse_metric_spec(raw, index, var)
        except gate.GateSpecError as exc:
            errors.append(str(exc))
    if not errors:
        try:
            gate.parse_metric_specs(metrics, var)
        except gate.GateSpecError as exc:
            errors.append(str(exc))
    return errors


def gate_percentile(values: Any, q: float = 0.95) -> float:
    """The q-quantile (0..1) of a list of numbers, linear interpolation."""
    try:
        return gate.percentile([float(v) for v in values], float(q))
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"liftoff.release.gate_percentile: {exc} (values {values!r})") from exc


def _spec(metric: Any, name: str) -> gate.MetricSpec:
    try:
        return gate.parse_metric_spec(metric, 0, "metric")
    except gate.GateSpecError as exc:
        raise _fail(name, exc, metric) from exc


def gate_breaches(values: Any, metric: Any, baseline: Any = None) -> list[dict[str, Any]]:
    """The values that breach a metric definition's bounds (index, value, which bound)."""
    try:
        spec = gate.with_baseline(_spec(metric, "gate_breaches"), None if baseline is None else float(baseline))
        numbers = [None if v is None else float(v) for v in values]
    except (TypeError, ValueError) as exc:
        raise _fail("gate_breaches", exc, values) from exc
    return gate.breaches(spec, numbers)


def gate_verdict(samples: Any, metrics: Any, baselines: Any = None) -> dict[str, Any]:
    """The verdict over metric definitions and their sample values ({name: [values]}), as the gate reports it."""
    try:
        specs = gate.with_baselines(gate.parse_metric_specs(metrics, "metrics"), dict(baselines or {}))
        by_name = {s.name: s for s in specs}
        built = {}
        for name, values in dict(samples).items():
            if name not in by_name:
                raise ValueError(f"samples for {name!r}, which is not a metric")
            built[name] = [gate.make_sample(by_name[name], "", None if v is None else float(v), t=float(i))
                           for i, v in enumerate(values)]
        return gate.decide(specs, built).to_dict()
    except (gate.GateSpecError, TypeError, ValueError) as exc:
        raise _fail("gate_verdict", exc, samples) from exc


def gate_ratio_to_baseline(value: Any, baseline: Any) -> float | str:
    """Relative change of value against baseline (+0.5 = 50% above); +Inf/-Inf for a zero baseline."""
    try:
        ratio = gate.ratio_to_baseline(float(value), float(baseline))
    except (TypeError, ValueError) as exc:
        raise _fail("gate_ratio_to_baseline", exc, (value, baseline)) from exc
    out = gate.json_number(ratio)
    if out is None:
        raise AssertionError("out is unset")
    return out


def gate_threshold_text(metric: Any) -> str:
    """A metric result's threshold as people read it (>= 1 and <= 5, <= baseline +50% = 0.3, judge)."""
    if not isinstance(metric, dict):
        raise _fail("gate_threshold_text", ValueError("expected a metric result (a mapping)"), metric)
    try:
        return _threshold_text(metric)
    except (KeyError, TypeError, ValueError) as exc:
        raise _fail("gate_threshold_text", exc, metric) from exc


def _threshold_text(metric: dict[str, Any]) -> str:
    threshold = metric.get("threshold") or {}
    parts = []
    low, high = threshold.get("min"), threshold.get("max")
    if low is not None:
        parts.append(f">= {fmt(float(low))}")
    if high is not None:
        parts.append(f"<= {fmt(float(high))}")
    relative = []
    if threshold.get("max_increase") is not None:
        relative.append(f"+{fmt(float(threshold['max_increase']) * 100)}%")
    if threshold.get("max_decrease") is not None:
        relative.append(f"-{fmt(float(threshold['max_decrease']) * 100)}%")
    if relative:
        base = threshold.get("baseline")
        parts.append(f"within {' / '.join(relative)} of baseline "
                     f"{'(none measured)' if base is None else fmt(float(base))}")
    judge = (metric.get("spec") or {}).get("judge")
    if judge:
        parts.append(f"canary not worse than baseline ({judge['direction']} is bad, "
                     f"confidence {fmt(float(judge['confidence']))}, min effect "
                     f"{fmt(float(judge['min_effect']) * 100)}%)")
    return " and ".join(parts)


def gate_hold_decision(policy: Any, answer: Any = None, answered_by: Any = None, answered_at: Any = None,
                       operator: Any = None, timeout: Any = None) -> dict[str, Any]:
    """What a HOLD turns into (PROCEED only by an explicit answer or policy), with who, when and why."""
    try:
        return hold.hold_decision(str(policy), answer=answer, answered_by=answered_by, answered_at=answered_at,
                                  operator=operator, timeout=None if timeout is None else float(timeout))
    except (TypeError, ValueError) as exc:
        raise _fail("gate_hold_decision", exc, policy) from exc


class FilterModule:
    def filters(self) -> dict[str, Callable[..., Any]]:
        return {
            "gate_spec_errors": gate_spec_errors,
            "gate_percentile": gate_percentile,
            "gate_breaches": gate_breaches,
            "gate_verdict": gate_verdict,
            "gate_ratio_to_baseline": gate_ratio_to_baseline,
            "gate_threshold_text": gate_threshold_text,
            "gate_hold_decision": gate_hold_decision,
        }
