#!/usr/bin/env python
"""Benchmark: what the orchestration costs over the real work of a deployment.

The full local pipeline (the backbone's demo path: ``ansible-playbook playbooks/deploy.yml``,
v1 -> v2 on the pm2 strategy: preflight, verified backup, migration, rollout, smoke, a 10 s gate,
the record) against ``bench/raw_deploy.sh``, which does the same work with raw commands
(pg_dump, pg_restore, psql, tar, pm2 startOrReload, curl, the same waits and gate window).

Each round starts two fresh local environments (scripts/localenv.py: PostgreSQL, Prometheus,
pm2), deploys v1 on both with the playbook (not timed), then times v2 on one with the playbook
and on the other with the raw script; the contenders alternate which goes first. Prints the
medians, the ratio playbook / raw, the CPU the playbook's processes used, and where the
playbook's time goes (per phase, from its record). It never fails on a timing.

``--gate-count N`` sets the gate's samples (2 s apart) in both: the demo's 5 is a 10 s window; a
production window of minutes shrinks the ratio, since the gate's wait is the same in both.

    bench/overhead.py [--repeat 3] [--gate-count 5] [--keep]
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "scripts"))

from localenv import LocalEnv  # noqa: E402

RAW = REPO / "bench" / "raw_deploy.sh"


@dataclass
class Timing:
    wall: float
    cpu: float
    phases: dict[str, float] = field(default_factory=dict)


def served_version(env: LocalEnv) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{env.app_port}/version", timeout=5) as reply:
        return str(json.load(reply)["version"])


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def newest_record(env: LocalEnv) -> dict[str, object]:
    path = sorted((env.root / "records" / "local").glob("*/record.json"))[-1]
    return dict(json.loads(path.read_text(encoding="utf-8")))


def timed(what: str, env: LocalEnv, run: Callable[[], subprocess.CompletedProcess[str]]) -> Timing:
    cpu0, started = children_cpu(), time.monotonic()
    result = run()
    wall, cpu = time.monotonic() - started, children_cpu() - cpu0
    if result.returncode != 0 or served_version(env) != "v2":
        sys.exit(f"{what} failed (exit {result.returncode}, serving {served_version(env)}):\n"
                 f"{(result.stdout + result.stderr)[-3000:]}")
    return Timing(wall=wall, cpu=cpu)


def playbook_v2(env: LocalEnv, gate_count: int) -> Timing:
    timing = timed("the playbook", env, lambda: env.playbook("deploy.yml", "-e", f"gate_count={gate_count}",
                                                             version="v2"))
    record = newest_record(env)
    if record.get("verdict") != "PROCEED":
        sys.exit(f"the playbook's v2 run did not pass its gate: {record.get('reason')}")
    phases = record.get("phases")
    assert isinstance(phases, list)
    timing.phases = {str(p["name"]): float(p["duration_s"]) for p in phases if p["name"] != "run"}
    timing.phases["(outside the phases)"] = timing.wall - sum(timing.phases.values())
    return timing


def raw_v2(env: LocalEnv, gate_count: int) -> Timing:
    return timed("the raw script", env, lambda: subprocess.run(
        ["bash", str(RAW), str(env.root), "v2"], env={**env.environ(), "GATE_COUNT": str(gate_count)}, text=True,
        capture_output=True, timeout=600, check=False))


def prepared(root: Path) -> LocalEnv:
    env = LocalEnv.start(root)
    result = env.playbook("deploy.yml", version="v1")
    if result.returncode != 0:
        env.stop()
        sys.exit(f"set-up: v1 failed:\n{(result.stdout + result.stderr)[-3000:]}")
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--gate-count", type=int, default=5, help="gate samples, 2 s apart (the demo: 5)")
    parser.add_argument("--keep", action="store_true", help="keep the environments' files (records, logs)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="liftoff-bench-overhead-"))
    plays: list[Timing] = []
    raws: list[Timing] = []
    print(f"overhead: {args.repeat} round(s), gate window {args.gate_count * 2} s; {os.cpu_count()} cores; "
          f"load {os.getloadavg()[0]:.1f}; in {work}")
    try:
        for round_no in range(args.repeat):
            envs = [prepared(work / f"r{round_no}-playbook"), prepared(work / f"r{round_no}-raw")]
            try:
                order = [0, 1] if round_no % 2 == 0 else [1, 0]
                for which in order:
                    if which == 0:
                        plays.append(playbook_v2(envs[0], args.gate_count))
                    else:
                        raws.append(raw_v2(envs[1], args.gate_count))
                print(f"  round {round_no + 1}: playbook {plays[-1].wall:6.2f} s (cpu {plays[-1].cpu:5.2f} s), "
                      f"raw {raws[-1].wall:6.2f} s (cpu {raws[-1].cpu:5.2f} s), "
                      f"ratio {plays[-1].wall / raws[-1].wall:.2f}; load {os.getloadavg()[0]:.1f}")
            finally:
                for env in envs:
                    env.stop()
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    play_wall = statistics.median(t.wall for t in plays)
    raw_wall = statistics.median(t.wall for t in raws)
    print(f"\n{datetime.date.today()}: v1 -> v2, gate window {args.gate_count * 2} s, medians of {len(plays)} round(s)")
    print("| what | wall | cpu | ratio to raw |\n|---|---|---|---|")
    print(f"| raw script (baseline) | {raw_wall:.2f} s | {statistics.median(t.cpu for t in raws):.2f} s | 1.00 |")
    print(f"| `ansible-playbook playbooks/deploy.yml` | {play_wall:.2f} s | "
          f"{statistics.median(t.cpu for t in plays):.2f} s | {play_wall / raw_wall:.2f} |")
    print("\nthe playbook's time by phase (median s):")
    for name in plays[0].phases:
        print(f"  {name:<22} {statistics.median(t.phases.get(name, 0.0) for t in plays):6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
