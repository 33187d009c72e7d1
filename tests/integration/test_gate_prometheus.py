"""The gate against a real Prometheus (Debian's package) scraping the demo app, and HOLD as a real state.

One environment for the module, in file order: a first deploy, a good release judged by PromQL
(with a baseline measured in preflight), a bad release rolled back and the restored release
gated again, the no-data policies, the HOLD policies, and last Prometheus stopped mid-window.
"""
from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, evidence, latest_record, runs, served_version
from localenv import LocalEnv

pytestmark = pytest.mark.integration

ERROR_RATIO = ('(sum(rate(http_requests_total{status=~"5.."}[5s])) or vector(0))'
               ' / sum(rate(http_requests_total[5s]))')
REQUEST_RATE = "sum(rate(http_requests_total[5s]))"
P95 = "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[5s])))"

PROMETHEUS_GATE: dict[str, Any] = {
    "gate_post_rollback_delay": 6,
    "gate_metrics": [
        {"name": "error_ratio", "provider": "prometheus", "query": ERROR_RATIO, "max": 0.05,
         "severity": "critical"},
        {"name": "latency_p95", "provider": "prometheus", "query": P95, "max": 0.5, "severity": "high",
         "grace": 4},
        # traffic must not halve against what the old release served (a baseline from preflight);
        # the demo's only traffic is the gate's own load, so the 5 s rate() window fills first
        {"name": "request_rate", "provider": "prometheus", "query": REQUEST_RATE, "max_decrease": 0.5,
         "severity": "high", "initial_delay": 5},
    ],
}


def extra(data: dict[str, Any]) -> list[str]:
    return ["-e", json.dumps(data)]


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def test_first_deploy(local_env: LocalEnv) -> None:
    assert local_env.prometheus is not None and local_env.prometheus.running
    result = local_env.playbook("deploy.yml", *extra(PROMETHEUS_GATE), version="v1")
    assert result.returncode == 0, output(result)[-3000:]
    record = latest_record(local_env)
    assert record["outcome"] == "success", record["reason"]
    # nothing ran before: no baseline, the relative metric is reported, not decided
    rate = evidence(record, "verify.metric.request_rate")
    assert rate["details"]["dry_run"] is True and "has no baseline" in rate["actual"]


def test_good_release_passes_on_prometheus(local_env: LocalEnv) -> None:
    assert served_version(local_env) == "v1"
    result = local_env.playbook("deploy.yml", *extra(PROMETHEUS_GATE), version="v2")
    assert result.returncode == 0, output(result)[-3000:]
    assert served_version(local_env) == "v2"
    record = latest_record(local_env)
    assert record["outcome"] == "success" and record["verdict"] == "PROCEED", record["reason"]
    baseline = evidence(record, "preflight.baseline")
    assert baseline["status"] == "pass" and baseline["details"]["baselines"]["request_rate"] > 0
    for name in ("error_ratio", "latency_p95", "request_rate"):
        metric = evidence(record, f"verify.metric.{name}")["details"]
        assert metric["provider"] == "prometheus" and metric["result"] == "pass", metric["reason"]
        assert metric["count"] in (5, 6) and all(isinstance(s["value"], float) for s in metric["samples"])
    rate = evidence(record, "verify.metric.request_rate")["details"]
    assert rate["threshold"]["baseline"] == baseline["details"]["baselines"]["request_rate"]
    assert rate["threshold"]["min"] == pytest.approx(rate["threshold"]["baseline"] * 0.5)


def test_bad_release_rolls_back_and_the_restored_release_is_gated(local_env: LocalEnv) -> None:
    assert served_version(local_env) == "v2"
    result = local_env.playbook("deploy.yml", *extra(PROMETHEUS_GATE), version="v3")
    assert result.returncode != 0
    assert served_version(local_env) == "v2"
    record = latest_record(local_env)
    assert record["outcome"] == "rolled_back" and record["verdict"] == "ROLLBACK", record["reason"]
    assert record["reason"].startswith("gate verdict ROLLBACK: error_ratio breached max 0.05")
    verdict = evidence(record, "verify.verdict")["details"]
    assert verdict["driving"] == ["error_ratio"] and verdict["stopped_early"] is True
    after = evidence(record, "rollback.gate.verdict")
    assert after["status"] == "pass" and after["actual"] == "PROCEED", after["details"]["reasons"]


