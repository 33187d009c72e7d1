"""The gate's decision engine: spec parsing, sample evaluation, verdicts."""
from __future__ import annotations

import json
from typing import Any

import pytest

from ansible_collections.liftoff.release.plugins.plugin_utils.gate import (
    GateSpecError,
    MetricSpec,
    Sample,
    decide,
    error_sample,
    evaluate_sample,
    make_sample,
    parse_metric_spec,
    parse_metric_specs,
    percentile,
)

AT = "2026-11-23T06:40:00.000Z"


def spec(**kw: Any) -> MetricSpec:
    raw: dict[str, Any] = {"name": "error_ratio", "kind": "error_ratio", "max": 0.05}
    raw.update(kw)
    return parse_metric_spec(raw, 0)


def samples(s: MetricSpec, values: list[float | None]) -> list[Sample]:
    return [make_sample(s, AT, v) for v in values]


# --------------------------------------------------------------------------- parsing

def test_parse_defaults() -> None:
    s = parse_metric_spec({"name": "e", "kind": "error_ratio", "max": "0.05"}, 0)
    assert s == MetricSpec(name="e", kind="error_ratio", max=0.05)
    assert (s.severity, s.failure_limit, s.no_data, s.inconclusive_limit, s.dry_run, s.after_rollback) == (
        "critical", 0, "inconclusive", 1, False, True)
    assert parse_metric_spec({"name": "e", "kind": "error_ratio", "max": 1, "after_rollback": False},
                             0).after_rollback is False
    assert s.source_series == "http_requests_total"


def test_parse_full_latency() -> None:
    s = parse_metric_spec({"name": "p99", "kind": "latency_quantile", "quantile": 0.99,
                           "min": 0, "max": 2, "route": "/checkout", "severity": "medium",
                           "failure_limit": 2, "no_data": "ignore", "inconclusive_limit": 3,
                           "consecutive_error_limit": 1, "dry_run": True}, 4)
    assert s.quantile == 0.99 and s.route == "/checkout" and s.severity == "medium"
    assert s.failure_limit == 2 and s.no_data == "ignore" and s.dry_run is True
    assert s.source_series == "http_request_duration_seconds"


