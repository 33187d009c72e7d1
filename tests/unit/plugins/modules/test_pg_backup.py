"""pg_backup's dump_beside: pg_dump runs while the row counts are taken, and never outlives a failure.

Real processes (a shell standing in for pg_dump): what is asserted is that the process is gone.
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from ansible_collections.liftoff.release.plugins.modules.pg_backup import dump_beside


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_the_counts_are_taken_while_the_dump_runs_and_both_are_returned(tmp_path: Path) -> None:
    started = tmp_path / "started"
    argv = ["sh", "-c", f"touch {started}; sleep 0.5; echo 'pg_dump: warning' >&2; exit 3"]

    def count() -> dict[str, int]:
        deadline = time.monotonic() + 5
        while not started.exists():  # the dump is already running when the counting starts
            assert time.monotonic() < deadline
            time.sleep(0.01)
        return {"public.t": 7}

    done, counts = dump_beside(argv, "", 30, count)
    assert counts == {"public.t": 7}
    assert done.returncode == 3 and done.stderr.strip() == "pg_dump: warning"


def test_a_failed_count_stops_the_dump(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    argv = ["sh", "-c", f"echo $$ > {pidfile}; exec sleep 60"]

    def count() -> dict[str, int]:
        deadline = time.monotonic() + 5
        while not pidfile.exists() or not pidfile.read_text().strip():
            assert time.monotonic() < deadline
            time.sleep(0.01)
        raise RuntimeError("the database went away")

    started = time.monotonic()
    with pytest.raises(RuntimeError, match="went away"):
        dump_beside(argv, "", 60, count)
    assert time.monotonic() - started < 10
    assert gone(int(pidfile.read_text()))


def test_the_timeout_stops_the_dump_and_names_the_configured_limit(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    argv = ["sh", "-c", f"echo $$ > {pidfile}; exec sleep 60"]
    with pytest.raises(subprocess.TimeoutExpired) as caught:
        dump_beside(argv, "", 2, dict)
    assert caught.value.timeout == 2
    assert gone(int(pidfile.read_text()))


def test_the_password_reaches_the_tool_in_its_environment_only(tmp_path: Path) -> None:
    out = tmp_path / "env"
    done, _counts = dump_beside(["sh", "-c", f'printf %s "$PGPASSWORD" > {out}'], "s3cret-pw", 30, dict)
    assert done.returncode == 0 and out.read_text() == "s3cret-pw"
    assert "s3cret-pw" not in " ".join(done.args)
