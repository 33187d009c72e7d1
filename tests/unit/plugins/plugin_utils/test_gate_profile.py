"""Threshold profiles: the bundled files, their traceability to the seed catalogue, apply_profile and the filters."""
from __future__ import annotations

import copy
import functools
import importlib.util
import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.errors import AnsibleFilterError

from ansible_collections.liftoff.release.plugins.filter.gate import gate_spec_errors
from ansible_collections.liftoff.release.plugins.filter.gate_profile import (
    FilterModule,
    gate_apply_profile,
    gate_profile_trace,
)
from ansible_collections.liftoff.release.plugins.plugin_utils import gate
from ansible_collections.liftoff.release.plugins.plugin_utils.gate_profile import (
    Profile,
    ProfileError,
    Tier,
    apply_profile,
    parse_profile,
    profile_trace,
)
from ansible_collections.liftoff.release.plugins.plugin_utils.gate_spec import parse_metric_specs

ROOT = Path(__file__).resolve().parents[4]
PROFILES = ROOT / "roles" / "gate" / "files" / "profiles"
PROFILE_FILES = sorted(PROFILES.glob("*.yml"))
CATALOGUE = ROOT.parent / "shared" / "catalogue" / "seed-catalogue.yml"
DOC = ROOT / "docs" / "gate-profiles.md"
SCRIPT = ROOT / "scripts" / "gate_profiles_md.py"


