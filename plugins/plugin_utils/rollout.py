# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""Rolling and canary steps across hosts: which hosts each step upgrades, and when a step failed.

Steps are cumulative percentages of the fleet, as the seeds write them (``[10, 50, 100]``: a
tenth of the hosts first, then half of them, then all). Ansible's ``serial`` takes batch sizes,
not cumulative shares, rounds down and cannot be read from inventory variables; these
functions compute the batches the rollout role runs itself.
"""
from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any


class RolloutStepsError(ValueError):
    """Steps or a failure tolerance that cannot be used."""


def step_errors(steps: Any, name: str = "rollout_steps") -> list[str]:
    """Why ``steps`` is not a usable list of cumulative percentages (empty when it is)."""
    if not isinstance(steps, Sequence) or isinstance(steps, (str, bytes)) or not steps:
        return [f"{name} must be a non-empty list of percentages ending at 100, like [10, 50, 100]; got {steps!r}"]
    errors: list[str] = []
    values: list[float] = []
    for index, step in enumerate(steps):
        if isinstance(step, bool) or not isinstance(step, (int, float)) or not 0 < step <= 100:
            errors.append(f"{name}[{index}] must be a number in (0, 100]; got {step!r}")
        else:
            values.append(float(step))
    if errors:
        return errors
    if any(later <= earlier for earlier, later in itertools.pairwise(values)):
        errors.append(f"{name} must be strictly ascending (cumulative shares of the hosts); got {list(steps)!r}")
    if values[-1] != 100:
        errors.append(f"{name} must end at 100 (every host upgraded); got {list(steps)!r}")
    return errors


def _label(step: float) -> str:
    return str(int(step)) if float(step).is_integer() else f"{step:g}"


def batches(hosts: Sequence[str], steps: Sequence[float]) -> list[dict[str, Any]]:
    """The batches to upgrade, in order.

    Step ``p`` brings the number of upgraded hosts to ``ceil(n * p / 100)`` (a canary gets at
    least one host). A step that adds no host (a small fleet) is folded into the next one, so
    every batch upgrades at least one host and is labelled with the first step that reaches it.
    Each batch: ``step`` (label), ``percent`` (the step), ``hosts`` (upgraded by it),
    ``upgraded`` (every host upgraded once it is done), ``share`` (its share of the fleet, %),
    ``last`` (whether it completes the fleet).
    """
    errors = step_errors(list(steps))
    if errors:
        raise RolloutStepsError("; ".join(errors))
    names = [str(h) for h in hosts]
    if len(set(names)) != len(names):
        raise RolloutStepsError(f"hosts must be distinct; got {names!r}")
    total = len(names)
    result: list[dict[str, Any]] = []
    done = 0
    for step in steps:
        upto = min(total, math.ceil(total * float(step) / 100 - 1e-9))
        if upto <= done:
            continue
        result.append({
            "step": _label(float(step)),
            "percent": float(step),
            "hosts": names[done:upto],
            "upgraded": names[:upto],
            "share": round(100.0 * upto / total, 2),
            "last": upto == total,
        })
        done = upto
    return result


def tolerance_errors(max_fail_percentage: Any, name: str = "rollout_max_fail_percentage") -> list[str]:
    if isinstance(max_fail_percentage, bool) or not isinstance(max_fail_percentage, (int, float)) \
            or not 0 <= max_fail_percentage < 100:
        return [f"{name} must be a number in [0, 100) (the share of a batch's hosts that may fail); "
                f"got {max_fail_percentage!r}"]
    return []


def batch_outcome(batch_hosts: Sequence[str], failed: Sequence[str], max_fail_percentage: float) -> dict[str, Any]:
    """Whether a batch with these failed hosts stops the rollout.

    As Ansible's ``max_fail_percentage``: the batch stops the rollout when the share of its hosts
    that failed is greater than the tolerance (0: any failure stops it). A batch where every host
    failed always stops it.
    """
    errors = tolerance_errors(max_fail_percentage)
    if errors:
        raise RolloutStepsError("; ".join(errors))
    hosts = [str(h) for h in batch_hosts]
    bad = [h for h in hosts if h in {str(f) for f in failed}]
    share = 100.0 * len(bad) / len(hosts) if hosts else 0.0
    stop = bool(hosts) and (share > max_fail_percentage or len(bad) == len(hosts))
    return {
        "hosts": hosts,
        "failed": bad,
        "succeeded": [h for h in hosts if h not in bad],
        "failed_share": round(share, 2),
        "max_fail_percentage": max_fail_percentage,
        "stop": stop,
    }


def fleet(hosts: Sequence[str], releases: Mapping[str, Any], target: str) -> dict[str, Any]:
    """Which host runs what: ``releases`` maps a host to its strategy's release fact (or None).

    Returns ``hosts`` (host -> version or None when unknown), ``by_version`` (version -> hosts),
    ``on_target`` / ``off_target`` / ``unknown`` lists and ``split`` (more than one version, or a
    host whose version is unknown).
    """
    per_host: dict[str, str | None] = {}
    for host in hosts:
        release = releases.get(host)
        current = release.get("current") if isinstance(release, Mapping) else None
        per_host[str(host)] = str(current) if current else None
    by_version: dict[str, list[str]] = {}
    for host, version in per_host.items():
        by_version.setdefault(version or "unknown", []).append(host)
    unknown = [h for h, v in per_host.items() if v is None]
    return {
        "hosts": per_host,
        "by_version": by_version,
        "target": target,
        "on_target": [h for h, v in per_host.items() if v == target],
        "off_target": [h for h, v in per_host.items() if v is not None and v != target],
        "unknown": unknown,
        "split": len(by_version) > 1,
    }
