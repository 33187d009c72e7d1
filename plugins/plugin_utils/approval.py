# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Approvals and attestations: who said yes, how and when, or why the run may not go on.

A go/no-go (seed 003 "Rollback Decision Point", seed 004 "Final Sign-Off") is given one way:
- ``variable``: up front, ``approval_given: {go_no_go: alice}`` (an AWX survey, a CI variable);
- ``prompt``: at the terminal, the person types their name (nothing typed, or no terminal, is no);
- ``awx``: by an approval node of the AWX workflow that launched this job (the job's
  ``awx_workflow_job_id`` says which).
Nobody is waved through: no answer is a refusal, and an approver outside ``approvers`` is refused.
"""
from __future__ import annotations

import re
from typing import Any

MODES = ("auto", "variable", "prompt", "awx")
NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")


def spec_errors(gates: Any, name: str) -> list[str]:
    """One message per unusable approval or attestation definition."""
    if not isinstance(gates, list):
        return [f"{name} must be a list, got {type(gates).__name__}"]
    errors: list[str] = []
    seen: set[str] = set()
    for index, gate in enumerate(gates):
        where = f"{name}[{index}]"
        if not isinstance(gate, dict):
            errors.append(f"{where} must be a mapping with name")
            continue
        label = str(gate.get("name", ""))
        if not NAME.match(label):
            errors.append(f"{where}.name must be lowercase letters, digits and _, got {label!r}")
        elif label in seen:
            errors.append(f"{where}.name {label!r} is used twice")
        seen.add(label)
        approvers = gate.get("approvers", [])
        if not isinstance(approvers, list) or not all(isinstance(a, str) and a for a in approvers):
            errors.append(f"{where}.approvers must be a list of names")
    return errors


def _given(given: Any, name: str) -> tuple[str, str]:
    """(by, note) from approval_given[name]: a name, or {by, note}."""
    if not isinstance(given, dict) or name not in given:
        return "", ""
    value = given[name]
    if isinstance(value, dict):
        return str(value.get("by") or "").strip(), str(value.get("note") or "").strip()
    return str(value or "").strip(), ""


def decide(gate: dict[str, Any], mode: str, given: Any = None, answer: Any = None,
           awx: dict[str, Any] | None = None, now: str = "", operator: str = "") -> dict[str, Any]:
    """The decision on one approval: status pass (approved) or fail (refused), who, how, when and why."""
    name = str(gate["name"])
    approvers = [str(a) for a in gate.get("approvers") or []]
    by_var, note = _given(given, name)
    awx = awx or {}
    how = mode
    if mode == "auto":
        how = "variable" if by_var else ("awx" if awx.get("awx_workflow_job_id") else "prompt")
    by = ""
    if how == "variable":
        by = by_var
    elif how == "prompt":
        by = str(answer or "").strip()
    elif how == "awx":
        job = awx.get("awx_workflow_job_id")
        if job:
            by = str(awx.get("awx_user_name") or "the AWX workflow's approver")
            note = note or f"approval node of AWX workflow job {job}"
    out = {"name": name, "how": how, "by": by or None, "at": now, "note": note, "approvers": approvers,
           "question": str(gate.get("question") or f"Approve {name}?"), "operator": operator}
    if not by:
        why = {"variable": f"no approval given: set approval_given.{name} (the approver's name)",
               "prompt": "nobody approved at the terminal (no answer, or no terminal)",
               "awx": "not launched by an AWX workflow (no awx_workflow_job_id): no approval node ran"}[how]
        return {**out, "status": "fail", "why": why}
    if approvers and by not in approvers and how != "awx":
        return {**out, "status": "fail", "why": f"{by} may not approve {name} (approvers: {', '.join(approvers)})"}
    return {**out, "status": "pass", "why": f"approved by {by} ({how}{', ' + note if note else ''})"}
