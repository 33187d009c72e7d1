# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Callback plugin: write the deployment record when ansible-playbook stops before the run ended."""
from __future__ import annotations

DOCUMENTATION = r"""
name: record_guard
type: notification
short_description: Writes the deployment record of a run that ansible-playbook did not finish
description:
  - A run writes its record in its last play. When C(ansible-playbook) stops before that - interrupted
    (C(SIGINT), Ctrl-C), terminated (C(SIGTERM), an AWX cancel) or ended by a fatal error of Ansible
    itself - this callback closes the run. It appends C(run.stopped) (which phase and task was running,
    which signal, the changes not undone) and C(run.end) (outcome C(interrupted)) to the run's journal,
    and renders C(record.json), C(record.md) and C(record.html).
  - It closes only runs this C(ansible-playbook) started or joined (C(liftoff.release.run) with
    C(state=start)), and only when they have no C(run.end) yet. Nothing is undone here and the deploy
    lock stays with the run; the record says how to continue it (C(-e liftoff_resume=<run id>)) or undo
    it (C(playbooks/rollback.yml -e run_id=<run id>)).
  - Enable it with C(callbacks_enabled = liftoff.release.record_guard) in C(ansible.cfg)
    (or C(ANSIBLE_CALLBACKS_ENABLED)); it works beside any stdout callback, AWX's included.
author: liftoff.release contributors (@liftoff-release)
requirements:
  - enabled in C(callbacks_enabled)
"""

import atexit
import signal
import sys
from pathlib import Path
from typing import Any

from ansible.plugins.callback import CallbackBase

from ansible_collections.liftoff.release.plugins.plugin_utils.run_guard import close_stopped_run

_RUN_ACTIONS = frozenset({"liftoff.release.run", "run"})


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "notification"
    CALLBACK_NAME = "liftoff.release.record_guard"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, display: Any = None) -> None:
        super().__init__(display=display)
        self._run_dirs: list[Path] = []
        self._signal: str | None = None
        self._task: str | None = None
        self._play: str | None = None
        self._closed = False
        self._previous: dict[int, Any] = {}
        atexit.register(self._close)

    # Ansible's TaskQueueManager handles SIGINT (KeyboardInterrupt: ansible-playbook exits 99, atexit runs)
    # and SIGTERM (workers signalled, then the process kills itself: no atexit). Both are wrapped here.
    def v2_playbook_on_start(self, playbook: Any) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous = signal.getsignal(signum)
            if previous is self._on_signal:
                continue
            self._previous[signum] = previous
            signal.signal(signum, self._on_signal)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._signal = signal.Signals(signum).name
        if signum == signal.SIGTERM:
            self._close()  # the handler below ends the process without running atexit
        previous = self._previous.get(signum)
        if callable(previous):
            previous(signum, frame)
        elif signum == signal.SIGINT:
            raise KeyboardInterrupt
        else:
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    def _stop_if_interrupted(self) -> None:
        # The KeyboardInterrupt Ansible raises for SIGINT can land in code that swallows it (the run
        # then went on to the end): once interrupted, stop at the next task at the latest.
        if self._signal == "SIGINT":
            raise KeyboardInterrupt

    def v2_playbook_on_play_start(self, play: Any) -> None:
        self._stop_if_interrupted()
        self._play = play.get_name()

    def v2_playbook_on_task_start(self, task: Any, is_conditional: bool) -> None:
        self._stop_if_interrupted()
        self._task = task.get_name()

    def v2_runner_on_ok(self, result: Any) -> None:
        task = result._task
        if task.action not in _RUN_ACTIONS or task.args.get("state") != "start":
            return
        directory = result._result.get("run_dir")
        if directory and Path(directory) not in self._run_dirs:
            self._run_dirs.append(Path(directory))

    def v2_playbook_on_stats(self, stats: Any) -> None:
        self._close()

    def _close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for directory in self._run_dirs:
            try:
                paths = close_stopped_run(directory, self._signal, self._task, self._play)
            except Exception as exc:  # the process is going away: say so, never raise
                sys.stderr.write(f"liftoff.release.record_guard: could not write the record in {directory}: {exc}\n")
                continue
            if paths:
                run_id = directory.name
                sys.stderr.write(
                    f"liftoff.release: run {run_id} stopped before it ended"
                    f"{' (' + self._signal + ')' if self._signal else ''}; nothing was undone. "
                    f"Record: {paths.get('markdown') or paths.get('json')}. Continue it with "
                    f"-e liftoff_resume={run_id}, or undo it with playbooks/rollback.yml -e run_id={run_id}\n")
