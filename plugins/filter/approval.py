# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for approvals and attestations (pure logic in plugin_utils/approval.py)."""
from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.liftoff.release.plugins.plugin_utils import approval


def approval_decision(gate: Any, mode: str = "auto", given: Any = None, answer: Any = None, awx: Any = None,
                      now: str = "", operator: str = "") -> dict[str, Any]:
    """The decision on one approval or attestation: approved or refused, who, how, when and why."""
    if not isinstance(gate, dict) or "name" not in gate:
        raise AnsibleFilterError(f"liftoff.release.approval_decision: expected a mapping with name, got {gate!r}")
    if mode not in approval.MODES:
        raise AnsibleFilterError(f"liftoff.release.approval_decision: mode must be one of {', '.join(approval.MODES)}")
    return approval.decide(gate, mode, given, answer, awx if isinstance(awx, dict) else {}, str(now or ""),
                           str(operator or ""))


def approval_spec_errors(gates: Any, name: str = "approval_gates") -> list[str]:
    """Why approval or attestation definitions cannot be used (empty when they can)."""
    return approval.spec_errors(gates, name)


def approval_item(pair: Any, kind: str, given: Any = None) -> dict[str, Any]:
    """(definition, the terminal's answer or a skipped prompt) -> what approval_decision needs."""
    try:
        gate, asked = pair
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError(f"liftoff.release.approval_item: expected (definition, prompt result), got {pair!r}") \
            from exc
    answered = isinstance(asked, dict) and not asked.get("skipped") and not asked.get("failed")
    answer = asked.get("user_input") if answered else None
    return {"gate": gate, "kind": kind, "given": given if isinstance(given, dict) else {}, "answer": answer}


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"approval_decision": approval_decision, "approval_spec_errors": approval_spec_errors,
                "approval_item": approval_item}
