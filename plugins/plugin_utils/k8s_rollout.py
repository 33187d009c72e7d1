# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""The k8s strategy's decisions: inputs, canary steps and replicas, rollout status, release store.

Pure functions over plain data (no Kubernetes client): the role's tasks do the I/O with
kubernetes.core and ask these what to do.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ansible_collections.liftoff.release.plugins.plugin_utils import releases

# A Service name is a DNS-1035 label (63 characters); the canary Deployment adds "-canary".
CANARY_SUFFIX = "-canary"
STORE_SUFFIX = "-liftoff-releases"
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# A label value (the version is the app.kubernetes.io/version label and part of a ConfigMap key).
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_PERCENT = re.compile(r"^(\d+)%$")
HISTORY_KEY = "history.json"
RELEASE_KEY_PREFIX = "release-"


class K8sInputError(ValueError):
    """Input the k8s role cannot use; the message names the variable and the expected form."""


@dataclass(frozen=True)
class CanaryStep:
    """One canary step: how many pods run the new release (canary) and the old one (stable)."""

    percent: int
    canary: int
    stable: int

    @property
    def promote(self) -> bool:
        return self.percent == 100

    @property
    def share(self) -> float:
        """The share of pods (so of traffic, the Service balancing over both) on the new release."""
        return self.canary / (self.canary + self.stable)

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "promote": self.promote, "share": round(self.share, 4)}


