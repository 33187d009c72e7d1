"""prom_api against a REAL Prometheus (tests/support/prometheus.py) scraping a prometheus_client exporter.

The exporter runs in this process on a free loopback port; a background thread moves its
counter and histogram at a known pace, so rate() and histogram_quantile() have known answers:

- ``liftoff_it_requests_total``: +10 every 0.1 s of wall clock, i.e. 100/s;
- ``liftoff_it_latency_seconds``: per tick 9 observations of 0.05 s and 1 of 0.8 s, so 90 %
  fall in the 0.1 bucket and 10 % in the 1.0 bucket; the 0.95 quantile interpolates to
  0.5 + (1.0 - 0.5) * 0.5 = 0.75 s.
"""
from __future__ import annotations

import math
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ansible_collections.liftoff.release.plugins.plugin_utils.gate import reduce_values
from ansible_collections.liftoff.release.plugins.plugin_utils.prom_api import (
    PrometheusError,
    query_instant,
    query_range,
)
from tests.support import prometheus as prom_support
from tests.support.prometheus import PrometheusServer, free_port

pytestmark = pytest.mark.integration
prometheus_factory = prom_support.prometheus_factory

JOB = "liftoff-it"
TIMEOUT = 10.0
RATE = 100.0  # counter increments per second
P95 = 0.75


@dataclass
class Exporter:
    target: str
    gauge: Gauge
    stop: threading.Event


@pytest.fixture(scope="module")
def exporter() -> Iterator[Exporter]:
    registry = CollectorRegistry()
    gauge = Gauge("liftoff_it_queue_depth", "A gauge the test sets", ["pool"], registry=registry)
    requests = Counter("liftoff_it_requests", "A counter the test increments", registry=registry)
    latency = Histogram("liftoff_it_latency_seconds", "A histogram the test observes",
                        buckets=(0.1, 0.25, 0.5, 1.0), registry=registry)
    gauge.labels(pool="a").set(42.5)
    gauge.labels(pool="b").set(7)
    stop = threading.Event()

    def tick() -> None:
        # paced by the clock, not by the loop: a late tick catches up, so the rate stays RATE
        started, ticks = time.monotonic(), 0
        while not stop.wait(0.05):
            due = int((time.monotonic() - started) * 10)
            for _unused in range(due - ticks):
                requests.inc(RATE / 10)
                for _unused in range(9):
                    latency.observe(0.05)
                latency.observe(0.8)
            ticks = max(ticks, due)

    port = free_port()
    server, server_thread = start_http_server(port, addr="127.0.0.1", registry=registry)
    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield Exporter(f"127.0.0.1:{port}", gauge, stop)
    finally:
        stop.set()
        ticker.join(5)
        server.shutdown()
        server.server_close()
        server_thread.join(5)


@pytest.fixture(scope="module")
def prom(exporter: Exporter, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusServer]:
    server = PrometheusServer([exporter.target], job=JOB, base_dir=tmp_path_factory.mktemp("prometheus"))
    with server:
        server.wait_for_targets_up(timeout=30)
        yield server


def test_targets_are_up(prom: PrometheusServer, exporter: Exporter) -> None:
    assert query_instant(prom.url, f'up{{job="{JOB}", instance="{exporter.target}"}}', timeout=TIMEOUT) == [1.0]


def test_instant_gauge(prom: PrometheusServer) -> None:
    assert query_instant(prom.url, 'liftoff_it_queue_depth{pool="a"}', timeout=TIMEOUT) == [42.5]
    both = query_instant(prom.url, "liftoff_it_queue_depth", timeout=TIMEOUT)
    assert sorted(both) == [7.0, 42.5]
    assert query_instant(prom.url, "sum(liftoff_it_queue_depth)", timeout=TIMEOUT) == [49.5]
    assert query_instant(prom.url, "scalar(sum(liftoff_it_queue_depth))", timeout=TIMEOUT) == [49.5]


def test_gauge_change_is_seen(prom: PrometheusServer, exporter: Exporter) -> None:
    exporter.gauge.labels(pool="c").set(3)
    prom.wait_for_query('liftoff_it_queue_depth{pool="c"}')
    assert query_instant(prom.url, 'liftoff_it_queue_depth{pool="c"}', timeout=TIMEOUT) == [3.0]


