#!/usr/bin/env python
"""Benchmark: what a verified backup costs over a raw pg_dump of the same database, format and jobs.

On a throwaway local environment (scripts/localenv.py) the demo database is filled to
``--size-gb`` (default 1.0) of table data. Then, side by side in this run, each measured
``--repeat`` times (median):

- raw ``pg_dump`` with the same format, jobs and compression as the role (the baseline);
- the backup role: the record's ``backup`` phase of ``ansible-playbook playbooks/backup.yml``
  (what issue 9 point 4 compares), the dump step inside it (``backup.dump`` duration: pg_dump
  from an exported snapshot), and the whole playbook around it (run start, lock, record);
- the same with ``backup_test_restore=true`` (restore into a scratch database + row counts);
- raw ``pg_dump`` at gzip level 6 (pg_dump's own default), to show why the role defaults to 1.

Prints the medians and the ratios to the raw dump; it never fails on a timing.

    bench/backup.py [--size-gb 1.0] [--repeat 3] [--format custom|directory] [--jobs N]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from localenv import LocalEnv  # noqa: E402

from tests.support.pg import find_tool  # noqa: E402

ROW_BYTES = 125  # table bytes per row of the fill table below (measured: heap, tuple header, TOAST-free)


FILL = ("INSERT INTO bench_events SELECT g, g % 10000, (ARRAY['deposit','withdrawal','fee'])[g % 3 + 1], "
        "md5(g::text) || md5((g * 7)::text), (g % 100000) / 100.0, timestamptz '2026-01-01' + g * interval '1 second' "
        "FROM generate_series({first:d}, {last:d}) g")


def fill(env: LocalEnv, size_gb: float) -> None:
    rows = int(size_gb * 1024 ** 3 / ROW_BYTES)
    env.pg.psql("CREATE TABLE IF NOT EXISTS bench_events (id bigint PRIMARY KEY, account int NOT NULL, "
                "kind text NOT NULL, payload text NOT NULL, amount numeric NOT NULL, at timestamptz NOT NULL)",
                db="demo")
    step = 2_000_000
    for start in range(0, rows, step):
        stop = min(rows, start + step)
        env.pg.psql(FILL.format(first=start + 1, last=stop), db="demo")
    env.pg.psql("VACUUM ANALYZE bench_events", db="demo")


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()


def timed(action: Callable[[], None]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def raw_dump(env: LocalEnv, out: Path, fmt: str, jobs: int, compress: str) -> Callable[[], None]:
    def run() -> None:
        target = out / ("raw.dir" if fmt == "directory" else "raw.pgc")
        argv = [find_tool("pg_dump"), "-h", "127.0.0.1", "-p", str(env.pg.port), "-U", "postgres",
                f"--format={fmt[0]}", f"--compress={compress}", f"--file={target}", "demo"]
        if jobs > 1:
            argv.append(f"--jobs={jobs}")
        subprocess.run(argv, check=True, capture_output=True)
        remove(target)
    return run


def role_backup(env: LocalEnv, fmt: str, jobs: int, test_restore: bool, steps: list[float],
                phases: list[float]) -> Callable[[], None]:
    def run() -> None:
        result = env.playbook("backup.yml", "-e", f"backup_format={fmt}", "-e", f"backup_jobs={jobs}",
                              "-e", f"backup_test_restore={str(test_restore).lower()}", version="v1", timeout=3600)
        if result.returncode != 0:
            raise SystemExit(f"backup.yml failed:\n{result.stdout[-3000:]}")
        run_dir = sorted(p for p in (env.root / "records" / "local").iterdir() if p.is_dir())[-1]
        record = json.loads((run_dir / "record.json").read_text())
        dump = next(i for i in record["evidence"] if i["id"] == "backup.dump")
        steps.append(int(dump["details"]["duration_ms"]) / 1000)
        phases.append(next(float(p["duration_s"]) for p in record["phases"] if p["name"] == "backup"))
        for path in (env.root / "backups").glob("demo-*"):
            remove(path)
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-gb", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--format", choices=["custom", "directory"], default="custom")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--compress", default="1", help="the role's backup_compression (default 1)")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="liftoff-bench-backup-"))
    env = LocalEnv.start(root / "env")
    try:
        print(f"filling the demo database to {args.size_gb} GB of table data ...", flush=True)
        started = time.monotonic()
        fill(env, args.size_gb)
        size = env.pg.psql("SELECT pg_database_size('demo')")
        table = env.pg.psql("SELECT pg_table_size('bench_events')", db="demo")
        print(f"  database {int(size) / 1024 ** 3:.2f} GiB (table data {int(table) / 1024 ** 3:.2f} GiB), "
              f"filled in {time.monotonic() - started:.0f} s", flush=True)
        out = root / "raw"
        out.mkdir()
        series: dict[str, list[float]] = {"raw": [], "raw_z6": [], "role": [], "role_verified": []}
        role_steps: list[float] = []
        verified_steps: list[float] = []
        role_phases: list[float] = []
        verified_phases: list[float] = []
        for i in range(args.repeat):  # interleaved, so drift on the machine hits every series alike
            series["raw"].append(timed(raw_dump(env, out, args.format, args.jobs, args.compress)))
            series["role"].append(timed(role_backup(env, args.format, args.jobs, False, role_steps, role_phases)))
            series["role_verified"].append(
                timed(role_backup(env, args.format, args.jobs, True, verified_steps, verified_phases)))
            series["raw_z6"].append(timed(raw_dump(env, out, args.format, args.jobs, "6")))
            print(f"  round {i + 1}: " + ", ".join(f"{k} {v[-1]:.1f} s" for k, v in series.items()), flush=True)
        raw = statistics.median(series["raw"])
        print(f"\nformat {args.format}, jobs {args.jobs}, compression {args.compress}, {args.repeat} rounds, "
              f"{os.cpu_count()} cores; medians:")
        rows = [
            ("raw pg_dump (baseline)", raw),
            ("backup role (the record's backup phase)", statistics.median(role_phases)),
            ("  of which the dump step", statistics.median(role_steps)),
            ("  the whole playbook (run start, lock, record)", statistics.median(series["role"])),
            ("verified backup role (test restore)", statistics.median(verified_phases)),
            ("  of which the dump step", statistics.median(verified_steps)),
            ("  the whole playbook", statistics.median(series["role_verified"])),
            ("raw pg_dump at gzip level 6 (pg_dump's default)", statistics.median(series["raw_z6"])),
        ]
        for name, value in rows:
            print(f"  {name:<52} {value:7.1f} s   ratio {value / raw:5.2f}")
    finally:
        env.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
