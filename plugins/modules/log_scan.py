#!/usr/bin/python
# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: log_scan
short_description: Scan a service's log files for raw tokens, expecting them masked
version_added: 1.0.0
description:
  - Seeds 000/001's log sanitisation check ("Access logs - token query params show C(***)",
    "grep logs for C(token=[a-f0-9])") on the host the module runs on.
  - Reads every file O(paths) names (globs allowed) line by line and counts the lines that match
    O(pattern) (a leak) and the lines that match O(masked_pattern) (masked as expected).
  - B(Never returns a line's text) - only counts and the numbers of the first 20 leaking lines
    of each file, so the scan itself cannot leak what it found.
  - Does not fail the task on a leak; RV(passed) and RV(failures) say whether the scan met
    O(max_leaks) and O(min_masked), so the caller can record the evidence first (the
    M(liftoff.release.smoke) role does).
author:
  - liftoff.release contributors (@liftoff-release)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Only reads.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  paths:
    description: Log files or globs (C(/var/log/app/*.log)); a path or glob that names no file is a failure.
    type: list
    elements: path
    required: true
  pattern:
    description: Regular expression of a raw token in a line.
    type: str
    default: 'token=[a-f0-9]'
  masked_pattern:
    description: Regular expression of a masked token in a line.
    type: str
    default: 'token=\*\*\*'
  max_leaks:
    description: Most lines matching O(pattern) that still pass.
    type: int
    default: 0
  min_masked:
    description: Fewest lines matching O(masked_pattern) for a pass (V(1) proves the log records token use at all).
    type: int
    default: 0
"""

EXAMPLES = r"""
- name: No raw token in the access logs
  liftoff.release.log_scan:
    paths:
      - /var/log/api/access.log
      - "/home/deploy/.pm2/logs/api-out*.log"
    min_masked: 1
  register: scan

- name: Fail on a leak
  ansible.builtin.assert:
    that: scan.passed
    fail_msg: "{{ scan.failures | join('; ') }}"
"""

RETURN = r"""
passed:
  description: Whether the scan met O(max_leaks) and O(min_masked) and every path named a file.
  returned: always
  type: bool
  sample: true
leaks:
  description: Lines matching O(pattern), over all files.
  returned: always
  type: int
  sample: 0
masked:
  description: Lines matching O(masked_pattern), over all files.
  returned: always
  type: int
  sample: 12
lines_scanned:
  description: Lines read, over all files.
  returned: always
  type: int
  sample: 4211
files:
  description: Per file - path, lines, leaks, masked and the numbers of the first 20 leaking lines.
  returned: always
  type: list
  elements: dict
  sample: [{path: /var/log/api/access.log, lines: 4211, leaks: 0, masked: 12, leak_lines: []}]
unmatched:
  description: Paths or globs that named no file.
  returned: always
  type: list
  elements: str
  sample: []
failures:
  description: One sentence per miss (line numbers, never text); empty when it passed.
  returned: always
  type: list
  elements: str
  sample: ["2 lines with a raw token (allowed 0): /var/log/api/access.log lines [17, 90]"]
"""

import re

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.liftoff.release.plugins.module_utils import _log_scan

ARGUMENT_SPEC = {
    "paths": {"type": "list", "elements": "path", "required": True},
    "pattern": {"type": "str", "default": _log_scan.DEFAULT_PATTERN},
    "masked_pattern": {"type": "str", "default": _log_scan.DEFAULT_MASKED},
    "max_leaks": {"type": "int", "default": 0},
    "min_masked": {"type": "int", "default": 0},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    args = module.params
    for name in ("pattern", "masked_pattern"):
        try:
            re.compile(args[name])
        except re.error as exc:
            module.fail_json(msg=f"{name}: {args[name]!r} is not a valid regular expression ({exc})")
    files, unmatched = _log_scan.expand(args["paths"])
    try:
        scans = _log_scan.scan_files(files, args["pattern"], args["masked_pattern"])
    except OSError as exc:
        module.fail_json(msg=f"cannot read a log file: {exc}")
    module.exit_json(changed=False, **_log_scan.verdict(scans, unmatched, max_leaks=args["max_leaks"],
                                                        min_masked=args["min_masked"]))


if __name__ == "__main__":
    main()
