"""The smoke suite against the real demo app over real HTTP, through real ansible-playbook runs.

Each test starts the demo app (examples/app, node) with a planted principal token and runs
playbooks/smoke.yml on its own (a standalone run: start, the smoke phase, the record). Checked:
every kind of check leaves its evidence item smoke.<name> with target and actual; the failure
paths (an SSE deadline passed, a token still accepted after its TTL, a raw token in the log, too
few tests passing) fail the phase and say why; check mode sends nothing; and neither the principal
nor any issued token appears in the ansible-playbook output (-vvv), the journal or the record.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "playbooks" / "smoke.yml"
NODE = shutil.which("node") or "/usr/bin/node"
PRINCIPAL = "principal-" + uuid.uuid4().hex
SUITE_SECRET = "suite-" + uuid.uuid4().hex
ISSUED = re.compile(r"(?<![0-9a-f])[0-9a-f]{60}(?![0-9a-f])")  # the demo app's ephemeral token shape

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not Path(NODE).exists(), reason="node is not installed: the demo app needs it")]

sys.path.insert(0, str(ROOT / "examples" / "app"))
import build_release


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class App:
    def __init__(self, url: str, log: Path) -> None:
        self.url = url
        self.log = log

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8")


@pytest.fixture
def start_app(tmp_path: Path) -> Iterator[Callable[..., App]]:
    procs: list[tuple[subprocess.Popen[bytes], Any]] = []

    def start(**release: Any) -> App:
        release_dir = build_release.build_release("v2", tmp_path / "release")
        spec = json.loads((release_dir / "release.json").read_text(encoding="utf-8"))
        (release_dir / "release.json").write_text(json.dumps({**spec, **release}), encoding="utf-8")
        port = _free_port()
        log_path = tmp_path / "app.log"
        log = log_path.open("wb")
        env = {k: v for k, v in os.environ.items() if k not in ("METRICS_PORT_BASE", "NODE_APP_INSTANCE")}
        proc = subprocess.Popen([NODE, str(release_dir / "server.js")], cwd=tmp_path, stdout=log,
                                stderr=subprocess.STDOUT,
                                env={**env, "HOST": "127.0.0.1", "PORT": str(port), "PRINCIPAL_TOKEN": PRINCIPAL,
                                     "SHUTDOWN_GRACE_MS": "0"})
        procs.append((proc, log))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2):
                    break
            except (urllib.error.URLError, OSError):
                assert proc.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "the demo app did not come up"
                time.sleep(0.05)
        return App(url, log_path)

    yield start
    for proc, log in procs:
        if proc.poll() is None:
            proc.terminate()
        proc.wait(timeout=10)
        log.close()


SUITE = '''
import os

def test_health(): assert True
def test_items(): assert True
def test_auth(): assert os.environ["SUITE_TOKEN"] == "{secret}"
def test_sse(): assert True
def test_flaky(): assert os.environ.get("SUITE_FAIL") != "1"
'''


def write_suite(tmp_path: Path) -> Path:
    suite = tmp_path / "suite"
    suite.mkdir(exist_ok=True)
    (suite / "test_release.py").write_text(SUITE.format(secret=SUITE_SECRET), encoding="utf-8")
    return suite


def all_checks(app: App, tmp_path: Path, **override: Any) -> dict[str, Any]:
    bearer = {"Authorization": f"Bearer {PRINCIPAL}"}
    data: dict[str, Any] = {
        "smoke_checks": [
            {"name": "items", "url": f"{app.url}/api/items", "latency_max_ms": 2000,
             "json_checks": [{"jmespath": "items[0].id", "equals": 1}, {"jmespath": "length(items)", "min": 1},
                             {"jmespath": "version", "matches": "^v2$"}],
             "header_checks": [{"name": "content-type", "contains": "application/json"}]},
            {"name": "protected", "url": f"{app.url}/api/protected", "headers": bearer,
             "json_checks": [{"jmespath": "auth", "equals": "principal"}]},
        ],
        "smoke_sse_checks": [
            {"name": "events", "url": f"{app.url}/api/events?interval_ms=50", "headers": bearer, "events": 3,
             "deadline": 3, "event_names": ["tick"], "first_event_max_ms": 1500},
        ],
        "smoke_auth_checks": [
            {"name": "ephemeral", "issue_url": f"{app.url}/api/token", "use_url": f"{app.url}/api/events",
             "principal_token": PRINCIPAL, "expiry_grace": 0.5},
        ],
        "smoke_log_checks": [{"name": "access_log", "paths": [str(app.log)], "min_masked": 1}],
        "smoke_test_commands": [
            {"name": "suite", "argv": [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "."],
             "chdir": str(write_suite(tmp_path)), "environment": {"SUITE_TOKEN": SUITE_SECRET}},
        ],
    }
    data.update(override)
    return data


def run(tmp_path: Path, data: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "inventory.json").write_text(json.dumps({"liftoff_app": {"hosts": {"app1": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}), encoding="utf-8")
    base = {"liftoff_record_dir": str(tmp_path / "records"), "liftoff_environment": "test",
            "liftoff_strategy": "pm2", "liftoff_version": "v2"}
    (tmp_path / "vars.json").write_text(json.dumps({**base, **data}), encoding="utf-8")
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}")
    cmd = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), str(PLAYBOOK), "-i", str(tmp_path / "inventory.json"),
           "-e", f"@{tmp_path / 'vars.json'}", *args]
    result = subprocess.run(cmd, cwd=ROOT, env=env, text=True, capture_output=True, timeout=600, check=False)
    (tmp_path / "output.txt").write_text(result.stdout + result.stderr, encoding="utf-8")
    return result


def run_dir(tmp_path: Path) -> Path:
    (found,) = [p for p in (tmp_path / "records" / "test").iterdir() if p.is_dir()]
    return found


def record(tmp_path: Path) -> dict[str, Any]:
    return json.loads((run_dir(tmp_path) / "record.json").read_text(encoding="utf-8"))


def one(rec: dict[str, Any], ident: str) -> dict[str, Any]:
    found = [i for i in rec["evidence"] if i["id"] == ident]
    assert len(found) == 1, f"expected one {ident!r}; ids: {[i['id'] for i in rec['evidence']]}"
    return found[0]


def smoke_ids(rec: dict[str, Any]) -> list[str]:
    return [i["id"] for i in rec["evidence"] if i["phase"] == "smoke"]


def tail(result: subprocess.CompletedProcess[str]) -> str:
    return (result.stdout + result.stderr)[-4000:]


def assert_no_secret(tmp_path: Path, result: subprocess.CompletedProcess[str], *issued: str) -> None:
    """Neither the principal, the suite's secret nor an issued token in the output, the journal or the record."""
    texts = {"ansible-playbook output": result.stdout + result.stderr}
    texts.update({str(p): p.read_text(encoding="utf-8") for p in run_dir(tmp_path).iterdir() if p.is_file()})
    assert set(texts) >= {"ansible-playbook output", str(run_dir(tmp_path) / "evidence.jsonl"),
                          str(run_dir(tmp_path) / "record.json"), str(run_dir(tmp_path) / "record.md")}
    for where, text in texts.items():
        for secret in (PRINCIPAL, SUITE_SECRET, *issued):
            assert secret not in text, f"a planted secret leaked into {where}"
        assert not ISSUED.findall(text), f"an issued token leaked into {where}: {ISSUED.findall(text)[:1]}"


