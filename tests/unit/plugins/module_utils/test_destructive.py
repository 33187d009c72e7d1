"""Destructive-statement detection: true positives, false positives, lines and excerpts."""
from __future__ import annotations

import pytest

from ansible_collections.liftoff.release.plugins.module_utils._destructive import (
    Finding,
    blank_sql,
    refusal,
    scan,
    unapproved,
)


def kinds(sql: str) -> list[str]:
    return [f.kind for f in scan(sql)]


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("DROP TABLE users;", ["DROP TABLE"]),
        ("drop table if exists users cascade", ["DROP TABLE"]),
        ("DROP SCHEMA legacy CASCADE;", ["DROP SCHEMA"]),
        ("DROP INDEX CONCURRENTLY orders_idx;", ["DROP INDEX"]),
        ("DROP MATERIALIZED VIEW stats;", ["DROP MATERIALIZED VIEW"]),
        ("DROP VIEW v; DROP SEQUENCE s; DROP TYPE mood;", ["DROP VIEW", "DROP SEQUENCE", "DROP TYPE"]),
        ("ALTER TABLE users DROP COLUMN email;", ["DROP COLUMN"]),
        ("ALTER TABLE users DROP email;", ["DROP COLUMN"]),
        ("ALTER TABLE users DROP COLUMN IF EXISTS email CASCADE;", ["DROP COLUMN"]),
        ("ALTER TABLE IF EXISTS ONLY public.users DROP IF EXISTS email;", ["DROP COLUMN"]),
        ('ALTER TABLE "Users" DROP COLUMN "Email";', ["DROP COLUMN"]),
        ("ALTER TABLE orders DROP CONSTRAINT orders_user_fk;", ["DROP CONSTRAINT"]),
        ("ALTER TABLE users ALTER COLUMN id TYPE bigint;", ["ALTER COLUMN TYPE"]),
        ("ALTER TABLE users ALTER id SET DATA TYPE bigint USING id::bigint;", ["ALTER COLUMN TYPE"]),
        ("ALTER TABLE users ALTER COLUMN email SET NOT NULL;", ["SET NOT NULL"]),
        ("ALTER TABLE users ADD COLUMN age int NOT NULL;", ["ADD COLUMN NOT NULL without DEFAULT"]),
        ("ALTER TABLE users ADD age int NOT NULL REFERENCES ages(id);", ["ADD COLUMN NOT NULL without DEFAULT"]),
        ("ALTER TABLE users ADD COLUMN IF NOT EXISTS age int CONSTRAINT c NOT NULL;",
         ["ADD COLUMN NOT NULL without DEFAULT"]),
        ("TRUNCATE users;", ["TRUNCATE"]),
        ("truncate table a, b restart identity", ["TRUNCATE"]),
        ("DELETE FROM sessions;", ["DELETE without WHERE"]),
        ("WITH old AS (SELECT 1) DELETE FROM sessions", ["DELETE without WHERE"]),
        ("ALTER TABLE users RENAME TO accounts;", ["RENAME"]),
        ("ALTER TABLE users RENAME COLUMN email TO mail;", ["RENAME"]),
        ("ALTER TABLE users RENAME email TO mail;", ["RENAME"]),
        ("ALTER INDEX users_idx RENAME TO accounts_idx;", ["RENAME"]),
        ("ALTER VIEW v RENAME TO w;", ["RENAME"]),
        # several actions in one ALTER TABLE: each one counts
        ("ALTER TABLE t DROP COLUMN a, ALTER COLUMN b TYPE text, ADD COLUMN c int;",
         ["DROP COLUMN", "ALTER COLUMN TYPE"]),
        # a destructive statement after a harmless one, in one file
        ("CREATE TABLE x (id int);\nINSERT INTO x VALUES (1);\nDROP TABLE y;", ["DROP TABLE"]),
        # E'' string with an escaped quote must not swallow the DROP after it
        ("INSERT INTO t VALUES (E'it\\'s');\nDROP TABLE t;", ["DROP TABLE"]),
    ],
)
def test_destructive_statements_are_found(sql: str, expected: list[str]) -> None:
    assert kinds(sql) == expected


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE TABLE stats (id int, drop_count int NOT NULL DEFAULT 0);",
        "ALTER TABLE stats ADD COLUMN drop_count int;",
        "ALTER TABLE stats ADD COLUMN x int NOT NULL DEFAULT 0;",
        "ALTER TABLE stats ADD COLUMN x int DEFAULT 0 NOT NULL;",
        "ALTER TABLE stats ADD COLUMN id bigserial NOT NULL;",
        "ALTER TABLE stats ADD COLUMN total int GENERATED ALWAYS AS (a + b) STORED NOT NULL;",
        "ALTER TABLE stats ADD COLUMN note text;",
        "ALTER TABLE stats ADD CONSTRAINT c CHECK (x IS NOT NULL) NOT VALID;",
        "ALTER TABLE stats ADD PRIMARY KEY (id);",
        "ALTER TABLE stats ALTER COLUMN note DROP NOT NULL;",
        "ALTER TABLE stats ALTER COLUMN note DROP DEFAULT;",
        "ALTER TABLE stats ALTER COLUMN note SET DEFAULT 'DROP TABLE x';",
        "INSERT INTO log (msg) VALUES ('DROP TABLE users; TRUNCATE x');",
        "INSERT INTO log (msg) VALUES ('it''s; DROP TABLE users');",
        "-- DROP TABLE users;\nSELECT 1;",
        "/* DROP TABLE users; /* nested */ TRUNCATE x; */ SELECT 1;",
        "CREATE FUNCTION f() RETURNS void AS $$ BEGIN DELETE FROM t; END $$ LANGUAGE plpgsql;",
        "CREATE FUNCTION f() RETURNS void AS $body$ DROP TABLE t; $body$ LANGUAGE sql;",
        'SELECT "drop" FROM t;',
        'UPDATE t SET "truncate" = 1 WHERE id = 2;',
        "DELETE FROM sessions WHERE expires_at < now();",
        "DELETE FROM sessions s USING users u WHERE s.user_id = u.id;",
        "SELECT drop_count, truncated, renamed FROM stats;",
        "CREATE INDEX drop_idx ON t (drop_count);",
        "COMMENT ON TABLE t IS 'we will DROP this later';",
        "",
        "   \n  ",
    ],
)
def test_harmless_statements_are_not_flagged(sql: str) -> None:
    assert scan(sql) == []


