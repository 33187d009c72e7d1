# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""Threshold profiles: the seed checklists' rollback criteria as data, and applying one.

Pure and typed: no Ansible, no I/O. A profile (``roles/gate/files/profiles/*.yml``) maps
a small vocabulary of metric keys (``error_ratio``, ``latency_p95``, ...) to *tiers*: the
threshold fields of one gate metric each (``severity``, ``min`` / ``max`` / ``between``,
``max_increase`` / ``max_decrease``, ``grace``, ...), in the gate's units (ratios 0..1,
seconds, bytes), with the seed catalogue ids each tier implements.

A ``gate_metrics`` item may then say ``profile: <metric key>`` instead of giving
thresholds: :func:`apply_profile` expands it into one metric per tier, named
``<name>.<severity>`` (``error_ratio.critical``, ``error_ratio.high``, ...), with the
item's provider fields copied. The output is ordinary metric specs for
``gate_spec.parse_metric_specs``; :func:`profile_trace` says which catalogue ids each
expanded metric implements (specs carry no unknown fields, so the ids travel apart).

Every error is a :class:`ProfileError` naming the variable and field
(``gate_profile.metrics.error_ratio.tiers[1].grace``, ``gate_metrics[0].profile``) and
the expected form.
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ansible_collections.liftoff.release.plugins.plugin_utils.gate_spec import (
    SEVERITIES,
    GateSpecError,
    parse_metric_spec,
)

__all__ = [
    "BOUND_FIELDS", "PROFILE_FIELDS", "THRESHOLD_FIELDS", "TIER_FIELDS", "UNITS",
    "MetricProfile", "Profile", "ProfileError", "Tier", "Window",
    "apply_profile", "parse_profile", "profile_trace",
]

PROFILE_FIELDS = ("name", "description", "source", "notes", "metrics", "window", "post_rollback")
METRIC_FIELDS = ("unit", "tiers")
BOUND_FIELDS = ("min", "max", "between", "max_increase", "max_decrease")
TIER_FIELDS = ("severity", *BOUND_FIELDS, "grace", "failure_limit", "no_data",
               "inconclusive_limit", "dry_run", "catalogue")
WINDOW_FIELDS = ("seconds", "catalogue", "source")
# What the measured value is in (relative bounds are fractions of the baseline, whatever the unit).
UNITS = ("ratio", "seconds", "bytes", "count", "per_minute", "per_second")
# Fields a profile tier owns: a metric item that names a profile may not give them
# (``dry_run`` excepted: ``dry_run: true`` on the item makes every tier a dry run).
THRESHOLD_FIELDS = (*BOUND_FIELDS, "severity", "grace", "failure_limit", "no_data",
                    "inconclusive_limit", "judge")

_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
_CATALOGUE_ID = re.compile(r"^s\d{3}-\d{3}$")


class ProfileError(ValueError):
    """A profile or a metric naming one is malformed; the message names the field and the expected form."""


@dataclass(frozen=True)
class Tier:
    """One gate metric's thresholds, and the catalogue ids they implement."""

    severity: str
    catalogue: tuple[str, ...]
    min: float | None = None
    max: float | None = None
    between: tuple[float, float] | None = None
    max_increase: float | None = None
    max_decrease: float | None = None
    grace: float | None = None
    failure_limit: int | None = None
    no_data: str | None = None
    inconclusive_limit: int | None = None
    dry_run: bool = False

    def spec_fields(self) -> dict[str, Any]:
        """The tier as gate metric spec fields: only what it sets (no ``catalogue``)."""
        out: dict[str, Any] = {"severity": self.severity}
        for key in ("min", "max", "max_increase", "max_decrease", "grace", "failure_limit",
                    "no_data", "inconclusive_limit"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.between is not None:
            out["between"] = list(self.between)
        if self.dry_run:
            out["dry_run"] = True
        return out


@dataclass(frozen=True)
class MetricProfile:
    """A metric key of a profile: the unit its value is measured in, and its tiers."""

    key: str
    unit: str
    tiers: tuple[Tier, ...]


@dataclass(frozen=True)
class Window:
    """A duration a seed states (minimum observation, stability after a rollback)."""

    seconds: float
    catalogue: tuple[str, ...] = ()
    source: str | None = None


@dataclass(frozen=True)
class Profile:
    """A threshold profile as parsed from its YAML file."""

    name: str
    description: str
    source: str
    notes: tuple[str, ...]
    metrics: Mapping[str, MetricProfile]
    window: Window | None = None
    post_rollback: Window | None = None

    def catalogue_ids(self) -> list[str]:
        """Every catalogue id the profile cites, in order, once each."""
        ids: list[str] = []
        for metric in self.metrics.values():
            for tier in metric.tiers:
                ids.extend(tier.catalogue)
        for window in (self.window, self.post_rollback):
            if window is not None:
                ids.extend(window.catalogue)
        return list(dict.fromkeys(ids))


# --------------------------------------------------------------------------- parsing

def _unknown(raw: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
    unknown = sorted(str(k) for k in raw if k not in allowed)
    if unknown:
        raise ProfileError(f"{where}.{unknown[0]} is not a known field; expected only: {', '.join(allowed)}")


def _mapping(value: Any, where: str, expected: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ProfileError(f"{where} must be a mapping ({expected}), got {type(value).__name__}")
    return value


def _text(raw: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
    value = raw.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ProfileError(f"{where}.{key} is required: a non-empty string, got {value!r}")
    return value


def _strings(value: Any, where: str, expected: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if (isinstance(value, (str, bytes)) or not isinstance(value, Sequence)
            or not all(isinstance(v, str) and v.strip() for v in value)):
        raise ProfileError(f"{where} must be a list of {expected}, got {value!r}")
    return tuple(value)


def _catalogue(raw: Mapping[str, Any], where: str, *, required: bool) -> tuple[str, ...]:
    at = f"{where}.catalogue"
    ids = _strings(raw.get("catalogue"), at, "seed catalogue ids (e.g. [s002-183])")
    if required and not ids:
        raise ProfileError(f"{at} is required: the seed catalogue ids the numbers come from (e.g. [s002-183])")
    bad = [i for i in ids if not _CATALOGUE_ID.match(i)]
    if bad:
        raise ProfileError(f"{at} must hold catalogue ids like s002-183, got {bad[0]!r}")
    if len(set(ids)) != len(ids):
        raise ProfileError(f"{at} lists an id twice: {list(ids)!r}")
    return ids


def _seconds(raw: Mapping[str, Any], where: str) -> float:
    value = raw.get("seconds")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ProfileError(f"{where}.seconds is required: a number of seconds > 0 (e.g. 1800), got {value!r}")
    return float(value)


def _window(raw: Any, where: str) -> Window | None:
    if raw is None:
        return None
    spec = _mapping(raw, where, ", ".join(WINDOW_FIELDS))
    _unknown(spec, WINDOW_FIELDS, where)
    catalogue = _catalogue(spec, where, required=False)
    source = _text(spec, "source", where, required=False)
    if not catalogue and source is None:
        raise ProfileError(f"{where} needs catalogue (ids) or source (where in the seed it is stated)")
    return Window(seconds=_seconds(spec, where), catalogue=catalogue, source=source)


def _tier(raw: Any, key: str, unit: str, index: int, where: str) -> Tier:
    at = f"{where}[{index}]"
    spec = _mapping(raw, at, "severity, a threshold and catalogue")
    _unknown(spec, TIER_FIELDS, at)
    if spec.get("severity") not in SEVERITIES:
        raise ProfileError(f"{at}.severity is required: one of {', '.join(SEVERITIES)}, got {spec.get('severity')!r}")
    if all(spec.get(k) is None for k in BOUND_FIELDS):
        raise ProfileError(f"{at} needs a threshold: one of {', '.join(BOUND_FIELDS)}")
    catalogue = _catalogue(spec, at, required=True)
    fields = {k: v for k, v in spec.items() if k != "catalogue"}
    try:
        # The gate's own checks: numbers, min <= max, between's shape, grace only for high.
        parsed = parse_metric_spec({"name": key, "provider": "fact", "value": 0, **fields}, index, where)
    except GateSpecError as exc:
        raise ProfileError(str(exc)) from None
    if unit == "ratio":
        for name, bound in (("min", parsed.min), ("max", parsed.max)):
            if bound is not None and not 0.0 <= bound <= 1.0:
                field = name if spec.get("between") is None else "between"
                raise ProfileError(f"{at}.{field} is a ratio (unit ratio): expected 0..1 (0.05 = 5%), got {bound:g}")
    between = None if spec.get("between") is None else (parsed.min, parsed.max)
    return Tier(
        severity=parsed.severity,
        catalogue=catalogue,
        min=None if between else parsed.min,
        max=None if between else parsed.max,
        between=between,  # type: ignore[arg-type]
        max_increase=parsed.max_increase,
        max_decrease=parsed.max_decrease,
        grace=parsed.grace if spec.get("grace") is not None else None,
        failure_limit=parsed.failure_limit if spec.get("failure_limit") is not None else None,
        no_data=parsed.no_data if spec.get("no_data") is not None else None,
        inconclusive_limit=parsed.inconclusive_limit if spec.get("inconclusive_limit") is not None else None,
        dry_run=parsed.dry_run,
    )


def _metric(key: Any, raw: Any, where: str) -> MetricProfile:
    if not isinstance(key, str) or not _KEY.match(key):
        raise ProfileError(f"{where} has a bad metric key {key!r}: lower case letters, digits and _ (e.g. error_ratio)")
    at = f"{where}.{key}"
    spec = _mapping(raw, at, "unit, tiers")
    _unknown(spec, METRIC_FIELDS, at)
    unit = spec.get("unit")
    if unit not in UNITS:
        raise ProfileError(f"{at}.unit is required: one of {', '.join(UNITS)}, got {unit!r}")
    tiers_raw = spec.get("tiers")
    if isinstance(tiers_raw, (str, bytes)) or not isinstance(tiers_raw, Sequence) or not tiers_raw:
        raise ProfileError(f"{at}.tiers must be a non-empty list of tiers (severity, a threshold, catalogue)")
    tiers = tuple(_tier(t, key, str(unit), i, f"{at}.tiers") for i, t in enumerate(tiers_raw))
    seen: dict[str, int] = {}
    for i, tier in enumerate(tiers):
        if tier.severity in seen:
            raise ProfileError(
                f"{at}.tiers[{i}].severity {tier.severity} is already used by {at}.tiers[{seen[tier.severity]}]: "
                f"one tier per severity (the expanded metrics are named {key}.<severity>)")
        seen[tier.severity] = i
    return MetricProfile(key=key, unit=str(unit), tiers=tiers)


def parse_profile(raw: Mapping[str, Any], where: str = "gate_profile") -> Profile:
    """Validate a profile as loaded from YAML into a :class:`Profile`; unknown fields are refused."""
    spec = _mapping(raw, where, ", ".join(PROFILE_FIELDS))
    _unknown(spec, PROFILE_FIELDS, where)
    name = _text(spec, "name", where)
    if name is None:
        raise AssertionError("name is unset")
    if not re.match(r"^[a-z0-9][a-z0-9_-]*$", name):
        raise ProfileError(f"{where}.name must be a file-name-like word (e.g. seed-002), got {name!r}")
    metrics_raw = _mapping(spec.get("metrics"), f"{where}.metrics", "metric key -> unit, tiers")
    if not metrics_raw:
        raise ProfileError(f"{where}.metrics must map at least one metric key (e.g. error_ratio) to its tiers")
    metrics = {str(k): _metric(k, v, f"{where}.metrics") for k, v in metrics_raw.items()}
    return Profile(
        name=name,
        description=_text(spec, "description", where) or "",
        source=_text(spec, "source", where) or "",
        notes=_strings(spec.get("notes"), f"{where}.notes", "strings (one note each)"),
        metrics=metrics,
        window=_window(spec.get("window"), f"{where}.window"),
        post_rollback=_window(spec.get("post_rollback"), f"{where}.post_rollback"),
    )


# --------------------------------------------------------------------------- applying

def _expand(metrics: Any, profile: Profile, var: str) -> Iterator[tuple[Any, tuple[str, ...] | None]]:
    """Each output spec, with the catalogue ids of its tier (None for items passed through)."""
    if not isinstance(metrics, Sequence) or isinstance(metrics, (str, bytes)):
        raise ProfileError(f"{var} must be a list of metric specs, got {type(metrics).__name__}")
    expanded_by: dict[str, str] = {}  # expanded name -> the item it came from
    plain: dict[str, str] = {}  # names of items passed through -> where
    for index, item in enumerate(metrics):
        where = f"{var}[{index}]"
        if not isinstance(item, Mapping) or "profile" not in item:
            if isinstance(item, Mapping) and isinstance(item.get("name"), str):
                plain.setdefault(item["name"], where)
            yield item, None
            continue
        key = item["profile"]
        if not isinstance(key, str) or key not in profile.metrics:
            raise ProfileError(
                f"{where}.profile {key!r} is not a metric of profile {profile.name}; expected one of: "
                f"{', '.join(profile.metrics)}")
        given = [k for k in THRESHOLD_FIELDS if k in item]
        if given:
            raise ProfileError(
                f"{where} takes its thresholds from profile {profile.name} (profile: {key}) but also gives "
                f"{', '.join(given)}; remove {'it' if len(given) == 1 else 'them'}, or remove profile and give "
                f"every threshold")
        dry_run = item.get("dry_run", False)
        if not isinstance(dry_run, bool):
            raise ProfileError(f"{where}.dry_run must be true or false, got {dry_run!r}")
        name = item.get("name", key)
        if not isinstance(name, str) or not name.strip():
            raise ProfileError(f"{where}.name must be a non-empty string (the expanded metrics are named "
                               f"<name>.<severity>), got {name!r}")
        base = {k: v for k, v in item.items() if k not in ("profile", "name", "dry_run")}
        for tier in profile.metrics[key].tiers:
            spec_name = f"{name}.{tier.severity}"
            if spec_name in expanded_by:
                raise ProfileError(f"{where} expands to {spec_name}, already made by {expanded_by[spec_name]}; "
                                   f"give the items different names")
            expanded_by[spec_name] = where
            spec = {"name": spec_name, "unit": profile.metrics[key].unit, **base, **tier.spec_fields()}
            if dry_run:
                spec["dry_run"] = True
            yield spec, tier.catalogue
    for spec_name, where in expanded_by.items():
        if spec_name in plain:
            raise ProfileError(f"{where} expands to {spec_name}, the name of {plain[spec_name]}; "
                               f"give the items different names")


def apply_profile(metrics: Sequence[Mapping[str, Any]], profile: Profile,
                  var: str = "gate_metrics") -> list[dict[str, Any]]:
    """The metric list with every ``profile: <key>`` item expanded into one metric per tier.

    An expanded metric is the item (provider fields, interval, count, ...) without
    ``profile``, named ``<name>.<severity>`` (``name`` defaults to the key), plus the
    tier's threshold fields. Items without ``profile`` pass through unchanged.
    """
    return [spec for spec, _unused in _expand(metrics, profile, var)]


def profile_trace(metrics: Sequence[Mapping[str, Any]], profile: Profile,
                  var: str = "gate_metrics") -> dict[str, list[str]]:
    """Expanded metric name -> the seed catalogue ids its tier implements (expanded metrics only)."""
    return {spec["name"]: list(trace) for spec, trace in _expand(metrics, profile, var) if trace is not None}
