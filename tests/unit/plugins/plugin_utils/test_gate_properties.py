"""Property-based tests for the gate's decision engine (hypothesis, derandomized for CI)."""
from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ansible_collections.liftoff.release.plugins.plugin_utils.gate import (
    MetricSpec,
    Sample,
    Verdict,
    decide,
    error_sample,
    evaluate_metric,
    make_sample,
    parse_metric_spec,
    percentile,
    with_baseline,
)

AT = "2026-11-23T06:40:00.000Z"
RANK = {"PROCEED": 0, "HOLD": 1, "ROLLBACK": 2}

STEP = 10.0  # seconds between samples
PROPERTY = settings(max_examples=200, deadline=None, derandomize=True)

# A raw sample: ("value", x) | ("nodata", None) | ("error", message)
RawSample = tuple[str, Any]


# --------------------------------------------------------------------------- strategies

_SPAN = 1e6
_finite = st.floats(min_value=-_SPAN, max_value=_SPAN, allow_nan=False, allow_infinity=False)
_ratio = st.floats(min_value=0.0, max_value=1.0, allow_nan=False, allow_infinity=False)
_limit = st.integers(min_value=0, max_value=5)


@st.composite
def raw_specs(draw: st.DrawFn, name: str, dry_run: bool | None = None,
              severity: str | None = None) -> dict[str, Any]:
    """A valid raw metric spec (as written in YAML), with min and/or max."""
    kind = draw(st.sampled_from(["error_ratio", "latency_quantile", "value"]))
    bound = _ratio if kind == "error_ratio" else _finite
    which = draw(st.sampled_from(["min", "max", "both"]))
    raw: dict[str, Any] = {"name": name, "kind": kind}
    if which == "both":
        lo, hi = sorted((draw(bound), draw(bound)))
        raw.update(min=lo, max=hi)
    else:
        raw[which] = draw(bound)
    if kind == "latency_quantile" and draw(st.booleans()):
        raw["quantile"] = draw(st.floats(min_value=0.01, max_value=0.99))
    if kind == "value":
        raw["series"] = "process_resident_memory_bytes"
    raw["severity"] = severity or draw(st.sampled_from(["critical", "high", "medium"]))
    if raw["severity"] == "high" and draw(st.booleans()):
        raw["grace"] = draw(st.sampled_from([5, 10, 25, 60]))  # samples are 10 s apart
    if kind == "value" and draw(st.booleans()):
        raw["max_increase"] = draw(st.floats(min_value=0, max_value=2))
    raw["no_data"] = draw(st.sampled_from(["fail", "inconclusive", "ignore"]))
    for key in ("failure_limit", "inconclusive_limit", "consecutive_error_limit"):
        if draw(st.booleans()):
            raw[key] = draw(_limit)
    raw["dry_run"] = draw(st.booleans()) if dry_run is None else dry_run
    return raw


@functools.cache
def specs_of(name: str, dry_run: bool | None = None,
             severity: str | None = None) -> st.SearchStrategy[MetricSpec]:
    return st.builds(
        lambda raw, baseline: with_baseline(parse_metric_spec(raw, 0), baseline),
        raw_specs(name, dry_run, severity),
        st.floats(min_value=-_SPAN / 10, max_value=_SPAN / 10, allow_nan=False, allow_infinity=False),
    ).filter(_satisfiable)


def _satisfiable(spec: MetricSpec) -> bool:
    """Some value passes: a baseline can put the relative bound on the wrong side of the absolute one."""
    low, high = spec.effective_min, spec.effective_max
    return low is None or high is None or low <= high


@functools.cache
def raw_samples(values: st.SearchStrategy[float] = _finite,
                max_size: int = 6) -> st.SearchStrategy[list[RawSample]]:
    one = st.one_of(
        values.map(lambda v: ("value", v)),
        st.just(("nodata", None)),
        st.sampled_from(["timeout", "connection refused", ""]).map(lambda m: ("error", m)),
    )
    return st.lists(one, max_size=max_size)


def build(spec: MetricSpec, raws: Sequence[RawSample]) -> list[Sample]:
    out = []
    for i, (what, payload) in enumerate(raws):
        at = f"{AT}#{i}"
        t = (i + 1) * STEP
        if what == "error":
            out.append(error_sample(spec, at, payload, t=t))
        else:
            out.append(make_sample(spec, at, payload if what == "value" else None, t=t))
    return out


