"""The k8s role against a real Kubernetes cluster: runs only when KUBECONFIG points at one.

No API server can be had on the machines this project is developed on (ENVIRONMENT.md), so this test
is skipped there, with the reason printed; nothing here fakes a cluster. With KUBECONFIG set it uses
a throwaway namespace and, through real ansible-playbook runs of the role:

1. deploys v1 (the first release: a rolling update);
2. deploys v2 in canary steps 10/50/100 with the gate after each step (fact metrics, all healthy);
3. deploys v3 whose gate breaches at step 50: the step fails, the rollback (as the run's rollback
   phase calls it, k8s_rollback_to = the journaled previous release) removes the canary and puts
   v2 back on every replica;
4. deploys v4 whose image cannot be pulled: the rollout of the canary never completes (progress
   deadline), the step fails and the same rollback restores v2.

Assertions read the cluster with kubectl, not the role's report. Images: LIFTOFF_K8S_TEST_IMAGE
(default registry.k8s.io/e2e-test-images/agnhost) with the tags in LIFTOFF_K8S_TEST_TAGS (default
"2.52,2.53,2.54"); each must serve HTTP on port 8080 with `netexec --http-port=8080`.
"""
from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
CLUSTER = bool(os.environ.get("KUBECONFIG"))
needs_cluster = pytest.mark.skipif(
    not CLUSTER, reason="no Kubernetes cluster: set KUBECONFIG to run the k8s role against a real cluster "
                        "(deploy v1, canary v2 10/50/100 with a gate, bad v3/v4 rolled back)")
IMAGE = os.environ.get("LIFTOFF_K8S_TEST_IMAGE", "registry.k8s.io/e2e-test-images/agnhost")
TAGS = os.environ.get("LIFTOFF_K8S_TEST_TAGS", "2.52,2.53,2.54").split(",")
MISSING_TAG = "0.0.0-liftoff-does-not-exist"
APP = "liftoff-it"

PLAYBOOK = """\
- name: The k8s role against a cluster, with the gate between canary steps
  hosts: deployer
  gather_facts: false
  vars:
    gate_interval: 0.5
    gate_step_count: 2
    gate_load: {}
    # The error ratio the gate reads after each step: scenario `breach` breaches at step 50.
    gate_metrics:
      - name: error_ratio
        provider: fact
        value: "{{ (0.2 if (scenario == 'breach' and gate_step | string == '50') else 0.0) }}"
        max: 0.05
  tasks:
    - name: Deploy, and roll back as the run's rollback phase would when a step fails
      block:
        - name: Deploy
          ansible.builtin.include_role:
            name: liftoff.release.k8s
            tasks_from: main
      rescue:
        - name: Roll back to the release before this run
          ansible.builtin.include_role:
            name: liftoff.release.k8s
            tasks_from: rollback
          vars:
            k8s_rollback_to: "{{ previous_release }}"
        - name: Note the rollback
          ansible.builtin.set_fact:
            rolled_back_after: "{{ ansible_failed_result.msg | default('') }}"
    - name: Show what the role reports
      ansible.builtin.debug:
        msg: "{{ {'k8s_release': k8s_release, 'rolled_back_after': rolled_back_after | default('')} }}"
"""


def kubectl(*args: str) -> Any:
    proc = subprocess.run(["kubectl", *args], text=True, capture_output=True, timeout=120, check=False)
    assert proc.returncode == 0, f"kubectl {' '.join(args)}: {proc.stderr}"
    return json.loads(proc.stdout) if "-o" in args and "json" in args else proc.stdout


def write_playbook(work: Path) -> Path:
    (work / "run").mkdir(parents=True, exist_ok=True)
    (work / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": {"deployer": {
        "ansible_connection": "local", "ansible_python_interpreter": sys.executable}}}}))
    play = work / "play.yml"
    play.write_text(PLAYBOOK)
    return play


def run_role(work: Path, namespace: str, variables: dict[str, Any]) -> dict[str, Any]:
    play = write_playbook(work)
    extra = {"k8s_app_name": APP, "k8s_namespace": namespace, "k8s_image": IMAGE, "k8s_replicas": 4,
             "k8s_args": ["netexec", "--http-port=8080"], "k8s_container_port": 8080,
             "k8s_readiness_probe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 1},
             "k8s_progress_deadline": 60, "k8s_wait_timeout": 300, "k8s_wait_delay": 2,
             "k8s_canary_hold": 1, "k8s_manifest_dir": str(work / "manifests"), "run_dir": str(work / "run"),
             "scenario": "ok", "previous_release": "", **variables}
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), str(play), "-i",
                           str(work / "hosts.yml"), "-e", json.dumps(extra)],
                          cwd=REPO, env=env, text=True, capture_output=True, timeout=1800, check=False)
    assert proc.returncode == 0, f"{proc.stdout[-6000:]}\n{proc.stderr[-2000:]}"
    last = json.loads(proc.stdout)["plays"][-1]["tasks"][-1]
    return dict(last["hosts"]["deployer"]["msg"])


def journal(work: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (work / "run" / "evidence.jsonl").read_text().splitlines()]


def deployments(namespace: str) -> dict[str, dict[str, Any]]:
    found = kubectl("get", "deployments", "-n", namespace, "-l", f"app.kubernetes.io/name={APP}", "-o", "json")
    return {d["metadata"]["name"]: d for d in found["items"]}


def image_of(deployment: dict[str, Any]) -> str:
    return str(deployment["spec"]["template"]["spec"]["containers"][0]["image"])


