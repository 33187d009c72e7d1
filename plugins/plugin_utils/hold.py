# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""What a gate HOLD turns into: PROCEED only when a person or an explicit policy says so.

Pure. The gate role gathers the answer (a prompt, or a file written by
``playbooks/hold.yml``) and this function decides and explains, for the record.
"""
from __future__ import annotations

from typing import Any

POLICIES = ("rollback", "ask", "wait", "proceed")
ANSWERS = ("proceed", "rollback")


def parse_answer(answer: Any) -> str | None:
    """``proceed`` / ``rollback`` from what a person typed (case and spaces ignored); None otherwise."""
    if not isinstance(answer, str):
        return None
    word = answer.strip().lower()
    return word if word in ANSWERS else None


def hold_decision(policy: str, *, answer: Any = None, answered_by: str | None = None,
                  answered_at: str | None = None, operator: str | None = None,
                  timeout: float | None = None) -> dict[str, Any]:
    """The decision on a HOLD, with who decided, when and why.

    ``decision`` is PROCEED or ROLLBACK. Only an explicit ``proceed`` answer, or the
    ``proceed`` policy, proceeds; no answer, or any other answer, rolls back.
    """
    if policy not in POLICIES:
        raise ValueError(f"gate_on_hold must be one of {', '.join(POLICIES)}, got {policy!r}")
    base: dict[str, Any] = {"policy": policy, "answer": None, "by": None, "at": answered_at}
    if policy == "rollback":
        return {**base, "decision": "ROLLBACK", "by": "policy",
                "why": "HOLD rolls back by policy gate_on_hold=rollback"}
    if policy == "proceed":
        return {**base, "decision": "PROCEED", "by": f"policy (run by {operator or 'unknown'})",
                "why": f"HOLD waved through by the explicit policy gate_on_hold=proceed, "
                       f"run by {operator or 'unknown'}"}
    word = parse_answer(answer)
    who = answered_by or operator or "unknown"
    if answer is None or (isinstance(answer, str) and not answer.strip()):
        if policy == "wait":
            why = (f"nobody answered within {timeout:g} s (playbooks/hold.yml): rolled back"
                   if timeout is not None else "nobody answered: rolled back")
        else:
            why = "nobody answered the prompt (no terminal, or an empty answer): rolled back"
        return {**base, "decision": "ROLLBACK", "by": None, "why": why}
    if word == "proceed":
        return {**base, "decision": "PROCEED", "answer": word, "by": who,
                "why": f"{who} answered proceed at {answered_at or 'an unknown time'}"}
    shown = word or str(answer).strip()[:40]
    return {**base, "decision": "ROLLBACK", "answer": shown, "by": who,
            "why": f"{who} answered {shown!r} at {answered_at or 'an unknown time'}: rolled back"}
