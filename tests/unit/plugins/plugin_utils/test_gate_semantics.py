"""The gate engine's newer rules: between, relative bounds, grace, judge, providers' fields, JSON safety."""
from __future__ import annotations

import json
import math
from typing import Any

import pytest

from ansible_collections.liftoff.release.plugins.plugin_utils.gate import (
    GateSpecError,
    MetricSpec,
    Sample,
    breaches,
    decide,
    error_sample,
    evaluate_metric,
    json_number,
    make_sample,
    parse_metric_spec,
    ratio_to_baseline,
    reduce_values,
    with_baseline,
)
from ansible_collections.liftoff.release.plugins.plugin_utils.gate_spec import judge_baseline_spec

AT = "2026-11-23T06:40:00.000Z"


def spec(**kw: Any) -> MetricSpec:
    raw: dict[str, Any] = {"name": "m", "kind": "value", "series": "queue"}
    raw.update(kw)
    return parse_metric_spec(raw, 0)


def timed(s: MetricSpec, values: list[float | None], every: float = 10.0) -> list[Sample]:
    return [make_sample(s, AT, v, t=(i + 1) * every) for i, v in enumerate(values)]


# --------------------------------------------------------------------------- between

def test_between_sets_both_bounds() -> None:
    s = spec(between=[10, 20])
    assert (s.min, s.max) == (10.0, 20.0)
    assert [x.status for x in timed(s, [9, 10, 20, 21])] == ["fail", "pass", "pass", "fail"]


@pytest.mark.parametrize(("raw", "match"), [
    ({"between": [1, 2], "max": 3}, r"gate_metrics\[0\]\.between replaces min and max"),
    ({"between": [1]}, r"gate_metrics\[0\]\.between must be a list of two numbers \[low, high\]"),
    ({"between": "1-2"}, r"gate_metrics\[0\]\.between must be a list of two numbers"),
    ({"between": [3, 1]}, r"gate_metrics\[0\]\.min \(3\) must not be greater than gate_metrics\[0\]\.max \(1\)"),
    ({"between": [1, "x"]}, r"gate_metrics\[0\]\.between\[1\] must be a number"),
])
def test_between_errors(raw: dict[str, Any], match: str) -> None:
    with pytest.raises(GateSpecError, match=match):
        spec(**raw)


# --------------------------------------------------------------------------- relative to baseline

def test_max_increase_resolves_against_the_baseline() -> None:
    s = with_baseline(spec(max_increase=0.5), 0.2)
    assert s.effective_max == pytest.approx(0.3)
    samples = timed(s, [0.25, 0.31])
    assert [x.status for x in samples] == ["pass", "fail"]
    assert samples[1].detail == "0.31 > max 0.3 (baseline 0.2)"


def test_memory_within_five_percent_of_baseline_both_ways() -> None:
    s = with_baseline(spec(max_increase=0.05, max_decrease=0.05), 1000)
    assert (s.effective_min, s.effective_max) == (pytest.approx(950), pytest.approx(1050))
    assert [x.status for x in timed(s, [949, 950, 1050, 1051])] == ["fail", "pass", "pass", "fail"]


def test_absolute_and_relative_bounds_intersect() -> None:
    s = with_baseline(spec(max=0.25, max_increase=0.5), 0.2)
    assert s.effective_max == 0.25  # the absolute bound is tighter than baseline +50%
    s = with_baseline(spec(max=1.0, max_increase=0.5), 0.2)
    assert s.effective_max == pytest.approx(0.3)


def test_negative_baseline_uses_its_magnitude() -> None:
    s = with_baseline(spec(max_increase=0.5, max_decrease=0.5), -10)
    assert (s.effective_min, s.effective_max) == (-15, -5)


def test_zero_baseline_allows_no_increase() -> None:
    s = with_baseline(spec(max_increase=0.5), 0)
    assert [x.status for x in timed(s, [0, 0.001])] == ["pass", "fail"]


def test_no_baseline_is_inconclusive_whatever_the_no_data_policy() -> None:
    for policy in ("fail", "inconclusive", "ignore"):
        s = spec(max_increase=0.5, no_data=policy)
        r = evaluate_metric(s, timed(s, [1, 1, 1]))
        assert (r.result, r.decision) == ("inconclusive", "HOLD"), policy
        assert "has no baseline" in r.reason


def test_no_baseline_still_fails_on_an_absolute_breach() -> None:
    s = spec(max=5, max_increase=0.5)
    r = evaluate_metric(s, timed(s, [9]))
    assert (r.result, r.decision) == ("fail", "ROLLBACK")


