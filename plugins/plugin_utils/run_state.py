# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""The state of a run, folded from its evidence journal (the journal is the only source of truth)."""
from __future__ import annotations

import datetime as _dt
import getpass
import os
import secrets as _secrets
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

ORDER = ("preflight", "backup", "migrate", "rollout", "cdn", "smoke", "verify")


@dataclass
class RunState:
    run_id: str = ""
    environment: str = ""
    version: str = ""
    started: str = ""
    check_mode: bool = False
    phases: dict[str, str] = field(default_factory=dict)
    failed: bool = False
    failed_phase: str | None = None
    reason: str | None = None
    verdict: str | None = None
    changes: list[dict[str, Any]] = field(default_factory=list)
    undone: list[str] = field(default_factory=list)
    rollback_status: str | None = None
    outcome: str = "running"
    # Values a later phase needs, from items whose details carry ``remember: {key: value}``
    # (per host: ``remembered[host][key]``), so they live in the journal, not only in host facts.
    remembered: dict[str, dict[str, Any]] = field(default_factory=dict)
    # ansible-playbook stopped before the run ended (a signal, or a fatal error of Ansible itself):
    # ``run.stopped``, written by the record_guard callback.
    interrupted: bool = False
    # Phases that passed before the last ``run.resume``: a resumed run does not run them again.
    completed: list[str] = field(default_factory=list)
    resumed: int = 0
    ended: bool = False
    started_details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def pending_undo(self) -> list[dict[str, Any]]:
        """Changes not yet compensated, newest first (reverse order of the run)."""
        return [c for c in reversed(self.changes) if change_key(c) not in self.undone]


def new_run_id(now: _dt.datetime | None = None, token: str | None = None) -> str:
    """A sortable, unique run id: 20261123T064500Z-1a2b3c."""
    moment = now or _dt.datetime.now(_dt.UTC)
    if moment.tzinfo is not None:
        moment = moment.astimezone(_dt.UTC)  # the id says Z: an aware local time must be converted
    return moment.strftime("%Y%m%dT%H%M%SZ") + "-" + (token or _secrets.token_hex(3))


def default_record_dir(environ: Mapping[str, str]) -> str:
    """Where run directories go when liftoff_record_dir is not set: $LIFTOFF_RECORD_DIR or ~/.liftoff/records."""
    return environ.get("LIFTOFF_RECORD_DIR") or os.path.join(environ.get("HOME") or os.path.expanduser("~"),
                                                             ".liftoff", "records")


def default_operator(environ: Mapping[str, str]) -> str:
    """Who runs the deploy when liftoff_operator is not set: $LIFTOFF_OPERATOR, $USER, or the login name."""
    for name in ("LIFTOFF_OPERATOR", "USER", "LOGNAME"):
        if environ.get(name):
            return environ[name]
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def fold(items: Iterable[dict[str, Any]]) -> RunState:
    """Fold journal items (in journal order) into the run's state."""
    state = RunState()
    for item in items:
        _apply(state, item)
    state.outcome = outcome(state)
    return state


def _apply(state: RunState, item: dict[str, Any]) -> None:
    ident = str(item.get("id", ""))
    details = item.get("details") or {}
    status = item.get("status")
    if isinstance(details.get("remember"), dict):
        state.remembered.setdefault(str(item.get("host") or "controller"), {}).update(details["remember"])
    if ident == "run.start":
        state.run_id = details.get("run_id", state.run_id)
        state.environment = details.get("environment", state.environment)
        state.version = str(details.get("version", state.version))
        state.started = state.started or item.get("started", "")
        state.check_mode = bool(details.get("check_mode", False))
        state.started_details = dict(details)
        return
    if ident == "run.stopped":
        state.interrupted = True
        state.ended = True
        if not state.failed:
            state.failed = True
            state.failed_phase = str(details.get("phase") or "run")
            state.reason = str(item.get("actual") or "ansible-playbook stopped before the run ended")
        return
    if ident == "run.resume":
        _resume(state)
        return
    if ident == "run.end":
        state.ended = True
        return
    if ident == "run.interrupted" and status == "fail" and not state.failed:
        state.failed = True
        state.failed_phase = "run"
        state.reason = str(details.get("error") or item.get("actual") or "a host failed outside a phase")
        return
    phase, _unused, kind = ident.partition(".")
    if kind == "phase":
        state.phases[phase] = str(status)
        if phase == "rollback":
            state.rollback_status = str(status)
            if status == "fail" and not state.reason:
                # A rollback asked for on its own (or after a failure nobody recorded) that fails.
                state.failed_phase = "rollback"
                state.reason = str(details.get("error") or item.get("actual") or "rollback failed")
        elif status == "fail" and not state.failed:
            state.failed = True
            state.failed_phase = phase
            state.reason = str(details.get("error") or item.get("actual") or f"{phase} failed")
    elif ident.endswith(".change"):
        state.changes.append({"id": ident, "seq": item.get("seq", len(state.changes)), "phase": phase,
                              "host": item.get("host"), "undo": details.get("undo", {}), "title": item.get("title")})
    elif ident == "verify.verdict":
        state.verdict = str(item.get("actual"))
        final = str(details.get("final") or state.verdict)  # a HOLD decided by a person or a policy
        if final in ("ROLLBACK", "HOLD") and not state.failed:
            state.failed = True
            state.failed_phase = "verify"
            reasons = driving_reasons(details)
            hold = details.get("hold") if isinstance(details.get("hold"), dict) else None
            decided = f" ({hold['why']})" if hold and hold.get("why") else ""
            state.reason = (f"gate verdict {state.verdict}{decided}: "
                            + ("; ".join(reasons) if reasons else "no reason given"))
    elif phase == "rollback" and kind.startswith("undo") and status in ("pass", "skip"):
        target = details.get("change")
        if target:
            state.undone.append(str(target))
    elif details.get("undoes") and status in ("pass", "skip"):
        # An undo done outside the rollback phase (a flag restored after a successful verify):
        # a later rollback must not undo it again.
        state.undone.append(str(details["undoes"]))


