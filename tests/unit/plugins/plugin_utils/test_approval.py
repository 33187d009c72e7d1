"""approval.decide: nobody is waved through; who, how and when are kept."""
from __future__ import annotations

from ansible_collections.liftoff.release.plugins.plugin_utils.approval import decide, spec_errors

GATE = {"name": "go_no_go", "question": "Go?", "approvers": ["alice", "bob"]}


def test_by_variable() -> None:
    got = decide(GATE, "auto", given={"go_no_go": "alice"}, now="T")
    assert (got["status"], got["how"], got["by"], got["at"]) == ("pass", "variable", "alice", "T")
    noted = decide(GATE, "variable", given={"go_no_go": {"by": "bob", "note": "CAB-1234"}})
    assert noted["status"] == "pass" and noted["why"] == "approved by bob (variable, CAB-1234)"


def test_an_approver_outside_the_list_is_refused() -> None:
    got = decide(GATE, "variable", given={"go_no_go": "mallory"})
    assert got["status"] == "fail" and got["why"] == "mallory may not approve go_no_go (approvers: alice, bob)"


def test_no_answer_is_no() -> None:
    assert decide(GATE, "variable", given={})["why"] == "no approval given: set approval_given.go_no_go (the approver's name)"
    prompt = decide(GATE, "auto", answer="")
    assert prompt["how"] == "prompt" and prompt["status"] == "fail"
    assert decide({"name": "x"}, "prompt", answer="  carol ")["by"] == "carol"


def test_awx_workflow() -> None:
    got = decide(GATE, "auto", awx={"awx_workflow_job_id": 42, "awx_user_name": "dora"})
    assert got["status"] == "pass" and got["how"] == "awx" and got["note"] == "approval node of AWX workflow job 42"
    assert decide(GATE, "awx", awx={})["status"] == "fail"


def test_spec_errors() -> None:
    assert spec_errors([GATE], "approval_gates") == []
    assert spec_errors([{"name": "Go"}, {"name": "a", "approvers": "alice"}, {"name": "a"}], "approval_gates") == [
        "approval_gates[0].name must be lowercase letters, digits and _, got 'Go'",
        "approval_gates[1].approvers must be a list of names",
        "approval_gates[2].name 'a' is used twice",
    ]
