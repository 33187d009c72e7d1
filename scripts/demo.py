#!/usr/bin/env python
"""`make demo`: three real deployments on a throwaway local environment.

1. v1 is deployed; 2. v2 (backup verified, migration applied, gate PROCEED);
3. a bad v3 (30% of requests fail): the gate decides ROLLBACK, v2 serves again, the
database is intact, the command exits non-zero, and the record says which metric breached.
Every process it starts (PostgreSQL, pm2) is stopped at the end, whatever happens.
"""
from __future__ import annotations

import json
import shutil
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from localenv import REPO, LocalEnv, stop_root

ROOT = REPO / ".demo"


def served_version(env: LocalEnv) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{env.app_port}/version", timeout=5) as reply:
        return str(json.load(reply)["version"])


def newest_record(env: LocalEnv) -> Path:
    runs = sorted((env.root / "records" / "local").glob("*/record.json"))
    return runs[-1]


def step(env: LocalEnv, title: str, version: str, expect_ok: bool) -> Path:
    print(f"\n==> {title}: ansible-playbook playbooks/deploy.yml -i inventories/local -e liftoff_version={version}")
    started = time.monotonic()
    result = env.playbook("deploy.yml", version=version)
    log = env.root / f"deploy-{version}.log"
    log.write_text(result.stdout + result.stderr, encoding="utf-8")
    record_path = newest_record(env)
    record = json.loads(record_path.read_text(encoding="utf-8"))
    print(f"    exit code {result.returncode} in {time.monotonic() - started:.1f} s; outcome {record['outcome']}; "
          f"gate {record['verdict']}; log {log}")
    if (result.returncode == 0) != expect_ok:
        print(result.stdout[-4000:])
        raise SystemExit(f"demo: {version} exited {result.returncode}, expected {'0' if expect_ok else 'non-zero'}")
    if record.get("reason"):
        print(f"    why: {record['reason']}")
    return record_path


def main() -> int:
    stop_root(ROOT)
    if ROOT.exists():
        shutil.rmtree(ROOT)
    env = LocalEnv.start(ROOT)
    records: list[Path] = []
    started = time.monotonic()
    try:
        print(f"local environment in {env.root}: PostgreSQL 127.0.0.1:{env.pg.port}, "
              f"Prometheus {env.prometheus.url if env.prometheus else '(none)'}, app 127.0.0.1:{env.app_port}")
        records.append(step(env, "1. deploy v1", "v1", expect_ok=True))
        records.append(step(env, "2. deploy v2 (migration 002, gate PROCEED)", "v2", expect_ok=True))
        rows_before = env.pg.psql("SELECT count(*) FROM items", db="demo").strip()
        records.append(step(env, "3. deploy bad v3 (30% errors): expect ROLLBACK", "v3", expect_ok=False))
        version = served_version(env)
        rows_after = env.pg.psql("SELECT count(*) FROM items", db="demo").strip()
        print(f"\n    after the rollback: {version} serves; items rows {rows_before} before, {rows_after} after")
        if version != "v2" or rows_before != rows_after:
            raise SystemExit("demo: the rollback did not leave v2 serving with the data intact")
        print("\nRecords:")
        for path in records:
            print(f"  {path.with_suffix('.md')}")
        print(f"\ndemo passed in {time.monotonic() - started:.0f} s")
        return 0
    finally:
        env.stop()
        print("stopped PostgreSQL, Prometheus and pm2")


if __name__ == "__main__":
    sys.exit(main())
