"""Pure logic of the migration-tool drivers: history, URLs, Alembic output, pending SQL files, /proc parsing."""
from __future__ import annotations

import pytest

from ansible_collections.liftoff.release.plugins.module_utils._migrate_tool import (
    HistoryEntry,
    ToolError,
    client_ports,
    database_url,
    error_lines,
    history_entries,
    newly_applied,
    parse_alembic_history,
    parse_proc_net_tcp,
    scan_alembic_offline_sql,
    scan_pending_files,
    tool_defaults,
)


@pytest.mark.parametrize(
    ("tool", "table"),
    [("prisma", "_prisma_migrations"), ("knex", "knex_migrations"), ("flyway", "flyway_schema_history"),
     ("alembic", "alembic_version")],
)
def test_known_tools_have_a_history_query_and_tracking_tables(tool: str, table: str) -> None:
    query, tables = tool_defaults(tool, "", [])
    assert f"FROM {table}" in query and table in tables


def test_explicit_history_query_and_tables_win() -> None:
    assert tool_defaults("knex", "SELECT v FROM h", ["h"]) == ("SELECT v FROM h", ["h"])
    assert tool_defaults("", "SELECT v FROM h", []) == ("SELECT v FROM h", [])


@pytest.mark.parametrize(
    ("tool", "query", "match"),
    [("", "", "history_query is required when tool is not set"),
     ("liquibase", "", "tool 'liquibase' is not one of")],
)
def test_tool_defaults_refuse_what_cannot_work(tool: str, query: str, match: str) -> None:
    with pytest.raises(ToolError, match=match):
        tool_defaults(tool, query, [])


def test_history_and_newly_applied() -> None:
    before = history_entries([("001", "init"), ("002", None), (None, "x"), ()])
    assert before == [HistoryEntry("001", "init"), HistoryEntry("002", "002")]
    after = history_entries([("001", "init"), ("002", "002"), ("003", "add")])
    assert newly_applied(before, after) == [HistoryEntry("003", "add")]
    assert newly_applied(after, after) == []


@pytest.mark.parametrize(
    ("args", "url"),
    [(("postgresql", "app", "p@ss:w/rd%", "db.internal", 5432, "app"),
      "postgresql://app:p%40ss%3Aw%2Frd%25@db.internal:5432/app"),
     (("postgresql+psycopg", "app", "", "10.0.0.5", 6432, "my db"), "postgresql+psycopg://app@10.0.0.5:6432/my%20db"),
     (("postgresql", "app", "s", "/var/run/postgresql", 5432, "app"),
      "postgresql://app:s@/app?host=/var/run/postgresql&port=5432"),
     (("postgresql", "app", "", "", 5433, "app"), "postgresql://app@/app?port=5433")],
)
def test_database_url(args: tuple[str, str, str, str, int, str], url: str) -> None:
    assert database_url(*args) == url


ALEMBIC_HISTORY = """\
b2c0ffee0002 -> c3c0ffee0003 (head), drop legacy
a1c0ffee0001 -> b2c0ffee0002, create orders
<base> -> a1c0ffee0001, create users
"""


def test_parse_alembic_history_oldest_first() -> None:
    assert parse_alembic_history(ALEMBIC_HISTORY) == [
        HistoryEntry("a1c0ffee0001", "create users"),
        HistoryEntry("b2c0ffee0002", "create orders"),
        HistoryEntry("c3c0ffee0003", "drop legacy"),
    ]
    assert parse_alembic_history("INFO  [alembic.runtime.migration] Context impl PostgresqlImpl.\n") == []


def test_offline_sql_findings_are_attributed_to_their_revision() -> None:
    sql = (
        "BEGIN;\n\n"
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL);\n\n"
        "-- Running upgrade  -> a1c0ffee0001\n\n"
        "CREATE TABLE users (id BIGINT NOT NULL, legacy INTEGER);\n\n"
        "INSERT INTO alembic_version (version_num) VALUES ('a1c0ffee0001');\n\n"
        "-- Running upgrade a1c0ffee0001 -> c3c0ffee0003\n\n"
        "ALTER TABLE users ADD COLUMN note TEXT;\n\n"
        "ALTER TABLE users DROP COLUMN legacy;\n\n"
        "UPDATE alembic_version SET version_num='c3c0ffee0003' WHERE alembic_version.version_num = 'a1c0ffee0001';\n\n"
        "COMMIT;\n"
    )
    findings = scan_alembic_offline_sql(sql)
    assert [(f.version, f.kind, f.line) for f in findings] == [("c3c0ffee0003", "DROP COLUMN", 15)]
    assert sql.splitlines()[14] == "ALTER TABLE users DROP COLUMN legacy;"


def test_only_pending_tool_files_are_scanned() -> None:
    files = [
        ("prisma/migrations/20240101_init/migration.sql", "DROP TABLE old;"),
        ("prisma/migrations/20240202_cleanup/migration.sql", "ALTER TABLE users DROP COLUMN legacy;"),
        ("sql/V3__truncate.sql", "TRUNCATE audit;"),
        ("sql/V2__applied.sql", "DROP TABLE x;"),
    ]
    history = [HistoryEntry("20240101_init", "20240101_init"), HistoryEntry("2", "V2__applied.sql")]
    found = scan_pending_files(files, history)
    assert [(f.version, f.kind) for f in found] == [("20240202_cleanup", "DROP COLUMN"), ("V3__truncate", "TRUNCATE")]


def test_error_lines_prefer_the_message_over_the_stack() -> None:
    out = ("Using environment: development\n"
           "migration file \"003_broken.js\" failed\n"
           "migration failed with error: SELECT 1 / 0 - division by zero\n"
           "error: SELECT 1 / 0 - division by zero\n"
           "    at Parser.parseErrorMessage (node_modules/pg-protocol/dist/parser.js:283:98)\n")
    assert error_lines(out) == ['migration file "003_broken.js" failed',
                                "migration failed with error: SELECT 1 / 0 - division by zero",
                                "error: SELECT 1 / 0 - division by zero"]
    assert error_lines("a\nb\nc\nd\n") == ["b", "c", "d"]


PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1538 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0 100 0 0 10 0
   1: 0100007F:D431 0100007F:1538 01 00000000:00000000 00:00000000 00000000     0        0 2002 1 0 20 4 30 10 -1
   2: 0100007F:D432 0100007F:0050 01 00000000:00000000 00:00000000 00000000     0        0 2003 1 0 20 4 30 10 -1
"""


def test_proc_net_tcp_maps_sockets_to_the_database_port() -> None:
    assert parse_proc_net_tcp(PROC_NET_TCP)[2002] == (0xD431, 0x1538)
    assert client_ports({2002, 2003, 9999}, [PROC_NET_TCP], 0x1538) == [0xD431]
    assert client_ports(set(), [PROC_NET_TCP], 0x1538) == []