def store(namespace: str) -> dict[str, Any]:
    cm = kubectl("get", "configmap", f"{APP}-liftoff-releases", "-n", namespace, "-o", "json")
    return dict(json.loads(cm["data"]["history.json"]))


def assert_serving(namespace: str, tag: str) -> None:
    deps = deployments(namespace)
    assert f"{APP}-canary" not in deps, "the canary Deployment is still there"
    stable = deps[APP]
    assert image_of(stable) == f"{IMAGE}:{tag}"
    assert stable["spec"]["replicas"] == 4
    assert stable["status"].get("readyReplicas") == 4 and stable["status"].get("updatedReplicas") == 4
    pods = kubectl("get", "pods", "-n", namespace, "-l", f"app.kubernetes.io/name={APP}", "-o", "json")["items"]
    running = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    assert {p["spec"]["containers"][0]["image"] for p in running} == {f"{IMAGE}:{tag}"}


@pytest.fixture(scope="module")
def namespace() -> Iterator[str]:
    name = f"liftoff-k8s-{secrets.token_hex(3)}"
    kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        subprocess.run(["kubectl", "delete", "namespace", name, "--wait=false"], capture_output=True, timeout=120,
                       check=False)


def test_cluster_playbook_is_valid_ansible(tmp_path: Path) -> None:
    """Runs everywhere: the playbook the cluster test drives parses and resolves the role."""
    play = write_playbook(tmp_path)
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "--syntax-check", str(play), "-i",
                           str(tmp_path / "hosts.yml")], cwd=REPO, text=True, capture_output=True, timeout=300,
                          env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@needs_cluster
def test_deploy_canary_and_rollbacks_on_a_real_cluster(tmp_path: Path, namespace: str) -> None:
    assert shutil.which("kubectl"), "kubectl is needed to read the cluster"
    v1, v2, v3 = TAGS[:3]

    first = run_role(tmp_path, namespace, {"k8s_release_version": v1})
    assert first["k8s_release"]["current"] == v1
    assert_serving(namespace, v1)

    second = run_role(tmp_path, namespace, {"k8s_release_version": v2, "k8s_canary_steps": [10, 50, 100],
                                            "previous_release": v1})
    assert (second["k8s_release"]["current"], second["k8s_release"]["previous"]) == (v2, v1)
    assert not second["rolled_back_after"]
    assert_serving(namespace, v2)
    items = journal(tmp_path)
    assert [i["actual"] for i in items if i["id"].endswith(".verdict")][-3:] == ["PROCEED"] * 3
    assert [i["id"] for i in items if i["id"].startswith("rollout.canary_")][-3:] == \
        ["rollout.canary_10", "rollout.canary_50", "rollout.canary_100"]
    assert (store(namespace)["current"], store(namespace)["previous"]) == (v2, v1)

    breach = run_role(tmp_path, namespace, {"k8s_release_version": v3, "k8s_canary_steps": [10, 50, 100],
                                            "scenario": "breach", "previous_release": v2})
    assert "gate after step 50" in breach["rolled_back_after"]
    assert breach["k8s_release"]["current"] == v2 and breach["k8s_release"]["changed"] is True
    assert_serving(namespace, v2)
    assert store(namespace)["current"] == v2    # v3 never became current

    missing = run_role(tmp_path, namespace, {"k8s_release_version": MISSING_TAG, "k8s_image_tag": MISSING_TAG,
                                             "k8s_canary_steps": [10, 50, 100], "previous_release": v2})
    assert "did not roll out" in missing["rolled_back_after"]
    assert_serving(namespace, v2)


def test_unreachable_cluster_fails_before_anything_changes(tmp_path: Path) -> None:
    """Runs everywhere, with no cluster: a kubeconfig whose server is a closed loopback port.

    The role reads the release store before it renders or journals anything, so it stops there,
    and the error shows kubernetes.core used the kubeconfig and context the role was given.
    """
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "other",
        "clusters": [{"name": "nowhere", "cluster": {"server": "https://127.0.0.1:1"}}],
        "contexts": [{"name": "liftoff-ctx", "context": {"cluster": "nowhere", "user": "u"}},
                     {"name": "other", "context": {"cluster": "elsewhere", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": "not-a-secret"}}]}))
    play = write_playbook(tmp_path)
    extra = {"k8s_app_name": APP, "k8s_image": IMAGE, "k8s_release_version": "v1", "k8s_kubeconfig": str(kubeconfig),
             "k8s_context": "liftoff-ctx", "k8s_manifest_dir": str(tmp_path / "manifests"),
             "run_dir": str(tmp_path / "run"), "scenario": "ok", "previous_release": ""}
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    env.pop("KUBECONFIG", None)
    # Without the rescue of the cluster playbook: main alone.
    play.write_text(PLAYBOOK.split("    - name: Deploy, and roll back", maxsplit=1)[0] + """\
    - name: Deploy
      ansible.builtin.include_role:
        name: liftoff.release.k8s
        tasks_from: main
""")
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), str(play), "-i",
                           str(tmp_path / "hosts.yml"), "-e", json.dumps(extra)],
                          cwd=REPO, env=env, text=True, capture_output=True, timeout=300, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "Read the release store" in out and "127.0.0.1" in out and "port=1" in out, out[-3000:]
    assert not (tmp_path / "manifests").exists()
    assert not (tmp_path / "run" / "evidence.jsonl").exists()
