#!/usr/bin/python
# Copyright: (c) 2026, liftoff.release maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: cloudfront_invalidation_wait
short_description: Wait, within a bound, for a CloudFront invalidation to complete
version_added: 1.1.0
description:
  - Reads the invalidation with C(GetInvalidation) every O(poll) seconds until its status is C(Completed) or
    O(timeout) seconds have passed, and returns every status it read with the seconds since the start, how long
    it waited and, from the invalidation's C(CreateTime), how long it took to complete.
  - Why this module? M(community.aws.cloudfront_invalidation) creates an invalidation and returns at once, with
    the status C(InProgress); it has no option to wait, and neither boto3's C(invalidation_completed) waiter
    (fixed 20 s delay, 30 attempts, no overall bound in seconds, and nothing of what it read is returned) nor
    M(community.aws.cloudfront_distribution_info) (one read) gives a bounded wait with evidence of the reads.
  - Out of time, the task fails (the invalidation may still complete later) unless O(fail_on_timeout=false), and
    the result says so in RV(timed_out).
author:
  - liftoff.release contributors (@liftoff-release)
options:
  distribution_id:
    description: The distribution.
    type: str
    required: true
  id:
    description: The invalidation's id, as returned by M(community.aws.cloudfront_invalidation).
    type: str
    required: true
  timeout:
    description: Most seconds to wait; C(0) reads the status once and does not wait.
    type: float
    default: 900
  poll:
    description: Seconds between two reads (at least 1).
    type: float
    default: 10
  fail_on_timeout:
    description: Fail the task when the invalidation has not completed within O(timeout).
    type: bool
    default: true
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Reads only, so it runs in check mode too.
"""

EXAMPLES = r"""
- name: Invalidate what changed
  community.aws.cloudfront_invalidation:
    distribution_id: E2EXAMPLE
    caller_reference: "liftoff-{{ run_id }}"
    target_paths: [/index.html, /assets/*]
  register: created

- name: Wait for it, at most 10 minutes
  liftoff.release.cloudfront_invalidation_wait:
    distribution_id: E2EXAMPLE
    id: "{{ created.invalidation.id }}"
    timeout: 600
    poll: 10
"""

RETURN = r"""
status:
  description: The last status read (C(Completed), C(InProgress)).
  returned: always
  type: str
completed:
  description: Whether the invalidation completed within the bound.
  returned: always
  type: bool
timed_out:
  description: Whether the bound passed first.
  returned: always
  type: bool
waited_s:
  description: Seconds this module waited.
  returned: always
  type: float
polls:
  description: How many times the status was read.
  returned: always
  type: int
seen:
  description: Each status read (the last 50), with the seconds since the start of the wait.
  returned: always
  type: list
  elements: dict
create_time:
  description: When CloudFront created the invalidation (ISO-8601).
  returned: always
  type: str
took_s:
  description: Seconds from the invalidation's creation to the read that saw it complete (null when it did not).
  returned: always
  type: float
paths:
  description: The paths the invalidation covers.
  returned: always
  type: list
  elements: str
"""

import datetime
import time
from typing import Any

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports the missing library

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.liftoff.release.plugins.module_utils._cdn import wait_for

ARGUMENT_SPEC: dict[str, Any] = {
    "distribution_id": {"type": "str", "required": True},
    "id": {"type": "str", "required": True},
    "timeout": {"type": "float", "default": 900},
    "poll": {"type": "float", "default": 10},
    "fail_on_timeout": {"type": "bool", "default": True},
}


def main() -> None:
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    p = module.params
    if p["timeout"] < 0 or p["poll"] < 1:
        module.fail_json(msg=f"timeout must be 0 or more and poll at least 1 second; got {p['timeout']} and {p['poll']}")
    client = module.client("cloudfront")
    last: dict[str, Any] = {}

    def read() -> str:
        last.update(client.get_invalidation(DistributionId=p["distribution_id"], Id=p["id"])["Invalidation"])
        return str(last.get("Status", ""))

    try:
        outcome = wait_for(read, p["timeout"], p["poll"], time.monotonic, time.sleep)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        module.fail_json_aws(exc, msg=f"reading invalidation {p['id']} of distribution {p['distribution_id']} failed")
    created = last.get("CreateTime")
    took = None
    if outcome.completed and isinstance(created, datetime.datetime):
        took = round((datetime.datetime.now(datetime.timezone.utc) - created).total_seconds(), 3)
    result = outcome.to_dict() | {
        "changed": False,
        "create_time": created.isoformat() if isinstance(created, datetime.datetime) else str(created or ""),
        "took_s": took,
        "paths": list((last.get("InvalidationBatch") or {}).get("Paths", {}).get("Items") or []),
    }
    if outcome.timed_out and p["fail_on_timeout"]:
        module.fail_json(msg=f"invalidation {p['id']} of distribution {p['distribution_id']} is still {outcome.status} "
                             f"after {outcome.waited:.0f} s (timeout {p['timeout']:g} s, {outcome.polls} reads)",
                         **result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
