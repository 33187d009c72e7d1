"""The migrate role's three drivers through real ansible-playbook, against a throwaway PostgreSQL.

- sql: destructive migrations are refused before anything is applied, then applied once a named
  person approves them, and the approval is in the journal (migrate.destructive);
- command: a real knex project (npm install knex pg) - applied migrations read from knex's own
  history table, check mode runs `knex migrate:list` and changes nothing, a failing migration and a
  hanging one (killed at the timeout) stop the phase with what was applied before recorded;
- alembic: a real Alembic project - applied revisions, the plan in check mode, a destructive
  revision refused (found in `alembic upgrade --sql`), then approved.

Every driver must leave the same evidence (migrate.apply with details.applied [{version, name}],
fingerprints, duration; migrate.change with details.undo for rollback). The database user
carries a planted password, and -vvv output and the journal must never contain it.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support import pg as pg_support
from tests.support.pg import PgCluster

pytestmark = pytest.mark.integration

pg_cluster = pg_support.pg_cluster
fresh_db = pg_support.fresh_db

VENV_BIN = ROOT / ".venv" / "bin"
PLAYBOOK = str(VENV_BIN / "ansible-playbook") if (VENV_BIN / "ansible-playbook").exists() else "ansible-playbook"
PYTHON = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
ALEMBIC = str(VENV_BIN / "alembic") if (VENV_BIN / "alembic").exists() else "alembic"
ROLE_PLAYBOOK = ROOT / "tests" / "integration" / "playbooks" / "migrate_role.yml"
SECRET = "planted-" + uuid.uuid4().hex[:16] + "%/@:"  # URL-special characters on purpose
USER = "app_owner"


@pytest.fixture(scope="module")
def app_user(pg_cluster: PgCluster) -> str:
    """A login role with the planted password (trust auth ignores it; it must still never show)."""
    escaped = SECRET.replace("'", "''")
    pg_cluster.psql(f"DO $$ BEGIN CREATE ROLE {USER} LOGIN SUPERUSER PASSWORD '{escaped}';"
                    " EXCEPTION WHEN duplicate_object THEN NULL; END $$")
    return USER


def run_role(cluster: PgCluster, db: str, tmp: Path, *args: str, **role_vars: Any) -> tuple[int, str, list[dict[str, Any]]]:
    """Run the role; return (exit code, -vvv output, the run's journal)."""
    run_id = f"t{time.monotonic_ns()}"
    records = tmp / "records"
    variables = {
        "migrate_test_record_dir": str(records), "migrate_test_run_id": run_id,
        "liftoff_db_host": cluster.host, "liftoff_db_port": cluster.port, "liftoff_db_name": db,
        "liftoff_db_user": USER, "liftoff_db_password": SECRET, "liftoff_release_src": str(tmp),
        "ansible_python_interpreter": PYTHON, "ansible_connection": "local",
        **role_vars,
    }
    varfile = tmp / f"vars-{run_id}.json"
    varfile.write_text(json.dumps(variables))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_LOCALHOST_WARNING": "0", "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0"}
    proc = subprocess.run([PLAYBOOK, "-vvv", "-i", "localhost,", str(ROLE_PLAYBOOK), "-e", f"@{varfile}", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    varfile.unlink()
    journal_file = records / "test" / run_id / "evidence.jsonl"
    journal = [json.loads(line) for line in journal_file.read_text().splitlines()] if journal_file.exists() else []
    output = proc.stdout + proc.stderr
    assert_no_secret(output, records)
    return proc.returncode, output, journal


def assert_no_secret(output: str, records: Path) -> None:
    from urllib.parse import quote

    for form in (SECRET, quote(SECRET, safe="")):
        assert form not in output, "the planted password leaked into ansible output"
        for path in records.rglob("*"):
            if path.is_file():
                assert form.encode() not in path.read_bytes(), f"the planted password leaked into {path}"


def evidence(journal: list[dict[str, Any]], ident: str) -> dict[str, Any]:
    found = [item for item in journal if item["id"] == ident]
    assert found, f"no {ident} in the journal: {[i['id'] for i in journal]}"
    return found[-1]


def has(journal: list[dict[str, Any]], ident: str) -> bool:
    return any(item["id"] == ident for item in journal)


def checksum(cluster: PgCluster, db: str, table: str) -> str:
    return cluster.psql(f"SELECT md5(string_agg(t::text, ',' ORDER BY id)) FROM {table} t", db)


def assert_same_evidence_shape(journal: list[dict[str, Any]], driver: str, applied: list[str]) -> None:
    """The contract every driver keeps: rollback and the record read these."""
    apply = evidence(journal, "migrate.apply")
    details = apply["details"]
    assert details["driver"] == driver
    assert [a["version"] for a in details["applied"]] == applied
    assert all({"version", "name"} <= set(a) for a in details["applied"])
    assert len(details["fingerprint_before"]) == 64 and len(details["fingerprint_after"]) == 64
    assert isinstance(details["duration_ms"], int)
    if applied:
        undo = evidence(journal, "migrate.change")["details"]["undo"]
        assert set(undo) == {"kind", "backup", "migration_failed", "applied", "fingerprint_before"}
        assert undo["kind"] == "database" and undo["applied"] == applied
        assert undo["fingerprint_before"] == details["fingerprint_before"]


# ---------------------------------------------------------------------------- sql driver

DESTRUCTIVE = {
    "001_create_users.sql": "CREATE TABLE users (id bigserial PRIMARY KEY, email text NOT NULL, legacy int);\n",
    "002_seed.sql": "INSERT INTO users (email) SELECT 'u' || g FROM generate_series(1, 50) g;\n",
    "003_cleanup.sql": (
        "-- the old flag is unused since v41\n"
        "ALTER TABLE users ADD COLUMN drop_count int NOT NULL DEFAULT 0;\n"
        "ALTER TABLE users DROP COLUMN legacy;\n"
        "COMMENT ON TABLE users IS 'DROP TABLE is not run here';\n"
    ),
}


def test_sql_destructive_refused_then_approved_and_recorded(
    pg_cluster: PgCluster, fresh_db: str, app_user: str, tmp_path: Path
) -> None:
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    for name, body in DESTRUCTIVE.items():
        (migrations / name).write_text(body)

    # the plan shows the finding and that the run would be refused
    rc, out, journal = run_role(pg_cluster, fresh_db, tmp_path, "--check")
    assert rc != 0
    finding = evidence(journal, "migrate.destructive")
    assert finding["status"] == "fail"
    assert [(f["file"], f["line"], f["kind"]) for f in finding["details"]["findings"]] == \
        [("003_cleanup.sql", 3, "DROP COLUMN")]
    assert pg_cluster.psql("SELECT to_regclass('users') IS NULL", fresh_db) == "t"

    # without approval: refused before anything (even 001, 002) is applied
    rc, out, journal = run_role(pg_cluster, fresh_db, tmp_path)
    assert rc != 0
    apply = evidence(journal, "migrate.apply")
    assert apply["status"] == "fail"
    assert "destructive migration(s) not approved, nothing applied: 003_cleanup.sql:3 DROP COLUMN: " \
           "ALTER TABLE users DROP COLUMN legacy" in apply["actual"]
    assert "migrate_destructive_approval" in apply["actual"] and "['003']" in apply["actual"]
    assert not has(journal, "migrate.change")
    assert pg_cluster.psql("SELECT to_regclass('users') IS NULL", fresh_db) == "t"

    # an approval without who approved is refused by the argument spec, before any change
    rc, out, journal = run_role(pg_cluster, fresh_db, tmp_path,
                                migrate_destructive_approval={"versions": ["003"], "reason": "unused"})
    assert rc != 0 and "approved_by" in out
    assert pg_cluster.psql("SELECT to_regclass('users') IS NULL", fresh_db) == "t"

    # approve 001..002 only (apply them), then 003 approved by a named person
    approval = {"approved_by": "dana.ops", "reason": "legacy unused since v41; backup verified",
                "versions": ["003"], "approved_at": "2026-12-01T09:00:00Z"}
    rc, out, journal = run_role(pg_cluster, fresh_db, tmp_path, migrate_destructive_approval=approval)
    assert rc == 0, out[-3000:]
    destructive = evidence(journal, "migrate.destructive")
    assert destructive["status"] == "pass"
    assert destructive["details"]["approved_by"] == "dana.ops"
    assert destructive["details"]["approved_versions"] == ["003"]
    assert destructive["details"]["reason"].startswith("legacy unused")
    assert destructive["details"]["approved_at"] == "2026-12-01T09:00:00Z"
    assert destructive["details"]["recorded_at"]
    assert destructive["details"]["unapproved"] == []
    assert "approved by dana.ops" in destructive["actual"]
    assert_same_evidence_shape(journal, "sql", ["001", "002", "003"])
    assert pg_cluster.psql("SELECT string_agg(column_name, ',' ORDER BY ordinal_position) FROM "
                           "information_schema.columns WHERE table_name = 'users'", fresh_db) == "id,email,drop_count"
    assert pg_cluster.psql("SELECT count(*) FROM users", fresh_db) == "50"


# ---------------------------------------------------------------------------- command driver (knex)

@pytest.fixture(scope="module")
def knex_modules(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """node_modules with knex and pg, installed from the npm registry once per module."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not installed: install Debian's nodejs and npm (apt-get install -y nodejs npm)")
    base = tmp_path_factory.mktemp("knex")
    proc = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(base), "knex@3", "pg@8"],
                          capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode != 0:
        pytest.skip(f"npm registry unreachable, knex cannot be installed: {proc.stderr.strip()[-500:]}")
    return base / "node_modules"


KNEXFILE = "module.exports = { client: 'pg', connection: process.env.DATABASE_URL, " \
           "migrations: { directory: './migrations' } };\n"
KNEX_MIGRATIONS = {
    "20260101000001_create_users.js": textwrap.dedent("""\
        exports.up = (knex) => knex.schema.createTable('users', (t) => {
          t.bigIncrements('id'); t.text('email').notNullable();
        });
        exports.down = (knex) => knex.schema.dropTable('users');
        """),
    "20260101000002_create_orders.js": textwrap.dedent("""\
        exports.up = async (knex) => {
          await knex.raw('CREATE TABLE orders (id bigserial PRIMARY KEY, user_id bigint NOT NULL REFERENCES users(id))');
          await knex.raw("INSERT INTO users (email) SELECT 'u' || g FROM generate_series(1, 20) g");
        };
        exports.down = (knex) => knex.raw('DROP TABLE orders');
        """),
}


def knex_project(base: Path, modules: Path, migrations: dict[str, str]) -> Path:
    project = base / "backend"
    (project / "migrations").mkdir(parents=True, exist_ok=True)
    if not (project / "node_modules").exists():
        (project / "node_modules").symlink_to(modules)
    (project / "knexfile.js").write_text(KNEXFILE)
    for name, body in migrations.items():
        (project / "migrations" / name).write_text(body)
    return project


def knex_history(cluster: PgCluster, db: str) -> list[str]:
    out = cluster.psql("SELECT name FROM knex_migrations ORDER BY id", db)
    return out.split() if out else []


def test_command_driver_with_knex(
    pg_cluster: PgCluster, fresh_db: str, app_user: str, knex_modules: Path, tmp_path: Path
) -> None:
    project = knex_project(tmp_path, knex_modules, KNEX_MIGRATIONS)
    knex = {"migrate_driver": "command", "migrate_chdir": str(project), "migrate_command_tool": "knex",
            "migrate_command": ["npx", "knex", "migrate:latest"], "migrate_command_check": ["npx", "knex", "migrate:list"],
            "migrate_timeout": 120}

    # check mode: the tool's own plan, no migration applied. (knex's `migrate:list` creates its own
    # empty bookkeeping tables - the tool's doing; the application schema stays as it was.)
    rc, out, journal = run_role(pg_cluster, fresh_db, tmp_path, "--check", **knex)
    assert rc == 0, out[-3000:]
    plan = evidence(journal, "migrate.apply")
    assert plan["status"] == "skip"
    assert any("20260101000002_create_orders.js" in line for line in plan["details"]["check_output"])
    assert plan["details"]["fingerprint_before"] == plan["details"]["fingerprint_after"]
    assert pg_cluster.psql("SELECT coalesce(string_agg(tablename, ','), '') FROM pg_tables WHERE schemaname = 'public'"
                           " AND tablename NOT LIKE 'knex\\_migrations%'", fresh_db) == ""
    assert knex_history(pg_cluster, fresh_db) == []

    rc, out, journal = run_role(pg_cluster, fresh_db, tmp_path, **knex)
    assert rc == 0, out[-3000:]
    assert_same_evidence_shape(journal, "command", ["20260101000001_create_users.js", "20260101000002_create_orders.js"])
    apply = evidence(journal, "migrate.apply")
    assert apply["status"] == "pass"
    assert apply["details"]["fingerprint_before"] != apply["details"]["fingerprint_after"]
    assert knex_history(pg_cluster, fresh_db) == ["20260101000001_create_users.js", "20260101000002_create_orders.js"]
    users = checksum(pg_cluster, fresh_db, "users")

    # rerun: nothing applied, schema unchanged
    rc, out, journal = run_role(pg_cluster, fresh_db, tmp_path, **knex)
    assert rc == 0, out[-3000:]
    apply = evidence(journal, "migrate.apply")
    assert apply["details"]["applied"] == [] and not has(journal, "migrate.change")
    assert apply["details"]["fingerprint_before"] == apply["details"]["fingerprint_after"]

    # a migration that fails halfway: knex rolls it back; the phase fails and says so
    knex_project(tmp_path, knex_modules, {"20260101000003_broken.js": textwrap.dedent("""\
        exports.up = async (knex) => {
          await knex.raw('CREATE TABLE invoices (id int)');
          await knex.raw("UPDATE users SET email = 'x'");
          await knex.raw('SELECT 1 / 0');
        };
        exports.down = async () => {};
        """)})
    rc, out, journal = run_role(pg_cluster, fresh_db, tmp_path, **knex)
    assert rc != 0
    apply = evidence(journal, "migrate.apply")
    assert apply["status"] == "fail" and "exited 1" in apply["actual"] and "division by zero" in apply["actual"]
    assert apply["details"]["applied"] == []
    assert checksum(pg_cluster, fresh_db, "users") == users
    assert pg_cluster.psql("SELECT to_regclass('invoices') IS NULL", fresh_db) == "t"
    assert len(knex_history(pg_cluster, fresh_db)) == 2

    # a migration that hangs is killed at migrate_timeout, with its process group
    (project / "migrations" / "20260101000003_broken.js").write_text(
        "exports.up = (knex) => knex.raw('SELECT pg_sleep(60)');\nexports.down = async () => {};\n")
    # 12 s: node and knex must reach pg_sleep before the timeout, which takes a few seconds on a
    # loaded 2-core machine (at 3 s knex was sometimes killed before it opened a session).
    started = time.monotonic()
    rc, out, journal = run_role(pg_cluster, fresh_db, tmp_path, **{**knex, "migrate_timeout": 12})
    wall = time.monotonic() - started
    print(f"\nknex migration hanging in pg_sleep(60) with migrate_timeout=12: the phase failed after {wall:.1f}s")
    assert rc != 0 and wall < 60
    timed_out = evidence(journal, "migrate.apply")["actual"]
    assert "did not finish within 12s (timeout); its process group was killed; its database sessions [" in timed_out
    assert "were terminated" in timed_out
    deadline = time.monotonic() + 15
    while pg_cluster.psql("SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(60)%'"
                          " AND pid <> pg_backend_pid()", fresh_db) != "0":
        assert time.monotonic() < deadline, "the killed tool's backend is still running"
        time.sleep(0.2)
    assert len(knex_history(pg_cluster, fresh_db)) == 2


# ---------------------------------------------------------------------------- alembic driver

ALEMBIC_INI = textwrap.dedent("""\
    [alembic]
    script_location = %(here)s/migrations

    [loggers]
    keys = root,alembic
    [handlers]
    keys = console
    [formatters]
    keys = generic
    [logger_root]
    level = WARNING
    handlers = console
    [logger_alembic]
    level = INFO
    handlers =
    qualname = alembic
    [handler_console]
    class = StreamHandler
    args = (sys.stderr,)
    level = NOTSET
    formatter = generic
    [formatter_generic]
    format = %(levelname)-5.5s [%(name)s] %(message)s
    """)
ENV_PY = textwrap.dedent("""\
    import os
    from logging.config import fileConfig

    from alembic import context
    from sqlalchemy import create_engine, pool

    config = context.config
    if config.config_file_name is not None:
        fileConfig(config.config_file_name)
    URL = os.environ["DATABASE_URL"]  # set by liftoff.release (migrate_url_env); never in argv


    def run_migrations_offline() -> None:
        context.configure(url=URL, literal_binds=True, dialect_opts={"paramstyle": "named"})
        with context.begin_transaction():
            context.run_migrations()


    def run_migrations_online() -> None:
        engine = create_engine(URL, poolclass=pool.NullPool)
        with engine.connect() as connection:
            context.configure(connection=connection, transaction_per_migration=True)
            with context.begin_transaction():
                context.run_migrations()


    if context.is_offline_mode():
        run_migrations_offline()
    else:
        run_migrations_online()
    """)
SCRIPT_MAKO = textwrap.dedent('''\
    """${message}"""
    from alembic import op
    import sqlalchemy as sa
    revision = ${repr(up_revision)}
    down_revision = ${repr(down_revision)}
    branch_labels = None
    depends_on = None


    def upgrade() -> None:
        ${upgrades if upgrades else "pass"}


    def downgrade() -> None:
        ${downgrades if downgrades else "pass"}
    ''')


def revision(rev: str, down: str | None, message: str, upgrade: str) -> str:
    body = textwrap.indent(textwrap.dedent(upgrade), "    ")
    return (
        f'"""{message}"""\n'
        "from alembic import op\n"
        "import sqlalchemy as sa\n\n"
        f"revision = {rev!r}\n"
        f"down_revision = {down!r}\n"
        "branch_labels = None\n"
        "depends_on = None\n\n\n"
        f"def upgrade() -> None:\n{body}\n\n"
        "def downgrade() -> None:\n    pass\n"
    )


def alembic_project(base: Path, revisions: dict[str, str]) -> Path:
    project = base / "api"
    (project / "migrations" / "versions").mkdir(parents=True, exist_ok=True)
    (project / "alembic.ini").write_text(ALEMBIC_INI)
    (project / "migrations" / "env.py").write_text(ENV_PY)
    (project / "migrations" / "script.py.mako").write_text(SCRIPT_MAKO)
    for name, body in revisions.items():
        (project / "migrations" / "versions" / name).write_text(body)
    return project


ALEMBIC_REVISIONS = {
    "a1_create_users.py": revision("a1c0ffee0001", None, "create users", """\
        op.create_table("users", sa.Column("id", sa.BigInteger, primary_key=True),
                        sa.Column("email", sa.Text, nullable=False), sa.Column("legacy", sa.Integer))
        op.execute("INSERT INTO users (id, email) SELECT g, 'u' || g FROM generate_series(1, 30) g")
        """),
    "b2_create_orders.py": revision("b2c0ffee0002", "a1c0ffee0001", "create orders", """\
        op.create_table("orders", sa.Column("id", sa.BigInteger, primary_key=True),
                        sa.Column("user_id", sa.BigInteger, sa.ForeignKey("users.id"), nullable=False))
        op.create_index("orders_user_id_idx", "orders", ["user_id"])
        """),
}


def alembic_version(cluster: PgCluster, db: str) -> str:
    return cluster.psql("SELECT coalesce(string_agg(version_num, ','), '') FROM alembic_version", db)


def test_alembic_driver(pg_cluster: PgCluster, fresh_db: str, app_user: str, tmp_path: Path) -> None:
    project = alembic_project(tmp_path, ALEMBIC_REVISIONS)
    alembic = {"migrate_driver": "alembic", "migrate_chdir": str(project), "migrate_alembic_command": [ALEMBIC]}

    rc, out, journal = run_role(pg_cluster, fresh_db, tmp_path, "--check", **alembic)
    assert rc == 0, out[-3000:]
    plan = evidence(journal, "migrate.apply")
    assert plan["status"] == "skip" and "a1c0ffee0001, b2c0ffee0002" in plan["actual"]
    assert [p["name"] for p in plan["details"]["pending"]] == ["create users", "create orders"]
    assert pg_cluster.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", fresh_db) == "0"

    rc, out, journal = run_role(pg_cluster, fresh_db, tmp_path, "-e", "migrate_alembic_target=a1c0ffee0001", **alembic)
    assert rc == 0, out[-3000:]
    assert_same_evidence_shape(journal, "alembic", ["a1c0ffee0001"])
    assert alembic_version(pg_cluster, fresh_db) == "a1c0ffee0001"

    rc, out, journal = run_role(pg_cluster, fresh_db, tmp_path, **alembic)
    assert rc == 0, out[-3000:]
    assert_same_evidence_shape(journal, "alembic", ["b2c0ffee0002"])
    assert evidence(journal, "migrate.apply")["details"]["applied"] == [
        {"version": "b2c0ffee0002", "name": "create orders"}]
    assert alembic_version(pg_cluster, fresh_db) == "b2c0ffee0002"
    users = checksum(pg_cluster, fresh_db, "users")

    # a destructive revision: refused (seen in `alembic upgrade --sql`), nothing applied
    alembic_project(tmp_path, {"c3_drop_legacy.py": revision("c3c0ffee0003", "b2c0ffee0002", "drop legacy", """\
        op.add_column("users", sa.Column("note", sa.Text))
        op.drop_column("users", "legacy")
        """)})
    rc, out, journal = run_role(pg_cluster, fresh_db, tmp_path, **alembic)
    assert rc != 0
    destructive = evidence(journal, "migrate.destructive")
    assert destructive["status"] == "fail"
    assert [(f["version"], f["kind"]) for f in destructive["details"]["findings"]] == [("c3c0ffee0003", "DROP COLUMN")]
    assert "ALTER TABLE users DROP COLUMN legacy" in destructive["details"]["findings"][0]["excerpt"]
    assert alembic_version(pg_cluster, fresh_db) == "b2c0ffee0002"
    assert checksum(pg_cluster, fresh_db, "users") == users

    approval = {"approved_by": "sam.dba", "reason": "legacy dropped after the v7 cutover", "versions": ["c3c0ffee0003"]}
    rc, out, journal = run_role(pg_cluster, fresh_db, tmp_path, migrate_destructive_approval=approval, **alembic)
    assert rc == 0, out[-3000:]
    assert_same_evidence_shape(journal, "alembic", ["c3c0ffee0003"])
    assert evidence(journal, "migrate.destructive")["details"]["approved_by"] == "sam.dba"
    assert alembic_version(pg_cluster, fresh_db) == "c3c0ffee0003"
    assert pg_cluster.psql("SELECT md5(string_agg((id, email)::text, ',' ORDER BY id)) FROM users", fresh_db) == \
        pg_cluster.psql("SELECT md5(string_agg((g::bigint, 'u' || g)::text, ',' ORDER BY g))"
                        " FROM generate_series(1, 30) g", fresh_db)


@pytest.mark.parametrize(
    "kill",
    [
        # kill -9 on the ansible-playbook process group: the module's controller watch kills the
        # tool's process group and terminates its database session
        "playbook-group",
        # every process group of the run (controller, workers, so the module too): the tool's
        # guard sees its parent die and kills the tool's group; the server notices the dead client
        # (client_connection_check_interval, passed in PGOPTIONS) and rolls back
        "whole-run",
    ],
)
def test_command_driver_stops_the_tool_when_the_run_is_killed(
    pg_cluster: PgCluster, fresh_db: str, app_user: str, knex_modules: Path, tmp_path: Path, kill: str
) -> None:
    """A killed run must not leave the tool migrating: nothing of the migration commits."""
    import signal

    from tests.integration.test_migrate_faults import group_alive, run_processes

    project = knex_project(tmp_path, knex_modules, {
        **KNEX_MIGRATIONS,
        "20260101000003_slow.js": textwrap.dedent("""\
            exports.up = async (knex) => {
              await knex.raw('CREATE TABLE invoices (id int)');
              await knex.raw('SELECT pg_sleep(45)');
            };
            exports.down = async () => {};
            """),
    })
    variables = {
        "migrate_test_record_dir": str(tmp_path / "records"), "migrate_test_run_id": "killed",
        "liftoff_db_host": pg_cluster.host, "liftoff_db_port": pg_cluster.port, "liftoff_db_name": fresh_db,
        "liftoff_db_user": USER, "liftoff_db_password": SECRET, "liftoff_release_src": str(tmp_path),
        "ansible_python_interpreter": PYTHON, "ansible_connection": "local",
        "migrate_driver": "command", "migrate_chdir": str(project), "migrate_command_tool": "knex",
        "migrate_command": ["npx", "knex", "migrate:latest"],
    }
    varfile = tmp_path / "vars-killed.json"
    varfile.write_text(json.dumps(variables))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    proc = subprocess.Popen([PLAYBOOK, "-i", "localhost,", str(ROLE_PLAYBOOK), "-e", f"@{varfile}"], cwd=ROOT,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    groups = {proc.pid}
    tool_groups: set[int] = set()
    try:
        deadline = time.monotonic() + 90
        backend = ""
        while not backend:
            assert proc.poll() is None, "ansible-playbook ended before the tool reached pg_sleep"
            assert time.monotonic() < deadline, "the tool never reached pg_sleep"
            backend = pg_cluster.psql("SELECT pid FROM pg_stat_activity WHERE state = 'active'"
                                      " AND query LIKE '%pg_sleep(45)%' AND pid <> pg_backend_pid()", fresh_db)
            time.sleep(0.2)
        groups |= set(run_processes(f"@{varfile}").values())
        tool_groups = set(run_processes(str(knex_modules.parent)).values()) | \
            set(run_processes("knex migrate:latest").values())
        assert tool_groups and not tool_groups & groups, "the tool should run in its own process group"
        for group in [proc.pid] if kill == "playbook-group" else sorted(groups):
            os.killpg(group, signal.SIGKILL)
        killed = time.monotonic()
        proc.wait(timeout=10)
        while pg_cluster.psql(f"SELECT count(*) FROM pg_stat_activity WHERE pid = {backend}", fresh_db) != "0":
            assert time.monotonic() < killed + 20, "the tool's backend still runs 20s after the kill"
            time.sleep(0.1)
        gone_after = time.monotonic() - killed
        while any(group_alive(g) for g in groups | tool_groups):
            assert time.monotonic() < killed + 30, "processes of the killed run or its tool are still alive"
            time.sleep(0.1)
    finally:
        for group in groups | tool_groups:
            if group_alive(group):
                os.killpg(group, signal.SIGKILL)
    print(f"\nknex run killed ({kill}): the tool's backend ended {gone_after:.2f}s after the kill (pg_sleep 45s)")
    assert gone_after < 10
    # knex ran the batch of three in one transaction: none of it committed
    assert pg_cluster.psql("SELECT to_regclass('invoices') IS NULL AND to_regclass('users') IS NULL", fresh_db) == "t"
    assert knex_history(pg_cluster, fresh_db) == []


def test_command_driver_lock_timeout_reaches_the_tool(
    pg_cluster: PgCluster, fresh_db: str, app_user: str, knex_modules: Path, tmp_path: Path
) -> None:
    """migrate_lock_timeout reaches knex's session (PGOPTIONS): behind an idle-in-transaction reader,
    the ALTER fails within about a second instead of queueing, and a rerun applies it."""
    import psycopg

    project = knex_project(tmp_path, knex_modules, KNEX_MIGRATIONS)
    knex = {"migrate_driver": "command", "migrate_chdir": str(project), "migrate_command_tool": "knex",
            "migrate_command": ["npx", "knex", "migrate:latest"], "migrate_lock_timeout": "1s"}
    rc, out, _unused = run_role(pg_cluster, fresh_db, tmp_path, **knex)
    assert rc == 0, out[-3000:]
    users = checksum(pg_cluster, fresh_db, "users")
    knex_project(tmp_path, knex_modules, {"20260101000003_nickname.js": (
        "exports.up = (knex) => knex.raw('ALTER TABLE users ADD COLUMN nickname text');\n"
        "exports.down = async () => {};\n")})
    blocker = psycopg.connect(pg_cluster.dsn(fresh_db), application_name="test-blocker")
    try:
        blocker.execute("SELECT count(*) FROM users")  # the open transaction keeps ACCESS SHARE
        rc, out, journal = run_role(pg_cluster, fresh_db, tmp_path, **knex)
        apply = evidence(journal, "migrate.apply")
        print(f"\nknex ALTER behind an idle-in-transaction reader, migrate_lock_timeout=1s: "
              f"tool_migrate took {apply['details']['duration_ms']} ms")
        assert rc != 0
        assert "lock timeout" in apply["actual"], apply["actual"]
        assert int(apply["details"]["duration_ms"]) < 15000
    finally:
        blocker.rollback()
        blocker.close()
    assert checksum(pg_cluster, fresh_db, "users") == users
    assert len(knex_history(pg_cluster, fresh_db)) == 2
    rc, out, journal = run_role(pg_cluster, fresh_db, tmp_path, **knex)
    assert rc == 0, out[-3000:]
    assert_same_evidence_shape(journal, "command", ["20260101000003_nickname.js"])
