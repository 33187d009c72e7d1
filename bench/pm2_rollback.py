#!/usr/bin/env python
"""Benchmark: how long the application rollback of one batch takes on pm2 (issue 9: 3 s or less).

On a throwaway local environment (scripts/localenv.py: PostgreSQL, Prometheus, pm2 with two
cluster workers), v1 and v2 are deployed, then each round deploys the bad v3: the gate decides
ROLLBACK and the rollback phase puts v2 back. Measured per round:

- the rollback's application step, from the record (``rollback.undo_app``: started -> ended:
  read the state, switch ``current`` back, pm2 reload, every worker online for pm2_min_uptime,
  /version reports v2, the release history written);
- from that step's start to the first v2 answer of a poller reading /version every 20 ms;
- the baseline, side by side in the same environment: v3 switched in by hand, then timed,
  ``ln -sfn`` back to v2 + ``pm2 startOrReload`` + polling /version every 20 ms until v2.

Prints the medians and the ratios to the raw rollback; it never fails on a timing.

    bench/pm2_rollback.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

from localenv import LocalEnv  # noqa: E402

POLL_S = 0.02


class Poller:
    """Reads /version every POLL_S seconds; keeps (epoch seconds, version) of every answer."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.seen: list[tuple[float, str]] = []
        self.running = True
        self.thread = threading.Thread(target=self.poll, daemon=True)
        self.thread.start()

    def poll(self) -> None:
        while self.running:
            try:
                with urllib.request.urlopen(self.url, timeout=2) as reply:  # noqa: S310 - http:// built here
                    self.seen.append((time.time(), str(json.load(reply)["version"])))
            except (OSError, ValueError, urllib.error.URLError):
                pass
            time.sleep(POLL_S)

    def stop(self) -> None:
        self.running = False
        self.thread.join()

    def first_after(self, since: float, version: str) -> float:
        return next(at for at, seen in self.seen if at >= since and seen == version)


def epoch(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def version_now(env: LocalEnv) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{env.app_port}/version", timeout=5) as reply:
        return str(json.load(reply)["version"])


def pm2(env: LocalEnv, *args: str) -> None:
    clean = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "PM2_HOME": str(env.root / "pm2")}
    subprocess.run([env.pm2_bin, *args], env=clean, check=True, capture_output=True, timeout=120)


def raw_switch(env: LocalEnv, version: str) -> float:
    """ln -sfn + pm2 startOrReload + poll /version: seconds until `version` answers."""
    base = env.root / "srv" / "app"
    started = time.monotonic()
    subprocess.run(["ln", "-sfn", str(base / "releases" / version), str(base / "current")], check=True)
    pm2(env, "startOrReload", str(base / "ecosystem.config.js"), "--update-env")
    while True:
        try:
            if version_now(env) == version:
                return time.monotonic() - started
        except OSError:
            pass
        if time.monotonic() - started > 60:
            sys.exit(f"raw rollback: {version} not served after 60 s")
        time.sleep(POLL_S)


def playbook_round(env: LocalEnv) -> tuple[float, float]:
    poller = Poller(f"http://127.0.0.1:{env.app_port}/version")
    try:
        result = env.playbook("deploy.yml", version="v3")
    finally:
        poller.stop()
    path = sorted((env.root / "records" / "local").glob("*/record.json"))[-1]
    record = json.loads(path.read_text(encoding="utf-8"))
    undo = next((e for e in record["evidence"] if e["id"] == "rollback.undo_app"), None)
    if result.returncode == 0 or undo is None or undo["status"] != "pass" or version_now(env) != "v2":
        sys.exit(f"v3 was not rolled back (exit {result.returncode}, outcome {record.get('outcome')}):\n"
                 f"{(result.stdout + result.stderr)[-3000:]}")
    started, ended = epoch(undo["started"]), epoch(undo["ended"])
    return ended - started, poller.first_after(started, "v2") - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="liftoff-bench-rollback-"))
    steps: list[float] = []
    served: list[float] = []
    raws: list[float] = []
    print(f"pm2 rollback: {args.repeat} round(s); {os.cpu_count()} cores; load {os.getloadavg()[0]:.1f}")
    env = LocalEnv.start(work / "env")
    try:
        for version in ("v1", "v2"):
            result = env.playbook("deploy.yml", version=version)
            if result.returncode != 0:
                sys.exit(f"set-up: {version} failed:\n{(result.stdout + result.stderr)[-3000:]}")
        for round_no in range(args.repeat):
            step, to_served = playbook_round(env)
            steps.append(step)
            served.append(to_served)
            raw_switch(env, "v3")  # the bad release by hand, not timed
            raws.append(raw_switch(env, "v2"))
            print(f"  round {round_no + 1}: rollback step {step:5.2f} s, step start -> v2 served {to_served:5.2f} s, "
                  f"raw {raws[-1]:5.2f} s; load {os.getloadavg()[0]:.1f}")
    finally:
        env.stop()
        shutil.rmtree(work, ignore_errors=True)
    raw = statistics.median(raws)
    print(f"\n{datetime.date.today()}: pm2, 2 cluster workers, one batch; medians of {len(raws)} round(s)")
    print("| what | median | ratio to raw | target |\n|---|---|---|---|")
    print(f"| raw `ln -sfn` + `pm2 startOrReload` until /version answers v2 (baseline) | {raw:.2f} s | 1.00 | |")
    print(f"| rollback step start -> v2 served | {statistics.median(served):.2f} s | "
          f"{statistics.median(served) / raw:.2f} | 3 s |")
    step = statistics.median(steps)
    print(f"| whole rollback step (`rollback.undo_app`, until checked and written) | {step:.2f} s | "
          f"{step / raw:.2f} | 3 s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