@pytest.mark.parametrize(("raw", "match"), [
    ("nope", r"gate_metrics\[2\] must be a mapping"),
    ({"kind": "error_ratio", "max": 0.1}, r"gate_metrics\[2\]\.name is required"),
    ({"name": "", "kind": "error_ratio", "max": 0.1}, r"gate_metrics\[2\]\.name must be a non-empty string"),
    ({"name": "x", "max": 0.1}, r"gate_metrics\[2\]\.kind is required; expected one of error_ratio"),
    ({"name": "x", "kind": "latency", "max": 0.1}, r"gate_metrics\[2\]\.kind must be one of error_ratio, latency_quantile, value, got 'latency'"),
    ({"name": "x", "kind": "error_ratio"}, r"gate_metrics\[2\]\.min or gate_metrics\[2\]\.max is required"),
    ({"name": "x", "kind": "error_ratio", "max": "lots"}, r"gate_metrics\[2\]\.max must be a number \(e\.g\. 0\.05\), got 'lots'"),
    ({"name": "x", "kind": "error_ratio", "max": [1]}, r"gate_metrics\[2\]\.max must be a number"),
    ({"name": "x", "kind": "value", "series": "s", "min": True}, r"gate_metrics\[2\]\.min must be a number, got a boolean"),
    ({"name": "x", "kind": "value", "series": "s", "max": "inf"}, r"gate_metrics\[2\]\.max must be a finite number"),
    ({"name": "x", "kind": "value", "series": "s", "min": 5, "max": 1}, r"gate_metrics\[2\]\.min \(5\) must not be greater than gate_metrics\[2\]\.max \(1\)"),
    ({"name": "x", "kind": "error_ratio", "max": 5}, r"gate_metrics\[2\]\.max is a ratio for kind error_ratio: expected 0\.\.1"),
    ({"name": "x", "kind": "error_ratio", "max": 0.1, "quantile": 0.9}, r"gate_metrics\[2\]\.quantile only applies to kind latency_quantile"),
    ({"name": "x", "kind": "latency_quantile", "max": 0.1, "quantile": 95}, r"gate_metrics\[2\]\.quantile must be between 0 and 1"),
    ({"name": "x", "kind": "value", "max": 1}, r"gate_metrics\[2\]\.series is required for kind value"),
    ({"name": "x", "kind": "error_ratio", "max": 0.1, "severity": "low"}, r"gate_metrics\[2\]\.severity must be one of critical, high, medium, got 'low'"),
    ({"name": "x", "kind": "error_ratio", "max": 0.1, "failure_limit": -1}, r"gate_metrics\[2\]\.failure_limit must be a whole number >= 0, got -1"),
    ({"name": "x", "kind": "error_ratio", "max": 0.1, "failure_limit": 1.5}, r"gate_metrics\[2\]\.failure_limit must be a whole number >= 0"),
    ({"name": "x", "kind": "error_ratio", "max": 0.1, "inconclusive_limit": "two"}, r"gate_metrics\[2\]\.inconclusive_limit must be a whole number >= 0"),
    ({"name": "x", "kind": "error_ratio", "max": 0.1, "consecutive_error_limit": -3}, r"gate_metrics\[2\]\.consecutive_error_limit must be a whole number"),
    ({"name": "x", "kind": "error_ratio", "max": 0.1, "no_data": "skip"}, r"gate_metrics\[2\]\.no_data must be one of fail, inconclusive, ignore"),
    ({"name": "x", "kind": "error_ratio", "max": 0.1, "dry_run": "yes"}, r"gate_metrics\[2\]\.dry_run must be true or false"),
    ({"name": "x", "kind": "error_ratio", "max": 0.1, "after_rollback": 0},
     r"gate_metrics\[2\]\.after_rollback must be true or false"),
    ({"name": "x", "kind": "error_ratio", "max": 0.1, "threshold": 1},
     r"gate_metrics\[2\]\.threshold is not a known field; expected only: name, unit, provider, min, max"),
])
def test_parse_errors_name_the_field(raw: Any, match: str) -> None:
    with pytest.raises(GateSpecError, match=match):
        parse_metric_spec(raw, 2)


def test_parse_specs_list_errors() -> None:
    with pytest.raises(GateSpecError, match=r"metrics must list at least one metric"):
        parse_metric_specs([], var="metrics")
    with pytest.raises(GateSpecError, match=r"gate_metrics must be a list"):
        parse_metric_specs({"name": "x"})
    dup = {"name": "e", "kind": "error_ratio", "max": 0.1}
    with pytest.raises(GateSpecError, match=r"gate_metrics\[1\]\.name 'e' is already used by gate_metrics\[0\]"):
        parse_metric_specs([dup, dup])
    with pytest.raises(GateSpecError, match=r"metrics\[1\]\.kind"):
        parse_metric_specs([dup, {"name": "f", "max": 1}], var="metrics")


# --------------------------------------------------------------------------- numbers

@pytest.mark.parametrize(("values", "q", "expected"), [
    ([5.0], 0.95, 5.0),
    ([1.0, 2.0, 3.0, 4.0], 0.5, 2.5),
    ([4.0, 1.0, 3.0, 2.0], 0.0, 1.0),
    ([4.0, 1.0, 3.0, 2.0], 1.0, 4.0),
    ([1.0, 2.0, 3.0, 4.0, 5.0], 0.95, 4.8),
    ([10.0, 20.0], 0.25, 12.5),
])
def test_percentile(values: list[float], q: float, expected: float) -> None:
    assert percentile(values, q) == pytest.approx(expected)