@pytest.mark.parametrize(("raw", "match"), [
    ({"max_increase": -0.1}, r"gate_metrics\[0\]\.max_increase must be >= 0 \(a fraction, 0\.5 = \+50%\), got -0\.1"),
    ({"max_decrease": "x"}, r"gate_metrics\[0\]\.max_decrease must be a number"),
])
def test_relative_errors(raw: dict[str, Any], match: str) -> None:
    with pytest.raises(GateSpecError, match=match):
        spec(**raw)


def test_ratio_to_baseline() -> None:
    assert ratio_to_baseline(0.3, 0.2) == pytest.approx(0.5)
    assert ratio_to_baseline(95, 100) == pytest.approx(-0.05)
    assert ratio_to_baseline(0, 0) == 0
    assert ratio_to_baseline(1, 0) == math.inf and ratio_to_baseline(-1, 0) == -math.inf


def test_threshold_reports_effective_bounds_and_baseline() -> None:
    s = with_baseline(spec(max_increase=0.5), 0.2)
    r = evaluate_metric(s, timed(s, [0.1]))
    assert r.to_dict()["threshold"] == {"min": None, "max": pytest.approx(0.3), "max_increase": 0.5,
                                        "max_decrease": None, "baseline": 0.2}


# --------------------------------------------------------------------------- grace (high tier)

def high(grace: float, **kw: Any) -> MetricSpec:
    return spec(max=1, severity="high", grace=grace, **kw)


def test_breach_cleared_within_grace_is_tolerated() -> None:
    s = high(30)
    r = evaluate_metric(s, timed(s, [5, 5, 0]))  # fails at t=10,20; clears at t=30 (20 s after)
    assert (r.result, r.decision, r.failed, r.tolerated) == ("pass", "PROCEED", 0, 2)
    assert "2 more cleared within grace 30 s" in r.reason


def test_breach_not_cleared_within_grace_rolls_back() -> None:
    s = high(15)
    r = evaluate_metric(s, timed(s, [5, 5, 0]))  # clears 20 s after the first failure: too late
    assert (r.result, r.decision, r.failed) == ("fail", "ROLLBACK", 2)
    assert "not cleared within grace 15 s" in r.reason


def test_open_breach_younger_than_grace_is_pending() -> None:
    s = high(60)
    r = evaluate_metric(s, timed(s, [0, 5, 5]))  # open since t=20, last sample t=30
    assert (r.result, r.decision) == ("pending", "HOLD")
    assert r.pending_until == 80
    v = decide([s], {"m": timed(s, [0, 5, 5])})
    assert v.pending == {"m": 80}


def test_open_breach_older_than_grace_rolls_back() -> None:
    s = high(20)
    r = evaluate_metric(s, timed(s, [5, 5, 5]))  # open since t=10, last t=30: 20 s >= grace
    assert (r.result, r.decision, r.failed) == ("fail", "ROLLBACK", 3)


def test_grace_zero_counts_every_failure() -> None:
    s = spec(max=1, severity="high")
    r = evaluate_metric(s, timed(s, [5, 0]))
    assert (r.result, r.decision, r.failed) == ("fail", "ROLLBACK", 1)


def test_errors_neither_clear_nor_count_in_a_breach() -> None:
    s = high(25)
    samples = [make_sample(s, AT, 5, t=10), error_sample(s, AT, "down", t=20), make_sample(s, AT, 0, t=30)]
    r = evaluate_metric(s, samples)
    assert (r.result, r.tolerated, r.errors) == ("pass", 1, 1)


def test_grace_with_failure_limit() -> None:
    s = high(15, failure_limit=2)
    r = evaluate_metric(s, timed(s, [5, 5, 0]))  # 2 counted failures, limit 2: passes
    assert (r.result, r.failed) == ("pass", 2)


def test_grace_only_for_high() -> None:
    with pytest.raises(GateSpecError, match=r"gate_metrics\[0\]\.grace only applies to severity high"):
        spec(max=1, severity="critical", grace=30)


# --------------------------------------------------------------------------- judge

def judged(direction: str = "increase", **kw: Any) -> MetricSpec:
    return parse_metric_spec({"name": "lat", "provider": "prometheus", "query": "canary_p95",
                              "judge": {"baseline": {"query": "stable_p95"}, "direction": direction,
                                        "confidence": 0.95, "min_effect": 0.1, **kw}}, 0)