def _int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise K8sInputError(f"{name} must be an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value.strip())
    raise K8sInputError(f"{name} must be an integer, got {value!r}")


def replicas(value: Any, name: str = "k8s_replicas") -> int:
    count = _int(value, name)
    if count < 1:
        raise K8sInputError(f"{name} must be at least 1, got {count}")
    return count


def canary_steps(steps: Any, name: str = "k8s_canary_steps") -> list[int]:
    """Validated canary percentages: integers in 1..100, strictly ascending, ending at 100.

    An empty list means no canary (a rolling update).
    """
    if steps is None or steps == "":
        return []
    if isinstance(steps, (str, bytes, Mapping)) or not isinstance(steps, Sequence):
        raise K8sInputError(f"{name} must be a list of percentages such as [10, 50, 100], got {steps!r}")
    out = [_int(s, f"{name}[{i}]") for i, s in enumerate(steps)]
    if not out:
        return []
    for i, pct in enumerate(out):
        if not 1 <= pct <= 100:
            raise K8sInputError(f"{name}[{i}] must be a percentage from 1 to 100, got {pct}")
        if i and pct <= out[i - 1]:
            raise K8sInputError(f"{name} must be strictly ascending (such as [10, 50, 100]), got {out}")
    if out[-1] != 100:
        raise K8sInputError(f"{name} must end at 100 (full promotion), got {out}")
    return out


def step_replicas(total: int, percent: int) -> CanaryStep:
    """Pods per track for one step of a canary over ``total`` replicas.

    canary = ``percent`` of ``total`` rounded half up, at least 1; below 100 % at least one
    stable pod stays (with a single replica the canary runs beside it: the step is 1 of 2 pods).
    The pods add up to ``total`` (except with 1 replica). 100 % promotes: every pod runs the new
    release on the stable Deployment, no canary.
    """
    total = replicas(total)
    if not 1 <= percent <= 100:
        raise K8sInputError(f"a canary step must be a percentage from 1 to 100, got {percent}")
    if percent == 100:
        return CanaryStep(percent=100, canary=0, stable=total)
    if total == 1:
        return CanaryStep(percent=percent, canary=1, stable=1)
    canary = min(max(1, math.floor(total * percent / 100 + 0.5)), total - 1)
    return CanaryStep(percent=percent, canary=canary, stable=total - canary)


def canary_plan(total: Any, steps: Any) -> list[CanaryStep]:
    count = replicas(total)
    return [step_replicas(count, pct) for pct in canary_steps(steps)]


def rolling_bound(value: Any, name: str) -> int | str:
    """maxSurge / maxUnavailable: an integer >= 0 or a percentage string "N%" (0..100)."""
    if isinstance(value, str):
        match = _PERCENT.fullmatch(value.strip())
        if match:
            pct = int(match.group(1))
            if pct > 100:
                raise K8sInputError(f"{name} as a percentage must be 0% to 100%, got {value!r}")
            return f"{pct}%"
    try:
        count = _int(value, name)
    except K8sInputError:
        raise K8sInputError(f"{name} must be an integer >= 0 or a percentage such as '25%', got {value!r}") from None
    if count < 0:
        raise K8sInputError(f"{name} must be an integer >= 0 or a percentage such as '25%', got {count}")
    return count


def _is_zero(bound: int | str) -> bool:
    return bound == 0 or bound == "0%"


def app_name(value: Any, name: str = "k8s_app_name") -> str:
    text = str(value or "")
    limit = 63 - len(CANARY_SUFFIX)
    if not _DNS1035.fullmatch(text) or len(text) > limit:
        raise K8sInputError(
            f"{name} must be a DNS-1035 label of at most {limit} characters (lowercase letters, digits and '-', "
            f"starting with a letter; the canary Deployment adds {CANARY_SUFFIX!r}), got {text!r}")
    return text


def version(value: Any, name: str = "k8s_release_version") -> str:
    text = str(value or "")
    if not _LABEL_VALUE.fullmatch(text) or len(text) > 63:
        raise K8sInputError(
            f"{name} must be a Kubernetes label value (at most 63 letters, digits, '-', '_' or '.', starting and "
            f"ending with a letter or digit), got {text!r}")
    return text


def canary_holds(value: Any, count: int, name: str = "k8s_canary_hold") -> list[int]:
    """Seconds to hold after each of ``count`` steps: one number for every step, or a list, one per step."""
    if isinstance(value, (list, tuple)):
        holds = [_int(v, f"{name}[{i}]") for i, v in enumerate(value)]
        if len(holds) != count:
            raise K8sInputError(f"{name} as a list needs one number of seconds per canary step ({count}), "
                                f"got {len(holds)}: {holds}")
    else:
        holds = [_int(value if value not in (None, "") else 0, name)] * count
    for i, hold in enumerate(holds):
        if hold < 0:
            raise K8sInputError(f"{name} must be seconds >= 0 (or a list of them, one per step), "
                                f"got {hold}" + (f" at step {i}" if isinstance(value, (list, tuple)) else ""))
    return holds


def rollout_plan(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Validate the role's inputs and say how the release goes out.

    ``inputs``: app_name, version (may be empty for rollback/status), replicas, canary_steps,
    canary_hold (seconds, one number or one per step), max_surge, max_unavailable. Returns the
    normalised values, ``mode`` (rolling | canary) and ``steps`` (a list of CanaryStep dicts with
    the step's ``hold``; empty for a rolling update).
    """
    name = app_name(inputs.get("app_name"))
    ver = version(inputs.get("version")) if inputs.get("version") else ""
    count = replicas(inputs.get("replicas"))
    steps = canary_plan(count, inputs.get("canary_steps"))
    holds = canary_holds(inputs.get("canary_hold", 0), len(steps))
    surge = rolling_bound(inputs.get("max_surge", "25%"), "k8s_max_surge")
    unavailable = rolling_bound(inputs.get("max_unavailable", 0), "k8s_max_unavailable")
    if _is_zero(surge) and _is_zero(unavailable):
        raise K8sInputError("k8s_max_surge and k8s_max_unavailable cannot both be 0: the rollout could never progress")
    return {
        "app_name": name,
        "canary_name": name + CANARY_SUFFIX,
        "store_name": name + STORE_SUFFIX,
        "version": ver,
        "replicas": count,
        "max_surge": surge,
        "max_unavailable": unavailable,
        "mode": "canary" if steps else "rolling",
        "steps": [{**s.as_dict(), "hold": hold} for s, hold in zip(steps, holds, strict=True)],
    }


def rollout_status(deployment: Mapping[str, Any] | None) -> dict[str, Any]:
    """Whether a Deployment finished rolling out, as ``kubectl rollout status`` decides.

    Returns ``done`` (bool), ``failed`` (bool: ProgressDeadlineExceeded, no point waiting) and
    ``reason`` (text for the operator).
    """
    if not deployment:
        return {"done": False, "failed": False, "reason": "the Deployment does not exist"}
    meta = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    want = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    generation = int(meta.get("generation") or 0)
    observed = int(status.get("observedGeneration") or 0)
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return {"done": False, "failed": True,
                    "reason": f"progress deadline exceeded: {cond.get('message') or 'the rollout stopped progressing'}"}
    if observed < generation:
        return {"done": False, "failed": False, "reason": "waiting for the controller to observe the new spec"}
    updated = int(status.get("updatedReplicas") or 0)
    total = int(status.get("replicas") or 0)
    available = int(status.get("availableReplicas") or 0)
    if updated < want:
        return {"done": False, "failed": False, "reason": f"{updated} of {want} new replicas updated"}
    if total > updated:
        return {"done": False, "failed": False, "reason": f"{total - updated} old replicas pending termination"}
    if available < updated:
        return {"done": False, "failed": False, "reason": f"{available} of {updated} updated replicas available"}
    return {"done": True, "failed": False, "reason": f"{available} of {want} replicas updated and available"}


def _release_key(ver: str) -> str:
    return RELEASE_KEY_PREFIX + ver + ".json"


def read_store(configmap: Mapping[str, Any] | None) -> dict[str, Any]:
    """The release history and the stored manifests of each kept release, from the store ConfigMap.

    A missing ConfigMap is a first deploy (empty history). A ConfigMap that exists but cannot be
    read is an error: guessing would lose the history.
    """
    if not configmap:
        return {"state": releases.empty(), "releases": {}}
    data = configmap.get("data") or {}
    name = (configmap.get("metadata") or {}).get("name", "the release store")
    try:
        state = {**releases.empty(), **json.loads(data.get(HISTORY_KEY) or "{}")}
        stored = {key[len(RELEASE_KEY_PREFIX):-len(".json")]: json.loads(text) for key, text in data.items()
                  if key.startswith(RELEASE_KEY_PREFIX) and key.endswith(".json")}
    except (TypeError, ValueError) as exc:
        raise K8sInputError(f"ConfigMap {name}: the release history is not valid JSON ({exc})") from exc
    for ver, manifests in stored.items():
        if not isinstance(manifests, list) or not all(isinstance(m, Mapping) for m in manifests):
            raise K8sInputError(f"ConfigMap {name}: release {ver} is not a list of manifests")
    return {"state": state, "releases": stored}


def store_configmap(state: Mapping[str, Any], stored: Mapping[str, Any], name: str, namespace: str,
                    labels: Mapping[str, str], keep: int) -> dict[str, Any]:
    """The store ConfigMap holding ``state`` and the manifests of the releases kept.

    Releases kept: ``releases.kept`` (the last ``keep`` of the history plus current and previous).
    """
    kept = set(releases.kept(state, keep))
    data = {HISTORY_KEY: json.dumps(dict(state), sort_keys=True)}
    for ver in sorted(stored):
        if ver in kept:
            data[_release_key(ver)] = json.dumps(stored[ver], sort_keys=True)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
        "data": data,
    }


def rollback_target(state: Mapping[str, Any], stored: Sequence[str], rollback_to: str = "") -> str:
    """The release a rollback puts back: ``rollback_to`` when named, else the previous release.

    Refuses (with the reason) when there is none or its manifests are no longer stored.
    """
    target = rollback_to or state.get("previous") or ""
    if not target:
        raise K8sInputError("k8s rollback: no previous release is recorded in the release store; "
                            "name one with rollback_to (k8s_rollback_to when using the role directly)")
    if target not in stored:
        raise K8sInputError(f"k8s rollback: release {target} has no stored manifests (pruned or never deployed); "
                            f"stored: {', '.join(sorted(stored)) or 'none'}")
    return str(target)


def with_replicas(manifest: Mapping[str, Any], count: int) -> dict[str, Any]:
    """A copy of a Deployment manifest with ``spec.replicas`` set (the pod template is untouched)."""
    if manifest.get("kind") != "Deployment":
        raise K8sInputError(f"only a Deployment can be scaled, got {manifest.get('kind')!r}")
    copy = json.loads(json.dumps(manifest))
    copy.setdefault("spec", {})["replicas"] = int(count)
    return dict(copy)
