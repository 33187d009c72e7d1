"""Seed 000 (VX11 SSE ephemeral tokens on Kubernetes) with the example's own inventory.

examples/seeds/000-vx11-k8s/ is run with real ansible-playbook: the k8s role renders what runs now
(v6.9.0 of operator-backend, tentaculo-link and operator-frontend), then playbooks/deploy.yml takes
v7.0.0 live in the seed's three phases, one run each (vx11_component backend, gateway, frontend).
No Kubernetes API server can be had on these machines, so the k8s role renders only (k8s_apply=false,
as test_k8s_manifests does). Everything else each run checks is real, against stand-ins the module
starts on free loopback ports and stops by pid:

- vx11.py (in the example): the three components at the rendered releases, with a real ephemeral
  token flow (issue with the principal, use on the SSE stream, refused after the TTL, principal
  fallback), a real SSE stream proxied by the gateway, and VX11's metrics counted on what it serves;
- Prometheus (Debian's) scraping it: the gate's PromQL and the seed-000 profile's tiers;
- a webhook receiver for #vx11-deploy (Slack) and PagerDuty.

The test replaces only endpoints.yml's variables, turns the cluster off, shortens the gate (1 s
samples, with synthetic load) and gives the approvals and attestations up front. It checks every
rendered manifest against the Kubernetes schemas, each component's rolling update, and that each
run's record has every mapped checklist item passing except the 30-minute window.
"""
from __future__ import annotations

import datetime
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO, checked_record, checklist_shortfalls, evidence
from test_k8s_manifests import KUBERNETES_VERSION, kubernetes_validate, load, manifests

from tests.support.pg import free_port
from tests.support.prometheus import PrometheusServer
from tests.support.receiver import Receiver

pytestmark = pytest.mark.integration

EXAMPLE = REPO / "examples" / "seeds" / "000-vx11-k8s"
INVENTORY = EXAMPLE / "inventory"
GROUP_VARS = INVENTORY / "group_vars" / "liftoff_app"
PRINCIPAL = "vx11-principal-" + secrets.token_hex(16)
ROUTING_KEY = "vx11-incidents-" + secrets.token_hex(8)
TTL = 3  # seconds; production's is 60 (the smoke check refuses one over 60)
PHASES = ("backend", "gateway", "frontend")
APPS = {"backend": "operator-backend", "gateway": "tentaculo-link", "frontend": "operator-frontend"}
REPLICAS = {"backend": 3, "gateway": 2, "frontend": 2}
APPROVALS = yaml.safe_load((GROUP_VARS / "approvals.yml").read_text(encoding="utf-8"))
VERIFY_ATTESTATIONS = {a["name"] for a in APPROVALS["approval_attestations"] if a.get("at") == "verify"}

RUNNING_RELEASE = """\
- name: What runs before the window, rendered by the k8s role with the example's inventory
  hosts: liftoff_app
  gather_facts: false
  tasks:
    - name: Render v6.9.0 of each component (a first release is a rolling update)
      ansible.builtin.include_role:
        name: liftoff.release.k8s
      vars:
        vx11_component: "{{ __seed000_component }}"
      loop: [backend, gateway, frontend]
      loop_control:
        loop_var: __seed000_component
"""


class StandIn:
    """examples/seeds/000-vx11-k8s/standin/vx11.py, stopped by its pid."""

    def __init__(self, directory: Path, config: dict[str, Any]) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "config.json").write_text(json.dumps(config), encoding="utf-8")
        self.log = directory / "vx11.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen([sys.executable, str(EXAMPLE / "standin" / "vx11.py"),
                                          str(directory / "config.json")], stdout=subprocess.PIPE, stderr=log,
                                         text=True, start_new_session=True)
        assert self.proc.stdout is not None
        if self.proc.stdout.readline().strip() != "ready":
            self.stop()
            raise RuntimeError(f"vx11.py did not start: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def ansible(playbook: Path, variables: dict[str, Any], env: dict[str, str], work: Path,
            name: str) -> subprocess.CompletedProcess[str]:
    (work / f"{name}.json").write_text(json.dumps(variables), encoding="utf-8")
    cmd = [str(REPO / ".venv" / "bin" / "ansible-playbook"), str(playbook), "-i", str(INVENTORY),
           "-e", f"@{work / f'{name}.json'}"]
    return subprocess.run(cmd, cwd=REPO, env=env, text=True, capture_output=True, stdin=subprocess.DEVNULL,
                          timeout=900, check=False)


