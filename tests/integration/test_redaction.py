"""Logs you can share: secrets planted everywhere in a real deploy never reach any output or file.

Two real deploy runs against the local environment (PostgreSQL, pm2, Prometheus), each followed by
a probe play whose modules print tokens, headers and passwords:

1. the repository's default output (``liftoff.release.redact``) at ``-vv`` with ``ANSIBLE_LOG_PATH``;
2. ``liftoff.release.progress`` at ``-v``.

Secrets are planted as an extra var, an ``-e @file`` var, an inventory group var, controller
environment variables (one read through ``lookup('env')``, one only a command prints), the database
password the inventory templates from ``.demo/env.yml``, and values only a module's output reveals
(``?token=``, ``Authorization: Bearer``, ``{"access_token": ...}`` then printed bare by a later task).
"""
from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest
from conftest import REPO, latest_record, runs, served_version
from localenv import LocalEnv

pytestmark = pytest.mark.integration

MASK = "***"
# Each value is unique and long enough to be found by a plain substring search.
PLANTED = {
    "extra_var": "xv-7f3a9c1e5b2d",           # -e probe_api_token=...
    "extra_file": "xf-4b8e2a6c0d1f",          # -e @secrets.yml: probe_vault_passphrase
    "inventory": "iv-9d1c3e5a7b2f",           # extra inventory: liftoff_app group var probe_client_secret
    "env_lookup": "el-2e4a6c8b0d1f",          # LIFTOFF_TEST_TOKEN, read by lookup('env') into probe_env_token
    "env_only": "eo-5c7e9a1b3d2f",            # LIFTOFF_PROBE_PGPASSWORD: no variable names it, a command prints it
    "store_lookup": "sl-3f5a7c9e1b2d",        # probe_store_token: a lookup standing in for a secrets manager
    # Only ever printed by a command (never in a variable or the environment), as ?token=<value>, as
    # Authorization: Bearer <value>, and as {"access_token": <value>} that a later task prints bare.
    "query_token": "qt-8a0c2e4b6d1f",
    "bearer": "br-1b3d5f7a9c2e",
    "module_token": "mt-6d8f0b2a4c1e",
}


def printf(value: str) -> str:
    """A shell expression printing ``value`` without the value itself in the command line."""
    head, tail = value.split("-", 1)
    return f"$(printf '%s-%s' {head} {tail})"


