"""The redact and progress stdout callbacks: their docs render, and a small real playbook run prints no secret.

The full deploy with secrets planted everywhere is tests/integration/test_redaction.py; this is the
quick check (one local host, no services) that runs with the unit tests.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BIN = ROOT / ".venv" / "bin"

SECRETS = {
    "extra": "cli-extra-5e1f0a",          # -e api_token=...
    "templated": "tpl-pass-8c2d4b",       # inventory: db_password: "{{ __raw.pw }}"
    "env": "env-token-3a7b9c",            # LIFTOFF_UNIT_TOKEN in the controller's environment
    "returned": "ret-token-6f0e2d",       # only a module's JSON output shows it; printed bare later
    "listed": "listed-1d9c8b",            # liftoff_secret_values
}


def _run(tmp_path: Path, callback: str, *args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    if not (BIN / "ansible-playbook").exists():
        pytest.skip("ansible-playbook is not installed in .venv")
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps({"all": {"hosts": {"h1": {
        "ansible_connection": "local", "ansible_python_interpreter": str(BIN / "python"),
        "__raw": {"pw": SECRETS["templated"]}, "db_password": "{{ __raw.pw }}",
        "liftoff_secret_values": [SECRETS["listed"]],
    }}}}), encoding="utf-8")
    playbook = tmp_path / "play.yml"
    playbook.write_text("""---
- name: "Preflight: a phase"
  hosts: all
  gather_facts: false
  tasks:
    - name: Print every planted value
      ansible.builtin.debug:
        msg: "{{ api_token }} {{ db_password }} {{ lookup('ansible.builtin.env', 'LIFTOFF_UNIT_TOKEN') }} listed-1d9c8b"
    - name: A module returns a token in its output
      ansible.builtin.shell:
        cmd: |
          printf '{"access_token": "%s"}' "$RETURNED"
      register: out
      changed_when: false
      no_log: false
    - name: A later line prints it bare
      ansible.builtin.debug:
        msg: "got {{ (out.stdout | ansible.builtin.from_json).access_token }}"
- name: "Smoke: another phase"
  hosts: all
  gather_facts: false
  tasks:
    - name: Fail with the secrets in the message
      ansible.builtin.fail:
        msg: "failing with {{ db_password }} and {{ api_token }}"
""", encoding="utf-8")
    log = tmp_path / "ansible.log"
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_STDOUT_CALLBACK=callback, ANSIBLE_LOG_PATH=str(log), LIFTOFF_UNIT_TOKEN=SECRETS["env"],
               RETURNED=SECRETS["returned"],  # a name nobody would call secret: only the module's output shows it
               PATH=f"{BIN}:{os.environ.get('PATH', '')}")
    proc = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), str(playbook),
                           "-e", f"api_token={SECRETS['extra']}", *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300, check=False)
    return proc, log.read_text(encoding="utf-8") if log.exists() else ""


def _assert_no_secret(*texts: str) -> None:
    for text in texts:
        leaked = [name for name, value in SECRETS.items() if value in text]
        assert leaked == [], leaked


@pytest.mark.parametrize("name", ["redact", "progress"])
def test_callback_docs_render(name: str) -> None:
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    proc = subprocess.run([str(BIN / "ansible-doc"), "-t", "callback", f"liftoff.release.{name}"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "WARNING" not in proc.stderr, proc.stderr
    assert f"liftoff.release.{name}" in proc.stdout and "masked" in proc.stdout


def test_redact_callback_masks_output_and_log_at_vvvv(tmp_path: Path) -> None:
    proc, log = _run(tmp_path, "liftoff.release.redact", "-vvvv")
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr
    out = proc.stdout + proc.stderr
    assert "extra_vars: ('api_token=***',)" in out  # -vvvv shows the command line's extra vars
    assert "msg: '*** *** *** ***'" in out
    assert "msg: got ***" in out
    assert '"access_token": "***"' in out
    assert "failing with *** and ***" in out
    assert "msg: got ***" in log and "failing with *** and ***" in log
    _assert_no_secret(proc.stdout, proc.stderr, log)


def test_progress_callback_shows_phases_and_masks(tmp_path: Path) -> None:
    proc, log = _run(tmp_path, "liftoff.release.progress", "-v")
    assert proc.returncode == 2, proc.stdout[-3000:] + proc.stderr
    lines = proc.stdout.splitlines()
    assert "preflight: started" in lines and "smoke: started" in lines
    assert "  preflight: A later line prints it bare" in lines  # -v, not a terminal: a line per step
    assert any(line.startswith("preflight: done in ") for line in lines)
    assert any(line.startswith("smoke: FAILED in ") for line in lines)
    assert any(line.startswith("FAILED: [h1] Fail with the secrets in the message:") for line in lines)
    assert "msg: failing with *** and ***" in proc.stdout
    assert lines[-1] == "Outcome: failed (no deployment record was written). Hosts with failures: h1"
    assert "TASK [" not in proc.stdout
    _assert_no_secret(proc.stdout, proc.stderr, log)