@pytest.mark.parametrize(("values", "q", "match"), [
    ([], 0.5, "no values"),
    ([1.0], 1.5, "within 0..1"),
])
def test_percentile_errors(values: list[float], q: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        percentile(values, q)


@pytest.mark.parametrize(("kw", "value", "status"), [
    ({"max": 0.05}, 0.01, "pass"),
    ({"max": 0.05}, 0.05, "pass"),
    ({"max": 0.05}, 0.06, "fail"),
    ({"max": 0.05}, None, "nodata"),
    ({"max": 0.05}, float("nan"), "nodata"),
    ({"min": 0.5, "max": 0.9}, 0.4, "fail"),
    ({"min": 0.5}, 0.7, "pass"),
])
def test_evaluate_sample(kw: dict[str, Any], value: float | None, status: str) -> None:
    raw = {"name": "e", "kind": "error_ratio", **kw}
    assert evaluate_sample(parse_metric_spec(raw, 0), value) == status


def test_make_sample_detail() -> None:
    s = spec()
    assert make_sample(s, AT, 0.3).detail == "0.3 > max 0.05"
    assert make_sample(s, AT, 0.01).detail == "0.01 within max 0.05"
    assert make_sample(s, AT, None).detail == "no data"


# --------------------------------------------------------------------------- decide

def test_proceed_when_all_pass() -> None:
    s = spec()
    v = decide([s], {"error_ratio": samples(s, [0.0, 0.01, 0.02])})
    assert v.decision == "PROCEED"
    assert v.driving == ()
    assert v.reasons == ("error_ratio within max 0.05 in 3 of 3 samples (last 0.02, max 0.02)",)
    m = v.metrics[0]
    assert m.result == "pass" and m.failed == 0
    assert m.stats == {"count": 3, "min": 0.0, "max": 0.02, "last": 0.02,
                       "p95": pytest.approx(0.019)}


def test_rollback_on_critical_breach() -> None:
    s = spec()
    v = decide([s], {"error_ratio": samples(s, [0.01, 0.2, 0.3, 0.01, 0.3])})
    assert v.decision == "ROLLBACK"
    assert v.driving == ("error_ratio",)
    assert v.critical_failures == ("error_ratio",)
    assert v.reasons[0] == (
        "error_ratio breached max 0.05 in 3 of 5 samples (last 0.3), more than "
        "failure_limit 0 -> ROLLBACK (critical)")
    assert v.metrics[0].limit == {"failure_limit": 0}


def test_rollback_on_high_breach_is_not_a_critical_failure() -> None:
    s = spec(severity="high")
    v = decide([s], {"error_ratio": samples(s, [0.5])})
    assert v.decision == "ROLLBACK"
    assert v.critical_failures == ()


def test_hold_on_medium_breach() -> None:
    s = spec(name="p95", kind="latency_quantile", max=0.5, severity="medium")
    v = decide([s], {"p95": samples(s, [0.2, 0.9])})
    assert v.decision == "HOLD"
    assert v.reasons[0] == ("p95 breached max 0.5 in 1 of 2 samples (last 0.9), more than "
                            "failure_limit 0 -> HOLD (medium)")


def test_failure_limit_tolerates() -> None:
    s = spec(failure_limit=2)
    two = decide([s], {"error_ratio": samples(s, [0.1, 0.0, 0.1, 0.0])})
    assert two.decision == "PROCEED"
    assert "breached max 0.05 in 2 of 4 samples (last 0), within failure_limit 2" in two.reasons[0]
    three = decide([s], {"error_ratio": samples(s, [0.1, 0.1, 0.1, 0.0])})
    assert three.decision == "ROLLBACK"
    assert three.metrics[0].limit == {"failure_limit": 2}


def test_min_breach_reason() -> None:
    s = parse_metric_spec({"name": "rps", "kind": "value", "series": "x", "min": 10}, 0)
    v = decide([s], {"rps": samples(s, [12, 3])})
    assert v.decision == "ROLLBACK"
    assert v.reasons[0].startswith("rps breached min 10 in 1 of 2 samples (last 3)")


@pytest.mark.parametrize(("policy", "values", "decision", "result"), [
    # inconclusive (default limit 1): one quiet interval is fine, two HOLD
    ("inconclusive", [0.0, None, 0.0], "PROCEED", "pass"),
    ("inconclusive", [0.0, None, None], "HOLD", "inconclusive"),
    # fail: a quiet interval is a failed sample
    ("fail", [0.0, None, 0.0], "ROLLBACK", "fail"),
    # ignore: quiet intervals do not count...
    ("ignore", [None, None, 0.0], "PROCEED", "pass"),
    # ...but a metric that never had a value is never a PROCEED
    ("ignore", [None, None, None], "HOLD", "inconclusive"),
    ("inconclusive", [], "HOLD", "inconclusive"),
])
def test_no_data_policies(policy: str, values: list[float | None], decision: str,
                          result: str) -> None:
    s = spec(no_data=policy)
    v = decide([s], {"error_ratio": samples(s, values)})
    assert (v.decision, v.metrics[0].result) == (decision, result)


def test_no_data_reasons() -> None:
    s = spec()
    v = decide([s], {"error_ratio": samples(s, [None, None, 0.0])})
    assert v.reasons[0] == ("error_ratio had no data in 2 of 3 samples, more than "
                            "inconclusive_limit 1 -> HOLD (critical)")
    assert v.metrics[0].limit == {"inconclusive_limit": 1}
    f = spec(no_data="fail")
    vf = decide([f], {"error_ratio": samples(f, [None, 0.0])})
    assert "in 1 of 2 samples, 1 without data" in vf.reasons[0]
    empty = decide([s], {})
    assert empty.reasons == ("error_ratio has no samples -> HOLD (critical)",)


def test_dry_run_never_decides() -> None:
    s = spec(dry_run=True)
    v = decide([s], {"error_ratio": samples(s, [0.9, 0.9])})
    assert v.decision == "PROCEED"
    assert v.critical_failures == ()
    assert v.metrics[0].result == "fail"
    assert v.reasons[0].startswith("dry run, not deciding: error_ratio breached max 0.05")
    assert v.reasons[0].endswith("(would be ROLLBACK)")


def test_consecutive_errors() -> None:
    s = spec(consecutive_error_limit=2)
    errs = [error_sample(s, AT, "scrape http://x/metrics: refused")] * 3
    v = decide([s], {"error_ratio": [make_sample(s, AT, 0.0), *errs]})
    assert v.decision == "ROLLBACK"
    assert v.metrics[0].result == "error"
    assert v.metrics[0].limit == {"consecutive_error_limit": 2}
    assert "could not be measured in 3 consecutive samples" in v.reasons[0]
    assert "last error: scrape http://x/metrics: refused" in v.reasons[0]
    # interrupted runs of errors stay under the limit
    mixed = [errs[0], errs[0], make_sample(s, AT, 0.0), errs[0], errs[0]]
    assert decide([s], {"error_ratio": mixed}).decision == "PROCEED"


def test_rollback_beats_hold_and_orders_reasons() -> None:
    medium = spec(name="p95", kind="latency_quantile", max=0.5, severity="medium")
    crit = spec()
    ok = spec(name="ok")
    v = decide([medium, ok, crit], {
        "p95": samples(medium, [0.9]),
        "ok": samples(ok, [0.0]),
        "error_ratio": samples(crit, [0.5]),
    })
    assert v.decision == "ROLLBACK"
    assert v.driving == ("error_ratio",)
    assert v.reasons[0].startswith("error_ratio breached")
    assert [m.decision for m in v.metrics] == ["HOLD", "PROCEED", "ROLLBACK"]


def test_decide_rejects_bad_input() -> None:
    with pytest.raises(GateSpecError, match="at least one metric"):
        decide([], {})
    with pytest.raises(ValueError, match="samples for metrics not in the specs: other"):
        decide([spec()], {"other": []})


def test_to_dict_is_json_and_carries_samples() -> None:
    s = spec()
    v = decide([s], {"error_ratio": samples(s, [0.01, 0.3, None])})
    d = v.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert set(d) == {"verdict", "reasons", "driving", "metrics"}
    m = d["metrics"][0]
    assert set(m) == {"name", "unit", "provider", "tolerated", "judge", "kind", "severity", "dry_run", "result", "decision",
                      "threshold", "limit", "failed", "inconclusive", "errors", "count",
                      "stats", "reason", "spec", "samples"}
    assert m["threshold"] == {"min": None, "max": 0.05, "max_increase": None, "max_decrease": None,
                              "baseline": None}
    assert [x["status"] for x in m["samples"]] == ["pass", "fail", "nodata"]
    assert m["samples"][1] == {"metric": "error_ratio", "at": AT, "t": 0.0, "value": 0.3,
                               "status": "fail", "detail": "0.3 > max 0.05"}