def test_every_kind_of_check_passes_and_records_target_and_actual(
        start_app: Callable[..., App], tmp_path: Path) -> None:
    app = start_app(token_ttl_s=2)
    result = run(tmp_path, all_checks(app, tmp_path), "-vvv")
    assert result.returncode == 0, tail(result)
    rec = record(tmp_path)
    assert rec["outcome"] == "success", (rec["failed_phase"], rec["reason"])
    assert smoke_ids(rec) == ["smoke.items", "smoke.protected", "smoke.events", "smoke.ephemeral",
                              "smoke.access_log", "smoke.suite", "smoke.phase"]
    assert all(one(rec, i)["status"] == "pass" for i in smoke_ids(rec))

    items = one(rec, "smoke.items")
    assert items["target"] == "HTTP 200, latency <= 2000.0 ms, 4 assertions"
    assert re.fullmatch(r"HTTP 200, [\d.]+ ms", items["actual"]) and items["details"]["latency_ms"] > 0

    events = one(rec, "smoke.events")
    assert events["target"] == "3 events within 3 s named tick, first within 1500 ms"
    assert events["details"]["events"] == 3 and events["details"]["event_names"] == ["tick"]
    assert events["details"]["stopped"] == "count" and events["details"]["content_type"] == "text/event-stream"
    # the app sends a tick every 50 ms: the first cannot come before 50 ms, three before 150 ms
    assert 40 <= events["details"]["first_event_ms"] <= 1500 and events["details"]["elapsed_ms"] >= 140

    flow = one(rec, "smoke.ephemeral")
    assert flow["target"] == "issue 200/201, use 200, after TTL 403, principal 200"
    assert flow["actual"] == "issue 200, use 200, expired 403, principal 200, TTL 2 s"
    steps = {s["step"]: s for s in flow["details"]["steps"]}
    refused = re.fullmatch(r"refused ([\d.]+) s after issue \(TTL 2 s\)", steps["expired"]["note"])
    assert refused and 2.5 <= float(refused.group(1)) < 5, steps["expired"]["note"]  # TTL + 0.5 s grace
    assert 2.0 <= flow["details"]["waited_s"] <= 2.5 and flow["details"]["ttl_s"] == 2.0

    logs = one(rec, "smoke.access_log")
    assert logs["target"] == "at most 0 lines with a raw token"
    assert logs["details"]["leaks"] == 0 and logs["details"]["masked"] >= 2  # the token flow's two uses
    assert logs["details"]["lines_scanned"] == len(app.log_text().splitlines())
    assert logs["details"]["pattern"] == "token\\=[a-f0-9]"

    suite = one(rec, "smoke.suite")
    assert suite["actual"] == "5/5 passed (100.0%) [pytest]"
    assert suite["details"]["counts"]["succeeded"] == 5 and suite["details"]["rc"] == 0

    # the app saw the token used in the query and logged it masked
    assert "GET /api/events?token=*** 200" in app.log_text() and "GET /api/events?token=*** 403" in app.log_text()
    assert_no_secret(tmp_path, result)


