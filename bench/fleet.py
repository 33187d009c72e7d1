#!/usr/bin/env python
"""Benchmark: a canary deploy across 1, 10, 50 and 100 real SSH hosts (issue 9: 3x or less at 100 hosts).

Each size is a fleet of its own (tests/support/fleet.py, the one tests/integration/test_fleet.py
uses): N hosts, each a network namespace running sshd, reached by ansible-playbook as root over
real SSH; each host runs the demo app under its own pm2 daemon (``--instances`` cluster workers,
default 2 as in test_fleet), in its own directories; one throwaway PostgreSQL cluster, reached
through its unix socket. ``playbooks/deploy.yml`` deploys v1 (not timed), then v2 is timed: the
whole pipeline (preflight, verified backup, migration, rollout, smoke, verify gate, record) with
``rollout_steps: [10, 50, 100]``, i.e. cumulative batches of 10 %, 50 % and 100 % of the hosts
(10 hosts: 1 + 4 + 5; 100 hosts: 10 + 40 + 50), a 3-sample gate on the upgraded hosts after
each batch but the last, the verify gate (4 samples, 1 s apart, 40 requests/s of load) on all.
A run counts when it exits 0, its record says success and every host answers v2 on /version;
otherwise the size is reported as failed (the output's tail and the record's reason are printed,
the files are kept) and the command exits non-zero. It never fails on a timing.

Prints per size the median wall time, its ratio to the 1-host run, the time per phase from the
run's record (and within the rollout: each batch's deploy and each step's gate), the fleet's
memory, and the CPU: the playbook's own (ansible-playbook, its forks, the ssh clients) and the
whole machine's busy CPU seconds during the run, which include the hosts' side (sshd, the
modules' Python, pm2's Node CLI, the workers). All the hosts share this machine's cores with
the controller, unlike a real fleet: busy CPU near wall x cores means the run was CPU-bound
here, and the ratio then measures this machine more than the orchestration. Ansible's forks
are ansible.cfg's (10) unless ``--forks`` says otherwise: with 100 hosts, each task of the last
batch runs in 5 waves of 10.

What the ratio compares: the 1-host run has a single batch (the canary step already covers the
whole fleet), so it runs no step gate; from 10 hosts on there are three batches and two step
gates (about 3-4 s each). That difference is part of what a canary costs and stays in the ratio.

Each round r of ``--repeat`` deploys v1 then v2 into a fresh database ``r<r>`` (``-e
liftoff_db_name``), so every timed v2 applies the same migration on the same data; releases are
unpacked again every time (the pm2 role always unpacks).

Memory: a host is sshd (~10 MB RSS), a pm2 daemon (~55 MB) and its workers (~50 MB each): about
165 MB RSS, which would make 100 hosts 16.5 GB. Most of it is Node's code, shared by every Node
process of the machine: in PSS (each shared page split among the processes sharing it) a host
holds 77 MB alone and 34-39 MB in fleets of 10-100 (measured on 2026-12-07: 3.6 GB for 100
hosts, the machine's memory in use rising by 4.7 GB at most with the controller's forks), so 100
hosts with one pm2 daemon and 2 workers each fit in this machine's 24 GB; fewer workers per host
are not needed here. Before each size the free memory is checked against the per-host PSS
measured on the previous (smaller) fleet, plus a margin (or a prior of 60 MB + 45 MB per worker
for the first): a size that does not fit is not started (reported, exit non-zero);
``--instances 1`` then keeps one pm2 daemon per host, as a real host has, with one worker.

The default sizes take about 50 minutes on a 2-core machine (100 hosts: v1 and v2 about 15-18
minutes each): the run is CPU-bound from 50 hosts on.

Everything started is stopped also on a failure, Ctrl-C or SIGTERM (pm2 kill on each host,
every process left in the namespaces, the namespaces, PostgreSQL); Ctrl-C during the tear-down
is ignored until it is done.

    bench/fleet.py [--sizes 1,10,50,100] [--repeat 1] [--instances 2] [--forks N] [--keep]
"""
from __future__ import annotations

import argparse
import configparser
import datetime
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.support.fleet import Fleet  # noqa: E402

MB = 1024 * 1024
RESERVE_MB = 1500  # the controller: ansible-playbook and its forks, ssh control masters, PostgreSQL
PRIOR_HOST_MB = 60  # per host until a fleet was measured: sshd + pm2 daemon, plus PRIOR_WORKER_MB per worker
PRIOR_WORKER_MB = 45
STEPS = ("10", "50", "100")


@dataclass
class Run:
    wall: float
    cpu: float  # ansible-playbook and the processes it waited for (its forks, ssh clients)
    busy: float  # the whole machine's busy CPU seconds (the hosts' side too: sshd, modules, pm2, node)
    load: float
    phases: dict[str, float] = field(default_factory=dict)
    rollout: dict[str, float] = field(default_factory=dict)