def pairs(s: MetricSpec, canary: list[float], base: list[float]) -> list[Sample]:
    return [make_sample(s, AT, c, t=i, baseline_value=b) for i, (c, b) in enumerate(zip(canary, base, strict=True))]


def test_judge_fails_a_clearly_worse_canary() -> None:
    s = judged()
    r = evaluate_metric(s, pairs(s, [0.50, 0.52, 0.55, 0.51, 0.53, 0.56, 0.54, 0.50],
                                 [0.20, 0.21, 0.19, 0.22, 0.20, 0.21, 0.18, 0.20]))
    assert (r.result, r.decision) == ("fail", "ROLLBACK")
    assert r.judgement is not None and r.judgement.outcome == "fail"
    assert r.to_dict()["judge"]["outcome"] == "fail"
    json.dumps(r.to_dict(), allow_nan=False)


def test_judge_passes_an_equal_canary_and_is_inconclusive_on_little_data() -> None:
    s = judged()
    same = [0.2, 0.21, 0.19, 0.2, 0.22, 0.18]
    assert evaluate_metric(s, pairs(s, same, list(reversed(same)))).result == "pass"
    r = evaluate_metric(s, pairs(s, [0.9, 0.9], [0.1, 0.1]))
    assert (r.result, r.decision) == ("inconclusive", "HOLD")


def test_judge_sample_without_baseline_value_has_no_data() -> None:
    s = judged()
    assert make_sample(s, AT, 0.3).status == "nodata"


def test_judge_baseline_spec_overrides_where_to_read() -> None:
    s = judged()
    b = judge_baseline_spec(s)
    assert (b.query, b.judge, b.name) == ("stable_p95", None, "lat")


@pytest.mark.parametrize(("judge", "match"), [
    ({"direction": "up", "baseline": {"query": "x"}}, r"gate_metrics\[0\]\.judge\.direction must be one of increase"),
    ({}, r"gate_metrics\[0\]\.judge\.baseline is required"),
    ({"baseline": {"severity": "high"}}, r"gate_metrics\[0\]\.judge\.baseline\.severity is not a known field"),
    ({"baseline": {"query": "x"}, "confidence": 1.5}, r"judge\.confidence must be between 0 and 1"),
    ({"baseline": {"url": "ftp://x"}}, r"gate_metrics\[0\]\.judge\.baseline\.url must be an http\(s\) URL"),
])
def test_judge_errors(judge: dict[str, Any], match: str) -> None:
    with pytest.raises(GateSpecError, match=match):
        parse_metric_spec({"name": "lat", "provider": "prometheus", "query": "q", "judge": judge}, 0)


# --------------------------------------------------------------------------- providers' fields

@pytest.mark.parametrize(("raw", "match"), [
    ({"provider": "prometheus", "max": 1}, r"gate_metrics\[0\]\.query is required for provider prometheus"),
    ({"provider": "json", "max": 1}, r"gate_metrics\[0\]\.url is required for provider json"),
    ({"provider": "command", "max": 1}, r"gate_metrics\[0\]\.command is required for provider command"),
    ({"provider": "command", "command": [], "max": 1}, r"gate_metrics\[0\]\.command must be a command line"),
    ({"provider": "fact", "max": 1}, r"gate_metrics\[0\]\.value is required for provider fact"),
    ({"provider": "sql", "max": 1}, r"gate_metrics\[0\]\.query is required for provider sql"),
    ({"provider": "sql", "query": "select 1", "connection": {"pass": "x"}, "max": 1},
     r"gate_metrics\[0\]\.connection\.pass is not a known field"),
    ({"provider": "prometheus", "query": "up", "kind": "value", "max": 1},
     r"gate_metrics\[0\]\.kind only applies to provider scrape, not prometheus"),
    ({"provider": "fact", "value": 1, "query": "x", "max": 1},
     r"gate_metrics\[0\]\.query only applies to provider prometheus or json or command or sql, not fact"),
    ({"provider": "prometheus", "query": "up", "step": 5, "max": 1}, r"step only applies to a range query"),
    ({"provider": "prometheus", "query": "up", "range": 0, "max": 1}, r"gate_metrics\[0\]\.range must be > 0 seconds"),
    ({"provider": "prometheus", "query": "up", "reduce": "median", "max": 1}, r"reduce must be one of worst"),
    ({"provider": "graphite", "max": 1}, r"gate_metrics\[0\]\.provider must be one of scrape, prometheus"),
    ({"provider": "json", "url": "http://x", "headers": {"a": 1}, "max": 1}, r"headers must be a mapping of strings"),
    ({"provider": "fact", "value": 1, "interval": 0, "max": 1}, r"gate_metrics\[0\]\.interval must be > 0 seconds"),
    ({"provider": "fact", "value": 1, "count": 0, "max": 1}, r"gate_metrics\[0\]\.count must be a whole number >= 1"),
    ({"provider": "fact", "value": 1}, r"gate_metrics\[0\]\.min or gate_metrics\[0\]\.max is required"),
    ({"kind": "error_ratio", "max": 0.1, "targets": ["x:1"]}, r"targets must be a non-empty list of http\(s\)"),
])
def test_provider_field_errors(raw: dict[str, Any], match: str) -> None:
    with pytest.raises(GateSpecError, match=match):
        parse_metric_spec({"name": "m", **raw}, 0)


