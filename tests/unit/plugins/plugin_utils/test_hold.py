"""What a HOLD turns into: only an explicit answer or policy proceeds."""
from __future__ import annotations

import pytest

from ansible_collections.liftoff.release.plugins.plugin_utils.hold import hold_decision, parse_answer

AT = "2026-11-23T06:40:00.000Z"


def test_rollback_policy() -> None:
    d = hold_decision("rollback", operator="ana")
    assert d["decision"] == "ROLLBACK" and d["by"] == "policy"


def test_proceed_policy_is_explicit_and_recorded() -> None:
    d = hold_decision("proceed", operator="ana")
    assert d["decision"] == "PROCEED"
    assert d["why"] == "HOLD waved through by the explicit policy gate_on_hold=proceed, run by ana"


@pytest.mark.parametrize("answer", ["proceed", " Proceed\n", "PROCEED"])
def test_a_person_proceeds(answer: str) -> None:
    d = hold_decision("ask", answer=answer, answered_by="ana", answered_at=AT)
    assert (d["decision"], d["answer"], d["by"], d["at"]) == ("PROCEED", "proceed", "ana", AT)
    assert d["why"] == f"ana answered proceed at {AT}"


@pytest.mark.parametrize("answer", ["rollback", "yes", "y", "go", "proceed!"])
def test_anything_else_rolls_back(answer: str) -> None:
    d = hold_decision("ask", answer=answer, answered_by="ana", answered_at=AT)
    assert d["decision"] == "ROLLBACK" and d["by"] == "ana"


@pytest.mark.parametrize(("policy", "why"), [
    ("ask", "nobody answered the prompt (no terminal, or an empty answer): rolled back"),
    ("wait", "nobody answered within 900 s (playbooks/hold.yml): rolled back"),
])
@pytest.mark.parametrize("answer", [None, "", "  "])
def test_no_answer_rolls_back(policy: str, why: str, answer: str | None) -> None:
    d = hold_decision(policy, answer=answer, timeout=900, operator="ana")
    assert (d["decision"], d["by"], d["why"]) == ("ROLLBACK", None, why)


def test_the_waiting_run_records_who_answered_from_the_file() -> None:
    d = hold_decision("wait", answer="proceed", answered_by="bob (AWX)", answered_at=AT, operator="ana")
    assert d["by"] == "bob (AWX)" and d["decision"] == "PROCEED"


def test_bad_policy() -> None:
    with pytest.raises(ValueError, match="gate_on_hold must be one of rollback, ask, wait, proceed, got 'maybe'"):
        hold_decision("maybe")


def test_parse_answer() -> None:
    assert parse_answer(3) is None and parse_answer("rollback ") == "rollback"
