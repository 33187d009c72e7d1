# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""The gate's sampling schedule: when each metric is read, and when sampling stops.

The clock, the sleep and the providers are injected, so the schedule is tested in
microseconds without a network. Each metric has its own ``initial_delay``, ``interval``
and ``count`` (the gate's by default): it is primed at ``initial_delay`` (the scrape
provider takes its starting point) and read at ``initial_delay + k * interval`` for
k = 1..count, so a sample describes the interval before it and a breach visible in the
provider is seen within one interval.

Sampling stops early once the verdict is a settled ROLLBACK (a deciding metric failed
by its limits: more samples cannot clear it). A high-tier metric whose breach is still
inside its grace window at the end of its count is sampled on, at its interval, until
the breach clears or the grace expires.
"""
from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ansible_collections.liftoff.release.plugins.plugin_utils.evidence import utc_now
from ansible_collections.liftoff.release.plugins.plugin_utils.gate import (
    Sample,
    Verdict,
    decide,
    error_sample,
    make_sample,
)
from ansible_collections.liftoff.release.plugins.plugin_utils.gate_spec import MetricSpec
from ansible_collections.liftoff.release.plugins.plugin_utils.providers import (
    ProviderError,
    Reading,
)

_EPSILON = 1e-6


class Source(Protocol):
    """What the schedule needs from the providers."""

    def begin_tick(self) -> None: ...

    def prime(self, spec: MetricSpec) -> None: ...

    def read(self, spec: MetricSpec) -> Reading: ...


@dataclass
class _Plan:
    spec: MetricSpec
    interval: float
    count: int
    next_due: float
    primed: bool = False
    taken: int = 0
    max_extra: int = 0


@dataclass
class GateRun:
    """The outcome of sampling: the verdict plus how the sampling went."""

    verdict: Verdict
    samples_taken: int
    count: int
    started: str
    ended: str
    stopped_early: bool = False
    stop_reason: str = ""
    extended: dict[str, int] = field(default_factory=dict)
    schedule: dict[str, dict[str, float | int]] = field(default_factory=dict)
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    seconds: float = 0.0


def settled_rollbacks(verdict: Verdict) -> tuple[str, ...]:
    """Deciding metrics whose ROLLBACK more samples cannot undo (failed or errored by a limit)."""
    return tuple(
        m.spec.name for m in verdict.metrics
        if m.decision == "ROLLBACK" and m.result in ("fail", "error")
        and ("failure_limit" in m.limit or "consecutive_error_limit" in m.limit)
    )


def plan_window(specs: Sequence[MetricSpec], interval: float, count: int) -> float:
    """Seconds the gate samples for when nothing stops it early (grace extensions aside)."""
    return max((s.initial_delay + (s.interval or interval) * (s.count or count) for s in specs),
               default=0.0)


def run_gate(
    specs: Sequence[MetricSpec],
    source: Source,
    *,
    interval: float,
    count: int,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    clock: Callable[[], str] = utc_now,
) -> GateRun:
    """Sample every metric on its schedule and decide; see the module docstring."""
    started, start = clock(), monotonic()
    plans = [_plan(s, interval, count) for s in specs]
    samples: dict[str, list[Sample]] = {s.name: [] for s in specs}
    verdict = decide(specs, samples)
    stopped_early, stop_reason = False, ""
    while True:
        active = [p for p in plans if _wants_sample(p, verdict)]
        if not active:
            break
        due = min(p.next_due for p in active)
        wait = start + due - monotonic()
        if wait > 0:
            sleep(wait)
        now = monotonic() - start
        source.begin_tick()
        at = clock()
        for plan in active:
            if plan.next_due <= now + _EPSILON:
                _step(plan, source, samples, at, now)
        verdict = decide(specs, samples)
        settled = settled_rollbacks(verdict)
        if settled and any(_wants_sample(p, verdict) for p in plans):
            stopped_early = True
            stop_reason = (f"stopped after {sum(p.taken for p in plans)} of "
                           f"{sum(p.count for p in plans)} samples: {', '.join(settled)} already "
                           f"failed, more samples cannot clear it")
            break
    return GateRun(
        verdict=verdict,
        samples_taken=max((p.taken for p in plans), default=0),
        count=max((p.count for p in plans), default=0),
        started=started, ended=clock(), stopped_early=stopped_early, stop_reason=stop_reason,
        extended={p.spec.name: p.taken - p.count for p in plans if p.taken > p.count},
        schedule={p.spec.name: {"interval": p.interval, "count": p.count,
                                "initial_delay": p.spec.initial_delay} for p in plans},
        samples=samples, seconds=round(monotonic() - start, 3),
    )


def _plan(spec: MetricSpec, interval: float, count: int) -> _Plan:
    every = spec.interval or interval
    grace = spec.grace if spec.severity == "high" else 0.0
    return _Plan(spec=spec, interval=every, count=spec.count or count,
                 next_due=spec.initial_delay, max_extra=math.ceil(grace / every) + 1 if grace else 0)


def _wants_sample(plan: _Plan, verdict: Verdict) -> bool:
    if not plan.primed or plan.taken < plan.count:
        return True
    # past its count: only a breach still inside its grace window keeps a metric sampling
    return (plan.spec.name in verdict.pending
            and plan.taken < plan.count + plan.max_extra)


def _step(plan: _Plan, source: Source, samples: dict[str, list[Sample]], at: str,
          now: float) -> None:
    spec = plan.spec
    if not plan.primed:
        source.prime(spec)
        plan.primed = True
        plan.next_due += plan.interval
        return
    try:
        reading = source.read(spec)
    except ProviderError as exc:
        samples[spec.name].append(error_sample(spec, at, str(exc), t=now))
    else:
        samples[spec.name].append(
            make_sample(spec, at, reading.value, t=now, baseline_value=reading.baseline_value))
    plan.taken += 1
    plan.next_due += plan.interval


def baseline_of(samples: Sequence[Sample]) -> float | None:
    """The baseline a run compares against: the median of the values measured (None if none)."""
    values = [s.value for s in samples if s.value is not None and math.isfinite(s.value)]
    return statistics.median(values) if values else None


def baselines_result(run: GateRun) -> dict[str, dict[str, Any]]:
    """Per metric: the baseline value and the samples it came from (JSON-safe)."""
    return {
        name: {"value": baseline_of(samples), "samples": [s.to_dict() for s in samples]}
        for name, samples in run.samples.items()
    }
