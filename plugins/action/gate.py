# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin liftoff.release.gate: sample metrics on the controller and decide.

Thin: arguments are validated here, the sampling loop is ``run_gate`` (scraper, sleep
and clock injected so tests drive it quickly), the decision is ``plugin_utils.gate``.
"""
from __future__ import annotations

import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.liftoff.release.plugins.plugin_utils.evidence import utc_now
from ansible_collections.liftoff.release.plugins.plugin_utils.gate import (
    GateSpecError,
    MetricSpec,
    Sample,
    Verdict,
    decide,
    error_sample,
    make_sample,
    parse_metric_specs,
)
from ansible_collections.liftoff.release.plugins.plugin_utils.prom_text import (
    PromParseError,
    Scrape,
    measure,
    parse_text,
)

MAX_LOAD_RATE = 200.0

ARGUMENT_SPEC: dict[str, Any] = {
    "metrics": {"type": "list", "elements": "dict", "required": True},
    "targets": {"type": "list", "elements": "str", "required": True},
    "interval": {"type": "float", "default": 5.0},
    "count": {"type": "int", "default": 6},
    "timeout": {"type": "float", "default": 3.0},
    "load": {
        "type": "dict",
        "options": {
            "url": {"type": "str", "required": True},
            "rate": {"type": "float", "default": 20.0},
            "paths": {"type": "list", "elements": "str", "default": ["/"]},
        },
    },
}

# The gate talks to the app directly: a proxy between controller and app would
# measure the proxy.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class ScrapeError(RuntimeError):
    """A target could not be scraped."""


def scrape_targets(targets: Sequence[str], timeout: float) -> list[Scrape]:
    """Scrape every target once; any failure fails the whole scrape (a partial sum would lie)."""
    out: list[Scrape] = []
    for url in targets:
        try:
            with _OPENER.open(url, timeout=timeout) as resp:
                body = resp.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as exc:
            raise ScrapeError(f"scrape {url}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ScrapeError(f"scrape {url}: {reason}") from None
        try:
            out.append(parse_text(body))
        except PromParseError as exc:
            raise ScrapeError(f"scrape {url}: {exc}") from None
    return out


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
    samples: dict[str, list[Sample]] = field(default_factory=dict)


def run_gate(
    specs: Sequence[MetricSpec],
    scrape: Callable[[], list[Scrape]],
    *,
    interval: float,
    count: int,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], str] = utc_now,
) -> GateRun:
    """Take ``count`` samples of every metric, each over one ``interval``, and decide.

    A round scrapes all targets before and after the interval (the previous round's
    "after" is reused as the next "before") and measures each metric from the delta.
    A failed scrape gives an ``error`` sample for every metric. Sampling stops early
    once a deciding critical metric has failed: more samples cannot clear it.
    """
    started = clock()
    samples: dict[str, list[Sample]] = {s.name: [] for s in specs}
    before: list[Scrape] | None = None
    taken = 0
    stopped_early = False
    stop_reason = ""
    verdict = decide(specs, samples)
    for _ in range(count):
        before = _sample_round(specs, samples, scrape, before, interval=interval, sleep=sleep, clock=clock)
        taken += 1
        verdict = decide(specs, samples)
        if verdict.critical_failures and taken < count:
            stopped_early, stop_reason = True, _stop_reason(verdict, taken, count)
            break
    return GateRun(verdict=verdict, samples_taken=taken, count=count, started=started,
                   ended=clock(), stopped_early=stopped_early, stop_reason=stop_reason,
                   samples=samples)


def _sample_round(
    specs: Sequence[MetricSpec],
    samples: dict[str, list[Sample]],
    scrape: Callable[[], list[Scrape]],
    before: list[Scrape] | None,
    *,
    interval: float,
    sleep: Callable[[float], None],
    clock: Callable[[], str],
) -> list[Scrape] | None:
    """Append one sample of every metric; return the scrape to reuse as the next "before" (None after an error)."""
    slept = False
    try:
        if before is None:
            before = scrape()
        sleep(interval)
        slept = True
        after = scrape()
    except ScrapeError as exc:
        at = clock()
        for spec in specs:
            samples[spec.name].append(error_sample(spec, at, str(exc)))
        if not slept:  # every round lasts one interval, also when its first scrape failed
            sleep(interval)
        return None
    at = clock()
    for spec in specs:
        try:
            value = measure(spec.kind, before, after, quantile=spec.quantile, route=spec.route, series=spec.series)
        except ValueError as exc:
            samples[spec.name].append(error_sample(spec, at, str(exc)))
            continue
        samples[spec.name].append(make_sample(spec, at, value))
    return after


def _stop_reason(verdict: Verdict, taken: int, count: int) -> str:
    return (f"stopped after {taken} of {count} samples: critical metric(s) "
            f"{', '.join(verdict.critical_failures)} already failed")


class LoadGenerator:
    """Synthetic GET requests at a bounded rate while the gate samples.

    One thread, one request at a time, at most ``rate`` per second and at most
    ``max_requests`` in all; it never catches up on lost time, so a slow app gets
    fewer requests, not a burst.
    """

    def __init__(self, url: str, rate: float, paths: Sequence[str], timeout: float,
                 max_requests: int) -> None:
        self.url = url.rstrip("/")
        self.rate = rate
        self.paths = list(paths) or ["/"]
        self.timeout = timeout
        self.max_requests = max_requests
        self.sent = 0
        self.statuses: dict[str, int] = {}
        self.last_error = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="liftoff-gate-load", daemon=True)
        self._started = 0.0
        self._ended = 0.0

    def _target(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.url}/{path.lstrip('/')}"

    def _one(self, url: str) -> str:
        try:
            with _OPENER.open(url, timeout=self.timeout) as resp:
                resp.read()
                return str(resp.status)
        except urllib.error.HTTPError as exc:
            exc.close()
            return str(exc.code)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            self.last_error = str(getattr(exc, "reason", exc))
            return "error"

    def _loop(self) -> None:
        gap = 1.0 / self.rate
        due = time.monotonic()
        while not self._stop.is_set() and self.sent < self.max_requests:
            status = self._one(self._target(self.paths[self.sent % len(self.paths)]))
            self.sent += 1
            self.statuses[status] = self.statuses.get(status, 0) + 1
            due += gap
            wait = due - time.monotonic()
            if wait > 0:
                self._stop.wait(wait)
            else:
                due = time.monotonic()

    def start(self) -> None:
        self._started = time.monotonic()
        self._thread.start()

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join(self.timeout + 1.0)
        self._ended = time.monotonic()
        return self.stats()

    def stats(self) -> dict[str, Any]:
        seconds = max((self._ended or time.monotonic()) - self._started, 0.0)
        return {
            "url": self.url,
            "rate": self.rate,
            "paths": self.paths,
            "sent": self.sent,
            "statuses": dict(sorted(self.statuses.items())),
            "seconds": round(seconds, 3),
            "achieved_rate": round(self.sent / seconds, 2) if seconds > 0 else 0.0,
            "last_error": self.last_error,
        }


def _check_url(value: str, where: str) -> None:
    if not value.startswith(("http://", "https://")):
        raise AnsibleActionFail(f"liftoff.release.gate: {where} must be an http(s) URL, got {value!r}")


def validate_args(args: dict[str, Any]) -> list[MetricSpec]:
    """Range checks the argument spec cannot express; returns the parsed metric specs."""
    try:
        specs = parse_metric_specs(args["metrics"], var="metrics")
    except GateSpecError as exc:
        raise AnsibleActionFail(f"liftoff.release.gate: {exc}") from None
    if not args["targets"]:
        raise AnsibleActionFail("liftoff.release.gate: targets must list at least one metrics URL")
    for i, url in enumerate(args["targets"]):
        _check_url(url, f"targets[{i}]")
    if not (math.isfinite(args["interval"]) and args["interval"] > 0):
        raise AnsibleActionFail(
            f"liftoff.release.gate: interval must be > 0 seconds, got {args['interval']}")
    if args["count"] < 1:
        raise AnsibleActionFail(f"liftoff.release.gate: count must be >= 1, got {args['count']}")
    if not (math.isfinite(args["timeout"]) and args["timeout"] > 0):
        raise AnsibleActionFail(
            f"liftoff.release.gate: timeout must be > 0 seconds, got {args['timeout']}")
    load = args.get("load")
    if load:
        _check_url(load["url"], "load.url")
        if not 0 < load["rate"] <= MAX_LOAD_RATE:
            raise AnsibleActionFail(
                f"liftoff.release.gate: load.rate must be within (0, {MAX_LOAD_RATE:g}] "
                f"requests per second, got {load['rate']}")
    return specs


def gate_result(run: GateRun, load: dict[str, Any] | None) -> dict[str, Any]:
    """The task result: the verdict dict plus how the sampling went."""
    verdict = run.verdict.to_dict()
    return {
        "changed": False,
        "verdict": verdict["verdict"],
        "reasons": verdict["reasons"],
        "driving": verdict["driving"],
        "metrics": verdict["metrics"],
        "samples_taken": run.samples_taken,
        "count": run.count,
        "stopped_early": run.stopped_early,
        "stop_reason": run.stop_reason,
        "started": run.started,
        "ended": run.ended,
        "load": load,
    }


class ActionModule(ActionBase):
    """Controller-only: reads metrics over HTTP, changes nothing (safe in check mode)."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        del tmp
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        specs = validate_args(args)
        targets: list[str] = args["targets"]
        timeout: float = args["timeout"]

        load_gen: LoadGenerator | None = None
        if args.get("load"):
            load = args["load"]
            budget = math.ceil(load["rate"] * (args["interval"] * (args["count"] + 1) + timeout))
            load_gen = LoadGenerator(load["url"], load["rate"], load["paths"], timeout,
                                     max_requests=budget)
            load_gen.start()
        try:
            run = run_gate(specs, lambda: scrape_targets(targets, timeout),
                           interval=args["interval"], count=args["count"])
        finally:
            load_stats = load_gen.stop() if load_gen else None
        result.update(gate_result(run, load_stats))
        return result