def probe_files(tmp: Path) -> tuple[Path, Path, Path]:
    """The wrapper playbook (deploy.yml, then a probe play), the extra inventory and the -e @file."""
    inventory = tmp / "probe-inventory.yml"
    inventory.write_text(json.dumps({"liftoff_app": {"vars": {
        "probe_client_secret": PLANTED["inventory"],
        "probe_env_token": "{{ lookup('ansible.builtin.env', 'LIFTOFF_TEST_TOKEN') }}",
        # Like amazon.aws.secretsmanager_secret: each templating calls the store (here: appends a line).
        "probe_store_token": "{{ lookup('ansible.builtin.pipe', 'echo call >> " + str(tmp / "store-calls")
                             + "; printf %s-%s " + " ".join(PLANTED["store_lookup"].split("-", 1)) + "') }}",
        # The smoke phase runs this on the controller: its output is parsed into the journal.
        "smoke_test_commands": [{
            "name": "probe",
            "cmd": f'echo "GET /health?token={printf(PLANTED["query_token"])}"; '
                   f'echo "Authorization: Bearer {printf(PLANTED["bearer"])}"; echo "1 passed in 0.01s"',
        }],
    }}}), encoding="utf-8")
    extra = tmp / "probe-secrets.yml"
    extra.write_text(json.dumps({"probe_vault_passphrase": PLANTED["extra_file"]}), encoding="utf-8")
    playbook = tmp / "deploy-and-probe.yml"
    playbook.write_text(f"""---
- name: Deploy
  ansible.builtin.import_playbook: {REPO / "playbooks" / "deploy.yml"}

- name: Probe what modules print
  hosts: liftoff_app
  gather_facts: false
  tasks:
    - name: Print the planted variables
      ansible.builtin.debug:
        msg: >-
          extra {{{{ probe_api_token }}}} file {{{{ probe_vault_passphrase }}}} inventory {{{{ probe_client_secret }}}}
          env {{{{ probe_env_token }}}} db {{{{ liftoff_db_password }}}} store {{{{ probe_store_token }}}}

    - name: Show a secret-named variable
      ansible.builtin.debug:
        var: probe_client_secret

    - name: A command prints an env password, a query token, a header and a JSON token
      ansible.builtin.shell: |
        echo "pg password is $LIFTOFF_PROBE_PGPASSWORD"
        echo "GET /health?token={printf(PLANTED["query_token"])}"
        echo "Authorization: Bearer {printf(PLANTED["bearer"])}"
        echo '{{"access_token": "'"{printf(PLANTED["module_token"])}"'", "expires_in": 60}}'
      register: probe_output
      changed_when: false

    - name: A later task prints the token the command returned, bare
      ansible.builtin.debug:
        msg: "the token was {{{{ (probe_output.stdout_lines[-1] | ansible.builtin.from_json).access_token }}}}"

    - name: Call the app with the token in the query and the header
      ansible.builtin.uri:
        url: "{{{{ liftoff_app_url }}}}/health?token={{{{ probe_output.stdout_lines[1].split('token=')[1] }}}}"
        headers:
          Authorization: "{{{{ probe_output.stdout_lines[2].split(': ')[1] }}}}"
        return_content: true

    - name: Fail with the secrets in the message (ignored)
      ansible.builtin.fail:
        msg: "failing with {{{{ probe_client_secret }}}}, {{{{ probe_env_token }}}} and {{{{ probe_api_token }}}}"
      ignore_errors: true
""", encoding="utf-8")
    return playbook, inventory, extra


def run_probe(env: LocalEnv, tmp: Path, version: str, *args: str,
              extra_env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], float]:
    playbook, inventory, extra = probe_files(tmp)
    environ = {"LIFTOFF_TEST_TOKEN": PLANTED["env_lookup"], "LIFTOFF_PROBE_PGPASSWORD": PLANTED["env_only"],
               "ANSIBLE_STDOUT_CALLBACK": "liftoff.release.redact", **(extra_env or {})}
    started = time.monotonic()
    result = env.playbook(str(playbook), "-i", str(inventory), "-e", f"@{extra}",
                          "-e", f"probe_api_token={PLANTED['extra_var']}", *args,
                          version=version, extra_env=environ)
    (tmp / "stdout.txt").write_text(result.stdout, encoding="utf-8")  # kept for a look when a test fails
    (tmp / "stderr.txt").write_text(result.stderr, encoding="utf-8")
    return result, time.monotonic() - started


def secrets_of(env: LocalEnv) -> dict[str, str]:
    return {**PLANTED, "db_password": env.db_password}


def leaks(text: str, secrets: dict[str, str]) -> list[str]:
    """``name: the line`` for every planted value ``text`` shows."""
    return [f"{name}: {line[:300]}" for line in text.splitlines() for name, value in secrets.items() if value in line]


def file_leaks(root: Path, secrets: dict[str, str], skip: tuple[Path, ...] = ()) -> list[str]:
    """``name in path`` for every planted value found in a file under ``root``."""
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.is_symlink() or any(path.is_relative_to(s) for s in skip):
            continue
        data = path.read_bytes()
        found += [f"{name} in {path}" for name, value in secrets.items() if value.encode() in data]
    return found


def env_root_skips(env: LocalEnv) -> tuple[Path, ...]:
    # env.yml is where the test environment keeps the database password for the inventory to read.
    return (env.root / "env.yml",)