def run_verify(env: LocalEnv, metrics: list[dict[str, Any]], *args: str, **gate: Any
               ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    data = {"gate_metrics": metrics, "gate_interval": 1, "gate_count": 3, **gate}
    result = env.playbook("verify.yml", *extra(data), *args, version="v2")
    return result, latest_record(env)


def test_no_data_follows_each_metrics_policy(local_env: LocalEnv) -> None:
    missing = "sum(rate(liftoff_no_such_series_total[5s]))"
    result, record = run_verify(local_env, [
        {"name": "gone_fail", "provider": "prometheus", "query": missing, "max": 1, "no_data": "fail",
         "severity": "medium"},
        {"name": "gone_hold", "provider": "prometheus", "query": missing, "max": 1, "no_data": "inconclusive"},
        {"name": "gone_ignored", "provider": "prometheus", "query": missing, "max": 1, "no_data": "ignore",
         "dry_run": True},
        {"name": "error_ratio", "provider": "prometheus", "query": ERROR_RATIO, "max": 0.05},
    ])
    assert result.returncode != 0
    results = {m["name"]: m for m in evidence(record, "verify.verdict")["details"]["metrics"]}
    assert results["gone_fail"]["result"] == "fail" and results["gone_fail"]["failed"] == 3
    assert results["gone_hold"]["result"] == "inconclusive" and results["gone_hold"]["inconclusive"] == 3
    assert results["gone_ignored"]["result"] == "inconclusive" and results["gone_ignored"]["decision"] == "PROCEED"
    assert results["error_ratio"]["result"] == "pass"
    assert record["verdict"] == "HOLD" and record["outcome"] == "failed"
    assert "HOLD rolls back by policy gate_on_hold=rollback" in record["reason"]


MEDIUM_BREACH = [{"name": "queue_size", "provider": "fact", "value": 250, "max": 100, "severity": "medium"}]


def test_hold_proceeds_only_when_someone_answers(local_env: LocalEnv) -> None:
    answers: list[subprocess.CompletedProcess[str]] = []

    def answer() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if list((local_env.root / "records" / "local").glob("*/hold-pending.json")):
                cmd = [str(REPO / ".venv" / "bin" / "ansible-playbook"), str(REPO / "playbooks" / "hold.yml"),
                       "-i", str(REPO / "inventories" / "local"), "-e", "liftoff_hold_answer=proceed"]
                env = {**local_env.environ(), "LIFTOFF_OPERATOR": "bob-on-call"}
                answers.append(subprocess.run(cmd, cwd=REPO, env=env, text=True, capture_output=True,
                                              timeout=120, check=False))
                return
            time.sleep(0.2)

    thread = threading.Thread(target=answer)
    thread.start()
    result, record = run_verify(local_env, MEDIUM_BREACH, gate_on_hold="wait", gate_hold_timeout=120)
    thread.join()
    assert answers and answers[0].returncode == 0, output(answers[0])[-2000:] if answers else "never asked"
    assert result.returncode == 0, output(result)[-3000:]
    hold = evidence(record, "verify.hold")["details"]
    assert (hold["decision"], hold["by"], hold["answer"]) == ("PROCEED", "bob-on-call", "proceed")
    assert record["outcome"] == "success" and record["verdict"] == "HOLD"
    assert not list(runs(local_env)[-1].glob("hold-pending.json"))


def test_hold_nobody_answers_rolls_back(local_env: LocalEnv) -> None:
    result, record = run_verify(local_env, MEDIUM_BREACH, gate_on_hold="wait", gate_hold_timeout=3)
    assert result.returncode != 0
    assert evidence(record, "verify.hold")["details"]["why"] == (
        "nobody answered within 3 s (playbooks/hold.yml): rolled back")
    assert record["outcome"] == "failed"
    # and ask, with no terminal to ask on: nobody is waved through
    result, record = run_verify(local_env, MEDIUM_BREACH, gate_on_hold="ask")
    assert result.returncode != 0
    assert "nobody answered the prompt" in evidence(record, "verify.hold")["details"]["why"]


def test_hold_policy_proceed_is_recorded(local_env: LocalEnv) -> None:
    result, record = run_verify(local_env, MEDIUM_BREACH, gate_on_hold="proceed")
    assert result.returncode == 0, output(result)[-3000:]
    why = evidence(record, "verify.hold")["details"]["why"]
    assert why.startswith("HOLD waved through by the explicit policy gate_on_hold=proceed, run by ")


def test_hold_answer_without_a_waiting_run_is_refused(local_env: LocalEnv) -> None:
    cmd = [str(REPO / ".venv" / "bin" / "ansible-playbook"), str(REPO / "playbooks" / "hold.yml"),
           "-i", str(REPO / "inventories" / "local"), "-e", "liftoff_hold_answer=maybe"]
    result = subprocess.run(cmd, cwd=REPO, env=local_env.environ(), text=True, capture_output=True,
                            timeout=120, check=False)
    assert result.returncode != 0 and 'liftoff_hold_answer must be proceed or rollback, got "maybe"' in output(result)
    cmd[-1] = "liftoff_hold_answer=proceed"
    result = subprocess.run(cmd, cwd=REPO, env=local_env.environ(), text=True, capture_output=True,
                            timeout=120, check=False)
    assert result.returncode != 0 and "no run holds the deploy lock of local" in output(result)


def test_a_seed_profile_supplies_the_thresholds(local_env: LocalEnv) -> None:
    result, record = run_verify(local_env, [
        {"name": "errors", "provider": "prometheus", "query": ERROR_RATIO, "profile": "error_ratio"},
    ], gate_profile="seed-002")
    assert result.returncode == 0, output(result)[-3000:]
    verdict = evidence(record, "verify.verdict")["details"]
    assert verdict["profile"] == "seed-002"
    names = [m["name"] for m in verdict["metrics"]]
    assert names == ["errors.critical", "errors.high", "errors.medium"]
    tiers = {m["name"]: m for m in verdict["metrics"]}
    assert tiers["errors.critical"]["threshold"]["max"] == 0.10  # seed 002: > 10% immediate rollback
    assert tiers["errors.high"]["spec"]["grace"] == 1800  # > 5% unresolved for 30 min
    assert all(m["unit"] == "ratio" and m["result"] == "pass" for m in verdict["metrics"])


def test_ask_a_person_at_a_terminal(local_env: LocalEnv) -> None:
    """gate_on_hold=ask under a real pseudo-terminal: the typed answer and who gave it are recorded."""
    import pty
    import select

    data = {"gate_metrics": MEDIUM_BREACH, "gate_interval": 1, "gate_count": 2, "gate_on_hold": "ask"}
    cmd = [str(REPO / ".venv" / "bin" / "ansible-playbook"), str(REPO / "playbooks" / "verify.yml"),
           "-i", str(REPO / "inventories" / "local"), "-e", "liftoff_version=v2", *extra(data)]
    env = {**local_env.environ(), "LIFTOFF_OPERATOR": "carol-at-the-keyboard"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: ansible-playbook on the terminal
        os.chdir(REPO)
        os.execve(cmd[0], cmd, env)
    screen = b""
    answered = False
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _unused, _unused = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break  # the child closed the terminal
        if not chunk:
            break
        screen += chunk
        if not answered and b"Type proceed" in screen:
            time.sleep(0.5)
            os.write(fd, b"proceed\r")
            answered = True
    _unused, status = os.waitpid(pid, 0)
    os.close(fd)
    text = screen.decode(errors="replace")
    assert answered, text[-3000:]
    assert os.waitstatus_to_exitcode(status) == 0, text[-3000:]
    record = latest_record(local_env)
    hold = evidence(record, "verify.hold")["details"]
    assert (hold["decision"], hold["answer"], hold["by"]) == ("PROCEED", "proceed", "carol-at-the-keyboard")
    assert hold["at"] and record["outcome"] == "success"


def test_sql_metric_on_the_runs_database_keeps_its_password(local_env: LocalEnv) -> None:
    result, record = run_verify(local_env, [
        {"name": "items", "provider": "sql", "query": "SELECT count(*) FROM items", "max": 100000, "unit": "rows"},
    ], "-vvv")
    assert result.returncode == 0, output(result)[-3000:]
    metric = evidence(record, "verify.metric.items")["details"]
    assert metric["result"] == "pass" and metric["samples"][0]["value"] >= 0
    assert metric["spec"]["provider"] == "sql"
    secret = local_env.db_password
    assert secret not in output(result)
    for path in (local_env.root / "records").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"secret leaked into {path}"


def test_prometheus_stopped_mid_window_gives_the_consecutive_error_outcome(local_env: LocalEnv) -> None:
    assert local_env.prometheus is not None
    data = {"gate_interval": 1, "gate_count": 12, "gate_metrics": [
        {"name": "error_ratio", "provider": "prometheus", "query": ERROR_RATIO, "max": 0.05,
         "consecutive_error_limit": 2}]}
    cmd = [str(REPO / ".venv" / "bin" / "ansible-playbook"), str(REPO / "playbooks" / "verify.yml"),
           "-i", str(REPO / "inventories" / "local"), "-e", "liftoff_version=v2", *extra(data)]
    proc = subprocess.Popen(cmd, cwd=REPO, env=local_env.environ(), text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    seen: list[str] = []
    for line in proc.stdout:
        seen.append(line)
        if "Sample metrics and decide" in line:
            break
    time.sleep(3.5)  # a few good samples first
    local_env.prometheus.stop()
    seen.append(proc.stdout.read())
    assert proc.wait(timeout=300) != 0, "".join(seen)[-3000:]
    record = latest_record(local_env)
    metric = evidence(record, "verify.metric.error_ratio")["details"]
    statuses = [s["status"] for s in metric["samples"]]
    assert metric["result"] == "error" and statuses[-3:] == ["error"] * 3, statuses
    assert "pass" in statuses[:-3]  # measured fine before Prometheus went away
    assert metric["limit"] == {"consecutive_error_limit": 2}
    assert "could not be measured in 3 consecutive samples" in metric["reason"]
    assert "Connection refused" in metric["reason"] or "refused" in metric["reason"].lower()
    assert record["verdict"] == "ROLLBACK" and record["outcome"] == "failed"
    assert os.path.exists(Path(runs(local_env)[-1]) / "record.md")


def test_gate_after_each_step_stops_the_rollout_at_the_bad_step(local_env: LocalEnv) -> None:
    result = local_env.playbook(str(REPO / "tests" / "integration" / "playbooks" / "gate_steps.yml"), version="v2")
    assert result.returncode != 0
    record = latest_record(local_env)
    first = evidence(record, "rollout.step_10.verdict")
    assert first["status"] == "pass" and first["actual"] == "PROCEED"
    second = evidence(record, "rollout.step_50.verdict")
    assert second["status"] == "fail" and second["actual"] == "ROLLBACK"
    assert not [e for e in record["evidence"] if e["id"].startswith("rollout.step_100")]  # never reached
    assert record["outcome"] == "failed" and record["failed_phase"] == "rollout"
    assert "gate after step 50: ROLLBACK: error_ratio breached max 0.05" in record["reason"]