def _resume(state: RunState) -> None:
    """A resumed run starts again from the first phase that did not pass; its changes stay to be undone."""
    state.completed = [phase for phase in ORDER if state.phases.get(phase) == "pass"]
    state.phases = {phase: status for phase, status in state.phases.items() if status == "pass"}
    state.failed, state.failed_phase, state.reason, state.verdict = False, None, None, None
    state.interrupted, state.ended, state.rollback_status = False, False, None
    state.resumed += 1


def expected_releases(state: RunState) -> dict[str, str]:
    """host -> the release it must run now, by this run's app changes that were not undone."""
    pending = {change_key(c) for c in state.pending_undo}
    return {str(c["host"]): state.version for c in state.changes
            if (c.get("undo") or {}).get("kind") == "app" and change_key(c) in pending and c.get("host")}


def resume_facts(state: RunState) -> dict[str, dict[str, Any]]:
    """host -> the facts completed phases left for later ones (``details.remember``), for a resumed run."""
    return {host: dict(values) for host, values in state.remembered.items()}


def resume_refusal(state: RunState, request: Mapping[str, Any], later_runs: Iterable[str] = ()) -> str | None:
    """Why run ``state`` must not be resumed with ``request`` (version, strategy, check_mode, hosts); None if it may.

    A run resumes only when it was interrupted, or failed with nothing undone; with the same version,
    strategy, mode and hosts; and when no later run of the environment changed anything since.
    """
    if not state.run_id:
        return "there is no such run in this environment's record directory"
    if state.outcome == "success":
        return "it ended successfully: there is nothing to resume"
    if state.rollback_status in ("pass", "fail") and state.changes:
        return (f"it ended {state.outcome}: its changes were rolled back, so resuming would deploy on top of a "
                "rollback; start a new run")
    started = state.started_details
    for key in ("version", "strategy"):
        if request.get(key) not in (None, "") and started.get(key) not in (None, "") \
                and str(request[key]) != str(started[key]):
            return f"it deployed liftoff_{key} {started[key]!r}, this run asks for {request[key]!r}"
    if bool(request.get("check_mode")) != state.check_mode:
        return "check mode differs: a plan cannot be resumed as a deploy, nor the other way round"
    hosts, before = sorted(request.get("hosts") or []), sorted(started.get("hosts") or [])
    if before and hosts and hosts != before:
        return f"the hosts changed: it ran on {', '.join(before)}, this run targets {', '.join(hosts)}"
    later = sorted(later_runs)
    if later:
        return (f"later runs of this environment ({', '.join(later)}) may have changed it since; "
                "start a new run")
    return None


def driving_reasons(verdict: dict[str, Any]) -> list[str]:
    """The reasons of the metrics that drove a gate verdict (all reasons when none is named)."""
    driving = set(verdict.get("driving") or [])
    named = [str(m["reason"]) for m in verdict.get("metrics") or []
             if isinstance(m, dict) and m.get("name") in driving and m.get("reason")]
    return named or [str(r) for r in verdict.get("reasons") or []]


def outcome(state: RunState) -> str:
    """success; failed (nothing was changed, or nothing undone); rolled_back (changes undone); rollback_failed;
    interrupted (ansible-playbook stopped before the run ended, and no rollback ran)."""
    if state.rollback_status == "fail":
        return "rollback_failed"
    if not state.failed:
        return "success"
    if state.rollback_status == "pass" and state.changes:
        return "rolled_back"
    if state.interrupted:
        return "interrupted"
    return "failed"


def change_key(change: dict[str, Any]) -> str:
    """The key rollback evidence uses to say which change it undid."""
    return f"{change['id']}#{change['seq']}"
