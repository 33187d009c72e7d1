#!/usr/bin/env python
"""Benchmark: how long from a breach to a decision, and from a breach to the old version serving.

The baseline, measured in the same run's settings, is the gate's own promise:
``interval x (failure_limit + 1)`` - the time it takes to collect the failing samples a
metric needs before it may fail. Ratios below 1 mean the gate decided within that bound;
a ratio a little above 1 is the partial first interval (a breach that starts late in an
interval dilutes that interval's sample).

    bench/gate_detection.py engine [--trials N] [--interval S]
        the engine and a real HTTP exposition whose errors start at a random moment:
        breach -> ROLLBACK verdict, per failure_limit 0, 1, 2
    bench/gate_detection.py deploy
        the whole pipeline on the local environment (PostgreSQL, Prometheus, pm2):
        deploy v1, v2, then the bad v3; a poller on /version times
        v3 first served (the breach is visible) -> v2 served again (rolled back)

Prints numbers and ratios; it never fails on a timing.
"""
from __future__ import annotations

import argparse
import datetime
import json
import random
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / ".collections"))
sys.path.insert(0, str(REPO / "scripts"))

from ansible_collections.liftoff.release.plugins.plugin_utils.gate import parse_metric_specs  # noqa: E402
from ansible_collections.liftoff.release.plugins.plugin_utils.gate_run import run_gate  # noqa: E402
from ansible_collections.liftoff.release.plugins.plugin_utils.providers import Providers  # noqa: E402


class SyntheticApp:
    """Counters as a function of time: 200 requests/s, 30% of them 5xx after ``breach_at``."""

    def __init__(self) -> None:
        self.breach_at = float("inf")
        app = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                now = time.monotonic()
                total = 200.0 * now
                errors = 60.0 * max(0.0, now - app.breach_at)
                body = (f'http_requests_total{{status="200"}} {total - errors}\n'
                        f'http_requests_total{{status="500"}} {errors}\n').encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/metrics"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def engine(trials: int, interval: float) -> None:
    app = SyntheticApp()
    rng = random.Random(20261123)  # noqa: S311 - a repeatable schedule, not a secret
    print(f"engine: scrape provider over HTTP, interval {interval:g} s, {trials} trials per failure_limit")
    print("failure_limit  baseline_s  median_s  max_s  median_ratio  max_ratio")
    try:
        for limit in (0, 1, 2):
            specs = parse_metric_specs([{"name": "error_ratio", "kind": "error_ratio", "max": 0.05,
                                         "failure_limit": limit}])
            took = []
            for _unused in range(trials):
                app.breach_at = float("inf")
                offset = interval * (1 + rng.random())  # the breach starts somewhere in the 2nd interval

                def breach(at: float = offset) -> None:
                    time.sleep(at)
                    app.breach_at = time.monotonic()

                start = time.monotonic()
                threading.Thread(target=breach, daemon=True).start()
                run = run_gate(specs, Providers(timeout=2, targets=[app.url]), interval=interval, count=50)
                assert run.verdict.decision == "ROLLBACK", run.verdict.reasons
                took.append(start + run.seconds - app.breach_at)
            base = interval * (limit + 1)
            print(f"{limit:>13}  {base:>10.2f}  {statistics.median(took):>8.3f}  {max(took):>5.3f}"
                  f"  {statistics.median(took) / base:>12.2f}  {max(took) / base:>9.2f}")
    finally:
        app.close()


def deploy() -> None:
    from localenv import LocalEnv

    root = Path(tempfile.mkdtemp(prefix="liftoff-bench-gate-"))
    env = LocalEnv.start(root)
    try:
        for version in ("v1", "v2"):
            result = env.playbook("deploy.yml", version=version)
            if result.returncode != 0:
                raise SystemExit(f"deploy {version} failed:\n{result.stdout[-3000:]}")
        seen: list[tuple[float, str]] = []
        stop = threading.Event()

        def poll() -> None:
            url = f"http://127.0.0.1:{env.app_port}/version"
            while not stop.is_set():
                try:
                    with urllib.request.urlopen(url, timeout=1) as reply:
                        seen.append((time.time(), str(json.load(reply)["version"])))
                except OSError:
                    pass
                time.sleep(0.05)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        started = time.monotonic()
        result = env.playbook("deploy.yml", version="v3")
        stop.set()
        poller.join()
        runs = sorted(p for p in (root / "records" / "local").glob("2*") if p.is_dir())
        record = json.loads((runs[-1] / "record.json").read_text(encoding="utf-8"))
        first_bad = next(t for t, v in seen if v == "v3")
        # a rolling reload answers from both versions for a moment: restored is the first v2
        # after the last v3 answer
        last_bad = max(t for t, v in seen if v == "v3")
        restored = next(t for t, v in seen if v == "v2" and t > last_bad)
        verdict = next(e for e in record["evidence"] if e["id"] == "verify.verdict")
        driving = verdict["details"]["driving"][0]
        interval = float(verdict["details"]["schedule"][driving]["interval"])
        limit = int(next(m for m in verdict["details"]["metrics"] if m["name"] == driving)["spec"]["failure_limit"])
        base = interval * (limit + 1)
        print(f"deploy: outcome {record['outcome']} (exit {result.returncode}), run {time.monotonic() - started:.1f} s")
        print(f"  v3 first served -> v2 served again : {restored - first_bad:7.2f} s")
        print(f"  gate sampling until the verdict    : {verdict['details']['seconds']:7.2f} s "
              f"(baseline interval x (failure_limit + 1) = {base:g} s, ratio "
              f"{float(verdict['details']['seconds']) / base:.2f})")
        print(f"  ratio (served-bad -> restored) / baseline: {(restored - first_bad) / base:.2f}")
        gate_start, gate_end = (_epoch(verdict["started"]), _epoch(verdict["ended"]))
        print(f"    of which: bad served -> gate starts (smoke checks, plays) {gate_start - first_bad:6.2f} s")
        print(f"              gate sampling                               {gate_end - gate_start:6.2f} s")
        print(f"              verdict -> v2 served (record, rollback play) {restored - gate_end:6.2f} s")
    finally:
        env.stop()


def _epoch(stamp: str) -> float:
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.UTC).timestamp()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["engine", "deploy"])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--interval", type=float, default=0.5)
    args = parser.parse_args()
    if args.mode == "engine":
        engine(args.trials, args.interval)
    else:
        deploy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
