# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""The gate's metric definitions: what to measure, where from, and what counts as healthy.

Pure and typed. :func:`parse_metric_spec` turns a metric as written in YAML into a
:class:`MetricSpec` or raises :class:`GateSpecError` naming ``<var>[<index>].<field>``
and the expected form, so a malformed gate is refused in preflight, before anything
changes. The decision semantics live in ``gate.py``.

Providers (where a value comes from):

- ``scrape``: the app's own Prometheus text exposition, scraped before and after each
  interval (``kind`` error_ratio / latency_quantile / value); needs no Prometheus server;
- ``prometheus``: a PromQL ``query`` over the HTTP API (instant, or over ``range``
  seconds), reduced to one number by ``reduce``;
- ``json``: an HTTP endpoint answering JSON, reduced by a JMESPath ``query``;
- ``command``: a command run on the controller (argv, no shell); its stdout is a number,
  or JSON reduced by a JMESPath ``query``;
- ``fact``: a ``value`` already known to the play (a fact, a registered result);
- ``sql``: the first column of the first row of a read-only SQL ``query``.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

KINDS = ("error_ratio", "latency_quantile", "value")
PROVIDERS = ("scrape", "prometheus", "json", "command", "fact", "sql")
SEVERITIES = ("critical", "high", "medium")
NO_DATA_POLICIES = ("fail", "inconclusive", "ignore")
REDUCTIONS = ("worst", "last", "min", "max", "avg", "sum", "p95")
DIRECTIONS = ("increase", "decrease", "either")

DEFAULT_SERIES: dict[str, str] = {
    "error_ratio": "http_requests_total",
    "latency_quantile": "http_request_duration_seconds",
}

Kind = Literal["error_ratio", "latency_quantile", "value"]
Provider = Literal["scrape", "prometheus", "json", "command", "fact", "sql"]
Severity = Literal["critical", "high", "medium"]
NoDataPolicy = Literal["fail", "inconclusive", "ignore"]
Reduction = Literal["worst", "last", "min", "max", "avg", "sum", "p95"]
Direction = Literal["increase", "decrease", "either"]

# Which provider each provider-specific field belongs to.
_PROVIDER_FIELDS: dict[str, tuple[str, ...]] = {
    "kind": ("scrape",),
    "quantile": ("scrape",),
    "route": ("scrape",),
    "series": ("scrape",),
    "targets": ("scrape",),
    "query": ("prometheus", "json", "command", "sql"),
    "url": ("prometheus", "json"),
    "headers": ("prometheus", "json"),
    "range": ("prometheus",),
    "step": ("prometheus",),
    "reduce": ("prometheus", "json", "command"),
    "command": ("command",),
    "value": ("fact",),
    "connection": ("sql",),
}
_COMMON_FIELDS = (
    "name", "unit", "provider", "min", "max", "between", "max_increase", "max_decrease",
    "severity", "grace", "failure_limit", "no_data", "inconclusive_limit",
    "consecutive_error_limit", "dry_run", "interval", "count", "initial_delay", "judge", "after_rollback",
)
FIELDS = _COMMON_FIELDS + tuple(_PROVIDER_FIELDS)
_JUDGE_FIELDS = ("direction", "confidence", "min_effect", "min_samples", "baseline")
# What a judge's baseline may override: the provider fields that say where to read.
_JUDGE_BASELINE_FIELDS = ("query", "url", "command", "value", "route", "series", "targets")
_CONNECTION_FIELDS = ("host", "port", "dbname", "user", "password", "sslmode")
_MASK = "********"


class GateSpecError(ValueError):
    """A metric spec is malformed; the message names the variable and the expected form."""


@dataclass(frozen=True)
class JudgeSpec:
    """Compare canary samples with baseline samples (Mann-Whitney U, Kayenta's judge)."""

    direction: Direction = "increase"
    confidence: float = 0.95
    min_effect: float = 0.0
    min_samples: int = 3
    baseline: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"direction": self.direction, "confidence": self.confidence,
                "min_effect": self.min_effect, "min_samples": self.min_samples,
                "baseline": dict(self.baseline)}


