# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the k8s strategy role: the rollout plan, rollout status and the release store."""
from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.liftoff.release.plugins.plugin_utils import k8s_rollout
from ansible_collections.liftoff.release.plugins.plugin_utils.releases import ReleaseHistoryError


def _fail(name: str, exc: Exception) -> AnsibleFilterError:
    return AnsibleFilterError(f"liftoff.release.{name}: {exc}")


def k8s_rollout_plan(inputs: Any) -> dict[str, Any]:
    """The validated inputs and the steps (canary replicas per percentage) of a k8s rollout."""
    try:
        return k8s_rollout.rollout_plan(dict(inputs or {}))
    except (k8s_rollout.K8sInputError, TypeError) as exc:
        raise _fail("k8s_rollout_plan", exc) from exc


def k8s_rollout_status(deployment: Any) -> dict[str, Any]:
    """Whether a Deployment (as kubernetes.core.k8s_info returns it) finished rolling out."""
    try:
        return k8s_rollout.rollout_status(deployment or None)
    except (TypeError, ValueError, AttributeError) as exc:
        raise _fail("k8s_rollout_status", exc) from exc


def k8s_release_store_read(configmap: Any) -> dict[str, Any]:
    """The release history and the stored manifests per release, from the store ConfigMap."""
    try:
        return k8s_rollout.read_store(configmap or None)
    except (k8s_rollout.K8sInputError, AttributeError) as exc:
        raise _fail("k8s_release_store_read", exc) from exc


def k8s_release_store(state: Any, stored: dict[str, Any], name: str, namespace: str, labels: dict[str, str],
                      keep: int) -> dict[str, Any]:
    """The store ConfigMap manifest holding the history and the manifests of the releases kept."""
    try:
        return k8s_rollout.store_configmap(state, stored, str(name), str(namespace), labels, int(keep))
    except (ReleaseHistoryError, TypeError, ValueError) as exc:
        raise _fail("k8s_release_store", exc) from exc


def k8s_rollback_target(state: Any, stored: list[str], rollback_to: str = "") -> str:
    """The release a rollback puts back: rollback_to when named, else the previous release."""
    try:
        return k8s_rollout.rollback_target(state, list(stored), str(rollback_to or ""))
    except k8s_rollout.K8sInputError as exc:
        raise _fail("k8s_rollback_target", exc) from exc


def k8s_with_replicas(manifest: Any, replicas: int) -> dict[str, Any]:
    """A copy of a Deployment manifest with spec.replicas set."""
    try:
        return k8s_rollout.with_replicas(manifest, int(replicas))
    except (k8s_rollout.K8sInputError, TypeError, ValueError) as exc:
        raise _fail("k8s_with_replicas", exc) from exc


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {
            "k8s_rollout_plan": k8s_rollout_plan,
            "k8s_rollout_status": k8s_rollout_status,
            "k8s_release_store_read": k8s_release_store_read,
            "k8s_release_store": k8s_release_store,
            "k8s_rollback_target": k8s_rollback_target,
            "k8s_with_replicas": k8s_with_replicas,
        }
