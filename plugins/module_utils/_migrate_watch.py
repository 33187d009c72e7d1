# Copyright: (c) 2026, liftoff.release maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Private to the liftoff.release collection.
"""Notice that the ansible run driving a migration was killed, so the migration stops too.

ansible-core (2.19 and later) starts each worker in its own session (``setsid``), so
``kill -9`` on the ansible-playbook process group kills the controller but not the worker,
nor the module the worker runs: an orphaned migration would carry on and commit, long
after the operator stopped the run and without anything recording it.

When the module runs under a local worker (connection ``local``, the controller's host),
its ancestry is ``module <- /bin/sh <- worker <- controller`` and the worker, being a fork
of the controller, has the controller's exact command line. :func:`find_controller`
finds that pair; :class:`ControllerWatch` polls it and calls back once the worker's parent
is no longer the controller (the controller died and the worker was reparented). Over
SSH the controller is on another machine and nothing is watched: there, the server-side
``client_connection_check_interval`` and ``statement_timeout`` bound the orphan.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass

MAX_DEPTH = 12


@dataclass(frozen=True)
class Proc:
    """What the watch needs of one process."""

    ppid: int
    cmdline: tuple[str, ...]


def is_ansible(cmdline: tuple[str, ...]) -> bool:
    """True for ansible-playbook / ansible / ansible-console (run directly or by a python)."""
    for arg in cmdline[:2]:
        base = os.path.basename(arg)
        if base.startswith("ansible") and base != "ansible-runner":
            return True
    return False


def find_controller(procs: Mapping[int, Proc], start: int) -> tuple[int, int] | None:
    """(worker pid, controller pid) above ``start``, or None when not run by a local ansible worker."""
    pid = start
    for _unused in range(MAX_DEPTH):
        proc = procs.get(pid)
        if proc is None or pid <= 1:
            return None
        if proc.cmdline and is_ansible(proc.cmdline):
            parent = procs.get(proc.ppid)
            if parent is not None and parent.cmdline == proc.cmdline and proc.ppid > 1:
                return pid, proc.ppid
            return None
        pid = proc.ppid
    return None


def read_proc(pid: int) -> Proc | None:
    """ppid and argv of ``pid`` from /proc (None when it is gone or unreadable)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as handle:
            stat = handle.read()
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()
    if len(fields) < 2 or fields[0] == "Z":
        return None
    cmdline = tuple(part.decode("utf-8", "replace") for part in raw.split(b"\0") if part)
    return Proc(ppid=int(fields[1]), cmdline=cmdline)


def ancestry(start: int) -> dict[int, Proc]:
    """``start`` and its ancestors (with the parent of each), as far as /proc shows them."""
    procs: dict[int, Proc] = {}
    pid = start
    for _unused in range(MAX_DEPTH + 1):
        proc = read_proc(pid)
        if proc is None:
            break
        procs[pid] = proc
        if pid <= 1:
            break
        pid = proc.ppid
    return procs


class ControllerWatch:
    """Poll in a daemon thread; call ``on_lost`` once when the controller is gone."""

    def __init__(self, worker: int, controller: int, on_lost: Callable[[], None], interval: float = 0.5) -> None:
        self.worker = worker
        self.controller = controller
        self.lost = threading.Event()
        self._stop = threading.Event()
        self._on_lost = on_lost
        self._interval = interval
        self._thread = threading.Thread(target=self._run, name="liftoff-controller-watch", daemon=True)

    @classmethod
    def start(cls, on_lost: Callable[[], None], interval: float = 0.5) -> ControllerWatch | None:
        """Watch this process's controller; None when there is none to watch (remote run)."""
        found = find_controller(ancestry(os.getpid()), os.getpid())
        if found is None:
            return None
        watch = cls(found[0], found[1], on_lost, interval)
        watch._thread.start()
        return watch

    def controller_alive(self) -> bool:
        worker = read_proc(self.worker)
        return worker is not None and worker.ppid == self.controller and read_proc(self.controller) is not None

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            if not self.controller_alive():
                self.lost.set()
                self._on_lost()
                return

    def stop(self) -> None:
        self._stop.set()