@st.composite
def gates(draw: st.DrawFn, values: st.SearchStrategy[float] = _finite,
          dry_run: bool | None = None) -> tuple[list[MetricSpec], dict[str, list[RawSample]]]:
    """1..3 specs with unique names and a raw sample sequence for each."""
    n = draw(st.integers(min_value=1, max_value=3))
    specs = [draw(specs_of(f"m{i}", dry_run)) for i in range(n)]
    raws = {s.name: draw(raw_samples(values)) for s in specs}
    return specs, raws


def verdict(specs: Sequence[MetricSpec], raws: dict[str, list[RawSample]]) -> Verdict:
    return decide(specs, {s.name: build(s, raws[s.name]) for s in specs})


def beyond(spec: MetricSpec, value: float | None, delta: float) -> float:
    """A value that breaches spec, at least as far beyond a bound as value already is."""
    high, low = spec.effective_max, spec.effective_min
    if high is not None:
        return max(value if value is not None else high, high) + delta
    assert low is not None
    return min(value if value is not None else low, low) - delta


def passing(spec: MetricSpec) -> float:
    """A value within spec's bounds."""
    if spec.effective_min is not None:
        return spec.effective_min
    assert spec.effective_max is not None
    return spec.effective_max


# --------------------------------------------------------------------------- properties

@PROPERTY
@given(gates(), st.data(), st.floats(min_value=1e-3, max_value=1e3))
def test_worse_sample_never_yields_better_verdict(
        gate: tuple[list[MetricSpec], dict[str, list[RawSample]]], data: st.DataObject,
        delta: float) -> None:
    specs, raws = gate
    spec = data.draw(st.sampled_from(specs))
    valued = [i for i, (what, _unused) in enumerate(raws[spec.name]) if what == "value"]
    assume(valued)
    i = data.draw(st.sampled_from(valued))
    old = raws[spec.name][i][1]
    worse = beyond(spec, old, delta)
    worse_raws = dict(raws)
    worse_raws[spec.name] = [*raws[spec.name][:i], ("value", worse), *raws[spec.name][i + 1:]]

    before = verdict(specs, raws)
    after = verdict(specs, worse_raws)
    assert RANK[after.decision] >= RANK[before.decision], (before.reasons, after.reasons)
    # the metric itself never gets better either
    m_before = next(m for m in before.metrics if m.spec.name == spec.name)
    m_after = next(m for m in after.metrics if m.spec.name == spec.name)
    assert m_after.failed >= m_before.failed


@PROPERTY
@given(gates(), specs_of("shadow", dry_run=True), raw_samples())
def test_dry_run_metric_never_changes_verdict(
        gate: tuple[list[MetricSpec], dict[str, list[RawSample]]], shadow: MetricSpec,
        shadow_raws: list[RawSample]) -> None:
    specs, raws = gate
    alone = verdict(specs, raws)
    with_shadow = verdict([*specs, shadow], {**raws, shadow.name: shadow_raws})
    assert with_shadow.decision == alone.decision
    assert with_shadow.driving == alone.driving
    assert shadow.name not in with_shadow.driving
    assert shadow.name not in with_shadow.critical_failures
    # a dry-run metric alone never decides
    assert verdict([shadow], {shadow.name: shadow_raws}).decision == "PROCEED"


@PROPERTY
@given(gates(), specs_of("critical", dry_run=False, severity="critical"), st.data())
def test_confirmed_critical_breach_always_rolls_back(
        gate: tuple[list[MetricSpec], dict[str, list[RawSample]]], crit: MetricSpec,
        data: st.DataObject) -> None:
    specs, raws = gate
    breaches = data.draw(st.integers(min_value=crit.failure_limit + 1,
                                     max_value=crit.failure_limit + 3))
    deltas = data.draw(st.lists(st.floats(min_value=1e-3, max_value=1e3),
                                min_size=breaches, max_size=breaches))
    others = data.draw(raw_samples())
    crit_raws = data.draw(st.permutations(
        [("value", beyond(crit, None, d)) for d in deltas] + others))

    v = verdict([*specs, crit], {**raws, crit.name: crit_raws})
    assert v.decision == "ROLLBACK", v.reasons
    assert crit.name in v.driving
    assert crit.name in v.critical_failures


