"""The gate action: sampling real HTTP metrics endpoints, load generation, argument checks."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from unittest.mock import MagicMock

import pytest
import yaml
from ansible.errors import AnsibleActionFail
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from ansible_collections.liftoff.release.plugins.action import gate as gate_action
from ansible_collections.liftoff.release.plugins.modules import gate as gate_doc
from ansible_collections.liftoff.release.plugins.plugin_utils.gate import (
    parse_metric_specs,
)
from ansible_collections.liftoff.release.plugins.plugin_utils.gate_run import GateRun, run_gate
from ansible_collections.liftoff.release.plugins.plugin_utils.prom_text import parse_text
from ansible_collections.liftoff.release.plugins.plugin_utils.providers import (
    ProviderError,
    Providers,
    scrape_targets,
)

METRICS = [
    {"name": "error_ratio", "kind": "error_ratio", "max": 0.05},
    {"name": "p95_latency", "kind": "latency_quantile", "max": 0.5, "severity": "medium"},
]


class App:
    """A tiny app with Prometheus metrics: GET / answers 200 (good) or 500 (bad)."""

    def __init__(self, bad: bool = False) -> None:
        self.bad = bad
        self.registry = CollectorRegistry()
        self.requests = Counter("http_requests", "requests", ["route", "status"],
                                registry=self.registry)
        self.latency = Histogram("http_request_duration_seconds", "latency", ["route"],
                                 buckets=(0.05, 0.1, 0.5, 1.0), registry=self.registry)
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    body = generate_latest(app.registry)
                    code = 200
                else:
                    code = 500 if app.bad else 200
                    app.requests.labels(self.path, str(code)).inc()
                    app.latency.labels(self.path).observe(0.01)
                    body = b"ok"
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def good() -> Iterator[App]:
    with App() as app:
        yield app


@pytest.fixture
def bad() -> Iterator[App]:
    with App(bad=True) as app:
        yield app


def providers(targets: list[str], timeout: float = 2) -> Providers:
    return Providers(timeout=timeout, targets=targets)


def sample_with_load(apps: list[App], count: int = 3, metrics: list[dict[str, Any]] | None = None
                     ) -> tuple[GateRun, dict[str, Any]]:
    specs = parse_metric_specs(metrics or METRICS, var="metrics")
    targets = [f"{a.url}/metrics" for a in apps]
    load = gate_action.LoadGenerator(apps[0].url, rate=50, paths=["/", "/health"],
                                     timeout=2, max_requests=1000)
    load.start()
    try:
        run = run_gate(specs, providers(targets), interval=0.2, count=count)
    finally:
        stats = load.stop()
    return run, stats


class FakeTime:
    """A monotonic clock that only moves when slept on."""

    def __init__(self) -> None:
        self.now = 100.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_good_server_proceeds(good: App) -> None:
    run, stats = sample_with_load([good])
    assert run.verdict.decision == "PROCEED", run.verdict.reasons
    assert run.samples_taken == 3 and not run.stopped_early
    assert stats["sent"] > 0 and set(stats["statuses"]) == {"200"}
    result = gate_action.gate_result(run, stats)
    assert json.loads(json.dumps(result)) == result
    er = result["metrics"][0]
    assert er["name"] == "error_ratio" and er["result"] == "pass"
    assert [s["value"] for s in er["samples"]] == [0.0, 0.0, 0.0]
    assert result["metrics"][1]["stats"]["max"] <= 0.05


def test_bad_server_rolls_back_and_stops_early(bad: App) -> None:
    run, stats = sample_with_load([bad], count=6)
    assert run.verdict.decision == "ROLLBACK"
    assert run.verdict.driving == ("error_ratio",)
    assert run.stopped_early and run.samples_taken == 1
    assert run.stop_reason == ("stopped after 2 of 12 samples: error_ratio already failed, "
                               "more samples cannot clear it")
    assert run.verdict.reasons[0].startswith("error_ratio breached max 0.05 in 1 of 1 samples (last 1)")
    assert stats["statuses"].get("500", 0) > 0


def test_two_workers_are_summed(good: App, bad: App) -> None:
    # load only hits the good worker: the bad one has no traffic, so the sum stays clean
    run, _unused = sample_with_load([good, bad], count=2)
    assert run.verdict.decision == "PROCEED", run.verdict.reasons
    # a request to the bad worker between scrapes makes it 1 error in the summed delta
    specs = parse_metric_specs(METRICS[:1], var="metrics")
    targets = [f"{good.url}/metrics", f"{bad.url}/metrics"]
    fake = FakeTime()

    def hit_bad(seconds: float) -> None:
        fake.sleep(seconds)
        gate_action.LoadGenerator(bad.url, 10, ["/"], 2, 1)._one(f"{bad.url}/")
        for _unused in range(9):
            gate_action.LoadGenerator(good.url, 10, ["/"], 2, 1)._one(f"{good.url}/")

    run = run_gate(specs, providers(targets), interval=1, count=1, sleep=hit_bad,
                   monotonic=fake.monotonic)
    assert run.verdict.metrics[0].samples[0].value == pytest.approx(0.1)


def test_no_traffic_is_inconclusive(good: App) -> None:
    specs = parse_metric_specs(METRICS[:1], var="metrics")
    run = run_gate(specs, providers([f"{good.url}/metrics"]), interval=0.01, count=3)
    assert run.verdict.decision == "HOLD"
    assert run.verdict.metrics[0].result == "inconclusive"
    assert [s.status for s in run.verdict.metrics[0].samples] == ["nodata"] * 3


def test_unreachable_target_gives_error_samples() -> None:
    specs = parse_metric_specs(
        [{"name": "e", "kind": "error_ratio", "max": 0.1, "consecutive_error_limit": 1}],
        var="metrics")
    fake = FakeTime()
    run = run_gate(specs, providers(["http://127.0.0.1:9/metrics"], 0.5), interval=1, count=4,
                   sleep=fake.sleep, monotonic=fake.monotonic)
    m = run.verdict.metrics[0]
    assert [s.status for s in m.samples] == ["error", "error"]
    assert m.samples[0].detail.startswith("GET http://127.0.0.1:9/metrics:")
    assert run.verdict.decision == "ROLLBACK" and run.stopped_early


def test_scrape_http_error_and_bad_text(good: App) -> None:
    with pytest.raises(ProviderError, match=r"scrape http://127\.0\.0\.1:\d+/nope: "):
        # GET /nope answers 200 "ok": not an exposition
        scrape_targets([f"{good.url}/nope"], 2)
    with App(bad=True) as b, pytest.raises(ProviderError, match=r": HTTP 500"):
        scrape_targets([f"{b.url}/"], 2)


def test_scripted_scrapes_reuse_the_previous_scrape() -> None:
    texts = iter([
        'http_requests_total{status="200"} 0',
        'http_requests_total{status="200"} 10',
        'http_requests_total{status="200"} 15\nhttp_requests_total{status="500"} 5',
    ])
    specs = parse_metric_specs(
        [{"name": "e", "kind": "error_ratio", "max": 0.1, "failure_limit": 1}], var="metrics")
    fake = FakeTime()
    run = run_gate(specs, Providers(timeout=1, targets=["http://t/m"],
                                    scrape=lambda _: [parse_text(next(texts))]),
                   interval=1, count=2, sleep=fake.sleep, monotonic=fake.monotonic, clock=lambda: "T")
    assert [s.value for s in run.verdict.metrics[0].samples] == [0.0, 0.5]
    assert run.verdict.decision == "PROCEED" and not run.stopped_early
    assert fake.slept == [1, 1]


# --------------------------------------------------------------------------- the plugin

def make_action(args: dict[str, Any], check_mode: bool = False) -> gate_action.ActionModule:
    task = MagicMock()
    task.args = args
    task.async_val = 0
    task.check_mode = check_mode
    task.diff = False
    play_context = MagicMock()
    play_context.check_mode = check_mode
    return gate_action.ActionModule(task, MagicMock(), play_context, MagicMock(),
                                    MagicMock(), MagicMock())


def test_action_run_in_check_mode(good: App) -> None:
    action = make_action({
        "metrics": METRICS, "targets": [f"{good.url}/metrics"], "interval": 0.2, "count": 2,
        "load": {"url": good.url, "rate": 40},
    }, check_mode=True)
    result = action.run(task_vars={})
    assert result["changed"] is False
    assert result["verdict"] == "PROCEED", result["reasons"]
    assert result["samples_taken"] == 2 and result["count"] == 2
    assert result["load"]["sent"] > 0 and result["load"]["paths"] == ["/"]
    assert set(result) >= {"verdict", "reasons", "driving", "metrics", "samples_taken",
                           "stopped_early", "stop_reason", "started", "ended", "load"}


@pytest.mark.parametrize(("args", "match"), [
    ({"targets": ["http://x/metrics"]}, r"missing required arguments: metrics"),
    ({"metrics": [], "targets": ["http://x/metrics"]}, r"metrics must list at least one metric"),
    ({"metrics": [{"name": "e", "kind": "error_ratio", "max": "x"}], "targets": ["http://x/m"]},
     r"liftoff\.release\.gate: metrics\[0\]\.max must be a number"),
    ({"metrics": METRICS, "targets": []}, r"metric error_ratio uses provider scrape: targets must list"),
    ({"metrics": [{"name": "q", "provider": "prometheus", "query": "up", "max": 1}]},
     r"metric q uses provider prometheus: set prometheus_url"),
    ({"metrics": METRICS, "targets": ["http://x/m"], "baselines": {"error_ratio": "high"}},
     r"baselines\.error_ratio must be a number or null"),
    ({"metrics": METRICS, "targets": ["http://x/m"], "mode": "later"}, r"mode"),
    ({"metrics": METRICS, "targets": ["x:9100"]}, r"targets\[0\] must be an http\(s\) URL"),
    ({"metrics": METRICS, "targets": ["http://x/m"], "interval": 0}, r"interval must be > 0"),
    ({"metrics": METRICS, "targets": ["http://x/m"], "count": 0}, r"count must be >= 1"),
    ({"metrics": METRICS, "targets": ["http://x/m"], "timeout": -1}, r"timeout must be > 0"),
    ({"metrics": METRICS, "targets": ["http://x/m"], "load": {"url": "http://x", "rate": 1000}},
     r"load\.rate must be within \(0, 200\]"),
    ({"metrics": METRICS, "targets": ["http://x/m"], "load": {"rate": 10}},
     r"missing required arguments: url"),
    ({"metrics": METRICS, "targets": ["http://x/m"], "bogus": 1}, r"bogus"),
])
def test_action_rejects_bad_input(args: dict[str, Any], match: str) -> None:
    with pytest.raises(AnsibleActionFail, match=match):
        make_action(args).run(task_vars={})


def _spec_from_doc(options: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, opt in options.items():
        entry = {k: opt[k] for k in ("type", "elements", "required", "default", "choices") if k in opt}
        if opt.get("type") == "dict" and "suboptions" in opt:
            entry["options"] = _spec_from_doc(opt["suboptions"])
        out[name] = entry
    return out


def _without_no_log(spec: dict[str, Any]) -> dict[str, Any]:
    """An argument spec as its documentation can state it: module docs have no C(no_log) (validate-modules)."""
    return {name: {k: (_without_no_log(v) if k == "options" else v) for k, v in opt.items() if k != "no_log"}
            for name, opt in spec.items()}


def test_argument_spec_matches_documentation() -> None:
    doc = yaml.safe_load(gate_doc.DOCUMENTATION)
    documented = _spec_from_doc(doc["options"])
    metrics_doc = doc["options"]["metrics"]["suboptions"]
    assert documented == _without_no_log(gate_action.ARGUMENT_SPEC)
    # the one secret the spec holds stays out of logs (the docs say so in words)
    assert gate_action.ARGUMENT_SPEC["sql_connection"]["options"]["password"]["no_log"] is True
    assert "never returned or logged" in doc["options"]["sql_connection"]["suboptions"]["password"]["description"]
    # the documented metric fields are exactly the ones the engine accepts
    from ansible_collections.liftoff.release.plugins.plugin_utils import gate_spec as engine
    from ansible_collections.liftoff.release.plugins.plugin_utils import gate_spec as engine_spec

    assert set(metrics_doc) == set(engine_spec.FIELDS)
    assert metrics_doc["severity"]["default"] == engine.MetricSpec.severity
    assert metrics_doc["inconclusive_limit"]["default"] == engine.MetricSpec.inconclusive_limit
    assert metrics_doc["consecutive_error_limit"]["default"] == engine.MetricSpec.consecutive_error_limit
    assert metrics_doc["no_data"]["default"] == engine.MetricSpec.no_data
    assert metrics_doc["quantile"]["default"] == engine.MetricSpec.quantile


@pytest.mark.parametrize("fail_on", ["before", "after"])
def test_every_round_lasts_one_interval_also_when_a_scrape_fails(fail_on: str) -> None:
    """A failing target is not hammered: one scrape per interval, whichever scrape failed."""
    calls: list[str] = []

    def scrape(_unused: Any) -> list[Any]:
        calls.append("scrape")
        if fail_on == "before" or len(calls) % 2 == 0:
            raise ProviderError("target down")
        return [[]]

    specs = parse_metric_specs([{"name": "err", "kind": "error_ratio", "max": 0.05, "severity": "medium",
                                 "consecutive_error_limit": 10}])
    fake = FakeTime()
    run = run_gate(specs, Providers(timeout=1, targets=["http://t/m"], scrape=scrape), interval=2.5, count=3,
                   sleep=fake.sleep, monotonic=fake.monotonic, clock=lambda: "t")
    assert fake.slept == [2.5, 2.5, 2.5]
    assert len(calls) == 4  # the starting point, then one per interval
    assert run.samples_taken == 3
    assert [s.status for s in run.samples["err"]][:1] == ["error"]