@dataclass
class Size:
    hosts: int
    runs: list[Run] = field(default_factory=list)
    setup_s: float = 0.0
    pss_mb: float = 0.0  # every process in the fleet's namespaces after v2 (fleet_pss_mb)
    peak_used_mb: float = 0.0  # the machine's memory in use at its highest during this size, minus before it
    error: str = ""


class MemoryWatch:
    """The lowest MemAvailable and the highest 1-min load average, sampled every 0.5 s."""

    def __init__(self) -> None:
        self.low_kb = available_kb()
        self.high_load = os.getloadavg()[0]
        self.running = True
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.thread.start()

    def watch(self) -> None:
        while self.running:
            self.low_kb = min(self.low_kb, available_kb())
            self.high_load = max(self.high_load, os.getloadavg()[0])
            time.sleep(0.5)

    def stop(self) -> None:
        self.running = False
        self.thread.join()


def meminfo() -> dict[str, int]:
    out: dict[str, int] = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        name, _sep, rest = line.partition(":")
        out[name] = int(rest.split()[0])
    return out


def available_kb() -> int:
    return meminfo()["MemAvailable"]


def machine_busy() -> float:
    """CPU seconds this machine spent not idle since boot, all cores (/proc/stat)."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # minus idle and iowait


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fleet_pss_mb(fleet: Fleet) -> float:
    """The memory of every process in the fleet's namespaces (sshd, pm2 daemons, workers), in MB.

    PSS (/proc/PID/smaps_rollup): a page shared by k processes counts 1/k in each, so the sum is
    what the fleet really holds; RSS would count Node's shared pages once per process (about 2x here).
    """
    total_kb = 0
    for host in fleet.ssh.hosts:
        pids = subprocess.run(["ip", "netns", "pids", host.netns], capture_output=True, text=True, timeout=30,
                              check=False).stdout.split()
        for pid in pids:
            try:
                rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
            except OSError:
                continue
            total_kb += next((int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:")), 0)
    return total_kb / 1024


def epoch(stamp: str) -> float:
    return datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def span(item: dict[str, Any]) -> float | None:
    try:
        return epoch(item["ended"]) - epoch(item["started"])
    except (KeyError, TypeError, ValueError):
        return None


def breakdown(record: dict[str, Any], wall: float) -> tuple[dict[str, float], dict[str, float]]:
    """The time per phase (plus what lies outside them) and, within the rollout, per batch and step gate."""
    phases = {str(p["name"]): float(p["duration_s"]) for p in record.get("phases") or []
              if p.get("name") != "run" and p.get("duration_s") is not None}
    phases["(outside the phases)"] = wall - sum(phases.values())
    rollout: dict[str, float] = {}
    last = {str(i["id"]): i for i in record.get("evidence") or []}
    for step in STEPS:
        batch = last.get(f"rollout.batch_{step}")
        if batch is not None and (seconds := span(batch)) is not None:
            rollout[f"batch {step} % ({len(batch.get('details', {}).get('hosts') or [])} hosts)"] = seconds
        gate = last.get(f"rollout.step_{step}.verdict")
        if gate is not None and (seconds := span(gate)) is not None:
            rollout[f"gate after step {step} %"] = seconds
    verify = last.get("verify.verdict")
    if verify is not None and (seconds := span(verify)) is not None:
        rollout["verify gate (all hosts)"] = seconds
    return phases, rollout


def tail(result: subprocess.CompletedProcess[str]) -> str:
    return (result.stdout + result.stderr)[-3000:]


class RunFailed(Exception):
    """A deploy did not exit 0, or its record is not a success, or a host does not serve the version."""


def deploy(fleet: Fleet, version: str, db: str, forks: int | None) -> tuple[subprocess.CompletedProcess[str], float]:
    env = {"ANSIBLE_FORKS": str(forks)} if forks else {}
    started = time.monotonic()
    result = fleet.playbook("deploy.yml", "-e", f"liftoff_db_name={db}", version=version, timeout=3600,
                            extra_env=env)
    wall = time.monotonic() - started
    (fleet.root / f"deploy-{db}-{version}.log").write_text(result.stdout + result.stderr, encoding="utf-8")
    record: dict[str, Any] = {}
    try:
        record = fleet.latest_record()
    except (OSError, IndexError, ValueError):
        pass
    served = fleet.served()
    wrong = {host: seen for host, seen in served.items() if seen != version}
    if result.returncode != 0 or record.get("outcome") != "success" or wrong:
        shown = ", ".join(f"{h}: {v}" for h, v in list(wrong.items())[:10]) + (" ..." if len(wrong) > 10 else "")
        raise RunFailed(f"{version} on {len(served)} host(s): exit {result.returncode}, record outcome "
                        f"{record.get('outcome')!r} (failed phase {record.get('failed_phase')!r}: "
                        f"{record.get('reason')!r}); {len(wrong)} host(s) not serving {version}"
                        f"{' (' + shown + ')' if wrong else ''}\n--- the run's output, last lines ---\n{tail(result)}")
    return result, wall


def configured_forks() -> str:
    if os.environ.get("ANSIBLE_FORKS"):
        return os.environ["ANSIBLE_FORKS"]
    parser = configparser.ConfigParser()
    parser.read(REPO / "ansible.cfg")
    return parser.get("defaults", "forks", fallback="5")


def batches(hosts: int) -> str:
    done, sizes = 0, []
    for step in (10, 50, 100):
        upto = min(hosts, -(-hosts * step // 100))
        if upto > done:
            sizes.append(upto - done)
            done = upto
    return " + ".join(str(s) for s in sizes)


def measure(size: Size, work: Path, args: argparse.Namespace) -> None:
    """Start a fleet of size.hosts, deploy v1 then time v2 per round, stop the fleet; fills ``size``."""
    watch = MemoryWatch()
    before_used = meminfo()["MemTotal"] - watch.low_kb
    try:
        started = time.monotonic()
        fleet = Fleet.start(work / f"n{size.hosts}", size.hosts, instances=args.instances)
        try:
            size.setup_s = time.monotonic() - started
            print(f"  {size.hosts} host(s) up in {size.setup_s:.1f} s (batches {batches(size.hosts)}); "
                  f"load {os.getloadavg()[0]:.1f}", flush=True)
            for round_no in range(1, args.repeat + 1):
                db = f"r{round_no}"
                fleet.pg.create_db(db)
                _result, v1_wall = deploy(fleet, "v1", db, args.forks)
                cpu0, busy0 = children_cpu(), machine_busy()
                _result, wall = deploy(fleet, "v2", db, args.forks)
                run = Run(wall=wall, cpu=children_cpu() - cpu0, busy=machine_busy() - busy0, load=os.getloadavg()[0])
                run.phases, run.rollout = breakdown(fleet.latest_record(), wall)
                size.runs.append(run)
                print(f"  round {round_no}: v1 {v1_wall:6.1f} s (not timed), v2 {wall:6.1f} s (playbook cpu "
                      f"{run.cpu:6.1f} s, machine busy {run.busy:6.1f} cpu-s); load {run.load:.1f}", flush=True)
            size.pss_mb = fleet_pss_mb(fleet)
        finally:
            stopping = time.monotonic()
            teardown(fleet)
            print(f"  fleet stopped in {time.monotonic() - stopping:.0f} s", flush=True)
    finally:
        watch.stop()
        size.peak_used_mb = (meminfo()["MemTotal"] - watch.low_kb - before_used) / 1024
        held = (f"the fleet's processes held {size.pss_mb:.0f} MB PSS ({size.pss_mb / size.hosts:.0f} MB per host) "
                f"after v2; " if size.pss_mb else "")
        print(f"  {held}the machine's memory in use rose by at most {size.peak_used_mb:.0f} MB; "
              f"highest load {watch.high_load:.1f}", flush=True)


def teardown(fleet: Fleet) -> None:
    """Fleet.stop with Ctrl-C and SIGTERM held off until it is done."""
    previous = {sig: signal.signal(sig, announce_wait) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        fleet.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def announce_wait(signum: int, frame: FrameType | None) -> None:
    print("  (tearing the fleet down: stopping once it is done)", file=sys.stderr, flush=True)


def terminate(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def fits(hosts: int, per_host_mb: float) -> str:
    """Why ``hosts`` hosts do not fit in the free memory ('' when they do)."""
    need = hosts * per_host_mb + RESERVE_MB
    free = available_kb() / 1024
    if need <= free * 0.9:
        return ""
    return (f"needs about {need / 1024:.1f} GB ({per_host_mb:.0f} MB per host + {RESERVE_MB} MB), "
            f"{free / 1024:.1f} GB available: try --instances 1 (one pm2 daemon and one worker per host)")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(sizes: list[Size], args: argparse.Namespace, forks: str) -> None:
    measured = [s for s in sizes if s.runs]
    base = next((s for s in measured if s.hosts == 1), None)
    base_wall = median([r.wall for r in base.runs]) if base else None
    print(f"\n{datetime.date.today()}: canary [10, 50, 100] v1 -> v2 over real SSH, {args.instances} pm2 worker(s) "
          f"per host, forks {forks}; medians of {args.repeat} round(s); {os.cpu_count()} cores, "
          f"{meminfo()['MemTotal'] / 1024 / 1024:.0f} GiB")
    print("| hosts | batches | wall (median) | ratio to 1 host | target | playbook cpu | machine busy (cores) | "
          "fleet up | fleet PSS (per host) | load |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for size in sizes:
        if not size.runs:
            print(f"| {size.hosts} | {batches(size.hosts)} | {size.error.splitlines()[0] if size.error else '-'} "
                  f"| | | | | | | |")
            continue
        wall = median([r.wall for r in size.runs])
        ratio = f"{wall / base_wall:.2f}" if base_wall else "-"
        target = "3.00" if size.hosts == 100 else ""
        busy = median([r.busy for r in size.runs])
        print(f"| {size.hosts} | {batches(size.hosts)} | {wall:.1f} s | {ratio} | {target} "
              f"| {median([r.cpu for r in size.runs]):.1f} s | {busy:.0f} cpu-s ({busy / wall:.2f}) "
              f"| {size.setup_s:.0f} s | {size.pss_mb:.0f} MB "
              f"({size.pss_mb / size.hosts:.0f} MB) | {median([r.load for r in size.runs]):.1f} |")
    if not measured:
        return
    print("\nthe v2 run's time by phase (median s), from its record:")
    names = list(dict.fromkeys(name for s in measured for r in s.runs for name in r.phases))
    print("| phase | " + " | ".join(f"{s.hosts} host(s)" for s in measured) + " |")
    print("|---|" + "---|" * len(measured))
    for name in names:
        cells = [f"{median(seen):.1f}" if (seen := [r.phases[name] for r in s.runs if name in r.phases]) else "-"
                 for s in measured]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("\nwithin it (median s): each batch's deploy, each step's gate, the verify gate:")
    for size in measured:
        parts = list(dict.fromkeys(name for r in size.runs for name in r.rollout))
        cells = [f"{name} {median([r.rollout[name] for r in size.runs if name in r.rollout]):.1f}" for name in parts]
        print(f"  {size.hosts:>3} host(s): " + "; ".join(cells))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,10,50,100", help="fleet sizes, comma-separated (default 1,10,50,100)")
    parser.add_argument("--repeat", type=int, default=1, help="timed v2 runs per size (default 1)")
    parser.add_argument("--instances", type=int, default=2, help="pm2 cluster workers per host (default 2)")
    parser.add_argument("--forks", type=int, default=None, help="Ansible forks (default: ansible.cfg's)")
    parser.add_argument("--keep", action="store_true", help="keep the fleets' files (records, logs)")
    args = parser.parse_args()
    try:
        counts = sorted({int(s) for s in args.sizes.split(",") if s.strip()})
    except ValueError:
        parser.error(f"--sizes: comma-separated numbers, got {args.sizes!r}")
    if not counts or counts[0] < 1 or counts[-1] > 250 or args.repeat < 1 or args.instances < 1:
        parser.error("sizes within [1, 250], --repeat and --instances at least 1")
    signal.signal(signal.SIGTERM, terminate)
    forks = str(args.forks) if args.forks else configured_forks()
    work = Path(tempfile.mkdtemp(prefix="liftoff-bench-fleet-"))
    print(f"fleet: sizes {counts}, {args.repeat} round(s), {args.instances} pm2 worker(s) per host, forks {forks}; "
          f"{os.cpu_count()} cores, {available_kb() / 1024 / 1024:.1f} GiB available; "
          f"load {os.getloadavg()[0]:.1f}; in {work}", flush=True)
    sizes = [Size(hosts=n) for n in counts]
    per_host_mb = PRIOR_HOST_MB + PRIOR_WORKER_MB * args.instances
    failed = kept = False
    try:
        for size in sizes:
            why = fits(size.hosts, per_host_mb)
            if why:
                size.error = f"not run: {why}"
                print(f"{size.hosts} host(s): {size.error}", flush=True)
                failed = True
                continue
            print(f"{size.hosts} host(s):", flush=True)
            try:
                measure(size, work, args)
            except Exception as exc:  # a failed run, or a fleet that could not be made (NetnsError, PgClusterError)
                size.error = f"failed: {exc}" if isinstance(exc, RunFailed) else f"failed: {type(exc).__name__}: {exc}"
                print(f"  FAILED: {exc}\n  (its files are kept in {work / f'n{size.hosts}'})", flush=True)
                failed = kept = True
                continue
            if size.pss_mb:
                per_host_mb = 1.2 * size.pss_mb / size.hosts  # measured, with a margin
            if not args.keep:
                shutil.rmtree(work / f"n{size.hosts}", ignore_errors=True)
    except KeyboardInterrupt:
        print(f"\ninterrupted: every fleet started is stopped; its files are kept in {work}", flush=True)
        failed = kept = True
    finally:
        if not args.keep and not kept:
            shutil.rmtree(work, ignore_errors=True)
    report(sizes, args, forks)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