@PROPERTY
@given(specs_of("m", dry_run=False), st.integers(min_value=0, max_value=6), st.data())
def test_failure_limit_boundary(spec: MetricSpec, k: int, data: st.DataObject) -> None:
    """failure_limit = k: exactly k failed samples pass the metric, k + 1 fail it (failed > limit)."""
    spec = MetricSpec(**{**spec.__dict__, "failure_limit": k, "grace": 0.0})
    nodata_fails = data.draw(st.integers(0, k)) if spec.no_data == "fail" else 0
    fails: list[RawSample] = [("value", beyond(spec, None, 1.0))] * (k - nodata_fails)
    fails += [("nodata", None)] * nodata_fails
    fillers: list[RawSample] = [("value", passing(spec))] * data.draw(st.integers(1, 4))
    raws = data.draw(st.permutations(fails + fillers))

    at_limit = evaluate_metric(spec, build(spec, raws))
    assert at_limit.failed == k
    assert at_limit.result == "pass", at_limit.reason
    assert at_limit.decision == "PROCEED"

    extra = data.draw(st.sampled_from(
        [("value", beyond(spec, None, 2.0))] + ([("nodata", None)] if spec.no_data == "fail" else [])))
    over = evaluate_metric(spec, build(spec, [*raws, extra]))
    assert over.failed == k + 1
    assert over.result == "fail", over.reason
    assert over.decision == ("HOLD" if spec.severity == "medium" else "ROLLBACK")
    assert over.limit == {"failure_limit": k}


@PROPERTY
@given(specs_of("m", dry_run=False), st.integers(min_value=0, max_value=6), st.data())
def test_consecutive_error_limit_boundary(spec: MetricSpec, k: int, data: st.DataObject) -> None:
    """consecutive_error_limit = k: a run of k errors is tolerated, k + 1 in a row errors the metric.

    Errors that are not consecutive never add up, however many there are.
    """
    spec = MetricSpec(**{**spec.__dict__, "consecutive_error_limit": k})
    ok: RawSample = ("value", passing(spec))
    err: RawSample = ("error", "connection refused")
    # runs of at most k errors, each separated by a passing sample
    runs = data.draw(st.lists(st.integers(0, k), min_size=1, max_size=4))
    raws: list[RawSample] = [ok]
    for r in runs:
        raws += [err] * r + [ok]

    at_limit = evaluate_metric(spec, build(spec, raws))
    assert at_limit.result == "pass", at_limit.reason
    assert at_limit.errors == sum(runs)

    pos = data.draw(st.integers(0, len(raws)))
    over = evaluate_metric(spec, build(spec, [*raws[:pos], *([err] * (k + 1)), *raws[pos:]]))
    assert over.result == "error", over.reason
    assert over.decision == ("HOLD" if spec.severity == "medium" else "ROLLBACK")
    assert over.limit == {"consecutive_error_limit": k}


@PROPERTY
@given(specs_of("m", dry_run=False), st.integers(min_value=0, max_value=6), st.data())
def test_inconclusive_limit_boundary(spec: MetricSpec, k: int, data: st.DataObject) -> None:
    """inconclusive_limit = k (no_data: inconclusive): k samples without data pass, k + 1 HOLD.

    At least one sample has a value: a metric that saw nothing is inconclusive regardless.
    """
    spec = MetricSpec(**{**spec.__dict__, "inconclusive_limit": k, "no_data": "inconclusive"})
    fillers: list[RawSample] = [("value", passing(spec))] * data.draw(st.integers(1, 4))
    raws = data.draw(st.permutations([("nodata", None)] * k + fillers))

    at_limit = evaluate_metric(spec, build(spec, raws))
    assert at_limit.inconclusive == k
    assert at_limit.result == "pass", at_limit.reason

    over = evaluate_metric(spec, build(spec, [*raws, ("nodata", None)]))
    assert over.inconclusive == k + 1
    assert over.result == "inconclusive", over.reason
    assert over.decision == "HOLD"
    assert over.limit == {"inconclusive_limit": k}