def _raw(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _load(path: Path) -> Profile:
    return parse_profile(_raw(path), where=path.name)


def _items(profile: Profile) -> list[dict[str, Any]]:
    """One gate_metrics item per metric key of the profile, with provider fields only."""
    items: list[dict[str, Any]] = []
    for key in profile.metrics:
        if key == "error_ratio":  # the scrape provider's kind error_ratio also checks 0..1
            items.append({"name": key, "profile": key, "provider": "scrape", "kind": "error_ratio"})
        else:
            items.append({"name": key, "profile": key, "provider": "fact", "value": 0})
    return items


# --------------------------------------------------------------------------- bundled files

def test_the_bundled_profiles() -> None:
    assert [p.stem for p in PROFILE_FILES] == ["default", "seed-000", "seed-001", "seed-002", "seed-003", "seed-004"]


@pytest.mark.parametrize("path", PROFILE_FILES, ids=lambda p: p.stem)
def test_profile_parses(path: Path) -> None:
    profile = _load(path)
    assert profile.name == path.stem
    assert profile.description and profile.source and profile.notes
    assert profile.metrics
    if path.stem.startswith("seed-"):
        number = path.stem.removeprefix("seed-")
        assert profile.source.startswith(f"seeds/{number}_")
        foreign = [i for i in profile.catalogue_ids() if not i.startswith(f"s{number}-")]
        assert not foreign, f"{path.name} cites another seed's items: {foreign}"


@pytest.mark.parametrize("path", PROFILE_FILES, ids=lambda p: p.stem)
def test_every_expanded_metric_parses(path: Path) -> None:
    profile = _load(path)
    expanded = apply_profile(_items(profile), profile)
    specs = parse_metric_specs(expanded)
    assert [s.name for s in specs] == [f"{key}.{tier.severity}" for key, m in profile.metrics.items() for tier in m.tiers]
    tiers = [tier for m in profile.metrics.values() for tier in m.tiers]
    for spec, tier in zip(specs, tiers, strict=True):
        assert spec.severity == tier.severity
        assert spec.dry_run == tier.dry_run
        low, high = tier.between if tier.between else (tier.min, tier.max)
        assert (spec.min, spec.max) == (low, high)
        assert (spec.max_increase, spec.max_decrease) == (tier.max_increase, tier.max_decrease)
        assert spec.grace == (tier.grace or 0.0)
    trace = profile_trace(_items(profile), profile)
    assert list(trace) == [s.name for s in specs]
    assert all(trace.values())


def test_every_profile_uses_the_shared_vocabulary() -> None:
    """A metric key means the same thing, in the same unit, in every profile."""
    units: dict[str, set[str]] = {}
    for path in PROFILE_FILES:
        for key, metric in _load(path).metrics.items():
            units.setdefault(key, set()).add(metric.unit)
    assert {k: v for k, v in units.items() if len(v) > 1} == {}
    relative = {k for k in units if k.endswith("_vs_baseline")}
    for path in PROFILE_FILES:
        for key, metric in _load(path).metrics.items():
            for tier in metric.tiers:
                uses_relative = tier.max_increase is not None or tier.max_decrease is not None
                assert uses_relative == (key in relative), f"{path.stem} {key}: relative bounds only on *_vs_baseline keys"


# --------------------------------------------------------------------------- traceability to the seed catalogue

# Catalogue unit -> (the profile's unit, factor to the gate's unit). "relative" means a
# fraction of the baseline (max_increase / max_decrease).
CONVERSIONS: dict[str, tuple[str, float]] = {
    "%": ("ratio", 0.01),
    "% (abs)": ("relative", 0.01),
    "ms": ("seconds", 0.001),
    "s": ("seconds", 1.0),
    "min": ("seconds", 60.0),
    "h": ("seconds", 3600.0),
    "MB": ("bytes", 1024.0 * 1024.0),  # binary: the seed says 1 GB = 1024 MB (s001-104)
    "per min": ("per_minute", 1.0),
    "per s": ("per_minute", 60.0),
    # s001-053/055: the PromQL rate is per second but the alert summary says per minute;
    # the profile follows the summary (see seed-001.yml notes).
    "per s (PromQL rate) / summary says per min": ("per_minute", 1.0),
    "count": ("count", 1.0),
    "entries": ("count", 1.0),
    "items": ("count", 1.0),
    "items (and growing)": ("count", 1.0),
    "connections": ("count", 1.0),
    "alerts": ("count", 1.0),
    "pods": ("count", 1.0),
    "of 3 instances": ("count", 1.0),
    "of 7 pods": ("count", 1.0),
    "up": ("count", 1.0),
}
# Catalogue metrics that fail at zero: "all instances down", "up == 0". The tier keeps at least one: min 1.
FAIL_AT_ZERO = {"healthy_backend_instances", "service_up"}
# Catalogue metrics whose number is how long a breach lasts: the tier's grace, not a bound.
DURATION_AS_GRACE = {"outage_duration"}
# "unresolved 30 min", "2 consecutive min", "for 1m": how long a breach may last before a rollback.
GRACE_WINDOW = re.compile(r"(?:unresolved (\d+) min|(\d+) consecutive min|for (\d+)m)")


def _catalogue() -> dict[str, dict[str, Any]]:
    if not CATALOGUE.is_file():
        pytest.skip(f"seed catalogue not found at {CATALOGUE} (the shared checkout is not next to this one)")
    return _read_catalogue()


@functools.cache
def _read_catalogue() -> dict[str, dict[str, Any]]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # safe either way; C is faster on 7,500 lines
    data = yaml.load(CATALOGUE.read_text(encoding="utf-8"), Loader=loader)
    return {item["id"]: item for seed in data["seeds"] for item in seed["items"]}


def _close(a: float | None, b: float) -> bool:
    return a is not None and math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _cited() -> list[tuple[str, str, str, Tier, str, str]]:
    """(profile, metric key, unit, tier, catalogue id, test id) for every citation in every profile."""
    out = []
    for path in PROFILE_FILES:
        for key, metric in _load(path).metrics.items():
            for tier in metric.tiers:
                for cid in tier.catalogue:
                    out.append((path.stem, key, metric.unit, tier, cid, f"{path.stem}:{key}.{tier.severity}:{cid}"))
    return out


CITED = _cited()


@pytest.mark.parametrize(("profile", "key", "unit", "tier", "cid"), [c[:5] for c in CITED], ids=[c[5] for c in CITED])
def test_tier_numbers_match_the_catalogue(profile: str, key: str, unit: str, tier: Tier, cid: str) -> None:
    """The cited item's threshold, in the gate's units, is one of the tier's bounds.

    op                  | the tier
    >, >=, <, <=, ==    | min or max equals the value (a breach "above v" and a target "below v" are both max v)
    == 0 of what is up  | min 1 (FAIL_AT_ZERO: "all instances down")
    between [a, b]      | between [a, b] (a normal range), or max a (a breach band: it starts at a)
    % (abs)             | max_increase v (and max_decrease v or none)
    a breach duration   | grace (DURATION_AS_GRACE)
    """
    items = _catalogue()
    assert cid in items, f"{cid} is not in {CATALOGUE.name}"
    threshold = items[cid].get("threshold")
    assert threshold, f"{cid} has no threshold in the catalogue"
    target_unit, factor = CONVERSIONS[threshold["unit"]]
    value = threshold["value"]
    where = f"{profile} {key}.{tier.severity} cites {cid} ({threshold['metric']} {threshold['op']} {value} {threshold['unit']})"
    if threshold["metric"] in DURATION_AS_GRACE:
        assert target_unit == "seconds"
        assert _close(tier.grace, value * factor), where
        return
    if target_unit == "relative":
        assert _close(tier.max_increase, value * factor), where
        assert tier.max_decrease is None or _close(tier.max_decrease, value * factor), where
        return
    if key.endswith("_vs_baseline"):  # a relative key: the catalogue's percentage is a fraction of the baseline
        assert threshold["unit"] == "%", where
        assert _close(tier.max_increase, value * factor) or _close(tier.max_decrease, value * factor), where
        return
    assert target_unit == unit, f"{where}: catalogue unit {threshold['unit']!r} is not the profile's {unit}"
    if threshold["op"] == "between":
        low, high = (v * factor for v in value)
        assert (tier.between is not None and _close(tier.between[0], low) and _close(tier.between[1], high)) \
            or _close(tier.max, low), where
        return
    if threshold["op"] == "==" and value == 0 and threshold["metric"] in FAIL_AT_ZERO:
        assert tier.min == 1, where
        return
    bounds = [tier.min, tier.max, *(tier.between or ())]
    assert any(_close(b, value * factor) for b in bounds), where


@pytest.mark.parametrize("path", PROFILE_FILES, ids=lambda p: p.stem)
def test_every_grace_comes_from_a_cited_window(path: Path) -> None:
    """A high tier's grace is the breach duration one of its cited items states ("unresolved 30 min", "for 1m")."""
    items = _catalogue()
    for key, metric in _load(path).metrics.items():
        for tier in metric.tiers:
            if not tier.grace:
                continue
            stated: set[float] = set()
            for cid in tier.catalogue:
                threshold = items[cid]["threshold"]
                match = GRACE_WINDOW.search(threshold.get("window", ""))
                if match:
                    stated.add(60.0 * int(next(g for g in match.groups() if g)))
                if threshold["metric"] in DURATION_AS_GRACE:
                    stated.add(threshold["value"] * CONVERSIONS[threshold["unit"]][1])
            assert tier.grace in stated, f"{path.stem} {key}.{tier.severity} grace {tier.grace} s; cited items state {stated}"


@pytest.mark.parametrize("path", PROFILE_FILES, ids=lambda p: p.stem)
def test_windows_match_the_catalogue(path: Path) -> None:
    items = _catalogue()
    profile = _load(path)
    for label, window in (("window", profile.window), ("post_rollback", profile.post_rollback)):
        if window is None:
            continue
        for cid in window.catalogue:
            threshold = items[cid]["threshold"]
            target_unit, factor = CONVERSIONS[threshold["unit"]]
            assert target_unit == "seconds" and threshold["op"] == ">=", f"{path.stem} {label} cites {cid}"
            assert _close(window.seconds, threshold["value"] * factor), f"{path.stem} {label} cites {cid}"


def test_seed_000_states_a_post_rollback_window() -> None:
    profile = _load(PROFILES / "seed-000.yml")
    assert profile.post_rollback is not None
    assert profile.post_rollback.seconds == 300 and profile.post_rollback.catalogue == ("s000-080",)


# --------------------------------------------------------------------------- the decisions a profile makes

def _verdict(profile: str, key: str, values: list[float], every: float = 60.0) -> gate.Verdict:
    loaded = _load(PROFILES / f"{profile}.yml")
    specs = parse_metric_specs(apply_profile([{"name": key, "profile": key, "provider": "fact", "value": 0}], loaded))
    samples = {s.name: [gate.make_sample(s, f"t{i}", v, t=i * every) for i, v in enumerate(values)] for s in specs}
    return gate.decide(specs, samples)


@pytest.mark.parametrize(("values", "decision", "driving"), [
    ([0.005, 0.004, 0.006], "PROCEED", ()),
    ([0.02, 0.03, 0.02], "HOLD", ("error_ratio.medium",)),                   # 1-5%: investigate, a person decides
    ([0.07, 0.08, 0.07], "HOLD", ("error_ratio.high", "error_ratio.medium")),  # above 5%, inside the 30 min grace
    ([0.01, 0.2, 0.01], "ROLLBACK", ("error_ratio.critical",)),              # above 10%: at once
])
def test_seed_002_error_tiers_decide_like_the_checklist(values: list[float], decision: str, driving: tuple[str, ...]) -> None:
    verdict = _verdict("seed-002", "error_ratio", values)
    assert (verdict.decision, verdict.driving) == (decision, driving)


def test_seed_002_high_tier_rolls_back_when_unresolved_for_30_minutes() -> None:
    verdict = _verdict("seed-002", "error_ratio", [0.07] * 32)  # one sample a minute, 31 minutes above 5%
    assert verdict.decision == "ROLLBACK"
    assert verdict.driving == ("error_ratio.high",)


def test_seed_000_error_rate_rolls_back_after_two_consecutive_minutes() -> None:
    assert _verdict("seed-000", "error_ratio", [0.02, 0.02], every=60).decision == "HOLD"  # 1 minute: pending
    assert _verdict("seed-000", "error_ratio", [0.02, 0.02, 0.02, 0.0005], every=60).decision == "ROLLBACK"


def test_dry_run_tiers_never_decide() -> None:
    verdict = _verdict("seed-000", "token_cache_entries", [10, 12, 11])  # below the normal 50-200: reported only
    assert verdict.decision == "PROCEED"
    assert [m.result for m in verdict.metrics] == ["pass", "fail"]


# --------------------------------------------------------------------------- apply_profile

PROFILE: dict[str, Any] = {
    "name": "test",
    "description": "a profile for the tests",
    "source": "seeds/002_9eb6b2d8149694be.txt, Rollback Decision Criteria",
    "notes": ["none"],
    "metrics": {
        "error_ratio": {"unit": "ratio", "tiers": [
            {"severity": "critical", "max": 0.10, "catalogue": ["s002-183"]},
            {"severity": "high", "max": 0.05, "grace": 1800, "catalogue": ["s002-188"]},
            {"severity": "medium", "max": 0.01, "dry_run": True, "catalogue": ["s002-193", "s002-104"]},
        ]},
        "memory_vs_baseline": {"unit": "bytes", "tiers": [
            {"severity": "medium", "max_increase": 0.05, "max_decrease": 0.05, "catalogue": ["s001-037"]},
        ]},
    },
    "window": {"seconds": 1800, "catalogue": ["s002-111"]},
}
ITEM = {"name": "errors", "profile": "error_ratio", "provider": "prometheus", "query": "sum(rate(x[1m]))",
        "interval": 30, "count": 10}


def test_an_item_expands_into_one_metric_per_tier() -> None:
    plain = {"name": "queue", "provider": "fact", "value": 3, "max": 10}
    out = apply_profile([ITEM, plain], parse_profile(PROFILE))
    base = {"unit": "ratio", "provider": "prometheus", "query": "sum(rate(x[1m]))", "interval": 30, "count": 10}
    assert out == [
        {"name": "errors.critical", **base, "severity": "critical", "max": 0.10},
        {"name": "errors.high", **base, "severity": "high", "max": 0.05, "grace": 1800.0},
        {"name": "errors.medium", **base, "severity": "medium", "max": 0.01, "dry_run": True},
        plain,
    ]
    assert out[3] is plain
    assert not any("catalogue" in spec or "profile" in spec for spec in out)
    assert gate_spec_errors(out) == []


def test_the_name_defaults_to_the_key_and_relative_tiers_keep_both_bounds() -> None:
    out = apply_profile([{"profile": "memory_vs_baseline", "provider": "fact", "value": 1}], parse_profile(PROFILE))
    assert out == [{"name": "memory_vs_baseline.medium", "unit": "bytes", "provider": "fact", "value": 1, "severity": "medium",
                    "max_increase": 0.05, "max_decrease": 0.05}]
    assert parse_metric_specs(out)[0].relative


def test_dry_run_on_the_item_makes_every_tier_a_dry_run() -> None:
    out = apply_profile([{**ITEM, "dry_run": True}], parse_profile(PROFILE))
    assert [s["dry_run"] for s in out] == [True, True, True]
    out = apply_profile([{**ITEM, "dry_run": False}], parse_profile(PROFILE))
    assert [s.get("dry_run", False) for s in out] == [False, False, True]


def test_the_trace_names_the_catalogue_ids_of_each_expanded_metric() -> None:
    plain = {"name": "queue", "provider": "fact", "value": 3, "max": 10}
    assert profile_trace([ITEM, plain], parse_profile(PROFILE)) == {
        "errors.critical": ["s002-183"], "errors.high": ["s002-188"], "errors.medium": ["s002-193", "s002-104"]}


def test_the_input_is_not_changed() -> None:
    items = [copy.deepcopy(ITEM)]
    apply_profile(items, parse_profile(PROFILE))
    assert items == [ITEM]


@pytest.mark.parametrize(("metrics", "message"), [
    ({"name": "x"}, "gate_metrics must be a list of metric specs, got dict"),
    ("error_ratio", "gate_metrics must be a list of metric specs, got str"),
    ([{**ITEM, "profile": "latency_p95"}],
     r"gate_metrics\[0\]\.profile 'latency_p95' is not a metric of profile test; expected one of: error_ratio, "
     r"memory_vs_baseline$"),
    ([{**ITEM, "profile": ["error_ratio"]}], r"gate_metrics\[0\]\.profile \['error_ratio'\] is not a metric"),
    ([{**ITEM, "max": 0.2}],
     r"gate_metrics\[0\] takes its thresholds from profile test \(profile: error_ratio\) but also gives max; "
     r"remove it, or remove profile and give every threshold"),
    ([{**ITEM, "severity": "high", "grace": 60}], r"but also gives severity, grace; remove them"),
    ([{**ITEM, "judge": {"baseline": {"query": "y"}}}], r"but also gives judge"),
    ([{**ITEM, "dry_run": "yes"}], r"gate_metrics\[0\]\.dry_run must be true or false, got 'yes'"),
    ([{**ITEM, "name": ""}], r"gate_metrics\[0\]\.name must be a non-empty string .*<name>\.<severity>"),
    ([ITEM, {**ITEM, "query": "other"}],
     r"gate_metrics\[1\] expands to errors\.critical, already made by gate_metrics\[0\]"),
    ([{"name": "errors.high", "provider": "fact", "value": 1, "max": 2}, ITEM],
     r"gate_metrics\[1\] expands to errors\.high, the name of gate_metrics\[0\]"),
])
def test_apply_profile_errors(metrics: Any, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        apply_profile(metrics, parse_profile(PROFILE))


def test_errors_name_the_variable() -> None:
    with pytest.raises(ProfileError, match=r"^canary_metrics\[0\]\.profile 'nope'"):
        apply_profile([{**ITEM, "profile": "nope"}], parse_profile(PROFILE), var="canary_metrics")


def test_items_without_profile_pass_through_even_when_malformed() -> None:
    """apply_profile expands; checking every spec is parse_metric_specs' job (gate_spec_errors reports them)."""
    odd: list[Any] = ["oops", {"name": "x", "max": "lots"}]
    assert apply_profile(odd, parse_profile(PROFILE)) == odd


# --------------------------------------------------------------------------- parse_profile errors

def _with(path: str, value: Any) -> dict[str, Any]:
    """PROFILE with the field at a dotted path (list indexes as digits) set, or removed when value is ...."""
    raw = copy.deepcopy(PROFILE)
    *parents, last = path.split(".")
    node: Any = raw
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is ...:
        del node[int(last) if last.isdigit() else last]
    else:
        node[int(last) if last.isdigit() else last] = value
    return raw


T = "gate_profile.metrics.error_ratio.tiers"
T0 = r"gate_profile\.metrics\.error_ratio\.tiers\[0\]"


@pytest.mark.parametrize(("raw", "message"), [
    ("not a mapping", r"^gate_profile must be a mapping \(name, description, source, notes, metrics, window, "
                      r"post_rollback\), got str$"),
    (_with("owner", "me"), r"^gate_profile\.owner is not a known field; expected only: name, description, source, "
                           r"notes, metrics, window, post_rollback$"),
    (_with("name", ...), r"^gate_profile\.name is required: a non-empty string, got None$"),
    (_with("name", "Seed 2"), r"gate_profile\.name must be a file-name-like word \(e\.g\. seed-002\), got 'Seed 2'"),
    (_with("description", ""), r"gate_profile\.description is required: a non-empty string"),
    (_with("source", ...), r"gate_profile\.source is required"),
    (_with("notes", "one note"), r"gate_profile\.notes must be a list of strings \(one note each\), got 'one note'"),
    (_with("metrics", {}), r"gate_profile\.metrics must map at least one metric key \(e\.g\. error_ratio\) to its tiers"),
    (_with("metrics", [1]), r"gate_profile\.metrics must be a mapping \(metric key -> unit, tiers\), got list"),
    (_with("metrics.Error Ratio", {"unit": "ratio", "tiers": []}),
     r"gate_profile\.metrics has a bad metric key 'Error Ratio': lower case letters, digits and _"),
    (_with("metrics.error_ratio.unit", "percent"),
     r"gate_profile\.metrics\.error_ratio\.unit is required: one of ratio, seconds, bytes, count, per_minute, "
     r"per_second, got 'percent'"),
    (_with("metrics.error_ratio.description", "x"),
     r"gate_profile\.metrics\.error_ratio\.description is not a known field; expected only: unit, tiers"),
    (_with("metrics.error_ratio.tiers", []),
     r"gate_profile\.metrics\.error_ratio\.tiers must be a non-empty list of tiers \(severity, a threshold, catalogue\)"),
    (_with("metrics.error_ratio.tiers", {"severity": "critical"}), r"tiers must be a non-empty list"),
    (_with("metrics.error_ratio.tiers.0", "critical"), rf"^{T0} must be a mapping \(severity, a threshold and catalogue\)"),
    (_with("metrics.error_ratio.tiers.0.unit", "ratio"),
     rf"^{T0}\.unit is not a known field; expected only: severity, min, max, between, max_increase, max_decrease, "
     r"grace, failure_limit, no_data, inconclusive_limit, dry_run, catalogue$"),
    (_with("metrics.error_ratio.tiers.0.severity", ...), rf"^{T0}\.severity is required: one of critical, high, "
                                                         r"medium, got None$"),
    (_with("metrics.error_ratio.tiers.0.severity", "low"), rf"{T0}\.severity is required: one of .*, got 'low'"),
    (_with("metrics.error_ratio.tiers.0.max", ...),
     rf"^{T0} needs a threshold: one of min, max, between, max_increase, max_decrease$"),
    (_with("metrics.error_ratio.tiers.0.max", "lots"), rf"^{T0}\.max must be a number \(e\.g\. 0\.05\), got 'lots'$"),
    (_with("metrics.error_ratio.tiers.0.max", 10), rf"^{T0}\.max is a ratio \(unit ratio\): expected 0\.\.1 "
                                                   r"\(0\.05 = 5%\), got 10$"),
    (_with("metrics.error_ratio.tiers.0.min", 0.5), rf"{T0}\.min \(0\.5\) must not be greater than {T0}\.max \(0\.1\)"),
    (_with("metrics.error_ratio.tiers.0.between", [0, 0.2]), rf"{T0}\.between replaces min and max"),
    (_with("metrics.error_ratio.tiers.0.grace", 60), rf"{T0}\.grace only applies to severity high"),
    (_with("metrics.error_ratio.tiers.0.no_data", "skip"), rf"{T0}\.no_data must be one of fail, inconclusive, ignore"),
    (_with("metrics.error_ratio.tiers.0.failure_limit", -1), rf"{T0}\.failure_limit must be a whole number >= 0"),
    (_with("metrics.error_ratio.tiers.0.dry_run", "no"), rf"{T0}\.dry_run must be true or false"),
    (_with("metrics.memory_vs_baseline.tiers.0.max_increase", -0.1),
     r"gate_profile\.metrics\.memory_vs_baseline\.tiers\[0\]\.max_increase must be >= 0"),
    (_with("metrics.error_ratio.tiers.0.catalogue", ...),
     rf"^{T0}\.catalogue is required: the seed catalogue ids the numbers come from \(e\.g\. \[s002-183\]\)$"),
    (_with("metrics.error_ratio.tiers.0.catalogue", []), rf"^{T0}\.catalogue is required"),
    (_with("metrics.error_ratio.tiers.0.catalogue", "s002-183"),
     rf"^{T0}\.catalogue must be a list of seed catalogue ids \(e\.g\. \[s002-183\]\), got 's002-183'$"),
    (_with("metrics.error_ratio.tiers.0.catalogue", ["S2-183"]),
     rf"^{T0}\.catalogue must hold catalogue ids like s002-183, got 'S2-183'$"),
    (_with("metrics.error_ratio.tiers.0.catalogue", ["s002-183", "s002-183"]), rf"^{T0}\.catalogue lists an id twice"),
    (_with("metrics.error_ratio.tiers.2.severity", "critical"),
     r"gate_profile\.metrics\.error_ratio\.tiers\[2\]\.severity critical is already used by "
     r"gate_profile\.metrics\.error_ratio\.tiers\[0\]: one tier per severity \(the expanded metrics are named "
     r"error_ratio\.<severity>\)"),
    (_with("window", 1800), r"^gate_profile\.window must be a mapping \(seconds, catalogue, source\), got int$"),
    (_with("window.seconds", "30 min"),
     r"^gate_profile\.window\.seconds is required: a number of seconds > 0 \(e\.g\. 1800\), got '30 min'$"),
    (_with("window.catalogue", ...), r"^gate_profile\.window needs catalogue \(ids\) or source"),
    (_with("window.count", 3), r"^gate_profile\.window\.count is not a known field; expected only: seconds, catalogue, source$"),
    (_with("post_rollback", {"seconds": 0, "catalogue": ["s000-080"]}), r"^gate_profile\.post_rollback\.seconds is required"),
])
def test_parse_profile_errors(raw: Any, message: str) -> None:
    with pytest.raises(ProfileError, match=message):
        parse_profile(raw)


def test_parse_profile_names_the_source() -> None:
    with pytest.raises(ProfileError, match=r"^seed-009\.yml\.metrics must map"):
        parse_profile(_with("metrics", {}), where="seed-009.yml")


def test_a_window_may_cite_the_seed_text_instead_of_an_id() -> None:
    profile = parse_profile(_with("window", {"seconds": 3600, "source": "seed 003 line 300"}))
    assert profile.window is not None and profile.window.source == "seed 003 line 300"
    assert profile.catalogue_ids() == ["s002-183", "s002-188", "s002-193", "s002-104", "s001-037"]


# --------------------------------------------------------------------------- the filters

def test_filters_are_registered() -> None:
    assert FilterModule().filters() == {"gate_apply_profile": gate_apply_profile, "gate_profile_trace": gate_profile_trace}


@pytest.mark.parametrize("path", PROFILE_FILES, ids=lambda p: p.stem)
def test_round_trip_through_the_filters(path: Path) -> None:
    """The loaded YAML, as a playbook passes it: expanded metrics the gate accepts, each traced to the seeds."""
    raw = _raw(path)
    profile = parse_profile(raw)
    items = [*_items(profile), {"name": "extra", "provider": "fact", "value": 1, "max": 2}]
    expanded = gate_apply_profile(items, raw)
    assert gate_spec_errors(expanded) == []
    assert expanded[-1] == items[-1]
    trace = gate_profile_trace(items, raw)
    assert sorted(trace) == sorted(s["name"] for s in expanded[:-1])
    cited = {i for ids in trace.values() for i in ids}
    assert cited == {i for m in profile.metrics.values() for t in m.tiers for i in t.catalogue}


def test_filter_errors_name_the_filter() -> None:
    with pytest.raises(AnsibleFilterError, match=r"^liftoff\.release\.gate_apply_profile: gate_metrics\[0\]\.profile "
                                                 r"'nope' is not a metric of profile test; expected one of: "
                                                 r"error_ratio, memory_vs_baseline$"):
        gate_apply_profile([{**ITEM, "profile": "nope"}], PROFILE)
    with pytest.raises(AnsibleFilterError, match=r"^liftoff\.release\.gate_profile_trace: gate_profile\.notes must"):
        gate_profile_trace([ITEM], _with("notes", 3))
    with pytest.raises(AnsibleFilterError, match=r"^liftoff\.release\.gate_apply_profile: canary\[0\] takes"):
        gate_apply_profile([{**ITEM, "max": 1}], PROFILE, "canary")


# --------------------------------------------------------------------------- docs/gate-profiles.md

def _script() -> Any:
    spec = importlib.util.spec_from_file_location("gate_profiles_md", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_doc_is_generated_from_the_profiles() -> None:
    """docs/gate-profiles.md is what scripts/gate_profiles_md.py writes; run it after changing a profile."""
    assert DOC.read_text(encoding="utf-8") == _script().render(), \
        "docs/gate-profiles.md is out of date: run .venv/bin/python scripts/gate_profiles_md.py"


def test_the_doc_has_a_table_and_the_notes_of_every_profile() -> None:
    text = DOC.read_text(encoding="utf-8")
    for path in PROFILE_FILES:
        profile = _load(path)
        assert f"\n## {profile.name}\n" in text
        for note in profile.notes:
            assert f"- {note}\n" in text
    assert "| error_ratio | ratio | high | max 0.05 (5%) | 1800 s (30 min) | s002-188 |" in text


def test_the_drift_check_fails_on_a_changed_doc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    module = _script()
    stale = tmp_path / "gate-profiles.md"
    stale.write_text("old\n", encoding="utf-8")
    monkeypatch.setattr(module, "DOC", stale)
    monkeypatch.setattr(module, "REPO", tmp_path)
    assert module.main(["--check"]) == 1
    assert module.main([]) == 0
    assert module.main(["--check"]) == 0
