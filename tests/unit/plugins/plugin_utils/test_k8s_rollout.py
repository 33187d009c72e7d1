"""The k8s strategy's pure decisions: inputs, canary replicas per step, rollout status, release store."""
from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.liftoff.release.plugins.plugin_utils import k8s_rollout as k
from ansible_collections.liftoff.release.plugins.plugin_utils import releases

# --- canary steps -------------------------------------------------------------------------------


@pytest.mark.parametrize("steps, expected", [
    ([10, 50, 100], [10, 50, 100]),
    (["10", "50", "100"], [10, 50, 100]),
    ([100], [100]),
    ([], []),
    (None, []),
])
def test_canary_steps_valid(steps: Any, expected: list[int]) -> None:
    assert k.canary_steps(steps) == expected


@pytest.mark.parametrize("steps, message", [
    ([50, 10, 100], r"k8s_canary_steps must be strictly ascending \(such as \[10, 50, 100\]\), got \[50, 10, 100\]"),
    ([10, 10, 100], r"strictly ascending"),
    ([10, 50], r"k8s_canary_steps must end at 100 \(full promotion\), got \[10, 50\]"),
    ([0, 100], r"k8s_canary_steps\[0\] must be a percentage from 1 to 100, got 0"),
    ([10, 150], r"k8s_canary_steps\[1\] must be a percentage from 1 to 100, got 150"),
    ([10, "half", 100], r"k8s_canary_steps\[1\] must be an integer, got 'half'"),
    ([True, 100], r"k8s_canary_steps\[0\] must be an integer"),
    ("10,50,100", r"k8s_canary_steps must be a list of percentages such as \[10, 50, 100\]"),
    ({"a": 1}, r"must be a list of percentages"),
])
def test_canary_steps_errors_name_the_variable(steps: Any, message: str) -> None:
    with pytest.raises(k.K8sInputError, match=message):
        k.canary_steps(steps)


# --- replicas per step --------------------------------------------------------------------------

@pytest.mark.parametrize("total, percent, canary, stable", [
    (6, 10, 1, 5),      # seed 002: 10% = the first pod
    (6, 50, 3, 3),      # seed 002: 50% = three pods
    (6, 100, 0, 6),     # 100% promotes
    (10, 10, 1, 9),
    (10, 15, 2, 8),     # 1.5 rounds half up
    (10, 25, 3, 7),     # 2.5 rounds half up
    (10, 14, 1, 9),     # 1.4 rounds down
    (4, 1, 1, 3),       # 0.04 -> at least 1 canary
    (2, 90, 1, 1),      # 1.8 -> 2, but one stable replica stays below 100
    (1, 10, 1, 1),      # one replica: the canary runs beside it
    (1, 100, 0, 1),
])
def test_step_replicas(total: int, percent: int, canary: int, stable: int) -> None:
    step = k.step_replicas(total, percent)
    assert (step.canary, step.stable) == (canary, stable)
    assert step.promote is (percent == 100)


def test_step_as_dict_reports_share() -> None:
    assert k.step_replicas(6, 50).as_dict() == {"percent": 50, "canary": 3, "stable": 3, "promote": False, "share": 0.5}
    assert k.step_replicas(1, 10).as_dict()["share"] == 0.5


@pytest.mark.parametrize("total, message", [
    (0, r"k8s_replicas must be at least 1, got 0"),
    (-3, r"k8s_replicas must be at least 1, got -3"),
    ("two", r"k8s_replicas must be an integer, got 'two'"),
])
def test_replicas_errors(total: Any, message: str) -> None:
    with pytest.raises(k.K8sInputError, match=message):
        k.canary_plan(total, [10, 100])


@given(total=st.integers(min_value=1, max_value=500),
       steps=st.lists(st.integers(min_value=1, max_value=99), unique=True, max_size=6).map(sorted))
def test_canary_plan_properties(total: int, steps: list[int]) -> None:
    plan = k.canary_plan(total, [*steps, 100])
    assert [s.percent for s in plan] == [*steps, 100]
    for step in plan[:-1]:
        assert step.canary >= 1 and step.stable >= 1
        if total > 1:
            assert step.canary + step.stable == total            # no extra pods beyond the replicas
            assert abs(step.canary - total * step.percent / 100) <= max(0.5, 1)  # rounding, floors at 1
    # The canary never shrinks and the stable track never grows as the steps advance.
    for before, after in itertools.pairwise(plan[:-1]):
        assert after.canary >= before.canary
        assert after.stable <= before.stable
    assert plan[-1].promote and plan[-1].canary == 0 and plan[-1].stable == total


@given(total=st.integers(min_value=2, max_value=1000), percent=st.integers(min_value=1, max_value=99))
def test_rounding_is_half_up_within_bounds(total: int, percent: int) -> None:
    step = k.step_replicas(total, percent)
    exact = total * percent / 100
    assert step.canary == min(max(1, int(exact + 0.5)), total - 1)


# --- the whole plan -----------------------------------------------------------------------------

