# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin liftoff.release.gate: sample metrics on the controller and decide.

Thin: arguments are validated here; the schedule is ``plugin_utils.gate_run``, the
providers ``plugin_utils.providers``, the decision ``plugin_utils.gate``.
"""
from __future__ import annotations

import math
import threading
import time
import urllib.error
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.liftoff.release.plugins.plugin_utils.gate import (
    GateSpecError,
    MetricSpec,
    json_number,
    parse_metric_specs,
    with_baselines,
)
from ansible_collections.liftoff.release.plugins.plugin_utils.gate_run import (
    GateRun,
    baselines_result,
    plan_window,
    run_gate,
)
from ansible_collections.liftoff.release.plugins.plugin_utils.providers import OPENER, Providers

MAX_LOAD_RATE = 200.0
MODES = ("verify", "baseline")

ARGUMENT_SPEC: dict[str, Any] = {
    "metrics": {"type": "list", "elements": "dict", "required": True},
    "targets": {"type": "list", "elements": "str", "default": []},
    "interval": {"type": "float", "default": 5.0},
    "count": {"type": "int", "default": 6},
    "timeout": {"type": "float", "default": 3.0},
    "mode": {"type": "str", "default": "verify", "choices": list(MODES)},
    "baselines": {"type": "dict", "default": {}},
    "missing_baseline": {"type": "str", "default": "inconclusive", "choices": ["inconclusive", "dry_run"]},
    "prometheus_url": {"type": "str"},
    "sql_connection": {
        "type": "dict",
        "options": {
            "host": {"type": "str"},
            "port": {"type": "int"},
            "dbname": {"type": "str"},
            "user": {"type": "str"},
            "password": {"type": "str", "no_log": True},
            "sslmode": {"type": "str"},
        },
    },
    "load": {
        "type": "dict",
        "options": {
            "url": {"type": "str", "required": True},
            "rate": {"type": "float", "default": 20.0},
            "paths": {"type": "list", "elements": "str", "default": ["/"]},
        },
    },
}


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
            with OPENER.open(url, timeout=self.timeout) as resp:
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


def _positive(args: dict[str, Any], key: str) -> None:
    if not (math.isfinite(args[key]) and args[key] > 0):
        raise AnsibleActionFail(f"liftoff.release.gate: {key} must be > 0 seconds, got {args[key]}")


def _check_baselines(baselines: dict[str, Any], specs: Sequence[MetricSpec]) -> dict[str, float | None]:
    names = {s.name for s in specs}
    out: dict[str, float | None] = {}
    for name, value in baselines.items():
        if name not in names:
            continue  # a baseline captured for a metric this gate does not use
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float, str))):
            raise AnsibleActionFail(
                f"liftoff.release.gate: baselines.{name} must be a number or null, got {value!r}")
        try:
            out[name] = None if value is None else float(value)
        except ValueError:
            raise AnsibleActionFail(
                f"liftoff.release.gate: baselines.{name} must be a number or null, got {value!r}") from None
    return out


def validate_args(args: dict[str, Any]) -> list[MetricSpec]:
    """Checks the argument spec cannot express; returns the parsed metric specs (baselines applied)."""
    try:
        specs = parse_metric_specs(args["metrics"], var="metrics")
    except GateSpecError as exc:
        raise AnsibleActionFail(f"liftoff.release.gate: {exc}") from None
    for i, url in enumerate(args["targets"]):
        _check_url(url, f"targets[{i}]")
    for spec in specs:
        if spec.provider == "scrape" and not spec.targets and not args["targets"]:
            raise AnsibleActionFail(
                f"liftoff.release.gate: metric {spec.name} uses provider scrape: targets must list "
                f"at least one metrics URL (or set the metric's own targets)")
        if spec.provider == "prometheus" and not spec.url and not args.get("prometheus_url"):
            raise AnsibleActionFail(
                f"liftoff.release.gate: metric {spec.name} uses provider prometheus: set prometheus_url "
                f"(e.g. http://prometheus:9090) or the metric's url")
    if args.get("prometheus_url"):
        _check_url(args["prometheus_url"], "prometheus_url")
    _positive(args, "interval")
    _positive(args, "timeout")
    if args["count"] < 1:
        raise AnsibleActionFail(f"liftoff.release.gate: count must be >= 1, got {args['count']}")
    load = args.get("load")
    if load:
        _check_url(load["url"], "load.url")
        if not 0 < load["rate"] <= MAX_LOAD_RATE:
            raise AnsibleActionFail(
                f"liftoff.release.gate: load.rate must be within (0, {MAX_LOAD_RATE:g}] "
                f"requests per second, got {load['rate']}")
    if args["mode"] == "baseline":
        return [s for s in specs if s.relative]
    specs = with_baselines(specs, _check_baselines(args["baselines"], specs))
    if args["missing_baseline"] == "dry_run":
        # a first deploy has nothing to compare with: report relative metrics, do not decide on them
        specs = [replace(s, dry_run=True) if s.relative and s.baseline is None else s for s in specs]
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
        "extended": run.extended,
        "schedule": run.schedule,
        "seconds": run.seconds,
        "started": run.started,
        "ended": run.ended,
        "load": load,
    }


def baseline_result(run: GateRun) -> dict[str, Any]:
    """The task result in baseline mode: per relative metric, the value captured and its samples."""
    captured = baselines_result(run)
    return {
        "changed": False,
        "baselines": {name: json_number(b["value"]) for name, b in captured.items()},
        "baseline_samples": {name: b["samples"] for name, b in captured.items()},
        "seconds": run.seconds,
        "started": run.started,
        "ended": run.ended,
    }


class ActionModule(ActionBase):
    """Controller-only: reads metrics, changes nothing (safe in check mode)."""

    TRANSFERS_FILES = False
    _requires_connection = False
    _supports_check_mode = True

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        del tmp
        _unused, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        specs = validate_args(args)
        if not specs:  # baseline mode and no relative metric: nothing to capture
            result.update(changed=False, baselines={}, baseline_samples={}, seconds=0.0)
            return result
        providers = Providers(
            timeout=args["timeout"], targets=args["targets"],
            prometheus_url=args.get("prometheus_url"),
            sql_connection={k: v for k, v in (args.get("sql_connection") or {}).items() if v is not None},
        )
        load_gen: LoadGenerator | None = None
        if args.get("load"):
            load = args["load"]
            window = plan_window(specs, args["interval"], args["count"])
            budget = math.ceil(load["rate"] * (window + args["interval"] + args["timeout"]) * 2)
            load_gen = LoadGenerator(load["url"], load["rate"], load["paths"], args["timeout"],
                                     max_requests=budget)
            load_gen.start()
        try:
            run = run_gate(specs, providers, interval=args["interval"], count=args["count"])
        finally:
            load_stats = load_gen.stop() if load_gen else None
            providers.close()
        if args["mode"] == "baseline":
            result.update(baseline_result(run))
        else:
            result.update(gate_result(run, load_stats))
        return result