@dataclass(frozen=True)
class MetricSpec:
    """What to measure, where from, and what counts as healthy.

    ``baseline`` is not written by users: :func:`with_baseline` fills it from the value
    measured in preflight, and the relative bounds (``max_increase``/``max_decrease``)
    are resolved against it.
    """

    name: str
    kind: Kind | None = None
    min: float | None = None
    max: float | None = None
    quantile: float = 0.95
    route: str | None = None
    series: str | None = None
    targets: tuple[str, ...] | None = None
    severity: Severity = "critical"
    failure_limit: int = 0
    no_data: NoDataPolicy = "inconclusive"
    # One quiet interval (e.g. right after a restart) is tolerated; two are not.
    inconclusive_limit: int = 1
    consecutive_error_limit: int = 4
    dry_run: bool = False
    # False: the metric judges the deploy's own window (errors counted over the release's first hour),
    # which the restored release cannot answer for; the gate after a rollback leaves it out.
    after_rollback: bool = True
    provider: Provider = "scrape"
    query: str | None = None
    url: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    range: float | None = None
    step: float | None = None
    reduce: Reduction = "worst"
    command: tuple[str, ...] | str | None = None
    value: float | None = None
    connection: Mapping[str, Any] = field(default_factory=dict)
    max_increase: float | None = None
    max_decrease: float | None = None
    grace: float = 0.0
    interval: float | None = None
    count: int | None = None
    initial_delay: float = 0.0
    judge: JudgeSpec | None = None
    baseline: float | None = None
    unit: str | None = None

    @property
    def relative(self) -> bool:
        """Whether a bound is relative to the baseline captured before the deploy."""
        return self.max_increase is not None or self.max_decrease is not None

    @property
    def effective_min(self) -> float | None:
        """The lowest healthy value: ``min``, tightened by ``max_decrease`` of the baseline."""
        low = self.min
        if self.max_decrease is not None and self.baseline is not None:
            rel = self.baseline - abs(self.baseline) * self.max_decrease
            low = rel if low is None else max(low, rel)
        return low

    @property
    def effective_max(self) -> float | None:
        """The highest healthy value: ``max``, tightened by ``max_increase`` of the baseline."""
        high = self.max
        if self.max_increase is not None and self.baseline is not None:
            rel = self.baseline + abs(self.baseline) * self.max_increase
            high = rel if high is None else min(high, rel)
        return high

    @property
    def threshold(self) -> dict[str, float | None]:
        return {"min": self.effective_min, "max": self.effective_max,
                "max_increase": self.max_increase, "max_decrease": self.max_decrease,
                "baseline": self.baseline}

    @property
    def source_series(self) -> str:
        """The Prometheus series the scrape provider reads (defaults by kind)."""
        if self.kind is None:
            return ""
        return self.series or DEFAULT_SERIES.get(self.kind, "")

    def to_dict(self) -> dict[str, Any]:
        """The spec as recorded: provider fields that apply, secrets masked."""
        out: dict[str, Any] = {
            "name": self.name, "unit": self.unit, "provider": self.provider, "min": self.min, "max": self.max,
            "max_increase": self.max_increase, "max_decrease": self.max_decrease,
            "baseline": self.baseline, "severity": self.severity, "grace": self.grace,
            "failure_limit": self.failure_limit, "no_data": self.no_data,
            "inconclusive_limit": self.inconclusive_limit,
            "consecutive_error_limit": self.consecutive_error_limit, "dry_run": self.dry_run,
            "after_rollback": self.after_rollback, "interval": self.interval, "count": self.count,
            "initial_delay": self.initial_delay,
            "judge": self.judge.to_dict() if self.judge else None,
        }
        if self.provider == "scrape":
            out.update(kind=self.kind, route=self.route, series=self.source_series,
                       quantile=self.quantile if self.kind == "latency_quantile" else None)
            if self.targets is not None:
                out["targets"] = list(self.targets)
        for key in ("query", "url", "range", "step", "value"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        if self.provider in ("prometheus", "json", "command"):
            out["reduce"] = self.reduce
        if self.command is not None:
            out["command"] = list(self.command) if isinstance(self.command, tuple) else self.command
        if self.headers:
            out["headers"] = {k: _MASK for k in self.headers}
        if self.connection:
            out["connection"] = {k: (_MASK if k == "password" else v)
                                 for k, v in self.connection.items()}
        return out


def with_baseline(spec: MetricSpec, baseline: float | None) -> MetricSpec:
    """The spec with its baseline filled in (relative bounds resolve against it)."""
    return replace(spec, baseline=baseline)


def judge_baseline_spec(spec: MetricSpec) -> MetricSpec:
    """Where a canary judge reads its baseline (stable) samples: spec with the judge's overrides."""
    if spec.judge is None:
        raise ValueError(f"metric {spec.name} has no judge")
    return replace(spec, judge=None, **dict(spec.judge.baseline))


# --------------------------------------------------------------------------- parsing

def fmt(value: float | None) -> str:
    """A number as people read it in reasons; ``none`` for no value."""
    return "none" if value is None else f"{value:g}"


def _number(raw: Mapping[str, Any], key: str, where: str) -> float | None:
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


def _positive(raw: Mapping[str, Any], key: str, where: str, *, zero_ok: bool = False,
              unit: str = "seconds") -> float | None:
    number = _number(raw, key, where)
    if number is not None and (number < 0 or (number == 0 and not zero_ok)):
        bound = ">= 0" if zero_ok else "> 0"
        raise GateSpecError(f"{where}.{key} must be {bound} {unit}, got {fmt(number)}")
    return number


def _count(raw: Mapping[str, Any], key: str, where: str, default: int, minimum: int = 0) -> int:
    value = raw.get(key)
    if value is None:
        return default
    expected = f"{where}.{key} must be a whole number >= {minimum}, got {value!r}"
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise GateSpecError(expected)
    try:
        number = int(value)
    except ValueError:
        raise GateSpecError(expected) from None
    if number < minimum:
        raise GateSpecError(expected)
    return number


def _choice(raw: Mapping[str, Any], key: str, where: str, choices: Sequence[str],
            default: str | None) -> str:
    value = raw.get(key, default)
    if value is None:
        raise GateSpecError(f"{where}.{key} is required; expected one of {', '.join(choices)}")
    if value not in choices:
        raise GateSpecError(
            f"{where}.{key} must be one of {', '.join(choices)}, got {value!r}"
        )
    return str(value)


def _text(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise GateSpecError(f"{where}.{key} must be a non-empty string, got {value!r}")
    return value


def _bool(raw: Mapping[str, Any], key: str, where: str, default: bool = False) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise GateSpecError(f"{where}.{key} must be true or false, got {value!r}")
    return value


def _string_map(raw: Mapping[str, Any], key: str, where: str) -> dict[str, str]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise GateSpecError(f"{where}.{key} must be a mapping of strings to strings")
    return dict(value)


def _http_url(raw: Mapping[str, Any], key: str, where: str) -> str | None:
    url = _text(raw, key, where)
    if url is not None and not url.startswith(("http://", "https://")):
        raise GateSpecError(f"{where}.{key} must be an http(s) URL, got {url!r}")
    return url


def _targets(raw: Mapping[str, Any], where: str) -> tuple[str, ...] | None:
    value = raw.get("targets")
    if value is None:
        return None
    if (isinstance(value, (str, bytes)) or not isinstance(value, Sequence) or not value
            or not all(isinstance(v, str) and v.startswith(("http://", "https://")) for v in value)):
        raise GateSpecError(f"{where}.targets must be a non-empty list of http(s) metrics URLs, "
                            f"got {value!r}")
    return tuple(value)


def _command(raw: Mapping[str, Any], where: str) -> tuple[str, ...] | str | None:
    value = raw.get("command")
    if value is None:
        return None
    if isinstance(value, str) and value.strip():
        return value
    if (isinstance(value, Sequence) and not isinstance(value, (str, bytes)) and value
            and all(isinstance(v, str) and v for v in value)):
        return tuple(value)
    raise GateSpecError(
        f"{where}.command must be a command line or a non-empty list of arguments, got {value!r}")


def _connection(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    value = raw.get("connection")
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise GateSpecError(f"{where}.connection must be a mapping ({', '.join(_CONNECTION_FIELDS)})")
    unknown = sorted(str(k) for k in value if k not in _CONNECTION_FIELDS)
    if unknown:
        raise GateSpecError(
            f"{where}.connection.{unknown[0]} is not a known field; expected only: "
            f"{', '.join(_CONNECTION_FIELDS)}")
    return dict(value)


def _check_fields(spec: Mapping[str, Any], where: str, provider: str) -> None:
    unknown = sorted(str(k) for k in spec if k not in FIELDS)
    if unknown:
        raise GateSpecError(
            f"{where}.{unknown[0]} is not a known field; expected only: {', '.join(FIELDS)}"
        )
    for key, providers in _PROVIDER_FIELDS.items():
        if key in spec and spec[key] is not None and provider not in providers:
            raise GateSpecError(
                f"{where}.{key} only applies to provider {' or '.join(providers)}, "
                f"not {provider}"
            )


def _bounds(spec: Mapping[str, Any], where: str, kind: str | None) -> tuple[float | None, float | None]:
    low = _number(spec, "min", where)
    high = _number(spec, "max", where)
    between = spec.get("between")
    if between is not None:
        if low is not None or high is not None:
            raise GateSpecError(f"{where}.between replaces min and max; give one or the other")
        if (not isinstance(between, Sequence) or isinstance(between, (str, bytes))
                or len(between) != 2):
            raise GateSpecError(
                f"{where}.between must be a list of two numbers [low, high], got {between!r}")
        low = _number({"between[0]": between[0]}, "between[0]", where)
        high = _number({"between[1]": between[1]}, "between[1]", where)
    if low is not None and high is not None and low > high:
        raise GateSpecError(
            f"{where}.min ({fmt(low)}) must not be greater than {where}.max ({fmt(high)})"
        )
    if kind == "error_ratio":
        for key, bound in (("min", low), ("max", high)):
            if bound is not None and not 0.0 <= bound <= 1.0:
                raise GateSpecError(
                    f"{where}.{key} is a ratio for kind error_ratio: expected 0..1 "
                    f"(0.05 = 5%), got {fmt(bound)}"
                )
    return low, high


def _parse_judge(spec: Mapping[str, Any], where: str) -> JudgeSpec | None:
    raw = spec.get("judge")
    if raw is None:
        return None
    at = f"{where}.judge"
    if not isinstance(raw, Mapping):
        raise GateSpecError(f"{at} must be a mapping ({', '.join(_JUDGE_FIELDS)})")
    unknown = sorted(str(k) for k in raw if k not in _JUDGE_FIELDS)
    if unknown:
        raise GateSpecError(
            f"{at}.{unknown[0]} is not a known field; expected only: {', '.join(_JUDGE_FIELDS)}")
    confidence = _number(raw, "confidence", at)
    if confidence is not None and not 0.0 < confidence < 1.0:
        raise GateSpecError(f"{at}.confidence must be between 0 and 1 exclusive (e.g. 0.95), "
                            f"got {fmt(confidence)}")
    min_effect = _positive(raw, "min_effect", at, zero_ok=True, unit="(a fraction, 0.1 = 10%)")
    baseline = raw.get("baseline")
    if not isinstance(baseline, Mapping) or not baseline:
        raise GateSpecError(
            f"{at}.baseline is required: where the baseline (stable) samples come from, as "
            f"overrides of {', '.join(_JUDGE_BASELINE_FIELDS)} (e.g. a query for the stable track)")
    bad = sorted(str(k) for k in baseline if k not in _JUDGE_BASELINE_FIELDS)
    if bad:
        raise GateSpecError(f"{at}.baseline.{bad[0]} is not a known field; expected only: "
                            f"{', '.join(_JUDGE_BASELINE_FIELDS)}")
    provider = str(spec.get("provider", "scrape"))
    _check_fields(baseline, f"{at}.baseline", provider)
    merged = _parse_provider({**spec, **baseline}, f"{at}.baseline", provider)
    overrides = {k: merged[k] for k in baseline if k in merged}
    return JudgeSpec(
        direction=_choice(raw, "direction", at, DIRECTIONS, "increase"),  # type: ignore[arg-type]
        confidence=0.95 if confidence is None else confidence,
        min_effect=min_effect or 0.0,
        min_samples=_count(raw, "min_samples", at, 3, minimum=1),
        baseline=overrides,
    )


def _parse_provider(spec: Mapping[str, Any], where: str, provider: str) -> dict[str, Any]:
    """The provider's own fields, checked for what that provider needs."""
    out: dict[str, Any] = {}
    if provider == "scrape":
        kind = _choice(spec, "kind", where, KINDS, None)
        out["kind"] = kind
        if spec.get("quantile") is not None:
            if kind != "latency_quantile":
                raise GateSpecError(
                    f"{where}.quantile only applies to kind latency_quantile, not {kind}")
            q = _number(spec, "quantile", where)
            if q is None:
                raise AssertionError("q is unset")
            if not 0.0 < q < 1.0:
                raise GateSpecError(
                    f"{where}.quantile must be between 0 and 1 exclusive (e.g. 0.95), got {fmt(q)}")
            out["quantile"] = q
        out["route"] = _text(spec, "route", where)
        out["series"] = _text(spec, "series", where)
        out["targets"] = _targets(spec, where)
        if kind == "value" and out["series"] is None:
            raise GateSpecError(
                f"{where}.series is required for kind value: the Prometheus series to read, "
                f"e.g. process_resident_memory_bytes")
        return out
    if provider in ("prometheus", "json", "sql"):
        query = _text(spec, "query", where)
        if query is None and provider != "json":
            example = {"prometheus": "sum(rate(http_requests_total[1m]))",
                       "sql": "SELECT count(*) FROM jobs WHERE state = 'queued'"}[provider]
            raise GateSpecError(f"{where}.query is required for provider {provider}, e.g. {example}")
        out["query"] = query
    if provider in ("prometheus", "json"):
        out["url"] = _http_url(spec, "url", where)
        if provider == "json" and out["url"] is None:
            raise GateSpecError(f"{where}.url is required for provider json: the endpoint to GET")
        out["headers"] = _string_map(spec, "headers", where)
    if provider == "prometheus":
        out["range"] = _positive(spec, "range", where)
        out["step"] = _positive(spec, "step", where)
        if out["step"] is not None and out["range"] is None:
            raise GateSpecError(f"{where}.step only applies to a range query: set {where}.range")
    if provider in ("prometheus", "json", "command"):
        out["reduce"] = _choice(spec, "reduce", where, REDUCTIONS, "worst")
    if provider == "command":
        out["command"] = _command(spec, where)
        if out["command"] is None:
            raise GateSpecError(
                f"{where}.command is required for provider command, e.g. [redis-cli, llen, jobs]")
        out["query"] = _text(spec, "query", where)
    if provider == "fact":
        if "value" not in spec:
            raise GateSpecError(
                f"{where}.value is required for provider fact: the number already known "
                f"(null counts as no data)")
        out["value"] = _number(spec, "value", where)
    if provider == "sql":
        out["connection"] = _connection(spec, where)
    return out


def parse_metric_spec(raw: Mapping[str, Any], index: int,
                      var: str = "gate_metrics") -> MetricSpec:
    """Validate one raw metric spec (as written in YAML) into a :class:`MetricSpec`.

    Every error names ``<var>[<index>].<field>`` and the expected form.
    """
    where = f"{var}[{index}]"
    if not isinstance(raw, Mapping):
        raise GateSpecError(
            f"{where} must be a mapping with at least name, a provider's fields and a "
            f"threshold, got {type(raw).__name__}"
        )
    spec = dict(raw)
    provider = _choice(spec, "provider", where, PROVIDERS, "scrape")
    _check_fields(spec, where, provider)

    name = _text(spec, "name", where)
    if name is None:
        raise GateSpecError(f"{where}.name is required: a short unique name, e.g. error_ratio")
    fields = _parse_provider(spec, where, provider)
    low, high = _bounds(spec, where, fields.get("kind"))
    max_increase = _positive(spec, "max_increase", where, zero_ok=True, unit="(a fraction, 0.5 = +50%)")
    max_decrease = _positive(spec, "max_decrease", where, zero_ok=True, unit="(a fraction, 0.05 = -5%)")
    judge = _parse_judge(spec, where)
    if low is None and high is None and max_increase is None and max_decrease is None and judge is None:
        raise GateSpecError(
            f"{where}.min or {where}.max is required: at least one threshold (min, max, between, "
            f"max_increase, max_decrease or judge)")

    severity = _choice(spec, "severity", where, SEVERITIES, "critical")
    grace = _positive(spec, "grace", where, zero_ok=True)
    if grace and severity != "high":
        raise GateSpecError(
            f"{where}.grace only applies to severity high (critical rolls back at the first "
            f"confirmed breach, medium holds), not {severity}")

    return MetricSpec(
        name=name,
        provider=provider,  # type: ignore[arg-type]
        min=low,
        max=high,
        max_increase=max_increase,
        max_decrease=max_decrease,
        severity=severity,  # type: ignore[arg-type]
        grace=grace or 0.0,
        failure_limit=_count(spec, "failure_limit", where, 0),
        no_data=_choice(spec, "no_data", where, NO_DATA_POLICIES, "inconclusive"),  # type: ignore[arg-type]
        inconclusive_limit=_count(spec, "inconclusive_limit", where, 1),
        consecutive_error_limit=_count(spec, "consecutive_error_limit", where, 4),
        dry_run=_bool(spec, "dry_run", where),
        after_rollback=_bool(spec, "after_rollback", where, default=True),
        interval=_positive(spec, "interval", where),
        count=None if spec.get("count") is None else _count(spec, "count", where, 1, minimum=1),
        initial_delay=_positive(spec, "initial_delay", where, zero_ok=True) or 0.0,
        judge=judge,
        unit=_text(spec, "unit", where),
        **fields,
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
