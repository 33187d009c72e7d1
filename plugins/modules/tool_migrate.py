#!/usr/bin/python
# Copyright: (c) 2026, liftoff.release maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: tool_migrate
short_description: Run a migration tool (prisma, knex, flyway, Alembic, any command) and report what it applied
version_added: 1.0.0
description:
  - Runs the application's own migration tool on the target host - C(npx prisma migrate deploy),
    C(npx knex migrate:latest), C(flyway migrate), C(alembic upgrade head) - with the database
    URL in an environment variable (the password never appears in a command line or in the result),
    bounded by O(timeout).
  - Reports what the tool applied by reading the tool's own history table before and after
    (O(history_query), with defaults for O(tool)), and the schema fingerprint before and after,
    computed exactly as M(liftoff.release.sql_migrate) computes it (the tools' bookkeeping tables left out).
  - With O(driver=alembic), runs C(alembic upgrade) to O(target) with the configuration O(alembic_config)
    in O(chdir) and lists the applied revisions from C(alembic history). The project's C(env.py) must
    take the URL from the environment variable O(url_env) (see the notes).
  - Destructive statements (as M(liftoff.release.sql_migrate) defines them) are looked for, before
    anything runs, in the SQL the tool would apply - for O(driver=alembic) in the offline SQL of
    C(alembic upgrade --sql), for O(driver=command) in the files matched by O(sql_files) that the
    history does not list - and refused unless their version is in O(allow_destructive).
  - In check mode nothing is changed - the tool's migrate command does not run; O(check_command)
    (for example C(npx prisma migrate status)) runs when given, and for Alembic the pending revisions
    are listed.
  - When the module runs on the controller (connection C(local)) and the ansible-playbook process
    is killed, the tool's process group is killed too, rather than left to carry on unobserved.
author:
  - liftoff.release contributors (@liftoff-release)
requirements:
  - psycopg >= 3.1 (psycopg 3) on the host that runs the module
  - the migration tool itself on that host
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: The migrate command does not run; O(check_command) runs if set; the plan is returned in RV(pending) (Alembic) and RV(check_output).
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  login_host:
    description: Host name or address of the PostgreSQL server, or a Unix socket directory.
    type: str
    default: ''
  login_port:
    description: Port of the PostgreSQL server.
    type: int
    default: 5432
  login_user:
    description: Role to connect as (also the user in the URL given to the tool).
    type: str
    default: postgres
  login_password:
    description: Password of O(login_user); given to the tool only inside the URL in O(url_env).
    type: str
    default: ''
  db:
    description: Database to migrate.
    type: str
    required: true
  driver:
    description: C(command) runs O(command); C(alembic) runs Alembic.
    type: str
    choices: [command, alembic]
    default: command
  chdir:
    description: Directory on the target host to run the tool in (the release's backend directory).
    type: path
    required: true
  command:
    description:
      - The migrate command as an argument list, run without a shell (O(driver=command)).
    type: list
    elements: str
    default: []
  check_command:
    description:
      - A read-only status or plan command (such as C([npx, prisma, migrate, status])) run in check mode.
        Its exit code is reported, not judged (C(prisma migrate status) exits 1 when migrations are pending).
      - It runs as given; some status commands create the tool's own empty bookkeeping tables
        (C(knex migrate:list) creates C(knex_migrations)). No migration is applied.
    type: list
    elements: str
    default: []
  environment:
    description: Extra environment variables for the tool (values are treated as secrets).
    type: dict
    default: {}
  url_env:
    description: Name of the environment variable that carries the database URL.
    type: str
    default: DATABASE_URL
  url_scheme:
    description:
      - Scheme of that URL. Defaults to C(postgresql) for O(driver=command) and to C(postgresql+psycopg)
        (SQLAlchemy with psycopg 3) for O(driver=alembic).
    type: str
  timeout:
    description: Seconds the tool may run; then its whole process group is killed and the task fails.
    type: int
    default: 600
  lock_timeout:
    description:
      - PostgreSQL C(lock_timeout) for the tool's sessions (such as C(5s)), so a migration fails instead of
        queueing behind a lock. Given in C(PGOPTIONS), which libpq-based tools, psycopg (Alembic) and node-postgres
        (knex) read; prisma and JDBC (flyway) do not - set it in their own configuration. Empty leaves it unset.
    type: str
    default: ''
  statement_timeout:
    description: PostgreSQL C(statement_timeout) for the tool's sessions, given the same way as O(lock_timeout).
    type: str
    default: ''
  tool:
    description:
      - A known tool, for the default O(history_query) and O(tracking_tables).
      - C(prisma) reads C(_prisma_migrations) (finished, not rolled back); C(knex) reads C(knex_migrations);
        C(flyway) reads C(flyway_schema_history) (successful rows); C(alembic) is implied by O(driver=alembic).
    type: str
    choices: ['', prisma, knex, flyway]
    default: ''
  history_query:
    description:
      - A read-only SELECT returning C(version) and optionally C(name) of every applied migration,
        oldest first, from the tool's own history table. Overrides the O(tool) default. A missing
        table reads as an empty history (a first deploy).
    type: str
    default: ''
  tracking_tables:
    description: The tool's bookkeeping tables, left out of the schema fingerprint. Overrides the O(tool) default.
    type: list
    elements: str
    default: []
  sql_files:
    description:
      - Glob patterns (relative to O(chdir)) of the tool's SQL migration files to scan for destructive
        statements before running, such as C(prisma/migrations/*/migration.sql) or C(sql/V*.sql).
        A file is pending when neither its name, its stem nor its directory name is in the history.
    type: list
    elements: str
    default: []
  allow_destructive:
    description: Versions (prisma migration names, flyway scripts, Alembic revisions) whose destructive statements are approved.
    type: list
    elements: str
    default: []
  alembic_command:
    description: How to run Alembic (O(driver=alembic)), as an argument list.
    type: list
    elements: str
    default: [alembic]
  alembic_config:
    description: The Alembic configuration file, relative to O(chdir).
    type: str
    default: alembic.ini
  target:
    description: Revision to upgrade to (O(driver=alembic)).
    type: str
    default: head
seealso:
  - module: liftoff.release.sql_migrate
notes:
  - "Alembic: the project's C(env.py) must read the URL from the environment, for example
    C(config.set_main_option('sqlalchemy.url', os.environ['DATABASE_URL'].replace('%', '%%'))),
    or C(url = os.environ['DATABASE_URL']) where it builds the engine. Passing it with C(-x) would show
    the password in the process list."
  - The tool's output is returned (its last 40 lines); the password and the URL are masked in it.
  - Timeouts and locking inside the database are the tool's own (prisma and flyway take an advisory lock).
"""

EXAMPLES = r"""
- name: Apply prisma migrations (seed 003, "cd backend; npx prisma migrate deploy")
  liftoff.release.tool_migrate:
    login_host: db.internal
    login_user: app
    login_password: "{{ app_db_password }}"
    db: app
    chdir: /srv/app/releases/{{ app_version }}/backend
    command: [npx, prisma, migrate, deploy]
    check_command: [npx, prisma, migrate, status]
    tool: prisma
    sql_files: [prisma/migrations/*/migration.sql]
    timeout: 300
  register: migrated

- name: Apply knex migrations
  liftoff.release.tool_migrate:
    db: app
    chdir: /srv/app/current
    command: [npx, knex, migrate:latest]
    tool: knex

- name: Upgrade with Alembic to head
  liftoff.release.tool_migrate:
    login_host: 127.0.0.1
    db: app
    driver: alembic
    chdir: /srv/api/current
    alembic_command: [/srv/api/venv/bin/alembic]
"""

RETURN = r"""
changed:
  description: Whether the tool applied at least one migration (in check mode, whether one is pending, when known).
  returned: always
  type: bool
  sample: true
applied:
  description: Migrations the history table gained during this run, oldest first.
  returned: always
  type: list
  elements: dict
  contains:
    version:
      description: The tool's id of the migration (prisma or knex name, flyway version, Alembic revision).
      type: str
      sample: 20240105120000_add_write_queue
    name:
      description: Its name or message.
      type: str
      sample: add write queue
  sample:
    - {version: 20240105120000_add_write_queue, name: 20240105120000_add_write_queue}
pending:
  description: Revisions still to apply (O(driver=alembic)); empty for O(driver=command), whose tool knows its own plan.
  returned: always
  type: list
  elements: dict
  sample:
    - {version: b2, name: add orders}
history_before:
  description: Number of migrations in the tool's history before the run.
  returned: always
  type: int
  sample: 12
destructive:
  description: Destructive statements found in what the tool would apply (see M(liftoff.release.sql_migrate)).
  returned: always
  type: list
  elements: dict
  sample:
    - {file: revision b2, version: b2, line: 14, kind: DROP COLUMN, excerpt: ALTER TABLE users DROP COLUMN legacy}
destructive_unapproved:
  description: The findings whose version is not in O(allow_destructive); when not empty, the tool did not run.
  returned: always
  type: list
  elements: dict
  sample: []
rc:
  description: Exit code of the migrate command (in check mode, of O(check_command)); null when none ran.
  returned: always
  type: int
  sample: 0
output:
  description: Last lines of the tool's output (stdout then stderr), password and URL masked.
  returned: always
  type: list
  elements: str
  sample: ["Batch 1 run: 2 migrations"]
check_output:
  description: Last lines of O(check_command)'s output in check mode.
  returned: check mode
  type: list
  elements: str
  sample: ["2 migrations have not yet been applied"]
fingerprint_before:
  description: sha256 of the schema before the run (tracking tables excluded).
  returned: always
  type: str
  sample: 3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b
fingerprint_after:
  description: sha256 of the schema after the run.
  returned: always
  type: str
  sample: 1f2d3c4b5a69788796a5b4c3d2e1f0a1b2c3d4e5f60718293a4b5c6d7e8f9012
duration_ms:
  description: Wall time of the module run.
  returned: always
  type: int
  sample: 2412
"""

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import sys
import time
import traceback
from typing import Any, NoReturn
from urllib.parse import quote

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.liftoff.release.plugins.module_utils._destructive import refusal, unapproved
from ansible_collections.liftoff.release.plugins.module_utils._migrate_pg import (
    CLIENT_CHECK_INTERVAL,
    connect_kwargs,
    describe_error,
    schema_fingerprint,
)
from ansible_collections.liftoff.release.plugins.module_utils._migrate_tool import (
    HistoryEntry,
    ToolError,
    client_ports,
    database_url,
    error_lines,
    history_entries,
    newly_applied,
    parse_alembic_history,
    scan_alembic_offline_sql,
    scan_pending_files,
    tail,
    tool_defaults,
)
from ansible_collections.liftoff.release.plugins.module_utils._migrate_watch import ControllerWatch

PSYCOPG_IMPORT_ERROR: str | None
try:
    import psycopg
except ImportError:
    psycopg = None  # type: ignore[assignment]
    PSYCOPG_IMPORT_ERROR = traceback.format_exc()
else:
    PSYCOPG_IMPORT_ERROR = None

APPROVAL_HINT = "the allow_destructive option (migrate role: migrate_destructive_approval.versions)"

ARGUMENT_SPEC: dict[str, Any] = {
    "login_host": {"type": "str", "default": ""},
    "login_port": {"type": "int", "default": 5432},
    "login_user": {"type": "str", "default": "postgres"},
    "login_password": {"type": "str", "default": "", "no_log": True},
    "db": {"type": "str", "required": True},
    "driver": {"type": "str", "choices": ["command", "alembic"], "default": "command"},
    "chdir": {"type": "path", "required": True},
    "command": {"type": "list", "elements": "str", "default": []},
    "check_command": {"type": "list", "elements": "str", "default": []},
    "environment": {"type": "dict", "default": {}, "no_log": True},
    "url_env": {"type": "str", "default": "DATABASE_URL"},
    "url_scheme": {"type": "str"},
    "timeout": {"type": "int", "default": 600},
    "lock_timeout": {"type": "str", "default": ""},
    "statement_timeout": {"type": "str", "default": ""},
    "tool": {"type": "str", "choices": ["", "prisma", "knex", "flyway"], "default": ""},
    "history_query": {"type": "str", "default": ""},
    "tracking_tables": {"type": "list", "elements": "str", "default": []},
    "sql_files": {"type": "list", "elements": "str", "default": []},
    "allow_destructive": {"type": "list", "elements": "str", "default": []},
    "alembic_command": {"type": "list", "elements": "str", "default": ["alembic"]},
    "alembic_config": {"type": "str", "default": "alembic.ini"},
    "target": {"type": "str", "default": "head"},
}


# The tool runs in its own process group (so a timeout kills all of it, npx's children included)
# under this small guard, which kills that group when the module dies - even by SIGKILL, when
# nothing in the module can act - through Linux's parent-death signal. Elsewhere it just waits.
GUARD = """
import os, signal, subprocess, sys
def end(*_):
    os.killpg(0, signal.SIGKILL)
signal.signal(signal.SIGTERM, end)
try:
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
except (OSError, AttributeError):
    pass
if os.getppid() != int(sys.argv[1]):
    end()
child = subprocess.Popen(sys.argv[2:])
while True:
    try:
        code = child.wait()
        break
    except InterruptedError:
        continue
raise SystemExit(code if code >= 0 else 128 - code)
"""


class Runner:
    """Runs the tool's processes: no shell, the URL in the environment, bounded, output masked."""

    def __init__(self, module: AnsibleModule, url: str, secrets: list[str]) -> None:
        self.module = module
        self.params = module.params
        self.env = {**os.environ, **{str(k): str(v) for k, v in self.params["environment"].items()},
                    self.params["url_env"]: url}
        self.secrets = [s for s in secrets if s]
        self.current: subprocess.Popen[str] | None = None
        self.conn: Any = None
        self.terminated: list[int] = []

    def mask(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "********")
        return text

    def kill(self, conn: Any = None) -> None:
        """Kill the tool's process group, then end the database sessions it leaves behind.

        A killed client's backend keeps running its statement (and holding its locks) until the
        statement ends, unless the server checks for dead clients - which the tool's sessions
        may not ask for. The tool's TCP connections are found before the kill (their local
        ports, as the server's client_port) and those backends are terminated.
        """
        proc = self.current
        if proc is None or proc.poll() is not None:
            return
        ports = tool_client_ports(proc.pid, self.params["login_port"])
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        if conn is not None and ports:
            with contextlib.suppress(Exception):
                rows = conn.execute(
                    "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND client_port = ANY(%s) AND pid <> pg_backend_pid()",
                    (ports,)).fetchall()
                self.terminated.extend(int(row[0]) for row in rows if row[1])

    def run(self, argv: list[str], what: str) -> tuple[int, str, str]:
        """(rc, stdout, stderr) of ``argv`` in chdir; fails the module on a timeout or a missing program."""
        if os.sep in argv[0]:
            program: str | None = os.path.join(self.params["chdir"], argv[0])
        else:
            program = shutil.which(argv[0], path=self.env.get("PATH"))
        if program is None or not os.access(program, os.X_OK):
            raise ToolError(f"cannot run {what} {argv[0]!r} in {self.params['chdir']}: not found or not executable "
                            f"(PATH={self.env.get('PATH', '')})")
        try:
            # an argument list, no shell; GUARD makes the tool's process group die with this module.
            # Not run_command: the tool needs its own process group, killed on a timeout with its sessions.
            self.current = subprocess.Popen(  # pylint: disable=ansible-bad-function
                [sys.executable, "-c", GUARD, str(os.getpid()), *argv], cwd=self.params["chdir"], env=self.env,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                start_new_session=True)
        except OSError as exc:
            raise ToolError(f"cannot run {what} {argv[0]!r} in {self.params['chdir']}: {exc.strerror}") from exc
        try:
            out, err = self.current.communicate(timeout=self.params["timeout"])
        except subprocess.TimeoutExpired as exc:
            self.kill(self.conn)
            out, err = self.current.communicate()
            ended = f"; its database sessions {self.terminated} were terminated" if self.terminated else ""
            raise ToolError(
                f"{what} {' '.join(argv)} did not finish within {self.params['timeout']}s (timeout); its process "
                f"group was killed{ended}. Last output: {why(self.mask(out), self.mask(err))}") from exc
        return self.current.returncode, self.mask(out), self.mask(err)


def tool_client_ports(pgid: int, server_port: int) -> list[int]:
    """Local TCP ports of the sockets that the processes of group ``pgid`` hold to ``server_port``."""
    inodes: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as handle:
                if int(handle.read().rsplit(")", 1)[-1].split()[3]) != pgid:
                    continue
            for fd in os.listdir(f"/proc/{entry}/fd"):
                target = os.readlink(f"/proc/{entry}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(int(target[8:-1]))
        except (OSError, ValueError, IndexError):
            continue
    tables = []
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(name, encoding="ascii", errors="replace") as handle:
            tables.append(handle.read())
    return client_ports(inodes, tables, server_port)


def why(out: str, err: str) -> str:
    """What a failed tool said went wrong, on one line."""
    return "; ".join(error_lines(err + "\n" + out))


def tool_pgoptions(conn: Any, params: dict[str, Any], inherited: str) -> str:
    """PGOPTIONS for the tool's sessions: the timeouts, and the dead-client check (PostgreSQL 14+).

    Each value is first SET on this module's own session, so a bad one fails here. With the
    dead-client check, a tool killed mid-statement does not leave its backend holding locks.
    """
    settings: list[tuple[str, str]] = []
    if int(conn.info.server_version) >= 140000:
        settings.append(("client_connection_check_interval", CLIENT_CHECK_INTERVAL))
    for name in ("lock_timeout", "statement_timeout"):
        if params[name]:
            settings.append((name, params[name]))
    for name, value in settings:
        conn.execute(f"SELECT set_config('{name}', %s, false)", (value,))
    options = [inherited] if inherited else []
    options += [f"-c {name}={value.replace(chr(92), chr(92) * 2).replace(' ', chr(92) + ' ')}" for name, value in settings]
    return " ".join(options)


def read_history(conn: Any, query: str) -> list[HistoryEntry]:
    """The tool's history; a missing history table is an empty history (nothing applied yet)."""
    try:
        with conn.transaction():
            return history_entries(conn.execute(query).fetchall())
    except psycopg.errors.UndefinedTable:
        return []


def alembic_argv(params: dict[str, Any], *args: str) -> list[str]:
    return [*params["alembic_command"], "-c", params["alembic_config"], *args]


def alembic_lineage(runner: Runner, params: dict[str, Any], heads: list[HistoryEntry]) -> list[HistoryEntry]:
    """Every revision from base up to the given heads (the union when there are several)."""
    seen: dict[str, HistoryEntry] = {}
    for head in heads:
        rc, out, err = runner.run(alembic_argv(params, "history", "-r", f"base:{head.version}"), "alembic history")
        if rc != 0:
            raise ToolError(f"alembic history failed ({rc}): {why(out, err)}")
        for entry in parse_alembic_history(out):
            seen.setdefault(entry.version, entry)
    return list(seen.values())


def run(module: AnsibleModule, conn: Any, runner: Runner, started: float) -> None:
    params = module.params
    alembic = params["driver"] == "alembic"
    result: dict[str, Any] = {"changed": False, "applied": [], "pending": [], "history_before": 0,
                              "destructive": [], "destructive_unapproved": [], "rc": None, "output": []}

    def finish_fail(msg: str, **extra: Any) -> NoReturn:
        result.update(extra)
        result["duration_ms"] = int((time.monotonic() - started) * 1000)
        module.fail_json(msg=msg, **result)
        raise AssertionError("unreachable")

    try:
        if alembic:
            query, tables = tool_defaults("alembic", params["history_query"], params["tracking_tables"])
        else:
            if not params["command"]:
                raise ToolError("command is required with driver=command: the migrate command as an argument list, "
                                "such as [npx, prisma, migrate, deploy]")
            query, tables = tool_defaults(params["tool"], params["history_query"], params["tracking_tables"])
        if not os.path.isdir(params["chdir"]):
            raise ToolError(f"chdir {params['chdir']!r} is not a directory on {os.uname().nodename}")

        before = read_history(conn, query)
        result["history_before"] = len(before)
        result["fingerprint_before"] = schema_fingerprint(conn, tables)

        # the plan and what it would destroy, before anything runs
        if alembic:
            lineage_now = alembic_lineage(runner, params, before) if before else []
            rc, out, err = runner.run(alembic_argv(params, "history", "-r", f"base:{params['target']}"),
                                      "alembic history")
            if rc != 0:
                raise ToolError(f"alembic history failed ({rc}): {why(out, err)}")
            pending = newly_applied(lineage_now, parse_alembic_history(out))
            result["pending"] = [e.to_dict() for e in pending]
            findings = []
            if pending:
                start = ":".join([before[0].version, params["target"]]) if len(before) == 1 else params["target"]
                rc, out, err = runner.run(alembic_argv(params, "upgrade", start, "--sql"), "alembic upgrade --sql")
                if rc != 0:
                    raise ToolError(f"alembic upgrade --sql failed ({rc}), so the revisions could not be checked "
                                    f"for destructive statements: {why(out, err)}")
                pending_ids = {e.version for e in pending}
                findings = [f for f in scan_alembic_offline_sql(out) if f.version in pending_ids]
        else:
            files = []
            for pattern in params["sql_files"]:
                for path in sorted(glob.glob(os.path.join(params["chdir"], pattern))):
                    with open(path, encoding="utf-8", errors="replace") as handle:
                        files.append((os.path.relpath(path, params["chdir"]), handle.read()))
            findings = scan_pending_files(files, before)
        refused = unapproved(findings, params["allow_destructive"])
        result["destructive"] = [f.to_dict() for f in findings]
        result["destructive_unapproved"] = [f.to_dict() for f in refused]
        if refused:
            result["fingerprint_after"] = result["fingerprint_before"]
            finish_fail(refusal(refused, APPROVAL_HINT))

        if module.check_mode:
            result["changed"] = bool(result["pending"])
            result["fingerprint_after"] = result["fingerprint_before"]
            result["check_output"] = []
            if params["check_command"]:
                rc, out, err = runner.run(params["check_command"], "check command")
                result["rc"], result["check_output"] = rc, tail(out + "\n" + err)
            result["duration_ms"] = int((time.monotonic() - started) * 1000)
            module.exit_json(**result)

        argv = alembic_argv(params, "upgrade", params["target"]) if alembic else params["command"]
        rc, out, err = runner.run(argv, "migrate command")
        result["rc"], result["output"] = rc, tail(out + "\n" + err)
    except ToolError as exc:
        finish_fail(str(exc), fingerprint_after=result.get("fingerprint_before"))

    after = read_history(conn, query)
    if alembic:
        applied = newly_applied(alembic_lineage(runner, params, before) if before else [],
                                alembic_lineage(runner, params, after) if after else [])
    else:
        applied = newly_applied(before, after)
    result["applied"] = [e.to_dict() for e in applied]
    result["changed"] = bool(applied)
    result["fingerprint_after"] = schema_fingerprint(conn, tables)
    if alembic:
        result["pending"] = [p for p in result["pending"] if p["version"] not in {e.version for e in applied}]
    if rc != 0:
        finish_fail(f"the migrate command {' '.join(argv)} exited {rc} ({len(applied)} migration(s) applied "
                    f"before it failed): {why(out, err)}")
    result["duration_ms"] = int((time.monotonic() - started) * 1000)
    module.exit_json(**result)


def main() -> None:
    started = time.monotonic()
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if psycopg is None:
        module.fail_json(msg=missing_required_lib("psycopg (psycopg 3, pip install 'psycopg[binary]')"),
                         exception=PSYCOPG_IMPORT_ERROR)
    params = module.params
    scheme = params["url_scheme"] or ("postgresql+psycopg" if params["driver"] == "alembic" else "postgresql")
    url = database_url(scheme, params["login_user"], params["login_password"], params["login_host"],
                       params["login_port"], params["db"])
    secrets = [url]
    if params["login_password"]:
        secrets += [params["login_password"], quote(params["login_password"], safe="")]
    module.no_log_values.update(secrets)
    runner = Runner(module, url, secrets)
    try:
        conn = psycopg.connect(**connect_kwargs(params, "liftoff.release.tool_migrate"))
    except psycopg.Error as exc:
        module.fail_json(msg=f"cannot connect to database {params['db']}: {describe_error(exc)}")
    runner.conn = conn
    try:
        runner.env["PGOPTIONS"] = tool_pgoptions(conn, params, os.environ.get("PGOPTIONS", ""))
    except psycopg.Error as exc:
        conn.close()
        module.fail_json(msg=f"invalid lock_timeout/statement_timeout: {describe_error(exc)}")
    watch = ControllerWatch.start(on_lost=lambda: runner.kill(conn))
    try:
        run(module, conn, runner, started)
    except psycopg.Error as exc:
        module.fail_json(msg=f"reading the migration history or the schema failed: {describe_error(exc)}")
    finally:
        if watch is not None:
            watch.stop()
        runner.kill()
        conn.close()


if __name__ == "__main__":
    main()
