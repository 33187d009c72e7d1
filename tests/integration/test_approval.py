"""Approvals and attestations in real ansible-playbook runs of the approval role
(tests/integration/playbooks/approval.yml): given by a variable, typed at a real terminal (a
pseudo-terminal), refused without one, given by an AWX workflow. The assertions read the
evidence journal: who, how and when, and every refusal named.
"""
from __future__ import annotations

import fcntl
import json
import os
import pty
import secrets
import select
import signal
import subprocess
import termios
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO

pytestmark = pytest.mark.integration
PLAYBOOK = REPO / "tests" / "integration" / "playbooks" / "approval.yml"
GATES = [{"name": "go_no_go", "question": "Go for production?", "approvers": ["alice", "bob"]}]
ATTEST = [{"name": "team_briefed", "question": "Team briefed on the deployment"}]


def _argv(run_dir: Path, variables: dict[str, Any]) -> list[str]:
    (run_dir / "vars.json").write_text(json.dumps({"run_dir": str(run_dir), "run_operator": "ops", **variables}),
                                       encoding="utf-8")
    return [str(REPO / ".venv" / "bin" / "ansible-playbook"), str(PLAYBOOK), "-i", "localhost,", "-c", "local",
            "-e", f"ansible_python_interpreter={REPO / '.venv' / 'bin' / 'python'}", "-e", f"@{run_dir / 'vars.json'}"]


def _env() -> dict[str, str]:
    return dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
                PATH=f"{REPO / '.venv' / 'bin'}:{os.environ.get('PATH', '')}")


def _journal(run_dir: Path) -> dict[str, dict[str, Any]]:
    path = run_dir / "evidence.jsonl"
    items = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []
    return {i["id"]: i for i in items}


def run(tmp_path: Path, variables: dict[str, Any]) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, Any]]]:
    run_dir = tmp_path / f"run-{secrets.token_hex(3)}"
    run_dir.mkdir()
    result = subprocess.run(_argv(run_dir, variables), cwd=REPO, env=_env(), text=True, capture_output=True,
                            stdin=subprocess.DEVNULL, timeout=300, check=False)
    return result, _journal(run_dir)


def run_at_a_terminal(tmp_path: Path, variables: dict[str, Any], typed: list[str]) -> tuple[int, str, dict[str, Any]]:
    """ansible-playbook on a pseudo-terminal; each of ``typed`` is sent when the next prompt shows."""
    run_dir = tmp_path / f"tty-{secrets.token_hex(3)}"
    run_dir.mkdir()
    controller, terminal = pty.openpty()
    # A session of its own whose controlling terminal is the pseudo-terminal, as a person's shell.
    proc = subprocess.Popen(_argv(run_dir, variables), cwd=REPO, env=_env(), stdin=terminal, stdout=terminal,
                            stderr=terminal, start_new_session=True,
                            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    os.close(terminal)
    # Ansible's pause shows the prompt, then flushes the terminal's input and reads: an answer typed
    # in between is lost. So each answer is typed once the output has been quiet for a second, and
    # typed again when nothing (no echo) came back within 5 s.
    output, deadline, accepted = b"", time.monotonic() + 240, 0
    quiet_since, sent_at, size_at_send = time.monotonic(), 0.0, -1
    try:
        while time.monotonic() < deadline:
            ready, _unused, _unused = select.select([controller], [], [], 0.25)
            now = time.monotonic()
            if ready:
                try:
                    chunk = os.read(controller, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                output += chunk
                quiet_since = now
            elif proc.poll() is not None:
                break
            if size_at_send >= 0 and len(output) > size_at_send:
                accepted, size_at_send = accepted + 1, -1  # echoed: this answer was read
            prompts = output.count(b"nothing refuses")
            waiting = accepted < len(typed) and prompts > accepted and now - quiet_since >= 1.0
            if waiting and (size_at_send < 0 or now - sent_at >= 5.0):
                os.write(controller, typed[accepted].encode() + b"\r")
                sent_at, size_at_send = now, len(output)
        rc = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # its own session: ansible-playbook and its workers
            proc.wait(timeout=30)
        os.close(controller)
    return rc, output.decode(errors="replace"), _journal(run_dir)


def test_given_up_front_with_who_how_and_when(tmp_path: Path) -> None:
    result, items = run(tmp_path, {"approval_gates": GATES, "approval_attestations": ATTEST,
                                   "approval_given": {"go_no_go": {"by": "alice", "note": "CAB-1234"}},
                                   "approval_attested": {"team_briefed": "bob"}})
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    go = items["preflight.approval.go_no_go"]
    assert go["status"] == "pass" and go["phase"] == "preflight"
    assert go["details"]["by"] == "alice" and go["details"]["how"] == "variable" and go["details"]["note"] == "CAB-1234"
    assert go["details"]["at"].endswith("Z") and go["details"]["operator"] == "ops"
    assert go["target"] == "approved by alice or bob" and go["actual"].startswith("approved by alice (variable, CAB-1234) at ")
    briefed = items["preflight.attest.team_briefed"]
    assert briefed["status"] == "pass" and briefed["details"]["by"] == "bob"


def test_refusals_are_recorded_and_stop_the_run(tmp_path: Path) -> None:
    result, items = run(tmp_path, {"approval_gates": GATES, "approval_attestations": ATTEST,
                                   "approval_given": {"go_no_go": "mallory"}, "approval_mode": "auto"})
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "not approved: go_no_go: mallory may not approve go_no_go (approvers: alice, bob)" in out
    # No terminal: the attestation nobody typed is a refusal, not a pass.
    assert "team_briefed: nobody approved at the terminal (no answer, or no terminal)" in out
    assert items["preflight.approval.go_no_go"]["status"] == "fail"
    assert items["preflight.attest.team_briefed"]["status"] == "fail"


def test_typed_at_a_real_terminal(tmp_path: Path) -> None:
    rc, out, items = run_at_a_terminal(tmp_path, {"approval_gates": GATES, "approval_attestations": ATTEST},
                                       ["bob", "carol"])
    assert rc == 0, out[-3000:]
    assert "Go for production?" in out and "approvers: alice, bob" in out
    assert items["preflight.approval.go_no_go"]["details"] | {"by": "bob", "how": "prompt"} == \
        items["preflight.approval.go_no_go"]["details"]
    assert items["preflight.attest.team_briefed"]["details"]["by"] == "carol"


def test_nothing_typed_at_the_terminal_is_no(tmp_path: Path) -> None:
    rc, out, items = run_at_a_terminal(tmp_path, {"approval_gates": GATES}, [""])
    assert rc != 0 and "not approved: go_no_go" in out
    assert items["preflight.approval.go_no_go"]["status"] == "fail"
    assert "nobody approved at the terminal" in items["preflight.approval.go_no_go"]["actual"]


def test_an_awx_workflow_approval_node(tmp_path: Path) -> None:
    result, items = run(tmp_path, {"approval_gates": GATES, "awx_workflow_job_id": 42, "awx_user_name": "dora"})
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    go = items["preflight.approval.go_no_go"]["details"]
    assert (go["how"], go["by"], go["note"]) == ("awx", "dora", "approval node of AWX workflow job 42")


def test_bad_definitions_are_refused(tmp_path: Path) -> None:
    result, items = run(tmp_path, {"approval_gates": [{"name": "Go No Go"}]})
    assert result.returncode != 0
    assert "approval_gates[0].name must be lowercase letters, digits and _" in result.stdout + result.stderr
    assert not items