def test_check_mode_records_the_plan_and_sends_nothing(start_app: Callable[..., App], tmp_path: Path) -> None:
    app = start_app()
    before = app.log_text()
    result = run(tmp_path, all_checks(app, tmp_path), "--check")
    assert result.returncode == 0, tail(result)
    rec = record(tmp_path)
    planned = [one(rec, i) for i in smoke_ids(rec) if i != "smoke.phase"]
    assert [i["id"] for i in planned] == ["smoke.items", "smoke.protected", "smoke.events", "smoke.ephemeral",
                                          "smoke.access_log", "smoke.suite"]
    assert all(i["status"] == "skip" and i["actual"].startswith("plan: would ") for i in planned)
    assert one(rec, "smoke.ephemeral")["actual"] == f"plan: would request a token from {app.url}/api/token"
    assert app.log_text() == before  # no request reached the app
    assert_no_secret(tmp_path, result)


FAILURES: dict[str, tuple[dict[str, Any], str, str, str]] = {
    # name: (release.json, which list and how it is changed (see failing_checks), evidence id, failure text)
    "sse_deadline": ({}, "sse", "smoke.events", "1 of 3 events within the 500 ms deadline"),
    "sse_content_type": ({}, "sse_json", "smoke.events", "content type 'application/json', expected text/event-stream"),
    "token_valid_after_ttl": ({"token_ttl_s": 30}, "auth", "smoke.ephemeral",
                              "using the token after its TTL: still accepted (status 200)"),
    "leak_in_log": ({"log_tokens_raw": True}, "logs", "smoke.access_log", "1 line with a raw token (allowed 0)"),
    "too_few_tests_pass": ({}, "suite", "smoke.suite", "4/5 passed (80.0%), expected at least 90.0%"),
    "json_assertion": ({}, "http", "smoke.items", "JSON length(items) is 3, expected >= 4"),
}