@pytest.fixture(scope="module")
def seed000(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    work = tmp_path_factory.mktemp("seed000")
    records = work / "records"
    stops: list[Any] = []
    try:
        hooks = Receiver().start()
        stops.append(hooks.stop)
        ports = {role: free_port() for role in ("backend", "gateway", "frontend", "monitoring")}
        standin = StandIn(work / "standin", {"ports": ports, "manifest_root": str(records / "manifests"),
                                             "principal_token": PRINCIPAL, "ttl": TTL})
        stops.append(standin.stop)
        prometheus = PrometheusServer([f"127.0.0.1:{ports['backend']}"], job="vx11",
                                      base_dir=work / "prometheus").start()
        stops.append(prometheus.stop)
        backend = f"http://127.0.0.1:{ports['backend']}"
        common = {
            # endpoints.yml, replaced by the stand-ins
            "vx11_backend_url": backend, "vx11_gateway_url": f"http://127.0.0.1:{ports['gateway']}",
            "vx11_frontend_url": f"http://127.0.0.1:{ports['frontend']}",
            "vx11_dashboard_url": f"http://127.0.0.1:{ports['monitoring']}/d/vx11-tokens",
            "vx11_prometheus_url": prometheus.url, "vx11_principal_token": PRINCIPAL,
            "vx11_slack_url": hooks.url("/slack/vx11-deploy"), "vx11_pagerduty_url": hooks.url("/pagerduty"),
            "vx11_pagerduty_routing_key": ROUTING_KEY, "vx11_kubeconfig": str(work / "no-cluster"),
            "vx11_record_dir": str(records),
            # no cluster here: render each release (the directory a GitOps controller would sync)
            "k8s_apply": False,
            # 1 s samples with synthetic load instead of 30 s samples of real users; a HOLD fails at once
            "gate_interval": 1, "gate_count": 3, "gate_on_hold": "rollback",
            "gate_load": {"url": backend, "paths": ["/operator/api/health"], "rate": 20},
            "approval_given": {g["name"]: {"by": (g.get("approvers") or ["someone"])[0]}
                               for g in APPROVALS["approval_gates"]},
            "approval_attested": {a["name"]: {"by": "ops-lead"} for a in APPROVALS["approval_attestations"]},
            "ansible_python_interpreter": sys.executable,
        }
        env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
               "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ.get('PATH', '')}"}
        timings: dict[str, float] = {}
        (work / "first-run").mkdir()
        (work / "first.yml").write_text(RUNNING_RELEASE, encoding="utf-8")
        started = time.monotonic()
        first = ansible(work / "first.yml", {**common, "liftoff_version": "v6.9.0", "run_dir": str(work / "first-run")},
                        env, work, "first")
        timings["v6.9.0 rendered"] = time.monotonic() - started
        assert first.returncode == 0, first.stdout[-5000:] + first.stderr[-2000:]
        shutil.copytree(records / "manifests", work / "snapshots" / "v6.9.0")
        outputs = [first.stdout + first.stderr]
        results: dict[str, dict[str, Any]] = {}
        for phase in PHASES:
            hooks.clear()
            started = time.monotonic()
            values = {**common, "liftoff_version": "v7.0.0", "vx11_component": phase, "run_id": f"seed000-{phase}"}
            proc = ansible(REPO / "playbooks" / "deploy.yml", values, env, work, phase)
            timings[phase] = time.monotonic() - started
            outputs.append(proc.stdout + proc.stderr)
            assert proc.returncode == 0, f"{phase}: " + proc.stdout[-8000:] + proc.stderr[-2000:]
            shutil.copytree(records / "manifests", work / "snapshots" / phase)
            results[phase] = {"record": dict(checked_record(records / "production" / f"seed000-{phase}" / "record.json")),
                              "slack": [b["text"] for b in hooks.bodies("/slack/vx11-deploy")],
                              "pagerduty": hooks.bodies("/pagerduty")}
        yield {"work": work, "records": records, "snapshots": work / "snapshots", "runs": results,
               "timings": timings, "output": "\n".join(outputs)}
    finally:
        for stop in reversed(stops):
            stop()


