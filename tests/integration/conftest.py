"""Fixtures for integration tests: a real throwaway environment (PostgreSQL cluster, pm2) per module."""
from __future__ import annotations

import json
import os
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))

from localenv import LocalEnv

# Integration runs print with Ansible's own default callback, not the repository's masking one
# (ansible.cfg's liftoff.release.redact): "no secret in the output" then proves the roles and plugins
# themselves print none, not only that the callback masked it. test_redaction sets the callback it tests.
os.environ.setdefault("ANSIBLE_STDOUT_CALLBACK", "ansible.builtin.default")

# Seconds each module took on one worker (2-core machine): under pytest-xdist (scripts/test.sh:
# --dist loadfile --no-loadscope-reorder) the longest modules are handed out first, so no long
# module starts last while the other workers sit idle. Only the order depends on these numbers:
# a stale one costs minutes, never a result. A module not listed counts as DEFAULT_SECONDS.
MODULE_SECONDS = {
    "test_fleet.py": 700,
    "test_fleet_compose.py": 250,
    "test_deploy.py": 400,
    "test_compose.py": 300,
    "test_data_safety.py": 300,
    "test_cdn.py": 310,
    "test_gate_prometheus.py": 300,
    "test_lock.py": 250,
    "test_migrate_drivers.py": 200,
    "test_maintenance.py": 150,
    "test_migrate_faults.py": 80,
    "test_sql_migrate.py": 60,
    "test_prometheus_live.py": 40,
    "test_demo_app.py": 15,
    "test_sql_provider.py": 10,
    "test_k8s_manifests.py": 60,
    "test_k8s_cluster.py": 1,
    "test_readiness.py": 60,
    "test_approval.py": 40,
    "test_smoke_suite.py": 180,
    "test_interrupt_resume.py": 270,
    "test_redaction.py": 345,
    "test_runner.py": 210,
    "test_seed_000.py": 270,
    "test_seed_001.py": 300,
    "test_seed_002.py": 200,
    "test_seed_003.py": 420,
    "test_seed_004.py": 900,
}
DEFAULT_SECONDS = 240


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In an xdist worker, order modules longest first; each module's tests keep their file order."""
    if not hasattr(config, "workerinput"):  # not a worker: a plain run keeps the usual order
        return
    first_seen: dict[Path, int] = {}
    for index, item in enumerate(items):
        first_seen.setdefault(item.path, index)

    def weight(item: pytest.Item) -> tuple[float, int]:
        return -MODULE_SECONDS.get(item.path.name, DEFAULT_SECONDS), first_seen[item.path]

    items.sort(key=weight)  # stable: the tests of one module stay in their order


@pytest.fixture(scope="module")
def local_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEnv]:
    env = LocalEnv.start(tmp_path_factory.mktemp("liftoff-env"))
    try:
        yield env
    finally:
        env.stop()


def served_version(env: LocalEnv) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{env.app_port}/version", timeout=5) as reply:
            return str(json.load(reply)["version"])
    except OSError:
        return None


def runs(env: LocalEnv) -> list[Path]:
    return sorted(p for p in (env.root / "records" / "local").glob("*") if p.is_dir())


RECORD_SCHEMA = json.loads((REPO / "docs" / "record-schema.json").read_text(encoding="utf-8"))


def checked_record(path: Path) -> dict[str, Any]:
    """A record.json, validated against the published schema (docs/record-schema.json)."""
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.validate(document, RECORD_SCHEMA)
    return document


def latest_record(env: LocalEnv) -> dict[str, Any]:
    return checked_record(runs(env)[-1] / "record.json")


def evidence_all(record: dict[str, Any], ident: str) -> list[dict[str, Any]]:
    """Every evidence item with this id, in journal order (none is an empty list)."""
    return [i for i in record["evidence"] if i["id"] == ident]


def evidence(record: dict[str, Any], ident: str) -> dict[str, Any]:
    matches = [i for i in record["evidence"] if i["id"] == ident]
    assert matches, f"no evidence {ident!r} in the record; ids: {[i['id'] for i in record['evidence']]}"
    return matches[-1]


def failures(record: dict[str, Any]) -> list[tuple[str, str]]:
    """Every failed evidence item as (id, actual): what an assertion on an outcome shows when it fails."""
    return [(str(i["id"]), str(i.get("actual"))[:300]) for i in record["evidence"] if i["status"] == "fail"]


def release_state(env: LocalEnv) -> dict[str, Any]:
    return json.loads((env.root / "srv" / "app" / "releases.json").read_text(encoding="utf-8"))


def applied_migrations(env: LocalEnv) -> list[str]:
    out = env.pg.psql("SELECT version FROM liftoff_schema_migrations ORDER BY version", db="demo")
    return [line.strip() for line in out.splitlines() if line.strip()]


def backups(env: LocalEnv) -> list[Path]:
    return sorted((env.root / "backups").glob("*.pgc"))


def assert_no_secret(env: LocalEnv, *texts: str) -> None:
    """The planted database password never appears in output, journal or record."""
    secret = env.db_password
    for text in texts:
        assert secret not in text
    for path in (env.root / "records").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"secret leaked into {path}"


def checklist_shortfalls(record: dict[str, Any]) -> dict[str, str]:
    """The record's checklist items (liftoff_checklist) that did not pass: id -> "status: what was seen".

    Out-of-scope items (n/a) are not shortfalls; a seed example's test asserts this is empty, or is
    exactly the items its short run cannot complete (a profile window longer than the test's)."""
    checklist = record.get("checklist") or {}
    assert checklist.get("items"), "the record has no checklist: is liftoff_checklist set in the inventory?"
    return {row["id"]: f"{row['status']}: {row.get('actual', '')}" for row in checklist["items"]
            if row["status"] not in ("pass", "n/a")}
