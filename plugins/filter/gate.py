# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters over the gate's pure decision logic."""
from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.liftoff.release.plugins.plugin_utils import gate


def gate_spec_errors(metrics: Any, var: str = "gate_metrics") -> list[str]:
    """Every problem with a list of metric definitions, as messages naming the variable; [] when valid."""
    if not isinstance(metrics, list):
        return [f"{var} must be a list of metric definitions, got {type(metrics).__name__}"]
    errors: list[str] = []
    for index, raw in enumerate(metrics):
        try:
            gate.parse_metric_spec(raw, index, var)
        except gate.GateSpecError as exc:
            errors.append(str(exc))
    if not errors:
        try:
            gate.parse_metric_specs(metrics, var)
        except gate.GateSpecError as exc:
            errors.append(str(exc))
    return errors


def gate_percentile(values: Any, q: float = 0.95) -> float:
    """The q-quantile (0..1) of a list of numbers, linear interpolation."""
    try:
        return gate.percentile([float(v) for v in values], float(q))
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"liftoff.release.gate_percentile: {exc} (values {values!r})") from exc


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"gate_spec_errors": gate_spec_errors, "gate_percentile": gate_percentile}