def test_default_output_masks_every_planted_secret(local_env: LocalEnv, tmp_path: Path) -> None:
    log = tmp_path / "ansible.log"
    result, seconds = run_probe(local_env, tmp_path, "v1", "-vv", extra_env={"ANSIBLE_LOG_PATH": str(log)})
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    print(f"deploy + probe with liftoff.release.redact at -vv: {seconds:.1f} s")
    assert served_version(local_env) == "v1"
    assert latest_record(local_env)["outcome"] == "success"
    # The probe play ran, and what it printed is there, masked.
    assert "TASK [A later task prints the token the command returned, bare]" in result.stdout
    assert f"the token was {MASK}" in result.stdout
    assert f"?token={MASK}" in out and f"Authorization: Bearer {MASK}" in out
    assert f'"access_token": "{MASK}"' in out
    assert re.search(r"probe_client_secret: '?\*\*\*'?$", out, re.M)
    assert f"pg password is {MASK}" in out
    assert re.search(r"\[ERROR\]: .*failing with \*\*\*, \*\*\* and \*\*\*", out), out[-2000:]
    assert "extra *** file *** inventory ***" in out
    assert "env *** db *** store ***" in out
    # The store was asked a few times in the whole run (the first play's start, the secret cache, the probe's
    # own use), not for each evidence item the run wrote (46 calls for 32 items without the cache).
    calls = len((tmp_path / "store-calls").read_text().splitlines())
    items = len((runs(local_env)[-1] / "evidence.jsonl").read_text().splitlines())
    print(f"the secret store was called {calls} times for {items} evidence items")
    assert 1 <= calls <= 5 and items > 30, (calls, items)
    # ... and the log file holds the same run, masked.
    logged = log.read_text(encoding="utf-8")
    assert "TASK [A later task prints the token the command returned, bare]" in logged
    assert f"the token was {MASK}" in logged
    secrets = secrets_of(local_env)
    assert leaks(result.stdout, secrets) == []
    assert leaks(result.stderr, secrets) == []
    assert leaks(logged, secrets) == []
    assert file_leaks(runs(local_env)[-1], secrets) == []
    assert file_leaks(local_env.root, secrets, env_root_skips(local_env)) == []


def test_progress_output_shows_phases_and_masks(local_env: LocalEnv, tmp_path: Path) -> None:
    result, seconds = run_probe(local_env, tmp_path, "v2", "-v",
                                extra_env={"ANSIBLE_STDOUT_CALLBACK": "liftoff.release.progress"})
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    print(f"deploy + probe with liftoff.release.progress at -v: {seconds:.1f} s")
    record = latest_record(local_env)
    assert record["outcome"] == "success" and served_version(local_env) == "v2"
    lines = result.stdout.splitlines()
    # One line as each phase starts and one as it ends, in deploy.yml's order, with status and duration.
    ended = [re.match(r"^(\S+): (passed|skipped|FAILED|done) in (\d+ min )?[\d.]+ s", line) for line in lines]
    phases = [m.group(1) for m in ended if m]
    assert phases == ["run_start", "preflight", "backup", "migrate", "rollout", "cdn", "smoke", "verify", "readmit",
                      "rollback", "record"], lines
    started = [line.split(":")[0] for line in lines if line.endswith(": started")]
    assert started[:11] == phases and started[11:] == ["Probe what modules print"]
    assert re.search(r"^smoke: passed in ", result.stdout, re.M)
    assert re.search(r"^rollback: skipped in .*\(not needed: the run did not fail\)", result.stdout, re.M)
    # -v: the steps, each on its line (stdout is not a terminal).
    assert "  smoke: liftoff.release.smoke : Run the test commands" in lines
    # The ignored failure, in full and masked; the outcome and the record, last.
    assert any(line.startswith("failed (ignored): [app1] Fail with the secrets in the message (ignored)")
               for line in lines), lines
    assert re.search(r"msg: '?failing with \*\*\*, \*\*\* and \*\*\*", result.stdout), result.stdout[-3000:]
    record_md = runs(local_env)[-1] / "record.md"
    assert lines[-1] == f"Outcome: success. Record: {record_md}"
    assert record_md.is_file()
    # Concise: no task banners or recap of the default output.
    assert "TASK [" not in result.stdout and "PLAY RECAP" not in result.stdout
    secrets = secrets_of(local_env)
    assert leaks(out, secrets) == []
    assert file_leaks(runs(local_env)[-1], secrets) == []