def failing_checks(app: App, tmp_path: Path, case: str) -> dict[str, Any]:
    bearer = {"Authorization": f"Bearer {PRINCIPAL}"}
    if case == "sse":
        return {"smoke_sse_checks": [{"name": "events", "url": f"{app.url}/api/events?interval_ms=400",
                                      "headers": bearer, "events": 3, "deadline": 0.5}]}
    if case == "sse_json":
        return {"smoke_sse_checks": [{"name": "events", "url": f"{app.url}/api/items", "events": 1, "deadline": 2}]}
    if case == "auth":  # the app's TTL is 30 s; the check is told 1 s, so the token is still good when retried
        return {"smoke_auth_checks": [{"name": "ephemeral", "issue_url": f"{app.url}/api/token",
                                       "use_url": f"{app.url}/api/protected", "principal_token": PRINCIPAL, "ttl": 1,
                                       "expiry_grace": 0.2}]}
    if case == "logs":  # the token flow uses the token in the query: the app logs it raw
        return {"smoke_auth_checks": [{"name": "ephemeral", "issue_url": f"{app.url}/api/token",
                                       "use_url": f"{app.url}/api/protected", "principal_token": PRINCIPAL,
                                       "check_expiry": False}],
                "smoke_log_checks": [{"name": "access_log", "paths": [str(app.log)]}]}
    if case == "suite":
        return {"smoke_test_commands": [{
            "name": "suite", "cmd": f"{sys.executable} -m pytest -q -p no:cacheprovider .",
            "chdir": str(write_suite(tmp_path)), "min_success_ratio": 0.9, "run_on": "target",
            "environment": {"SUITE_TOKEN": SUITE_SECRET, "SUITE_FAIL": "1"}}]}
    return {"smoke_checks": [{"name": "items", "url": f"{app.url}/api/items", "retries": 0,
                              "json_checks": [{"jmespath": "length(items)", "min": 4}]}]}


@pytest.mark.parametrize("case", list(FAILURES))
def test_a_failing_check_fails_the_phase_and_says_why(
        start_app: Callable[..., App], tmp_path: Path, case: str) -> None:
    release, which, ident, text = FAILURES[case]
    app = start_app(**release)
    result = run(tmp_path, failing_checks(app, tmp_path, which), "-vvv")
    assert result.returncode != 0, tail(result)
    rec = record(tmp_path)
    assert rec["outcome"] != "success" and rec["failed_phase"] == "smoke"
    item = one(rec, ident)
    assert item["status"] == "fail"
    assert any(text in failure for failure in item["details"]["failures"]), item["details"]["failures"]
    assert one(rec, "smoke.phase")["status"] == "fail"
    issued = ISSUED.findall(app.log_text())  # raw only when the app logs them raw
    if case == "leak_in_log":
        assert len(issued) == 1 and item["details"]["leaks"] == 1
        line = next(n for n, text_line in enumerate(app.log_text().splitlines(), 1) if issued[0] in text_line)
        assert item["details"]["files"][0]["leak_lines"] == [line]
        assert one(rec, "smoke.ephemeral")["status"] == "pass"
    else:
        assert issued == []
    if case == "sse_deadline":
        assert item["details"]["stopped"] == "deadline" and item["details"]["events"] == 1
        assert 500 <= item["details"]["elapsed_ms"] < 1500
    if case == "token_valid_after_ttl":
        steps = {s["step"]: s for s in item["details"]["steps"]}
        assert steps["expired"]["status"] == 200 and steps["principal"]["status"] == 200
        assert item["actual"] == "issue 200, use 200, expired 200 (fail), principal 200, TTL 1 s"
    if case == "too_few_tests_pass":
        assert item["actual"] == "4/5 passed (80.0%) [pytest]" and item["details"]["rc"] == 1
        assert "test_flaky" in item["details"]["output_tail"]
    assert_no_secret(tmp_path, result, *issued)


def test_duplicate_check_names_are_refused_before_any_request(start_app: Callable[..., App], tmp_path: Path) -> None:
    app = start_app()
    before = app.log_text()
    data = all_checks(app, tmp_path)
    data["smoke_sse_checks"][0]["name"] = "items"
    result = run(tmp_path, data)
    assert result.returncode != 0
    assert "smoke check names must be unique" in result.stdout and "items" in result.stdout
    assert app.log_text() == before
    assert_no_secret(tmp_path, result)


def test_bad_input_is_refused_by_the_argument_specs_naming_the_variable(
        start_app: Callable[..., App], tmp_path: Path) -> None:
    app = start_app()
    before = app.log_text()
    data = all_checks(app, tmp_path)
    data["smoke_checks"][0]["json_checks"].append({"equals": 1})
    del data["smoke_sse_checks"][0]["url"]
    data["smoke_auth_checks"][0]["send_as"] = "cookie"
    data["smoke_test_commands"][0]["cmd"] = "true"
    result = run(tmp_path, data)
    assert result.returncode != 0
    out = result.stdout + result.stderr
    for error in ("missing required arguments: jmespath found in smoke_checks -> json_checks",
                  "missing required arguments: url found in smoke_sse_checks",
                  "value of send_as must be one of: query, header, got: cookie found in smoke_auth_checks",
                  "parameters are mutually exclusive: argv|cmd found in smoke_test_commands"):
        assert error in out, error
    assert app.log_text() == before
    assert_no_secret(tmp_path, result)
