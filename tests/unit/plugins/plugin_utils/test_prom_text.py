"""Prometheus text parsing and the gate's measures over scrape deltas."""
from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from ansible_collections.liftoff.release.plugins.plugin_utils.prom_text import (
    PromParseError,
    PromSample,
    counter_delta,
    error_ratio,
    gauge_value,
    histogram_quantile,
    latency_quantile,
    measure,
    parse_text,
    sum_counter,
)

TEXT = r'''# HELP http_requests_total Requests.
# TYPE http_requests_total counter
http_requests_total{route="/",status="200"} 90
http_requests_total{route="/",status="500"} 10
http_requests_total{route="/say \"hi\"\\now\n",status="200"} 3 1700000000000
up 1
temp{a="x"} -Inf
weird{a="x"} NaN
http_request_duration_seconds_bucket{le="+Inf"} 5
'''


def test_parse_text_handles_comments_escapes_and_specials() -> None:
    samples = parse_text(TEXT)
    assert len(samples) == 7
    assert samples[0] == PromSample("http_requests_total", {"route": "/", "status": "200"}, 90.0)
    assert samples[2].labels["route"] == '/say "hi"\\now\n'
    assert samples[2].value == 3.0
    assert samples[3] == PromSample("up", {}, 1.0)
    assert samples[4].value == -math.inf
    assert math.isnan(samples[5].value)
    assert samples[6].labels == {"le": "+Inf"}


@pytest.mark.parametrize(("text", "match"), [
    ("9bad 1", r"line 1: expected a metric name"),
    ("ok 1\nm{a=\"x\" 1", r"line 2: expected , or \} after label a"),
    ('m{a="x} 1', r"line 1: unterminated value of label a"),
    ("m{a=x} 1", r'line 1: expected =" after label a'),
    ("m", r"line 1: expected a value"),
    ("m one", r"line 1: not a sample value: 'one'"),
    ("m 1 2 3", r"line 1: expected a value \(and optional timestamp\)"),
])
def test_parse_errors(text: str, match: str) -> None:
    with pytest.raises(PromParseError, match=match):
        parse_text(text)


def test_parse_prometheus_client_output() -> None:
    reg = CollectorRegistry()
    c = Counter("http_requests", "r", ["route", "status"], registry=reg)
    c.labels("/", "200").inc(7)
    c.labels("/", "503").inc(3)
    samples = parse_text(generate_latest(reg).decode())
    assert sum_counter(samples, "http_requests_total") == 10
    assert sum_counter(samples, "http_requests_total", {"status": "5.."}) == 3


def test_sum_counter_label_filter_is_a_full_regex() -> None:
    samples = parse_text(TEXT)
    assert sum_counter(samples, "http_requests_total", {"route": "/"}) == 100
    assert sum_counter(samples, "http_requests_total", {"status": "2.."}) == 93
    assert sum_counter(samples, "http_requests_total", {"status": "5"}) == 0


def scrape(ok: float, bad: float, route: str = "/") -> list[PromSample]:
    return [
        PromSample("http_requests_total", {"route": route, "code": "200"}, ok),
        PromSample("http_requests_total", {"route": route, "code": "502"}, bad),
    ]


def test_error_ratio_from_delta_summed_over_targets() -> None:
    before = [scrape(100, 0), scrape(50, 5)]
    after = [scrape(190, 10), scrape(90, 5)]  # +90/+10 and +40/+0
    assert error_ratio(counter_delta(before, after)) == pytest.approx(10 / 140)
    assert measure("error_ratio", before, after) == pytest.approx(10 / 140)


def test_error_ratio_none_without_requests_and_route_filter() -> None:
    same = [scrape(100, 1)]
    assert error_ratio(counter_delta(same, same)) is None
    before = [scrape(0, 0, "/a") + scrape(0, 0, "/b")]
    after = [scrape(10, 0, "/a") + scrape(5, 5, "/b")]
    delta = counter_delta(before, after)
    assert error_ratio(delta, route="/a") == 0.0
    assert error_ratio(delta, route="/b") == 0.5
    assert error_ratio(delta, route="/c") is None


def test_counter_reset_counts_from_zero_and_new_series_in_full() -> None:
    before = [[PromSample("c", {}, 100.0)]]
    after = [[PromSample("c", {}, 7.0), PromSample("d", {}, 4.0)]]
    delta = counter_delta(before, after)
    assert sum_counter(delta, "c") == 7
    assert sum_counter(delta, "d") == 4
    with pytest.raises(ValueError, match="scrapes of 1 and 2 targets"):
        counter_delta(before, after * 2)


@pytest.mark.parametrize(("q", "buckets", "expected"), [
    # 100 observations: 50 <= 0.1, 90 <= 0.5, 100 <= 1
    (0.5, [(0.1, 50), (0.5, 90), (1.0, 100), (math.inf, 100)], 0.1),
    (0.7, [(0.1, 50), (0.5, 90), (1.0, 100), (math.inf, 100)], 0.3),
    (0.95, [(0.1, 50), (0.5, 90), (1.0, 100), (math.inf, 100)], 0.75),
    (0.25, [(0.1, 50), (0.5, 90), (1.0, 100), (math.inf, 100)], 0.05),
    # rank in the +Inf bucket: the highest finite bound
    (0.99, [(0.1, 10), (0.5, 20), (math.inf, 100)], 0.5),
    # unsorted input is sorted
    (0.5, [(math.inf, 10), (1.0, 10), (0.5, 0)], 0.75),
    # no observations / no +Inf bucket
    (0.5, [(0.1, 0), (math.inf, 0)], None),
    (0.5, [(0.1, 5), (1.0, 10)], None),
])
def test_histogram_quantile(q: float, buckets: list[tuple[float, float]],
                            expected: float | None) -> None:
    got = histogram_quantile(q, buckets)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


def test_histogram_quantile_bad_q() -> None:
    with pytest.raises(ValueError, match=r"quantile must be within 0\.\.1"):
        histogram_quantile(2, [(math.inf, 1)])


def _hist_text(observations: list[float], route: str = "/") -> list[PromSample]:
    reg = CollectorRegistry()
    h = Histogram("http_request_duration_seconds", "d", ["route"],
                  buckets=(0.1, 0.5, 1.0), registry=reg)
    for o in observations:
        h.labels(route).observe(o)
    return parse_text(generate_latest(reg).decode())


def test_latency_quantile_from_prometheus_client_deltas() -> None:
    before = [_hist_text([0.05] * 10), _hist_text([])]
    # target 1 gains 40 fast + 10 slow; target 2 gains 40 fast + 10 slow observations
    after = [_hist_text([0.05] * 50 + [0.7] * 10), _hist_text([0.05] * 40 + [0.7] * 10)]
    delta = counter_delta(before, after)
    # 100 new: 80 <= 0.1, 100 <= 1.0; p95 rank 95 in (0.5, 1.0]: 0.5 + 0.5 * 15/20
    assert latency_quantile(delta, 0.95) == pytest.approx(0.875)
    assert measure("latency_quantile", before, after, quantile=0.5) == pytest.approx(0.0625)
    assert latency_quantile(delta, 0.95, route="/other") is None


def test_gauge_value_and_measure_errors() -> None:
    after = [[PromSample("mem", {}, 10.0)], [PromSample("mem", {}, 5.0)]]
    assert gauge_value(after, "mem") == 15
    assert gauge_value(after, "absent") is None
    assert measure("value", after, after, series="mem") == 15
    with pytest.raises(ValueError, match="kind value needs a series"):
        measure("value", after, after)
    with pytest.raises(ValueError, match="unknown metric kind 'x'"):
        measure("x", after, after)
