# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation for the liftoff.release.test_command action plugin (no module code runs)."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: test_command
short_description: Run a test suite's command and judge its pass/fail counts against a threshold
version_added: 1.0.0
description:
  - An B(action plugin); this file only documents it. The command runs on the task's host (use
    C(delegate_to) for the controller) through M(ansible.builtin.command); the output is parsed
    and judged on the controller.
  - Seed 000's "Tests passing - 5/5" and seed 002's ">90% pass rate" as a check - the counts are
    read from the runner's summary, not from its exit code (a runner that exits non-zero on one
    failure can still meet a 90 % threshold).
  - O(format) V(auto) tries, in order - jest (C(Tests - 1 failed, 4 passed, 5 total)),
    pytest (C(=== 1 failed, 4 passed in 0.3s ===); errors count as failed), mocha
    (C(4 passing), C(1 failing)), TAP (C(# pass 4) / C(# fail 1) summaries, or the C(ok) /
    C(not ok) lines; C(# SKIP) skipped, C(# TODO) not counted as failed), then a fraction
    (C(5/5 PASS), C(passed - 9/10)). The last summary in the output counts.
  - The pass ratio is passed / (passed + failed); skipped tests are left out. The check passes
    when at least O(min_ran) tests ran and the ratio is at least O(min_success_ratio).
  - The evidence has the counts, the summary line, the exit code and, on failure, the last lines
    of the output with secrets masked.
author:
  - liftoff.release contributors (@liftoff-release)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: none
    details:
      - The command is not run in check mode (the task is skipped).
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  argv:
    description: The command as a list (no shell). Give O(argv) or O(cmd).
    type: list
    elements: str
  cmd:
    description: The command as a shell line. Give O(argv) or O(cmd).
    type: str
  chdir:
    description: Directory to run the command in.
    type: path
  environment:
    description:
      - Environment variables for the command (a test token). Never logged, and every value is masked
        in the output shown or recorded.
      - Use this rather than the task's C(environment) keyword, which Ansible puts on the command line
        it runs (shown with C(-vvv)).
    type: dict
    default: {}
  format:
    description: How to read the counts; V(regex) uses O(regex).
    type: str
    default: auto
    choices: [auto, pytest, jest, mocha, tap, fraction, regex]
  regex:
    description:
      - With O(format=regex), a regular expression with named groups - two of C(passed), C(failed),
        C(total) (and optionally C(skipped)); its last match counts.
    type: str
  min_success_ratio:
    description: Lowest passing ratio of passed to run tests, from 0 to 1 (V(0.9) for seed 002's ">90%"); 1 means all.
    type: float
    default: 1.0
  min_ran:
    description: Fewest tests that must have run (passed or failed), so an empty run does not pass.
    type: int
    default: 1
  evidence:
    description:
      - Also record the check in the run's evidence journal (target - the threshold; actual - for
        example C(4/5 passed (80.0%) [pytest])). Needs a started run (the C(run_dir) variable).
    type: dict
    suboptions:
      id:
        description: Evidence id, for example C(smoke.suite).
        type: str
        required: true
      phase:
        description: The phase the check belongs to.
        type: str
        required: true
        choices: [run, preflight, backup, migrate, rollout, cdn, smoke, verify, rollback, record]
      title:
        description: What is checked, in words.
        type: str
        required: true
seealso:
  - module: ansible.builtin.command
"""

EXAMPLES = r"""
- name: Seed 003 step 6 - the automated smoke tests, from the controller
  liftoff.release.test_command:
    argv: [npx, tsx, scripts/smoke-test-staging.ts, --env=production]
    chdir: "{{ playbook_dir }}/../backend"
    evidence:
      id: smoke.suite
      phase: smoke
      title: "Smoke: automated smoke tests"
    environment:
      SMOKE_TEST_TOKEN: "{{ vault_smoke_test_token }}"
  delegate_to: localhost

- name: Seed 002 - more than 90 % of the integration tests pass
  liftoff.release.test_command:
    cmd: pytest -q tests/integration
    chdir: /srv/app/current
    format: pytest
    min_success_ratio: 0.9

- name: A runner with its own summary line
  liftoff.release.test_command:
    argv: [./run-checks]
    format: regex
    regex: 'checks: (?P<passed>\d+) ok, (?P<failed>\d+) bad'
"""

RETURN = r"""
passed:
  description: Whether the counts met the threshold (the task fails when not).
  returned: always
  type: bool
  sample: true
rc:
  description: The command's exit code.
  returned: always
  type: int
  sample: 1
counts:
  description:
    - C(succeeded), C(failed), C(skipped), C(ran), C(ratio), the C(format) that read them and the summary C(line);
      null when none was found.
  returned: always
  type: dict
  sample: {succeeded: 4, failed: 1, skipped: 0, ran: 5, ratio: 0.8, format: pytest, line: "1 failed, 4 passed in 0.31s"}
format:
  description: The O(format) asked for.
  returned: always
  type: str
  sample: auto
failures:
  description: One sentence per miss; empty when it passed.
  returned: always
  type: list
  elements: str
  sample: ["4/5 passed (80.0%), expected all to pass"]
chdir:
  description: The directory the command ran in.
  returned: always
  type: str
  sample: /srv/app/current
output_tail:
  description: On failure, the last lines of the output with secrets masked; empty when it passed.
  returned: always
  type: str
  sample: "FAILED tests/test_api.py::test_login"
msg:
  description: Every failure.
  returned: failure
  type: str
  sample: "test command: 4/5 passed (80.0%), expected all to pass"
"""
