"""The controller watch: which ancestor is the ansible controller, and noticing it is gone."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from ansible_collections.liftoff.release.plugins.module_utils._migrate_watch import (
    ControllerWatch,
    Proc,
    ancestry,
    find_controller,
    is_ansible,
)

PLAYBOOK = ("/venv/bin/python3.12", "/venv/bin/ansible-playbook", "-i", "inv", "deploy.yml")


def tree(*chain: tuple[int, int, tuple[str, ...]]) -> dict[int, Proc]:
    return {pid: Proc(ppid=ppid, cmdline=cmd) for pid, ppid, cmd in chain}


def test_local_worker_and_controller_are_found() -> None:
    procs = tree(
        (500, 400, ("/venv/bin/python", "/root/.ansible/tmp/x/AnsiballZ_sql_migrate.py")),
        (400, 300, ("/bin/sh", "-c", "python AnsiballZ_sql_migrate.py && sleep 0")),
        (300, 200, PLAYBOOK),   # the worker: a fork of the controller
        (200, 100, PLAYBOOK),   # the controller
        (100, 1, ("bash",)),
        (1, 0, ("/sbin/init",)),
    )
    assert find_controller(procs, 500) == (300, 200)


@pytest.mark.parametrize(
    "procs",
    [
        # over SSH: sshd above the module, no ansible process on this host
        tree((500, 400, ("python", "AnsiballZ_x.py")), (400, 300, ("sshd: root@notty",)), (300, 1, ("sshd",))),
        # the worker was already reparented (controller gone before the module started)
        tree((500, 400, ("python", "AnsiballZ_x.py")), (400, 300, ("/bin/sh",)), (300, 1, PLAYBOOK)),
        # an ansible process whose parent is not its fork twin
        tree((500, 300, ("python", "AnsiballZ_x.py")), (300, 200, PLAYBOOK), (200, 1, ("bash",))),
        # ancestry unreadable
        {},
    ],
    ids=["ssh", "reparented", "no-twin", "empty"],
)
def test_nothing_to_watch(procs: dict[int, Proc]) -> None:
    assert find_controller(procs, 500) is None


@pytest.mark.parametrize(
    ("cmdline", "expected"),
    [
        (PLAYBOOK, True),
        (("/usr/bin/ansible", "localhost", "-m", "ping"), True),
        (("ansible-playbook", "site.yml"), True),
        (("/usr/bin/python3", "/usr/bin/ansible-runner", "run", "d"), False),
        (("/usr/bin/python3", "manage.py"), False),
        ((), False),
    ],
)
def test_is_ansible(cmdline: tuple[str, ...], expected: bool) -> None:
    assert is_ansible(cmdline) is expected


def test_ancestry_reads_this_process_and_its_parents() -> None:
    procs = ancestry(os.getpid())
    assert procs[os.getpid()].ppid == os.getppid()
    assert os.getppid() in procs


def test_watch_calls_back_when_the_controller_dies() -> None:
    """A real controller -> worker pair (sleep processes): killing the controller is noticed."""
    controller = subprocess.Popen([sys.executable, "-c",
                                   "import subprocess, sys, time; "
                                   "p = subprocess.Popen(['sleep', '30']); print(p.pid, flush=True); time.sleep(30)"],
                                  stdout=subprocess.PIPE, text=True, start_new_session=True)
    worker = int(controller.stdout.readline())  # type: ignore[union-attr]
    lost: list[float] = []
    watch = ControllerWatch(worker, controller.pid, lambda: lost.append(time.monotonic()), interval=0.05)
    try:
        assert watch.controller_alive()
        watch._thread.start()
        time.sleep(0.2)
        assert lost == []
        controller.kill()
        controller.wait()
        assert watch.lost.wait(5), "the dead controller was not noticed"
        assert len(lost) == 1
    finally:
        watch.stop()
        os.killpg(controller.pid, 9)