def test_provider_specs_parse() -> None:
    p = parse_metric_spec({"name": "q", "provider": "prometheus", "query": "up", "range": 60, "step": 5,
                           "reduce": "max", "url": "http://prom:9090", "headers": {"Authorization": "Bearer s3cret"},
                           "max": 1, "interval": 2, "count": 3, "initial_delay": 1}, 0)
    assert (p.range, p.step, p.reduce, p.interval, p.count, p.initial_delay) == (60, 5, "max", 2, 3, 1)
    assert p.to_dict()["headers"] == {"Authorization": "********"}
    c = parse_metric_spec({"name": "c", "provider": "command", "command": ["redis-cli", "llen", "q"], "max": 100}, 0)
    assert c.command == ("redis-cli", "llen", "q") and c.to_dict()["command"] == ["redis-cli", "llen", "q"]
    f = parse_metric_spec({"name": "f", "provider": "fact", "value": None, "max": 100}, 0)
    assert f.value is None
    q = parse_metric_spec({"name": "s", "provider": "sql", "query": "select 1", "max": 100,
                           "connection": {"password": "pw", "host": "db"}}, 0)
    assert q.to_dict()["connection"] == {"password": "********", "host": "db"}


# --------------------------------------------------------------------------- numbers and JSON

def test_reduce_values() -> None:
    vals = [3.0, 1.0, float("nan"), 2.0]
    assert reduce_values(vals, "last") == 2.0
    assert reduce_values(vals, "min") == 1.0 and reduce_values(vals, "max") == 3.0
    assert reduce_values(vals, "sum") == 6.0 and reduce_values(vals, "avg") == 2.0
    assert reduce_values(vals, "p95") == pytest.approx(2.9)
    assert reduce_values([float("nan")], "max") is None and reduce_values([], "worst") is None
    assert reduce_values(vals, "worst", spec(max=1)) == 3.0
    assert reduce_values(vals, "worst", spec(min=2.5)) == 1.0
    assert reduce_values([0.0, 11.0], "worst", spec(between=[1, 10])) == 11.0  # as far below as above: the higher
    assert reduce_values([-5.0, 11.0], "worst", spec(between=[1, 10])) == -5.0


def test_infinite_values_are_json_safe() -> None:
    s = spec(max=1)
    r = evaluate_metric(s, timed(s, [math.inf, 0.5]))
    d = r.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert d["samples"][0]["value"] == "+Inf" and d["stats"]["max"] == "+Inf"
    assert "Infinity" not in text
    assert json_number(-math.inf) == "-Inf" and json_number(float("nan")) is None and json_number(3) == 3


def test_breaches_lists_the_breaching_values() -> None:
    s = spec(between=[1, 2])
    assert breaches(s, [1.5, 0.5, None, 3]) == [
        {"index": 1, "value": 0.5, "detail": "0.5 < min 1"},
        {"index": 3, "value": 3.0, "detail": "3 > max 2"},
    ]


def test_judge_leaves_infinite_samples_to_the_bounds() -> None:
    s = parse_metric_spec({"name": "lat", "provider": "prometheus", "query": "c", "max": 1,
                           "judge": {"baseline": {"query": "b"}}}, 0)
    samples = pairs(s, [0.2, 0.21, math.inf, 0.2], [0.2, 0.2, 0.2, 0.21])
    r = evaluate_metric(s, samples)
    assert (r.result, r.decision) == ("fail", "ROLLBACK")  # the +Inf breaches max 1
    assert r.judgement is not None and r.judgement.n_canary == 3
