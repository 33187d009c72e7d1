"""The pm2 switch's decisions and file steps (module_utils._pm2), on a real directory; pm2 itself runs in
tests/integration (test_deploy, test_fleet) and molecule/pm2."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ansible_collections.liftoff.release.plugins.module_utils import _pm2

NOW = 1_000_000_000.0


def run(argv: list[str]) -> tuple[int, str, str]:
    """What AnsibleModule.run_command does for the module."""
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    return done.returncode, done.stdout, done.stderr


def proc(name: str, status: str, uptime_ms: float = NOW - 5000, err: str = "") -> dict[str, object]:
    return {"name": name, "pm2_env": {"status": status, "pm_uptime": uptime_ms, "pm_err_log_path": err}}


def jlist(*procs: dict[str, object]) -> str:
    return "pm2 notice: something\n" + json.dumps(list(procs))


def test_processes_keeps_the_release_names_from_the_last_json_line() -> None:
    text = jlist(proc("app", "online"), proc("other-app", "online"), proc("sync", "stopped"))
    assert [p["name"] for p in _pm2.processes(text, ["app", "sync"])] == ["app", "sync"]
    assert _pm2.processes("no daemon", ["app"]) == []
    assert _pm2.processes("[not json", ["app"]) == []


def test_up_needs_min_uptime_on_the_hosts_clock() -> None:
    procs = [proc("app", "online", NOW - 5000), proc("app", "online", NOW - 200), proc("app", "launching", NOW - 9000)]
    assert len(_pm2.up(procs, NOW, 1)) == 1
    assert len(_pm2.up(procs, NOW, 0)) == 2
    assert _pm2.online_count(procs) == 2


@pytest.mark.parametrize(("states", "up_count", "expected", "done"), [
    (["online", "online"], 2, 2, True),
    (["online", "launching"], 1, 2, False),
    (["errored", "errored"], 0, 2, True),  # pm2 gave up restarting them: waiting longer cannot help
    (["errored", "online"], 1, 2, False),
    ([], 0, 2, False),  # the daemon has not listed them yet
])
def test_settled(states: list[str], up_count: int, expected: int, done: bool) -> None:
    assert _pm2.settled([proc("app", s) for s in states], up_count, expected) is done


def test_start_failure_says_how_many_are_up_their_states_and_the_last_errors() -> None:
    procs = [proc("app", "errored"), proc("app", "errored")]
    message = _pm2.start_failure("v4", ["app"], 0, 2, 1, 12, procs,
                                 ["Error: boom", "Error: boom", "  ", "at server.js:3"])
    assert message == ("release v4 does not start: 0 of 2 process(es) of app up (online 1 s) after 12 check(s) "
                       "(states: errored, errored); last errors: Error: boom | at server.js:3")
    assert "states: none" in _pm2.start_failure("v4", ["app"], 0, 2, 1, 1, [], [])
    assert "none logged" in _pm2.start_failure("v4", ["app"], 0, 2, 1, 1, [], [])


def test_error_logs_unique_in_order() -> None:
    procs = [proc("app", "errored", err="/l/a.err"), proc("app", "errored", err="/l/a.err"),
             proc("sync", "errored", err="/l/s.err"), proc("x", "errored")]
    assert _pm2.error_logs(procs) == ["/l/a.err", "/l/s.err"]


@pytest.mark.parametrize(("code", "body", "ok"), [
    (200, b'{"version": "v2"}', True),
    (200, b'{"version": "v1"}', False),
    (503, b'{"version": "v2"}', False),
    (200, b"<html>", False),
    (200, b'["v2"]', False),
    (None, b"", False),
])
def test_reports_version(code: int | None, body: bytes, ok: bool) -> None:
    assert _pm2.reports_version(code, body, "v2") is ok


def test_prune_list_keeps_current_previous_and_the_new_release() -> None:
    history = [{"version": v, "action": "deploy"} for v in ("v1", "v2", "v3", "v4", "v5")]
    state = {"current": "v5", "previous": "v4", "history": history}
    assert _pm2.prune_list(state, ["v1", "v2", "v3", "v4", "v5", "v6"], 2, ["v6"]) == ["v1", "v2", "v3"]


def test_history_read_and_atomic_writes(tmp_path: Path) -> None:
    layout = _pm2.Layout(str(tmp_path))
    assert _pm2.read_history(layout)["current"] is None
    assert _pm2.write_atomically(layout.history, '{"current": "v1"}', 0o644) is True
    assert _pm2.write_atomically(layout.history, '{"current": "v1"}', 0o644) is False  # unchanged: not rewritten
    assert _pm2.read_history(layout)["current"] == "v1" and _pm2.read_history(layout)["rolled_back"] == []
    assert (os.stat(layout.history).st_mode & 0o777) == 0o644
    assert [p.name for p in tmp_path.iterdir()] == ["releases.json"]  # no scratch file left
    Path(layout.history).write_text("{broken", encoding="utf-8")
    with pytest.raises(_pm2.Pm2Error, match=r"releases\.json is not JSON"):
        _pm2.read_history(layout)


def test_unpack_point_current_and_remove(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "server.js").write_text("v2", encoding="utf-8")
    archive = tmp_path / "v2.tar.gz"
    subprocess.run(["tar", "-czf", str(archive), "-C", str(source), "."], check=True)
    layout = _pm2.Layout(str(tmp_path / "app"))
    _pm2.unpack(layout, "v2", str(archive), run)
    _pm2.point_current(layout, "v2")
    assert Path(layout.current, "server.js").read_text(encoding="utf-8") == "v2"
    assert os.readlink(layout.current) == layout.release("v2")
    os.makedirs(layout.release("v1"))
    _pm2.point_current(layout, "v1")  # over an existing link, atomically
    assert os.readlink(layout.current) == layout.release("v1")
    assert _pm2.on_disk(layout) == ["v1", "v2"]
    _pm2.remove_releases(layout, ["v2"])
    assert _pm2.on_disk(layout) == ["v1"]
    with pytest.raises(_pm2.Pm2Error, match="cannot unpack release v3"):
        _pm2.unpack(layout, "v3", str(tmp_path / "missing.tar.gz"), run)


def test_jlist_does_not_start_a_daemon_and_pm2_gets_a_clean_environment(tmp_path: Path) -> None:
    ran: list[list[str]] = []

    def recording(argv: list[str]) -> tuple[int, str, str]:
        ran.append(argv)
        return run(argv)

    # No pm2.pid naming a live process: no daemon, so no worker online, and pm2 is never run.
    pm2 = _pm2.Pm2(str(tmp_path / "no-such-pm2"), str(tmp_path / "home"), recording)
    assert pm2.jlist() == "[]" and ran == []
    with pytest.raises(_pm2.Pm2Error, match="pm2 executable not found"):
        pm2.start_or_reload(str(tmp_path / "ecosystem.config.js"))
    # The caller's environment never reaches pm2 (it would hand it to the workers): env -i, three variables.
    assert ran[0][:2] == ["env", "-i"]
    assert [a.split("=")[0] for a in ran[0][2:5]] == ["PATH", "HOME", "PM2_HOME"]
    assert ran[0][5:] == [str(tmp_path / "no-such-pm2"), "startOrReload", str(tmp_path / "ecosystem.config.js"),
                          "--update-env"]
