"""Filters over the gate: gate_spec_errors, gate_percentile."""
from __future__ import annotations

from typing import Any

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.liftoff.release.plugins.filter.gate import FilterModule, gate_percentile, gate_spec_errors

GOOD = {"name": "error_ratio", "kind": "error_ratio", "max": 0.05}


def test_valid_specs_have_no_errors() -> None:
    assert gate_spec_errors([GOOD, {"name": "p95", "kind": "latency_quantile", "max": 0.5, "quantile": 0.95}]) == []


@pytest.mark.parametrize(("metrics", "expected"), [
    ({"name": "x"}, ["gate_metrics must be a list of metric definitions, got dict"]),
    ("error_ratio", ["gate_metrics must be a list of metric definitions, got str"]),
    (None, ["gate_metrics must be a list of metric definitions, got NoneType"]),
    ([], ["gate_metrics must list at least one metric: a gate with none cannot fail"]),
])
def test_not_a_list_or_empty(metrics: Any, expected: list[str]) -> None:
    assert gate_spec_errors(metrics) == expected


def test_every_bad_entry_is_reported_by_index_and_field() -> None:
    errors = gate_spec_errors([GOOD, {"name": "x", "kind": "error_ratio", "max": "lots"},
                               "oops", {"name": "v", "kind": "value", "max": 1}])
    assert len(errors) == 3
    assert errors[0].startswith("gate_metrics[1].max must be a number")
    assert errors[1] == "gate_metrics[2] must be a mapping with at least name, a provider's fields and a threshold, got str"
    assert errors[2].startswith("gate_metrics[3].series is required for kind value")


def test_duplicate_names_and_custom_variable() -> None:
    assert gate_spec_errors([GOOD, GOOD], var="canary_metrics") == [
        "canary_metrics[1].name 'error_ratio' is already used by canary_metrics[0]; names must be unique"]


@pytest.mark.parametrize(("values", "q", "expected"), [
    ([1, 2, 3, 4, 5], 0.5, 3.0),
    (["1", "2"], "1", 2.0),
    ([10], 0.95, 10.0),
])
def test_gate_percentile(values: list[Any], q: Any, expected: float) -> None:
    assert gate_percentile(values, q) == pytest.approx(expected)


@pytest.mark.parametrize("values", [["a", 1], None])
def test_gate_percentile_bad_values(values: Any) -> None:
    with pytest.raises(AnsibleFilterError, match=r"^liftoff\.release\.gate_percentile: .* \(values "):
        gate_percentile(values)


def test_filter_module_exports() -> None:
    assert set(FilterModule().filters()) == {
        "gate_spec_errors", "gate_percentile", "gate_breaches", "gate_verdict", "gate_ratio_to_baseline",
        "gate_threshold_text", "gate_hold_decision"}


def test_gate_breaches_and_verdict_filters() -> None:
    from ansible_collections.liftoff.release.plugins.filter.gate import gate_breaches, gate_verdict

    metric = {"name": "lat", "kind": "value", "series": "x", "max_increase": 0.5}
    assert gate_breaches([0.1, 0.4, None], metric, 0.2) == [{"index": 1, "value": 0.4, "detail": "0.4 > max 0.3 (baseline 0.2)"}]
    with pytest.raises(AnsibleFilterError, match=r"^liftoff\.release\.gate_breaches: could not convert"):
        gate_breaches([1], metric, "high")
    v = gate_verdict({"lat": [0.1, 0.4]}, [metric], {"lat": 0.2})
    assert v["verdict"] == "ROLLBACK" and v["driving"] == ["lat"]
    with pytest.raises(AnsibleFilterError, match=r"samples for 'nope', which is not a metric"):
        gate_verdict({"nope": [1]}, [metric])


def test_gate_ratio_and_threshold_text_filters() -> None:
    from ansible_collections.liftoff.release.plugins.filter.gate import gate_ratio_to_baseline, gate_threshold_text

    assert gate_ratio_to_baseline(0.3, 0.2) == pytest.approx(0.5)
    assert gate_ratio_to_baseline(1, 0) == "+Inf"
    assert gate_threshold_text({"threshold": {"min": 1, "max": 5}}) == ">= 1 and <= 5"
    assert gate_threshold_text({"threshold": {"max": 0.3, "max_increase": 0.5, "baseline": 0.2}}) == (
        "<= 0.3 and within +50% of baseline 0.2")
    assert gate_threshold_text({"threshold": {"max_decrease": 0.05}}) == "within -5% of baseline (none measured)"
    judge = {"direction": "increase", "confidence": 0.95, "min_effect": 0.1}
    assert gate_threshold_text({"threshold": {}, "spec": {"judge": judge}}) == (
        "canary not worse than baseline (increase is bad, confidence 0.95, min effect 10%)")
    with pytest.raises(AnsibleFilterError, match=r"^liftoff\.release\.gate_threshold_text: "):
        gate_threshold_text({"threshold": {"min": "low"}})


def test_gate_hold_decision_filter() -> None:
    from ansible_collections.liftoff.release.plugins.filter.gate import gate_hold_decision

    assert gate_hold_decision("ask", answer="proceed", answered_by="ana", answered_at="T")["decision"] == "PROCEED"
    assert gate_hold_decision("wait", timeout=5)["decision"] == "ROLLBACK"
    with pytest.raises(AnsibleFilterError, match="gate_on_hold must be one of"):
        gate_hold_decision("later")
