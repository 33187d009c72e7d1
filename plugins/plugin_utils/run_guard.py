# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""What the record_guard callback writes when ansible-playbook stops before the run ended.

Pure decisions (which phase was running, what the stop item says) plus ``close_stopped_run``, which
appends ``run.stopped`` and ``run.end`` to the journal and renders the record, once.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ansible_collections.liftoff.release.plugins.plugin_utils import run_state
from ansible_collections.liftoff.release.plugins.plugin_utils.evidence import JOURNAL, Evidence, EvidenceJournal
from ansible_collections.liftoff.release.plugins.plugin_utils.record_files import write_record
from ansible_collections.liftoff.release.plugins.plugin_utils.redact import is_secret_name, secret_values_from

PHASES = (*run_state.ORDER, "rollback")


def running_phase(items: Iterable[Mapping[str, Any]]) -> str:
    """The phase that was running: the first one with no outcome since the run (last) started or resumed."""
    done: dict[str, str] = {}
    for item in items:
        ident = str(item.get("id", ""))
        if ident == "run.start":
            done = {}
        elif ident == "run.resume":
            done = {p: s for p, s in done.items() if s == "pass"}
        phase, _unused, kind = ident.partition(".")
        if kind == "phase":
            done[phase] = str(item.get("status"))
    return next((p for p in PHASES if p not in done), "record")


def stop_text(signal_name: str | None, phase: str, task: str | None) -> str:
    where = f"during {phase}" + (f" (task: {task})" if task else "")
    if signal_name:
        return f"interrupted by {signal_name} {where}, before the run ended"
    return f"ansible-playbook stopped {where}, before the run ended"


def stop_item(state: run_state.RunState, items: list[dict[str, Any]], signal_name: str | None,
              task: str | None, play: str | None) -> Evidence:
    phase = running_phase(items)
    pending = [{"id": c["id"], "title": c.get("title"), "host": c.get("host")} for c in state.pending_undo]
    return Evidence(
        id="run.stopped", phase="run", title="Run stopped before it ended", status="fail",
        target="the run ends (run.end)", actual=stop_text(signal_name, phase, task), host="controller",
        details={"signal": signal_name, "phase": phase, "task": task, "play": play, "pending_undo": pending,
                 "resume": f"ansible-playbook playbooks/deploy.yml -e liftoff_resume={state.run_id}",
                 "rollback": f"ansible-playbook playbooks/rollback.yml -e run_id={state.run_id}",
                 "lock": "left held by this run: liftoff_resume and rollback.yml re-enter it; it goes stale after "
                         "lock_ttl"})


def needs_closing(state: run_state.RunState) -> bool:
    """A run that started (or resumed) and has no run.end or run.stopped since."""
    return bool(state.run_id) and not state.ended


def environment_secrets(environ: Mapping[str, str]) -> set[str]:
    return secret_values_from({k: v for k, v in environ.items() if is_secret_name(k)})


def close_stopped_run(run_dir: Path, signal_name: str | None, task: str | None, play: str | None,
                      secrets: Iterable[str] = ()) -> dict[str, str] | None:
    """Record that the run stopped and render its record; None when the run had ended (nothing written)."""
    journal = EvidenceJournal(run_dir)
    if not (run_dir / JOURNAL).exists():
        return None
    items = journal.read()
    state = run_state.fold(items)
    if not needs_closing(state):
        return None
    found = set(secrets) | environment_secrets(os.environ)
    journal.append(stop_item(state, items, signal_name, task, play), found)
    stopped = run_state.fold(journal.read())
    journal.append(Evidence(id="run.end", phase="run", title="Run ended", status="fail", target="success",
                            actual=stopped.outcome, host="controller",
                            details={"reason": stopped.reason, "failed_phase": stopped.failed_phase}), found)
    paths, _unused = write_record(run_dir, secrets=found)
    return paths
