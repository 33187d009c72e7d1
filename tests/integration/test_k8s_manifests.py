"""Every manifest the k8s role renders is valid against the Kubernetes schemas (kubernetes-validate, strict).

No Kubernetes API server can be had on these machines, so the role runs for real with ansible-playbook
in render-only mode (k8s_apply=false): a first release (rolling), a canary 10/50/100 over a release
with configuration, the same release again (idempotent), a rollback, and a canary of one replica with
every optional field of the templates set. After each run the files written to k8s_manifest_dir are
kept and every one of them is validated against Kubernetes 1.31 with unknown fields refused.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

kubernetes_validate = pytest.importorskip("kubernetes_validate")

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
KUBERNETES_VERSION = "1.31"

PLAYBOOK = """\
- name: The k8s role in render-only mode
  hosts: deployer
  gather_facts: false
  tasks:
    - name: Run the role's entry point
      ansible.builtin.include_role:
        name: liftoff.release.k8s
        tasks_from: "{{ entry | default('main') }}"
    - name: Show what the role reports
      ansible.builtin.debug:
        var: k8s_release
"""

COMMON: dict[str, Any] = {
    "k8s_app_name": "api",
    "k8s_namespace": "shop",
    "k8s_image": "registry.example.com/api",
    "k8s_replicas": 6,
    "k8s_apply": False,
    "k8s_readiness_probe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 2},
}


def run_role(work: Path, extra: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    """ansible-playbook with the role's entry point; extra vars as JSON."""
    inventory = work / "hosts.yml"
    if not inventory.exists():
        inventory.write_text(yaml.safe_dump({"all": {"hosts": {"deployer": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
        (work / "play.yml").write_text(PLAYBOOK)
        (work / "run").mkdir()
    variables = {**COMMON, "k8s_manifest_dir": str(work / "manifests"), "run_dir": str(work / "run"), **extra}
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), str(work / "play.yml"),
                           "-i", str(inventory), "-e", json.dumps(variables)],
                          cwd=REPO, env=env, text=True, capture_output=True, timeout=300, check=False)


def output(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The run as the ansible.posix.json callback reports it."""
    try:
        return dict(json.loads(proc.stdout))
    except ValueError:
        raise AssertionError(f"not JSON: {proc.stdout[-2000:]}\n{proc.stderr[-2000:]}") from None


def reported(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """k8s_release after the run (the playbook's last task shows it)."""
    last = output(proc)["plays"][-1]["tasks"][-1]
    return dict(last["hosts"]["deployer"]["k8s_release"])


def recap_changed(proc: subprocess.CompletedProcess[str]) -> int:
    return int(output(proc)["stats"]["deployer"]["changed"])


def load(path: Path) -> dict[str, Any]:
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    assert len(docs) == 1, f"{path}: one object per file, got {len(docs)}"
    return dict(docs[0])


def manifests(snapshot: Path) -> dict[str, dict[str, Any]]:
    return {str(p.relative_to(snapshot)): load(p) for p in sorted(snapshot.rglob("*.yml"))}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the role through its cases; snapshot the manifest dir after each run."""
    work = tmp_path_factory.mktemp("k8s-render")
    snapshots: dict[str, Path] = {}
    results: dict[str, subprocess.CompletedProcess[str]] = {}

    def step(name: str, extra: dict[str, Any]) -> None:
        proc = run_role(work, extra)
        assert proc.returncode == 0, f"{name}: {proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
        results[name] = proc
        snapshots[name] = work / "snapshots" / name
        shutil.copytree(work / "manifests", snapshots[name])

    config = {"LOG_LEVEL": "info", "WORKERS": 4}
    step("v1_rolling", {"k8s_release_version": "v1"})
    canary = {"k8s_release_version": "v2", "k8s_canary_steps": [10, 50, 100], "k8s_canary_hold": [300, 600, 0],
              "k8s_config": config}
    step("v2_canary", canary)
    step("v2_again", canary)
    step("rollback", {"entry": "rollback"})
    step("v3_every_field", {
        "k8s_release_version": "3.0.0-rc_1", "k8s_replicas": 1, "k8s_canary_steps": [50, 100],
        "k8s_image_tag": "3.0.0-rc1", "k8s_service_type": "NodePort", "k8s_service_port": 8080,
        "k8s_container_port": 9000, "k8s_command": ["/app/server"], "k8s_args": ["--port", 9000],
        "k8s_env": {"MODE": "canary", "RETRIES": 3}, "k8s_config": {"feature.json": '{"x": 1}'},
        "k8s_config_mount_path": "/etc/app", "k8s_labels": {"team": "payments"},
        "k8s_resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}},
        "k8s_liveness_probe": {"tcpSocket": {"port": "http"}, "initialDelaySeconds": 5},
        "k8s_max_surge": 1, "k8s_max_unavailable": 0})
    return {"work": work, "snapshots": snapshots, "results": results}


def test_every_rendered_manifest_is_valid_kubernetes(rendered: dict[str, Any]) -> None:
    checked: list[str] = []
    errors: list[str] = []
    for name, snapshot in rendered["snapshots"].items():
        for rel, obj in manifests(snapshot).items():
            try:
                kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as exc:
                errors.append(f"{name}/{rel}: {exc.message} at {list(exc.path)}")
            checked.append(f"{name}/{rel}")
    assert not errors, "\n".join(errors)
    # The cases cover every template and every step.
    for expected in ("v1_rolling/deployment.yml", "v1_rolling/service.yml", "v1_rolling/releases.yml",
                     "v2_canary/configmap.yml", "v2_canary/steps/10/deployment-canary.yml",
                     "v2_canary/steps/10/deployment-stable.yml", "v2_canary/steps/50/deployment-canary.yml",
                     "v2_canary/steps/50/deployment-stable.yml", "v2_canary/steps/100/deployment-stable.yml",
                     "rollback/deployment.yml", "rollback/releases.yml",
                     "v3_every_field/steps/50/deployment-canary.yml", "v3_every_field/configmap.yml"):
        assert expected in checked, f"{expected} was not rendered; rendered: {checked}"


def test_strict_validation_refuses_an_unknown_field() -> None:
    """The check above can fail: a misspelt field is an error under strict validation."""
    bad = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "api"},
           "spec": {"selectr": {"app": "api"}, "ports": [{"port": 80}]}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


def deployment_of(snapshot: Path, rel: str) -> dict[str, Any]:
    obj = load(snapshot / rel)
    assert obj["kind"] == "Deployment"
    return obj


def image(obj: dict[str, Any]) -> str:
    return str(obj["spec"]["template"]["spec"]["containers"][0]["image"])


def test_first_release_is_a_rolling_update(rendered: dict[str, Any]) -> None:
    snap = rendered["snapshots"]["v1_rolling"]
    dep = deployment_of(snap, "deployment.yml")
    assert image(dep) == "registry.example.com/api:v1" and dep["spec"]["replicas"] == 6
    assert dep["spec"]["strategy"] == {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}
    assert dep["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "api", "track": "stable"}
    assert not (snap / "steps").exists() and not (snap / "configmap.yml").exists()
    svc = load(snap / "service.yml")
    assert svc["spec"]["selector"] == {"app.kubernetes.io/name": "api"}   # both tracks
    assert reported(rendered["results"]["v1_rolling"])["current"] == "v1"


def test_canary_steps_replicas_and_tracks(rendered: dict[str, Any]) -> None:
    snap = rendered["snapshots"]["v2_canary"]
    for pct, canary, stable in ((10, 1, 5), (50, 3, 3)):
        can = deployment_of(snap, f"steps/{pct}/deployment-canary.yml")
        stab = deployment_of(snap, f"steps/{pct}/deployment-stable.yml")
        assert (can["metadata"]["name"], can["spec"]["replicas"], image(can)) == ("api-canary", canary, "registry.example.com/api:v2")
        assert can["spec"]["template"]["metadata"]["labels"]["track"] == "canary"
        assert (stab["metadata"]["name"], stab["spec"]["replicas"], image(stab)) == ("api", stable, "registry.example.com/api:v1")
        # The stable track is the v1 release exactly as stored, only scaled: its pods are not rolled.
        stored_v1 = json.loads(load(snap / "releases.yml")["data"]["release-v1.json"])
        v1_dep = next(m for m in stored_v1 if m["kind"] == "Deployment")
        assert stab["spec"]["template"] == v1_dep["spec"]["template"]
    promoted = deployment_of(snap, "steps/100/deployment-stable.yml")
    assert (promoted["spec"]["replicas"], image(promoted)) == (6, "registry.example.com/api:v2")
    assert promoted == deployment_of(snap, "deployment.yml")
    assert not (snap / "steps" / "100" / "deployment-canary.yml").exists()


def test_canary_config_is_content_addressed(rendered: dict[str, Any]) -> None:
    snap = rendered["snapshots"]["v2_canary"]
    cm = load(snap / "configmap.yml")
    assert re.fullmatch(r"api-config-[0-9a-f]{10}", cm["metadata"]["name"])
    assert cm["data"] == {"LOG_LEVEL": "info", "WORKERS": "4"}
    dep = deployment_of(snap, "deployment.yml")
    assert dep["spec"]["template"]["spec"]["containers"][0]["envFrom"] == [{"configMapRef": {"name": cm["metadata"]["name"]}}]


def test_release_store_holds_history_and_each_release(rendered: dict[str, Any]) -> None:
    store = load(rendered["snapshots"]["v2_canary"] / "releases.yml")
    assert store["metadata"]["name"] == "api-liftoff-releases"
    history = json.loads(store["data"]["history.json"])
    assert (history["current"], history["previous"]) == ("v2", "v1")
    assert sorted(store["data"]) == ["history.json", "release-v1.json", "release-v2.json"]


def test_same_release_again_changes_nothing(rendered: dict[str, Any]) -> None:
    proc = rendered["results"]["v2_again"]
    assert recap_changed(proc) == 0, proc.stdout[-3000:]
    assert reported(proc)["changed"] is False
    assert manifests(rendered["snapshots"]["v2_again"]) == manifests(rendered["snapshots"]["v2_canary"])


def test_rollback_renders_the_stored_previous_release(rendered: dict[str, Any]) -> None:
    snap = rendered["snapshots"]["rollback"]
    release = reported(rendered["results"]["rollback"])
    assert (release["current"], release["previous"], release["changed"]) == ("v1", "v2", True)
    assert release["rolled_back"] == ["v2"]
    dep = deployment_of(snap, "deployment.yml")
    assert dep == next(m for m in json.loads(load(snap / "releases.yml")["data"]["release-v1.json"])
                       if m["kind"] == "Deployment")
    assert image(dep) == "registry.example.com/api:v1"
    assert not (snap / "configmap.yml").exists()    # v1 had no configuration


def test_every_optional_field_renders(rendered: dict[str, Any]) -> None:
    snap = rendered["snapshots"]["v3_every_field"]
    can = deployment_of(snap, "steps/50/deployment-canary.yml")
    stab = deployment_of(snap, "steps/50/deployment-stable.yml")
    assert (can["spec"]["replicas"], stab["spec"]["replicas"]) == (1, 1)   # one replica: the canary runs beside it
    container = can["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "registry.example.com/api:3.0.0-rc1"
    assert container["args"] == ["--port", "9000"]
    assert {"name": "RETRIES", "value": "3"} in container["env"]
    assert container["volumeMounts"][0]["mountPath"] == "/etc/app"
    assert can["metadata"]["labels"]["team"] == "payments"
    assert can["metadata"]["labels"]["app.kubernetes.io/version"] == "3.0.0-rc_1"
    assert load(snap / "service.yml")["spec"]["type"] == "NodePort"


@pytest.mark.parametrize("extra, message", [
    ({"k8s_canary_steps": [50, 10, 100]}, "k8s_canary_steps must be strictly ascending"),
    ({"k8s_canary_steps": [10, 50]}, "k8s_canary_steps must end at 100"),
    ({"k8s_replicas": 0}, "k8s_replicas must be at least 1, got 0"),
    ({"k8s_canary_steps": [10, 100], "k8s_canary_hold": [5]},
     "k8s_canary_hold as a list needs one number of seconds per canary step (2), got 1"),
    ({"k8s_release_version": "v2/bad"}, "k8s_release_version must be a Kubernetes label value"),
    ({"k8s_max_surge": 0, "k8s_max_unavailable": 0}, "k8s_max_surge and k8s_max_unavailable cannot both be 0"),
])
def test_bad_input_fails_before_anything_is_written(tmp_path: Path, extra: dict[str, Any], message: str) -> None:
    proc = run_role(tmp_path, {"k8s_release_version": "v1", **extra})
    assert proc.returncode != 0
    assert message in proc.stdout + proc.stderr, proc.stdout[-3000:]
    assert not (tmp_path / "manifests").exists()


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (client) is not installed")
@pytest.mark.parametrize("case", ["v1_rolling", "v2_canary", "rollback", "v3_every_field"])
def test_kustomization_names_exactly_the_desired_state(rendered: dict[str, Any], case: str) -> None:
    """A GitOps controller syncing the directory (kustomize, offline) gets the release and its store, no step."""
    snap = rendered["snapshots"][case]
    proc = subprocess.run(["kubectl", "kustomize", str(snap)], text=True, capture_output=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    objects = [d for d in yaml.safe_load_all(proc.stdout) if d]
    names = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in objects)
    expected = ["ConfigMap/api-liftoff-releases", "Deployment/api", "Service/api"]
    if (snap / "configmap.yml").exists():
        expected.append(f"ConfigMap/{load(snap / 'configmap.yml')['metadata']['name']}")
    assert names == sorted(expected)
    assert load(snap / "deployment.yml") in objects
