"""The gate's sampling schedule, driven by a fake clock and a scripted source."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ansible_collections.liftoff.release.plugins.plugin_utils.gate import MetricSpec, parse_metric_specs
from ansible_collections.liftoff.release.plugins.plugin_utils.gate_run import (
    baseline_of,
    baselines_result,
    plan_window,
    run_gate,
    settled_rollbacks,
)
from ansible_collections.liftoff.release.plugins.plugin_utils.providers import ProviderError, Reading


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds


class Script:
    """A source whose values are a function of (metric, time); records every prime and read."""

    def __init__(self, clock: FakeTime, value: Callable[[str, float], float | Exception | None]) -> None:
        self.clock = clock
        self.value = value
        self.primed: list[tuple[str, float]] = []
        self.reads: list[tuple[str, float]] = []
        self.ticks = 0

    def begin_tick(self) -> None:
        self.ticks += 1

    def prime(self, spec: MetricSpec) -> None:
        self.primed.append((spec.name, self.clock.now))

    def read(self, spec: MetricSpec) -> Reading:
        self.reads.append((spec.name, self.clock.now))
        got = self.value(spec.name, self.clock.now)
        if isinstance(got, Exception):
            raise got
        return Reading(got, 0.1 if spec.judge else None)


def gate(metrics: list[dict[str, Any]], value: Callable[[str, float], Any], *, interval: float = 10,
         count: int = 3) -> tuple[Any, Script]:
    clock = FakeTime()
    source = Script(clock, value)
    specs = parse_metric_specs(metrics)
    run = run_gate(specs, source, interval=interval, count=count, sleep=clock.sleep,
                   monotonic=clock.monotonic, clock=lambda: f"T{clock.now:g}")
    return run, source


FACT = {"provider": "fact", "value": 1}


def test_each_metric_on_its_own_schedule() -> None:
    run, source = gate([
        {"name": "a", **FACT, "max": 5},
        {"name": "b", **FACT, "max": 5, "interval": 5, "count": 2, "initial_delay": 3},
    ], lambda name, t: 1.0)
    assert source.primed == [("a", 0), ("b", 3)]
    assert source.reads == [("b", 8), ("a", 10), ("b", 13), ("a", 20), ("a", 30)]
    assert run.verdict.decision == "PROCEED"
    assert run.schedule == {"a": {"interval": 10, "count": 3, "initial_delay": 0.0},
                            "b": {"interval": 5, "count": 2, "initial_delay": 3.0}}
    assert [s.t for s in run.samples["a"]] == [10, 20, 30]
    assert run.seconds == 30


def test_plan_window() -> None:
    specs = parse_metric_specs([{"name": "a", **FACT, "max": 1},
                                {"name": "b", **FACT, "max": 1, "interval": 20, "initial_delay": 5}])
    assert plan_window(specs, 10, 3) == 65


def test_critical_breach_stops_everything_at_once() -> None:
    run, source = gate([
        {"name": "err", **FACT, "max": 0.05},
        {"name": "lat", **FACT, "max": 1, "severity": "medium"},
    ], lambda name, t: 0.5 if name == "err" and t >= 20 else 0.01)
    assert run.verdict.decision == "ROLLBACK"
    assert run.stopped_early
    assert source.reads[-1][1] == 20  # detected at the first sample after the breach
    assert run.stop_reason == "stopped after 4 of 6 samples: err already failed, more samples cannot clear it"
    assert settled_rollbacks(run.verdict) == ("err",)


def test_failure_limit_delays_detection_by_its_samples() -> None:
    run, source = gate([{"name": "err", **FACT, "max": 0.05, "failure_limit": 2}],
                       lambda name, t: 0.5, count=6)
    assert run.stopped_early and source.reads[-1][1] == 30  # interval x (failure_limit + 1)


def test_medium_failure_does_not_stop_early() -> None:
    run, source = gate([{"name": "m", **FACT, "max": 0.05, "severity": "medium"}], lambda n, t: 0.5)
    assert run.verdict.decision == "HOLD" and not run.stopped_early and len(source.reads) == 3


def test_provider_errors_beyond_the_limit_stop_early() -> None:
    run, _unused = gate([{"name": "m", **FACT, "max": 1, "consecutive_error_limit": 1}],
                        lambda n, t: ProviderError("connection refused"), count=5)
    assert run.verdict.decision == "ROLLBACK" and run.stopped_early
    assert [s.status for s in run.samples["m"]] == ["error", "error"]
    assert "connection refused" in run.verdict.reasons[0]


def test_grace_extends_sampling_until_the_breach_clears() -> None:
    # breach from t=30 (the last planned sample) clears at t=50, within grace 30 s
    run, source = gate([{"name": "h", **FACT, "max": 1, "severity": "high", "grace": 30}],
                       lambda n, t: 5.0 if 30 <= t < 50 else 0.0)
    assert [t for _unused, t in source.reads] == [10, 20, 30, 40, 50]
    assert run.extended == {"h": 2}
    assert run.verdict.decision == "PROCEED"
    assert run.verdict.metrics[0].tolerated == 2


def test_grace_extension_ends_in_rollback_when_the_breach_outlives_it() -> None:
    run, source = gate([{"name": "h", **FACT, "max": 1, "severity": "high", "grace": 25}],
                       lambda n, t: 5.0 if t >= 30 else 0.0)
    assert [t for _unused, t in source.reads] == [10, 20, 30, 40, 50, 60]
    assert run.verdict.decision == "ROLLBACK"
    assert "not cleared within grace 25 s" in run.verdict.reasons[0]


def test_high_breach_that_expired_mid_window_stops_early() -> None:
    run, source = gate([{"name": "h", **FACT, "max": 1, "severity": "high", "grace": 10}],
                       lambda n, t: 5.0, count=6)
    assert run.verdict.decision == "ROLLBACK" and run.stopped_early
    assert [t for _unused, t in source.reads] == [10, 20]


def test_judge_gets_baseline_values() -> None:
    run, _unused = gate([{"name": "j", "provider": "prometheus", "query": "c", "url": "http://p",
                        "judge": {"baseline": {"query": "b"}, "min_samples": 3}}],
                        lambda n, t: 0.1, count=4)
    assert [s.baseline_value for s in run.samples["j"]] == [0.1] * 4
    assert run.verdict.decision == "PROCEED"


def test_baseline_is_the_median() -> None:
    run, _unused = gate([{"name": "m", **FACT, "max_increase": 0.5}], lambda n, t: {10: 3.0, 20: 1.0, 30: 2.0}[int(t)])
    assert baseline_of(run.samples["m"]) == 2.0
    assert baselines_result(run)["m"]["value"] == 2.0
    none_run, _unused = gate([{"name": "m", **FACT, "max_increase": 0.5}], lambda n, t: None)
    assert baseline_of(none_run.samples["m"]) is None


@pytest.mark.parametrize("count", [1, 2, 5])
def test_sleeps_exactly_one_interval_per_sample(count: int) -> None:
    clock = FakeTime()
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        clock.sleep(s)

    source = Script(clock, lambda n, t: 0.0)
    run_gate(parse_metric_specs([{"name": "m", **FACT, "max": 1}]), source, interval=2.5, count=count,
             sleep=sleep, monotonic=clock.monotonic)
    assert slept == [2.5] * count