def test_every_rendered_manifest_is_valid_kubernetes(seed000: dict[str, Any]) -> None:
    checked, errors = [], []
    for snapshot in sorted(seed000["snapshots"].iterdir()):
        for rel, obj in manifests(snapshot).items():
            try:
                kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                errors.append(f"{snapshot.name}/{rel}: {exc.message} at {list(exc.path)}")
            checked.append(f"{snapshot.name}/{rel}")
    assert not errors, "\n".join(errors)
    for app in APPS.values():
        for kind in ("deployment", "service", "releases"):
            assert f"frontend/{app}/{kind}.yml" in checked, checked


def _deployment(snapshot: Path, app: str) -> dict[str, Any]:
    return dict(load(snapshot / app / "deployment.yml"))


def _image(deployment: dict[str, Any]) -> str:
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def test_each_phase_rolls_out_its_component_one_instance_at_a_time(seed000: dict[str, Any]) -> None:
    """Phase 1 the backend, 2 the gateway, 3 the frontend: after each, the earlier ones stay on v7.0.0."""
    snapshots = seed000["snapshots"]
    for index, phase in enumerate(PHASES):
        for other in PHASES:
            app = APPS[other]
            want = "v7.0.0" if PHASES.index(other) <= index else "v6.9.0"
            dep = _deployment(snapshots / phase, app)
            assert _image(dep) == f"registry.vx11.example.com/vx11-{app}:{want}", (phase, app)
            assert dep["spec"]["replicas"] == REPLICAS[other]
            assert dep["spec"]["strategy"] == {"type": "RollingUpdate",
                                               "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}
            history = json.loads(load(snapshots / phase / app / "releases.yml")["data"]["history.json"])
            assert history["current"] == want
            assert history["previous"] == ("v6.9.0" if want == "v7.0.0" else None)
        change = evidence(seed000["runs"][phase]["record"], "rollout.change")
        assert change["actual"] == "v6.9.0 -> v7.0.0" and change["details"]["applied"] is False
        assert change["details"]["manifest_dir"].endswith(f"/manifests/{APPS[phase]}")


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (client) is not installed")
def test_kustomization_of_each_component_is_its_release(seed000: dict[str, Any]) -> None:
    for app in APPS.values():
        proc = subprocess.run(["kubectl", "kustomize", str(seed000["snapshots"] / "frontend" / app)], text=True,
                              capture_output=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        names = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in yaml.safe_load_all(proc.stdout) if o)
        assert names == sorted([f"ConfigMap/{app}-liftoff-releases", f"Deployment/{app}", f"Service/{app}"])


@pytest.mark.parametrize("phase", PHASES)
def test_each_run_checked_the_whole_system(seed000: dict[str, Any], phase: str) -> None:
    run = seed000["runs"][phase]
    record = run["record"]
    assert record["outcome"] == "success", record.get("reason")
    for ident in ("preflight.health", "preflight.dashboard", "smoke.backend_health", "smoke.gateway_health",
                  "smoke.ui", "smoke.sse_proxy", "smoke.ephemeral_flow", "verify.verdict", "run.notify.start",
                  "rollout.notify.phase", "record.notify.end"):
        item = evidence(record, ident)
        assert item["status"] == "pass", f"{ident}: {item['actual']}"
    flow = evidence(record, "smoke.ephemeral_flow")["actual"]
    assert flow == f"issue 200, use 200, expired 403, principal 200, TTL {TTL} s", flow
    assert "3 events" in evidence(record, "smoke.sse_proxy")["actual"] or \
        evidence(record, "smoke.sse_proxy")["details"]["events"] == 3
    verdict = evidence(record, "verify.verdict")
    assert verdict["actual"] == "PROCEED" and verdict["details"]["profile"] == "seed-000", verdict["details"]["reasons"]
    metrics = {m["name"]: m for m in verdict["details"]["metrics"]}
    for name in ("error_ratio.high", "error_ratio.medium", "latency_p95.critical", "latency_p95.medium",
                 "validation_failures.critical", "cache_entries.critical", "healthy_instances.critical",
                 "success_ratio.medium", "errors_5xx", "alerts_firing"):
        assert metrics[name]["provider"] == "prometheus" and metrics[name]["result"] == "pass", metrics[name]
    assert metrics["healthy_instances.critical"]["samples"][-1]["value"] == 3
    for name in VERIFY_ATTESTATIONS:
        assert evidence(record, f"verify.attest.{name}")["status"] == "pass"
    assert evidence(record, "verify.approval.keep_release")["details"]["by"] == "incident-commander"
    assert run["slack"][0].startswith(":rocket: VX11 v7.0.0 to production: started")
    assert any("phase rollout pass" in text for text in run["slack"])
    assert run["slack"][-1].startswith(":white_check_mark: VX11 v7.0.0 to production: SUCCESS")
    assert [p["event_action"] for p in run["pagerduty"]] == ["resolve"]


def _utc(text: str) -> float:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _refusals_in_the_last_minute(runs: dict[str, dict[str, Any]], phase: str) -> int:
    """The most refused tokens the gate's 1-minute count of validation failures saw in this phase's run.

    Each run's smoke check has one refused (expired) token, so a sample counts this run's and those of
    the earlier phases whose smoke check was within the minute before it. Every sample is checked
    against the smoke phases' times, with 3 s either side for the scrape and the query's own times."""
    verdict = evidence(runs[phase]["record"], "verify.verdict")["details"]
    samples = {m["name"]: m for m in verdict["metrics"]}["validation_failures.medium"]["samples"]
    smokes = [{p["name"]: p for p in runs[earlier]["record"]["phases"]}["smoke"]
              for earlier in PHASES[:PHASES.index(phase) + 1]]
    spans = [(_utc(smoke["started"]), _utc(smoke["ended"])) for smoke in smokes]
    assert samples, verdict
    for sample in samples:
        at = _utc(sample["at"])
        surely = sum(1 for started, ended in spans if started > at - 57 and ended < at - 3)
        possibly = sum(1 for started, ended in spans if ended > at - 63 and started < at)
        assert surely <= sample["value"] <= possibly, (sample, spans)
    return int(max(sample["value"] for sample in samples))


@pytest.mark.parametrize("phase", PHASES)
def test_checklist_is_complete_but_for_the_window(seed000: dict[str, Any], phase: str) -> None:
    """Every mapped item passes in every run but three the test cannot meet, each for its own reason.

    s000-054: the profile's 30-minute window, sampled for 3 s. s000-040 and s000-105: the seed's normal
    token traffic during the rollout (5-50 tokens/min, 50-200 live tokens), which only users make: the
    test has one token flow per run. Those two tiers are dry runs (reported, never deciding), so the
    gate proceeds and the record says plainly that the range was not met.

    s000-104 (validation failures < 1/min, also a dry run) counts the last minute of refusals: each run's
    smoke check has one refused expired token, so a run whose gate sampled within a minute of an
    earlier phase's smoke check sees 2 or 3 and reports it. The seed's phases are 30 minutes apart;
    the test's run back to back, so the records' own times say which it must be."""
    record = seed000["runs"][phase]["record"]
    shortfalls = checklist_shortfalls(record)
    expected = {"s000-054", "s000-040", "s000-105"}
    if _refusals_in_the_last_minute(seed000["runs"], phase) > 1:
        expected.add("s000-104")
        assert shortfalls["s000-104"].startswith("fail: validation_failures.medium: dry run, not deciding"), shortfalls
    assert set(shortfalls) == expected, shortfalls
    assert shortfalls["s000-054"].startswith("partial: observed")
    assert shortfalls["s000-040"].startswith("fail: issuance_rate.medium: dry run, not deciding")
    assert "breached min 50" in shortfalls["s000-105"]
    rows = {r["id"]: r for r in record["checklist"]["items"]}
    # every item but s000-080 (the post-rollback window: only a rolled-back run has it)
    assert len(rows) == 144 and "s000-080" not in rows


def test_record_masks_the_secrets_and_nothing_else(seed000: dict[str, Any]) -> None:
    """No secret in the output or the records, and no ordinary value masked (who attested, the flow's steps)."""
    for phase in PHASES:
        text = (seed000["records"] / "production" / f"seed000-{phase}" / "record.md").read_text(encoding="utf-8")
        assert "approved by ops-lead (variable)" in text and "smoke.ephemeral_flow: issue 200, use 200" in text
    for secret in (PRINCIPAL, ROUTING_KEY):
        assert secret not in seed000["output"]
        for path in seed000["records"].rglob("*"):
            if path.is_file() and path.suffix in (".json", ".jsonl", ".md", ".html"):
                assert secret.encode() not in path.read_bytes(), f"{secret[:8]}... leaked into {path}"


def test_report_wall_times(seed000: dict[str, Any]) -> None:
    timings = seed000["timings"]
    print("\nseed 000: " + ", ".join(f"{name} {seconds:.0f} s" for name, seconds in timings.items()))
    assert all(seconds < 600 for seconds in timings.values())
