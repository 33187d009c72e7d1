"""The gate's sql provider against a real PostgreSQL: read-only, bounded, reused, honest about errors."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ansible_collections.liftoff.release.plugins.plugin_utils.gate import MetricSpec, parse_metric_spec
from ansible_collections.liftoff.release.plugins.plugin_utils.providers import (
    ProviderError,
    Providers,
)
from tests.support import pg as pg_support
from tests.support.pg import PgCluster

pytestmark = pytest.mark.integration
pg_cluster = pg_support.pg_cluster
fresh_db = pg_support.fresh_db


def providers(pg: PgCluster, db: str, timeout: float = 2.0) -> Providers:
    return Providers(timeout=timeout, sql_connection={"host": pg.host, "port": pg.port, "dbname": db,
                                                      "user": pg.user})


def metric(query: str) -> MetricSpec:
    return parse_metric_spec({"name": "queue_size", "provider": "sql", "query": query, "max": 99}, 0)


def test_queue_size_is_read(pg_cluster: PgCluster, fresh_db: str) -> None:
    pg_cluster.psql("CREATE TABLE jobs (id serial, state text); "
                    "INSERT INTO jobs (state) SELECT 'queued' FROM generate_series(1, 42)", db=fresh_db)
    p = providers(pg_cluster, fresh_db)
    try:
        spec = metric("SELECT count(*) FROM jobs WHERE state = 'queued'")
        assert p.read(spec).value == 42
        pg_cluster.psql("INSERT INTO jobs (state) SELECT 'queued' FROM generate_series(1, 100)", db=fresh_db)
        assert p.read(spec).value == 142  # the same connection sees new data (autocommit)
        assert p.read(metric("SELECT NULL::int")).value is None
        assert p.read(metric("SELECT 1 WHERE false")).value is None
        assert p.read(metric("SELECT avg(id) FROM jobs")).value == pytest.approx(71.5)  # numeric -> float
    finally:
        p.close()


def test_the_provider_cannot_write(pg_cluster: PgCluster, fresh_db: str) -> None:
    pg_cluster.psql("CREATE TABLE jobs (id int); INSERT INTO jobs VALUES (1)", db=fresh_db)
    p = providers(pg_cluster, fresh_db)
    try:
        with pytest.raises(ProviderError, match="read-only transaction"):
            p.read(metric("DELETE FROM jobs RETURNING 1"))
        assert pg_cluster.psql("SELECT count(*) FROM jobs", db=fresh_db) == "1"
        assert p.read(metric("SELECT count(*) FROM jobs")).value == 1  # reconnects after the error
    finally:
        p.close()


def test_statement_timeout_and_bad_sql(pg_cluster: PgCluster, fresh_db: str) -> None:
    p = providers(pg_cluster, fresh_db, timeout=1.0)
    try:
        with pytest.raises(ProviderError, match="statement timeout"):
            p.read(metric("SELECT count(*) FROM pg_sleep(5)"))
        with pytest.raises(ProviderError, match=r'relation "nope" does not exist'):
            p.read(metric("SELECT count(*) FROM nope"))
        with pytest.raises(ProviderError, match=r"gave 'x', not a number"):
            p.read(metric("SELECT 'x'"))
    finally:
        p.close()


def test_unreachable_database_names_where_not_the_password(pg_cluster: PgCluster, fresh_db: str) -> None:
    p = Providers(timeout=1, sql_connection={"host": "127.0.0.1", "port": 9, "dbname": fresh_db,
                                             "user": "app", "password": "pl4nted-s3cret"})
    with pytest.raises(ProviderError) as info:
        p.read(metric("SELECT 1"))
    assert f"sql app@127.0.0.1:9/{fresh_db}:" in str(info.value)
    assert "pl4nted-s3cret" not in str(info.value)