@PROPERTY
@given(gates())
def test_non_proceed_verdict_names_its_evidence(
        gate: tuple[list[MetricSpec], dict[str, list[RawSample]]]) -> None:
    specs, raws = gate
    v = verdict(specs, raws)
    d = v.to_dict()
    if v.decision == "PROCEED":
        assert d["driving"] == []
        return
    assert d["driving"], d
    by_name = {m["name"]: m for m in d["metrics"]}
    assert d["reasons"][: len(d["driving"])] == [
        next(m.reason for m in v.metrics if m.spec.name == name) for name in d["driving"]]
    for name in d["driving"]:
        m = by_name[name]
        spec = next(s for s in specs if s.name == name)
        assert m["decision"] == d["verdict"]
        assert m["dry_run"] is False
        assert (m["threshold"]["min"], m["threshold"]["max"]) == (spec.effective_min, spec.effective_max)
        assert m["threshold"]["min"] is not None or m["threshold"]["max"] is not None
        assert len(m["samples"]) == len(raws[name]) == m["count"]
        assert [s["status"] for s in m["samples"]] == [
            s.status for s in build(spec, raws[name])]
        assert m["limit"], m


@PROPERTY
@given(gates(values=st.one_of(st.sampled_from([math.inf, -math.inf, math.nan]), st.floats())))
def test_to_dict_is_json_serialisable(
        gate: tuple[list[MetricSpec], dict[str, list[RawSample]]]) -> None:
    specs, raws = gate
    d = verdict(specs, raws).to_dict()
    # strict JSON: infinities are written as Prometheus writes them ("+Inf"), NaN never appears
    assert json.loads(json.dumps(d, allow_nan=False))["verdict"] == d["verdict"]
    for m in d["metrics"]:
        assert not any(isinstance(s["value"], float) and not math.isfinite(s["value"]) for s in m["samples"])
        assert all(isinstance(x, (int, float, str)) or x is None for x in m["stats"].values()), m


@PROPERTY
@given(gates())
def test_to_dict_of_finite_values_is_strict_json(
        gate: tuple[list[MetricSpec], dict[str, list[RawSample]]]) -> None:
    specs, raws = gate
    d = verdict(specs, raws).to_dict()
    assert json.loads(json.dumps(d, allow_nan=False)) == d


# --------------------------------------------------------------------------- pinned examples

def test_pinned_nan_is_nodata() -> None:
    s = parse_metric_spec({"name": "v", "kind": "value", "series": "x", "max": 1.0}, 0)
    assert make_sample(s, AT, math.nan).status == "nodata"


@PROPERTY
@given(st.sampled_from([5.0, 10.0, 25.0, 60.0]), st.integers(min_value=1, max_value=8), st.booleans())
def test_grace_boundary(grace: float, breach: int, cleared: bool) -> None:
    """A high breach that clears exactly at grace is tolerated; one sample later it counts.

    Samples are STEP seconds apart; a breach of n failing samples followed by a pass clears
    n * STEP seconds after it began.
    """
    spec = parse_metric_spec({"name": "h", "kind": "value", "series": "x", "max": 1.0,
                              "severity": "high", "grace": grace}, 0)
    raws: list[RawSample] = [("value", 0.0)] + [("value", 5.0)] * breach + ([("value", 0.0)] if cleared else [])
    r = evaluate_metric(spec, build(spec, raws))
    span = breach * STEP if cleared else (breach - 1) * STEP
    if cleared:
        expected = "pass" if span <= grace else "fail"
    else:
        expected = "pending" if span < grace else "fail"
    assert r.result == expected, (r.reason, span, grace)
    assert r.failed == (breach if expected == "fail" else 0)
    assert r.tolerated == (breach if expected == "pass" else 0)


def test_pinned_p95_of_repeated_infinity_is_infinity() -> None:
    """Found by test_to_dict_is_json_serialisable: percentile interpolated inf + (inf - inf) * f = NaN."""
    s = parse_metric_spec({"name": "v", "kind": "value", "series": "x", "max": 1.0}, 0)
    v = decide([s], {"v": [make_sample(s, AT, math.inf), make_sample(s, AT, math.inf)]})
    assert v.metrics[0].stats["p95"] == math.inf
    assert percentile([1.0, math.inf, math.inf], 0.95) == math.inf
    assert percentile([-math.inf, -math.inf], 0.5) == -math.inf
