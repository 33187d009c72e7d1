# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stdout callback: a deployment phase by phase - one line per phase, failures in full, the outcome."""
from __future__ import annotations

DOCUMENTATION = r"""
name: progress
type: stdout
short_description: A deployment phase by phase, with every secret masked
description:
  - A concise display of C(playbooks/deploy.yml) (or any playbook) - one line when a phase starts and one
    when it ends, with its status (C(passed), C(FAILED), C(skipped) and why, from the phase's C(<phase>.phase)
    evidence) and its duration; the step (task) running now; every failure in full; and at the end the
    run's outcome and the path of its deployment record.
  - A phase is a play - C(run_start), C(preflight), C(backup), C(migrate), C(rollout), C(cdn), C(smoke),
    C(verify), C(readmit), C(rollback), C(record) - named by the play's C(run_phase) variable, else by the
    first word of the play's name. A play outside C(deploy.yml) shows under its own name.
  - On a terminal the current step rewrites one status line. Otherwise a line per step is printed only
    with C(-v); without it, only the phases, failures, warnings and the outcome.
  - Secrets are masked exactly as C(liftoff.release.redact) masks them (results, every line, the log file).
  - "Use it for one run with C(ANSIBLE_STDOUT_CALLBACK=liftoff.release.progress ansible-playbook ...);
    C(liftoff.release.redact) stays the repository's default output."
author: liftoff.release contributors (@liftoff-release)
extends_documentation_fragment:
  - result_format_callback
requirements:
  - set as stdout callback (C(ANSIBLE_STDOUT_CALLBACK=liftoff.release.progress))
"""

import sys
import time
from typing import Any

from ansible.plugins.callback import CallbackBase

from ansible_collections.liftoff.release.plugins.plugin_utils.redact_display import (
    Phase,
    SecretMask,
    install,
    outcome_line,
    phase_evidence,
    phase_of_play,
    record_outcome,
    status_line,
)
from ansible_collections.liftoff.release.plugins.plugin_utils.redact_hooks import MaskingHooks

_CLEAR = "\r\x1b[K"


class CallbackModule(MaskingHooks, CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "liftoff.release.progress"

    def __init__(self, display: Any = None) -> None:
        super().__init__(display=display)
        self._mask = SecretMask()
        self._tty = sys.stdout.isatty()
        self._status_shown = False
        self._phase: Phase | None = None
        self._outcome: str | None = None
        self._record: str | None = None
        self._learn_early()
        install(self._display, self._mask, before=self._clear_status)

    # The status line (terminal only): cleared before any other line is printed.
    def _clear_status(self, message: str, stderr: bool) -> None:
        if self._status_shown:
            self._status_shown = False
            sys.stdout.write(_CLEAR)
            sys.stdout.flush()

    def _show_status(self, task: str) -> None:
        if self._phase is None:
            return
        line = status_line(self._phase.name, task, int(self._display.columns or 79))
        self._display.display(self._mask.text(line), newline=False, screen_only=True)
        self._status_shown = True
        sys.stdout.flush()

    def _end_phase(self) -> None:
        if self._phase is not None:
            self._display.display(self._phase.end_line(time.monotonic()))
            self._phase = None

    def v2_playbook_on_play_start(self, play: Any) -> None:
        super().v2_playbook_on_play_start(play)  # learns the play's secrets first
        self._end_phase()
        self._phase = Phase(phase_of_play(play.get_name(), play.vars.get("run_phase")))
        if self._tty:
            self._show_status("")
        else:
            self._display.display(f"{self._phase.name}: started")

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._step(task)

    def v2_playbook_on_handler_task_start(self, task: Any) -> None:
        self._step(task)

    def _step(self, task: Any) -> None:
        name = task.get_name().strip()
        if self._phase is not None:
            self._phase.task = name
        if self._tty:
            self._show_status(name)
        elif self._display.verbosity >= 1 and self._phase is not None:
            self._display.display(f"  {self._phase.name}: {name}")

    def v2_runner_on_ok(self, result: Any) -> None:
        super().v2_runner_on_ok(result)
        self._handle_warnings_and_exception(result)
        data = result.result
        evidence = phase_evidence(data)
        if evidence and self._phase is not None and evidence[0] == self._phase.name:
            self._phase.status, self._phase.detail = evidence[1], evidence[2]
        record = record_outcome(data)
        if record:
            self._outcome, self._record = record
        if self._display.verbosity >= 2:
            self._display.display(f"    ok: [{self.host_label(result)}] => {self._dump_results(data)}")

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        super().v2_runner_on_failed(result, ignore_errors=ignore_errors)
        if ignore_errors and self._display.verbosity < 1:
            return
        self._handle_warnings_and_exception(result)
        if not ignore_errors and self._phase is not None:
            self._phase.failures += 1
        label = "failed (ignored)" if ignore_errors else "FAILED"
        self._display.display(f"{label}: [{self.host_label(result)}] {result.task_name}: "
                              f"{self._dump_results(result.result)}")

    def v2_runner_item_on_failed(self, result: Any) -> None:
        super().v2_runner_item_on_failed(result)
        self._handle_warnings_and_exception(result)
        self._display.display(f"FAILED: [{self.host_label(result)}] {result.task_name} "
                              f"(item={self._get_item_label(result.result)}): {self._dump_results(result.result)}")

    def v2_runner_on_unreachable(self, result: Any) -> None:
        super().v2_runner_on_unreachable(result)
        if self._phase is not None:
            self._phase.failures += 1
        self._display.display(f"UNREACHABLE: [{self.host_label(result)}] {result.task_name}: "
                              f"{self._dump_results(result.result)}")

    def v2_playbook_on_no_hosts_remaining(self) -> None:
        self._display.display("No hosts left: the playbook stops here")

    def v2_playbook_on_stats(self, stats: Any) -> None:
        self._end_phase()
        failed = [host for host in stats.processed
                  if stats.summarize(host)["failures"] or stats.summarize(host)["unreachable"]]
        self._display.display(outcome_line(self._outcome, self._record, failed))