def test_empty_vector_and_special_values(prom: PrometheusServer) -> None:
    assert query_instant(prom.url, "liftoff_it_no_such_metric", timeout=TIMEOUT) == []
    assert math.isnan(query_instant(prom.url, "0/0", timeout=TIMEOUT)[0])
    assert query_instant(prom.url, "1/0", timeout=TIMEOUT) == [math.inf]
    assert query_instant(prom.url, "-1/0", timeout=TIMEOUT) == [-math.inf]


def test_at_before_the_first_scrape_is_empty(prom: PrometheusServer) -> None:
    long_ago = time.time() - 3600  # beyond the 5 m lookback of any sample this server has
    assert query_instant(prom.url, "liftoff_it_queue_depth", timeout=TIMEOUT, at=long_ago) == []


@pytest.fixture(scope="module")
def full_window(prom: PrometheusServer) -> None:
    """Wait until the 5 s rate() window holds 5 scrapes: before that rate() extrapolates from a part of it."""
    _wait_value(prom, "count_over_time(liftoff_it_requests_total[5s])", lambda v: v >= 5)


def _wait_value(prom: PrometheusServer, query: str, ok: Callable[[float], bool], timeout: float = 20.0) -> float:
    """The first finite value of ``query`` that satisfies ``ok``."""
    deadline = time.monotonic() + timeout
    values: list[float] = []
    while time.monotonic() < deadline:
        values = query_instant(prom.url, query, timeout=TIMEOUT)
        if values and math.isfinite(values[0]) and ok(values[0]):
            return values[0]
        time.sleep(0.25)
    raise AssertionError(f"{query}: no satisfying value within {timeout} s; last {values}")


def test_rate_of_a_counter(prom: PrometheusServer, full_window: None) -> None:
    values = query_instant(prom.url, "rate(liftoff_it_requests_total[5s])", timeout=TIMEOUT)
    assert len(values) == 1
    assert values[0] == pytest.approx(RATE, rel=0.2), values


def test_histogram_quantile(prom: PrometheusServer, full_window: None) -> None:
    query = "histogram_quantile(0.95, sum by (le) (rate(liftoff_it_latency_seconds_bucket[5s])))"
    values = query_instant(prom.url, query, timeout=TIMEOUT)
    assert len(values) == 1
    assert values[0] == pytest.approx(P95, abs=0.1), values


def test_range_query(prom: PrometheusServer) -> None:
    end = time.time()
    series = query_range(prom.url, 'liftoff_it_queue_depth{pool="a"}', start=end - 2, end=end, step=0.5,
                         timeout=TIMEOUT)
    assert len(series) == 1
    assert series[0] and set(series[0]) == {42.5}
    assert reduce_values(series[0], "avg") == 42.5  # the gate folds a range this way
    counter = query_range(prom.url, "liftoff_it_requests_total", start=end - 2, end=end, step=1, timeout=TIMEOUT)
    assert len(counter) == 1 and counter[0] == sorted(counter[0])  # a counter never goes down
    two = query_range(prom.url, "liftoff_it_queue_depth", start=end - 1, end=end, step=1, timeout=TIMEOUT)
    assert len(two) >= 2


def test_promql_syntax_error(prom: PrometheusServer) -> None:
    with pytest.raises(PrometheusError) as err:
        query_instant(prom.url, "sum(rate(liftoff_it_requests_total[5s])", timeout=TIMEOUT)
    message = str(err.value)
    assert message.startswith(f"Prometheus at {prom.url}: HTTP 400: bad_data: ")
    assert "parse error" in message
    with pytest.raises(PrometheusError, match=r"bad_data: .*parse error"):
        query_range(prom.url, "rate(", start=time.time() - 10, end=time.time(), step=1, timeout=TIMEOUT)


def test_instant_query_of_a_range_vector_is_refused(prom: PrometheusServer) -> None:
    with pytest.raises(PrometheusError, match=r"range vector \(matrix\)"):
        query_instant(prom.url, "liftoff_it_requests_total[5s]", timeout=TIMEOUT)


def test_stopped_prometheus_is_connection_refused(prometheus_factory: Callable[..., PrometheusServer],
                                                  exporter: Exporter) -> None:
    server = prometheus_factory([exporter.target], job=JOB)
    url = server.url
    assert query_instant(url, "1", timeout=TIMEOUT) == [1.0]
    pid = server.pid
    server.stop()
    assert not server.running
    assert pid is not None and not Path(f"/proc/{pid}").exists()
    with pytest.raises(PrometheusError) as err:
        query_instant(url, "up", timeout=TIMEOUT)
    assert str(err.value) == f"Prometheus at {url}: connection refused"
