"""The k8s filters: thin wrappers whose errors name the filter by FQCN and the bad variable."""
from __future__ import annotations

from typing import Any

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.liftoff.release.plugins.filter import k8s
from ansible_collections.liftoff.release.plugins.plugin_utils import releases

INPUTS = {"app_name": "api", "version": "v2", "replicas": 6, "canary_steps": [10, 50, 100],
          "max_surge": "25%", "max_unavailable": 0}


def test_filters_are_registered() -> None:
    assert set(k8s.FilterModule().filters()) == {
        "k8s_rollout_plan", "k8s_rollout_status", "k8s_release_store_read", "k8s_release_store",
        "k8s_rollback_target", "k8s_with_replicas"}


def test_rollout_plan() -> None:
    plan = k8s.k8s_rollout_plan(INPUTS)
    assert [(s["percent"], s["canary"], s["stable"], s["promote"]) for s in plan["steps"]] == [
        (10, 1, 5, False), (50, 3, 3, False), (100, 0, 6, True)]


@pytest.mark.parametrize("change, message", [
    ({"canary_steps": [10, 50]}, r"^liftoff\.release\.k8s_rollout_plan: k8s_canary_steps must end at 100"),
    ({"replicas": 0}, r"^liftoff\.release\.k8s_rollout_plan: k8s_replicas must be at least 1, got 0"),
    ({"app_name": "Bad_Name"}, r"^liftoff\.release\.k8s_rollout_plan: k8s_app_name must be a DNS-1035 label"),
])
def test_rollout_plan_errors(change: dict[str, Any], message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=message):
        k8s.k8s_rollout_plan({**INPUTS, **change})


def test_rollout_status_of_a_missing_deployment() -> None:
    assert k8s.k8s_rollout_status({}) == {"done": False, "failed": False, "reason": "the Deployment does not exist"}


def test_store_round_trip_through_the_filters() -> None:
    state = releases.advance(releases.advance(releases.empty(), "v1", "deploy"), "v2", "deploy")
    manifests = {"v1": [{"kind": "Service"}], "v2": [{"kind": "Service"}], "v0": [{"kind": "Service"}]}
    cm = k8s.k8s_release_store(state, manifests, "api-liftoff-releases", "prod", {"a": "b"}, "1")
    read = k8s.k8s_release_store_read(cm)
    assert read["state"] == state and sorted(read["releases"]) == ["v1", "v2"]   # v0 pruned
    assert k8s.k8s_rollback_target(read["state"], list(read["releases"])) == "v1"


def test_store_errors() -> None:
    with pytest.raises(AnsibleFilterError, match=r"^liftoff\.release\.k8s_release_store: keep must be at least 1"):
        k8s.k8s_release_store(releases.empty(), {}, "x", "ns", {}, 0)
    with pytest.raises(AnsibleFilterError, match=r"^liftoff\.release\.k8s_release_store_read: ConfigMap x: the release"):
        k8s.k8s_release_store_read({"metadata": {"name": "x"}, "data": {"history.json": "["}})


def test_rollback_target_error() -> None:
    with pytest.raises(AnsibleFilterError, match=r"^liftoff\.release\.k8s_rollback_target: k8s rollback: no previous"):
        k8s.k8s_rollback_target(releases.empty(), [], "")


def test_with_replicas() -> None:
    assert k8s.k8s_with_replicas({"kind": "Deployment", "spec": {"replicas": 4}}, "2")["spec"]["replicas"] == 2
    with pytest.raises(AnsibleFilterError, match=r"^liftoff\.release\.k8s_with_replicas: only a Deployment"):
        k8s.k8s_with_replicas({"kind": "Service"}, 2)
