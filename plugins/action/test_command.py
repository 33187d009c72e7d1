# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin: run a test suite's command on the host and judge its pass/fail counts."""
from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.liftoff.release.plugins.plugin_utils import runner_summary
from ansible_collections.liftoff.release.plugins.plugin_utils.action_support import inventory_host, record, task_secrets
from ansible_collections.liftoff.release.plugins.plugin_utils.evidence import PHASES, Evidence, utc_now
from ansible_collections.liftoff.release.plugins.plugin_utils.redact import redact, redact_text

TAIL_LINES = 15


class ActionModule(ActionBase):
    TRANSFERS_FILES = False

    ARGUMENT_SPEC = {
        "argv": {"type": "list", "elements": "str"},
        "cmd": {"type": "str"},
        "chdir": {"type": "path"},
        "format": {"type": "str", "default": "auto", "choices": list(runner_summary.FORMATS)},
        "regex": {"type": "str"},
        "min_success_ratio": {"type": "float", "default": 1.0},
        "min_ran": {"type": "int", "default": 1},
        "evidence": {"type": "dict", "options": {
            "id": {"type": "str", "required": True},
            "phase": {"type": "str", "required": True, "choices": list(PHASES)},
            "title": {"type": "str", "required": True},
        }},
    }

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        _, args = self.validate_argument_spec(argument_spec=self.ARGUMENT_SPEC,
                                              mutually_exclusive=[["argv", "cmd"]], required_one_of=[["argv", "cmd"]])
        problems = runner_summary.regex_errors(args["regex"]) if args["format"] == "regex" else []
        if not 0.0 <= args["min_success_ratio"] <= 1.0:
            problems.append(f"min_success_ratio: expected a ratio from 0 to 1, got {args['min_success_ratio']}")
        if problems:
            raise AnsibleActionFail("liftoff.release.test_command: " + "; ".join(problems))
        if self._task.check_mode:
            result.update(changed=False, skipped=True, passed=None, msg="check mode: the test command was not run")
            return result
        secrets = task_secrets(task_vars, self._templar)
        started = utc_now()
        module_args: dict[str, Any] = {"chdir": args["chdir"]}
        if args["argv"]:
            module_args["argv"] = args["argv"]
        else:
            module_args.update(_raw_params=args["cmd"], _uses_shell=True)
        run = self._execute_module(module_name="ansible.legacy.command", module_args=module_args,
                                   task_vars=task_vars)
        output = f"{run.get('stdout', '')}\n{run.get('stderr', '')}"
        counts = runner_summary.parse_counts(output, args["format"], args["regex"])
        failures = runner_summary.judge_counts(counts, min_success_ratio=args["min_success_ratio"], min_ran=args["min_ran"])
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