BASE = {"app_name": "api", "version": "v2", "replicas": 6, "canary_steps": [10, 50, 100],
        "max_surge": "25%", "max_unavailable": 0}


def test_rollout_plan_canary() -> None:
    plan = k.rollout_plan(BASE)
    assert plan["mode"] == "canary"
    assert plan["canary_name"] == "api-canary" and plan["store_name"] == "api-liftoff-releases"
    assert [(s["percent"], s["canary"], s["stable"]) for s in plan["steps"]] == [(10, 1, 5), (50, 3, 3), (100, 0, 6)]
    assert plan["steps"][0] == {"percent": 10, "canary": 1, "stable": 5, "promote": False, "share": 0.1667, "hold": 0}


def test_rollout_plan_holds() -> None:
    assert [s["hold"] for s in k.rollout_plan({**BASE, "canary_hold": 300})["steps"]] == [300, 300, 300]
    assert [s["hold"] for s in k.rollout_plan({**BASE, "canary_hold": [300, 600, 0]})["steps"]] == [300, 600, 0]
    assert [s["hold"] for s in k.rollout_plan(BASE)["steps"]] == [0, 0, 0]


@pytest.mark.parametrize("hold, message", [
    ([300, 600], r"k8s_canary_hold as a list needs one number of seconds per canary step \(3\), got 2: \[300, 600\]"),
    (-1, r"k8s_canary_hold must be seconds >= 0 \(or a list of them, one per step\), got -1"),
    ([5, -5, 0], r"k8s_canary_hold must be seconds >= 0 .*got -5 at step 1"),
    ("long", r"k8s_canary_hold must be an integer, got 'long'"),
])
def test_rollout_plan_hold_errors(hold: Any, message: str) -> None:
    with pytest.raises(k.K8sInputError, match=message):
        k.rollout_plan({**BASE, "canary_hold": hold})


def test_rollout_plan_rolling() -> None:
    plan = k.rollout_plan({**BASE, "canary_steps": [], "max_surge": 1, "max_unavailable": "50%"})
    assert plan["mode"] == "rolling" and plan["steps"] == []
    assert (plan["max_surge"], plan["max_unavailable"]) == (1, "50%")


def test_rollout_plan_without_version_for_rollback_and_status() -> None:
    assert k.rollout_plan({**BASE, "version": ""})["version"] == ""


@pytest.mark.parametrize("change, message", [
    ({"app_name": "API"}, r"k8s_app_name must be a DNS-1035 label of at most 56 characters"),
    ({"app_name": "1api"}, r"k8s_app_name must be a DNS-1035 label"),
    ({"app_name": "a" * 57}, r"k8s_app_name must be a DNS-1035 label of at most 56"),
    ({"version": "v2/bad"}, r"k8s_release_version must be a Kubernetes label value"),
    ({"version": "-v2"}, r"k8s_release_version must be a Kubernetes label value"),
    ({"version": "v" * 64}, r"k8s_release_version must be a Kubernetes label value \(at most 63"),
    ({"replicas": 0}, r"k8s_replicas must be at least 1, got 0"),
    ({"canary_steps": [50, 10]}, r"k8s_canary_steps must be strictly ascending"),
    ({"max_surge": "120%"}, r"k8s_max_surge as a percentage must be 0% to 100%, got '120%'"),
    ({"max_surge": -1}, r"k8s_max_surge must be an integer >= 0 or a percentage such as '25%', got -1"),
    ({"max_unavailable": "lots"}, r"k8s_max_unavailable must be an integer >= 0 or a percentage"),
    ({"max_surge": 0, "max_unavailable": "0%"}, r"k8s_max_surge and k8s_max_unavailable cannot both be 0"),
])
def test_rollout_plan_errors(change: dict[str, Any], message: str) -> None:
    with pytest.raises(k.K8sInputError, match=message):
        k.rollout_plan({**BASE, **change})


def test_version_accepts_usual_tags() -> None:
    for tag in ("v1", "1.2.3", "1.2.3-rc_1", "2026.11.23", "abc123"):
        assert k.version(tag) == tag


# --- rollout status -----------------------------------------------------------------------------

def deployment(replicas: int = 3, generation: int = 2, observed: int = 2, updated: int = 3, total: int = 3,
               available: int = 3, conditions: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"metadata": {"name": "api", "generation": generation}, "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, "updatedReplicas": updated, "replicas": total,
                       "availableReplicas": available, "conditions": conditions or []}}


