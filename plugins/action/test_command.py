# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin: run a test suite's command on the host and judge its pass/fail counts."""
from __future__ import annotations

import shlex
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.liftoff.release.plugins.plugin_utils import runner_summary
from ansible_collections.liftoff.release.plugins.plugin_utils.action_support import (
    EVIDENCE_OPTION,
    inventory_host,
    record,
    task_secrets,
)
from ansible_collections.liftoff.release.plugins.plugin_utils.evidence import Evidence, utc_now
from ansible_collections.liftoff.release.plugins.plugin_utils.redact import redact, redact_text

TAIL_LINES = 15


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    ARGUMENT_SPEC = {
        "argv": {"type": "list", "elements": "str"},
        "cmd": {"type": "str"},
        "chdir": {"type": "path"},
        "environment": {"type": "dict", "default": {}, "no_log": True},
        "format": {"type": "str", "default": "auto", "choices": list(runner_summary.FORMATS)},
        "regex": {"type": "str"},
        "min_success_ratio": {"type": "float", "default": 1.0},
        "min_ran": {"type": "int", "default": 1},
        "evidence": EVIDENCE_OPTION,
    }

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        _unused, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC,
                                                    mutually_exclusive=[["argv", "cmd"]],
                                                    required_one_of=[["argv", "cmd"]])
        problems = runner_summary.regex_errors(args["regex"]) if args["format"] == "regex" else []
        if not 0.0 <= args["min_success_ratio"] <= 1.0:
            problems.append(f"min_success_ratio: expected a ratio from 0 to 1, got {args['min_success_ratio']}")
        if problems:
            raise AnsibleActionFail("liftoff.release.test_command: " + "; ".join(problems))
        if self._task.check_mode:
            result.update(changed=False, skipped=True, passed=None, msg="check mode: the test command was not run")
            return result
        secrets = task_secrets(task_vars, self._templar) | secret_env_values(args["environment"])
        started = utc_now()
        module_args = command_args(args["argv"], args["cmd"], args["environment"], args["chdir"])
        run = self._execute_module(module_name="ansible.legacy.command", module_args=module_args,
                                   task_vars=task_vars)
        output = f"{run.get('stdout', '')}\n{run.get('stderr', '')}"
        counts = runner_summary.parse_counts(output, args["format"], args["regex"])
        failures = runner_summary.judge_counts(counts, min_success_ratio=args["min_success_ratio"],
                                               min_ran=args["min_ran"])
        if run.get("rc") is None:
            failures.insert(0, f"the command did not run: {run.get('msg', 'no exit code')}")
        elif counts is None and run.get("rc"):
            failures.append(f"exit code {run['rc']}: {run.get('msg', '')}".rstrip(": "))
        tail = redact_text("\n".join(output.strip().splitlines()[-TAIL_LINES:]), secrets) if failures else ""
        ratio = args["min_success_ratio"]
        target = ("all tests pass" if ratio >= 1 else f">= {ratio:.0%} of tests pass") \
            + f", at least {args['min_ran']} ran"
        details = {"rc": run.get("rc"), "counts": counts.to_dict() if counts else None, "format": args["format"],
                   "failures": failures, "chdir": args["chdir"], "output_tail": tail}
        if args["evidence"]:
            record(task_vars, self._templar, Evidence(
                id=args["evidence"]["id"], phase=args["evidence"]["phase"], title=args["evidence"]["title"],
                status="fail" if failures else "pass", target=target, actual=runner_summary.describe(counts),
                started=started, ended=utc_now(), host=inventory_host(task_vars), details=details), secrets)
        result.update(changed=False, passed=not failures, **redact(details, secrets))
        if failures:
            result.update(failed=True, msg=redact_text("test command: " + "; ".join(failures), secrets))
        return result


def command_args(argv: list[str] | None, cmd: str | None, environment: Mapping[str, Any],
                 chdir: str | None) -> dict[str, Any]:
    """ansible.builtin.command's arguments, the environment inside them.

    Not the task's ``environment`` keyword: Ansible puts that on the command line it runs, which
    -vvv prints. Module arguments travel in the module's payload and are not shown.
    """
    assignments = [f"{name}={value}" for name, value in environment.items()]
    if argv:
        return {"argv": ["env", *assignments, *argv] if assignments else argv, "chdir": chdir}
    prefix = " ".join(shlex.quote(a) for a in assignments)
    return {"_raw_params": f"{prefix} {cmd}" if prefix else cmd, "_uses_shell": True, "chdir": chdir}


def secret_env_values(environment: Mapping[str, Any]) -> set[str]:
    """Every environment value given to a test command is masked in what it prints (at least 4 characters)."""
    return {str(v) for v in environment.values() if v is not None and len(str(v)) >= 4}