def test_finding_names_file_version_line_and_excerpt() -> None:
    sql = (
        "-- 004: cleanup\n"
        "CREATE TABLE keep (id int);\n"
        "ALTER TABLE users\n"
        "  ADD COLUMN note text,\n"
        "  DROP COLUMN   legacy_flag;  -- no longer read\n"
        "SELECT 'DROP TABLE keep';\n"
    )
    findings = scan(sql, file="004_cleanup.sql", version="004")
    assert findings == [
        Finding(file="004_cleanup.sql", version="004", line=5, kind="DROP COLUMN",
                excerpt="ALTER TABLE users ADD COLUMN note text, DROP COLUMN legacy_flag"),
    ]
    assert findings[0].to_dict() == {"file": "004_cleanup.sql", "version": "004", "line": 5,
                                     "kind": "DROP COLUMN",
                                     "excerpt": "ALTER TABLE users ADD COLUMN note text, DROP COLUMN legacy_flag"}


def test_excerpt_is_bounded() -> None:
    sql = "DROP TABLE " + ", ".join(f"t{i}" for i in range(200)) + ";"
    (finding,) = scan(sql)
    assert len(finding.excerpt) == 160 and finding.excerpt.endswith("...")


def test_blanking_keeps_offsets_and_lines() -> None:
    sql = "SELECT 'a\nb', $x$ DROP\n $x$, \"Col\" -- c\n/* d\n */ FROM t;"
    blanked = blank_sql(sql)
    assert len(blanked) == len(sql)
    assert blanked.count("\n") == sql.count("\n")
    assert "DROP" not in blanked and "Col" not in blanked and "FROM t;" in blanked
    shown = blank_sql(sql, comments_only=True)
    assert "DROP" in shown and "Col" in shown and "-- c" not in shown and "/* d" not in shown


def test_approval_is_per_version() -> None:
    findings = scan("DROP TABLE a;", file="004_a.sql", version="004") + \
        scan("TRUNCATE b;", file="005_b.sql", version="005")
    assert [f.version for f in unapproved(findings, [])] == ["004", "005"]
    assert [f.version for f in unapproved(findings, ["4"])] == ["005"]  # numeric compare
    assert unapproved(findings, ["004", "005"]) == []
    msg = refusal(unapproved(findings, ["004"]), "allow_destructive")
    assert msg.startswith("destructive migration(s) not approved, nothing applied: 005_b.sql:1 TRUNCATE: TRUNCATE b")
    assert msg.endswith("approve versions ['005'] with allow_destructive")