@pytest.mark.parametrize("dep, done, failed, reason", [
    (None, False, False, "the Deployment does not exist"),
    (deployment(), True, False, "3 of 3 replicas updated and available"),
    (deployment(observed=1), False, False, "waiting for the controller to observe the new spec"),
    (deployment(updated=1, total=4), False, False, "1 of 3 new replicas updated"),
    (deployment(total=4), False, False, "1 old replicas pending termination"),
    (deployment(available=2), False, False, "2 of 3 updated replicas available"),
    (deployment(updated=1, conditions=[{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                                        "message": "ReplicaSet api-x has timed out progressing."}]),
     False, True, "progress deadline exceeded: ReplicaSet api-x has timed out progressing."),
    (deployment(replicas=0, updated=0, total=0, available=0), True, False, "0 of 0 replicas updated and available"),
])
def test_rollout_status(dep: dict[str, Any] | None, done: bool, failed: bool, reason: str) -> None:
    assert k.rollout_status(dep) == {"done": done, "failed": failed, "reason": reason}


def test_rollout_status_empty_status_is_not_done() -> None:
    assert not k.rollout_status({"metadata": {"generation": 1}, "spec": {"replicas": 2}})["done"]


# --- release store ------------------------------------------------------------------------------

MANIFESTS = {v: [{"kind": "Deployment", "apiVersion": "apps/v1", "metadata": {"name": "api"},
                  "spec": {"replicas": 3, "template": {"spec": {"containers": [{"image": f"r/api:{v}"}]}}}}]
             for v in ("v1", "v2", "v3", "v4")}


def test_store_round_trip_and_pruning() -> None:
    state: dict[str, Any] = releases.empty()
    for ver in ("v1", "v2", "v3", "v4"):
        state = releases.advance(state, ver, "deploy", "run", "t")
    cm = k.store_configmap(state, MANIFESTS, "api-liftoff-releases", "prod", {"app.kubernetes.io/name": "api"}, 2)
    assert cm["metadata"] == {"name": "api-liftoff-releases", "namespace": "prod", "labels": {"app.kubernetes.io/name": "api"}}
    assert sorted(cm["data"]) == ["history.json", "release-v3.json", "release-v4.json"]   # keep 2: v4, v3 (= previous)
    assert all(isinstance(v, str) for v in cm["data"].values())   # ConfigMap data are strings
    read = k.read_store(json.loads(json.dumps(cm)))
    assert read["state"] == state
    assert read["releases"] == {"v3": MANIFESTS["v3"], "v4": MANIFESTS["v4"]}


def test_store_missing_is_a_first_deploy() -> None:
    assert k.read_store(None) == {"state": releases.empty(), "releases": {}}
    assert k.read_store({}) == {"state": releases.empty(), "releases": {}}


@pytest.mark.parametrize("data, message", [
    ({"history.json": "{not json"}, r"ConfigMap api-liftoff-releases: the release history is not valid JSON"),
    ({"history.json": "{}", "release-v1.json": "{\"kind\": \"Deployment\"}"},
     r"ConfigMap api-liftoff-releases: release v1 is not a list of manifests"),
])
def test_store_unreadable_is_an_error(data: dict[str, str], message: str) -> None:
    with pytest.raises(k.K8sInputError, match=message):
        k.read_store({"metadata": {"name": "api-liftoff-releases"}, "data": data})


# --- rollback target ----------------------------------------------------------------------------

def test_rollback_target_previous_or_named() -> None:
    state = releases.advance(releases.advance(releases.empty(), "v1", "deploy"), "v2", "deploy")
    assert k.rollback_target(state, ["v1", "v2"]) == "v1"
    assert k.rollback_target(state, ["v1", "v2"], "v2") == "v2"


def test_rollback_target_after_a_rollback_never_brings_the_bad_release_back() -> None:
    state = releases.empty()
    for ver in ("v1", "v2", "v3"):
        state = releases.advance(state, ver, "deploy")
    state = releases.advance(state, "v2", "rollback")   # v3 was bad
    assert k.rollback_target(state, ["v1", "v2", "v3"]) == "v1"


@pytest.mark.parametrize("state, stored, to, message", [
    (releases.empty(), [], "", r"k8s rollback: no previous release is recorded in the release store; name one with "
                               r"rollback_to \(k8s_rollback_to when using the role directly\)"),
    ({"current": "v2", "previous": "v1"}, ["v2"], "",
     r"k8s rollback: release v1 has no stored manifests \(pruned or never deployed\); stored: v2"),
    ({"current": "v2", "previous": "v1"}, ["v1", "v2"], "v0", r"release v0 has no stored manifests"),
])
def test_rollback_target_refuses(state: dict[str, Any], stored: list[str], to: str, message: str) -> None:
    with pytest.raises(k.K8sInputError, match=message):
        k.rollback_target(state, stored, to)


# --- scaling a stored Deployment ----------------------------------------------------------------

def test_with_replicas_copies_and_keeps_the_pod_template() -> None:
    original = MANIFESTS["v1"][0]
    scaled = k.with_replicas(original, 1)
    assert scaled["spec"]["replicas"] == 1 and original["spec"]["replicas"] == 3
    assert scaled["spec"]["template"] == original["spec"]["template"]


def test_with_replicas_only_scales_deployments() -> None:
    with pytest.raises(k.K8sInputError, match=r"only a Deployment can be scaled, got 'Service'"):
        k.with_replicas({"kind": "Service"}, 2)
