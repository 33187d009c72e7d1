#!/usr/bin/python
# Copyright: (c) 2026, liftoff.release maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: notify
short_description: Tell Slack, webhooks and PagerDuty about a run's event, and record the delivery
version_added: 1.0.0
description:
  - An action plugin that runs on the controller. For one event of a run (V(start), V(phase), V(rollback), V(end)),
    POSTs a JSON payload to every target that hears it - a Slack incoming webhook (or a Slack-compatible one -
    Mattermost, Rocket.Chat), a generic webhook (the event as JSON), or PagerDuty Events API v2 (a failed or rolled
    back run triggers an alert with the record's link, a later success resolves it; one dedup key per application
    and environment).
  - A target that cannot be reached is reported (and recorded as evidence C(<phase>.notify.<event>)), never a
    failure of the deploy. Retries on timeouts, HTTP 429 and 5xx.
  - Webhook URLs (which carry their token) and routing keys never appear in output, logs or the record.
  - Why not community.general.slack and community.general.pagerduty_alert - their endpoints are fixed
    (C(hooks.slack.com), C(events.pagerduty.com)), so they cannot post to a Slack-compatible webhook, the PagerDuty
    EU endpoint or a local receiver (how this collection tests its notifications), and each is one more task per
    event and target with its own failure handling.
author:
  - liftoff.release contributors (@liftoff-release)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Sends nothing; records the plan.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  targets:
    description: The targets; see the notify role's C(notify_targets).
    type: list
    elements: dict
    required: true
  event:
    description:
      - The event - C(event), C(run_id), C(app), C(environment), C(version), C(operator), C(phase), C(status),
        C(outcome), C(reason), C(failed_phase), C(record).
    type: dict
    required: true
  phase:
    description: The phase the delivery evidence belongs to.
    type: str
    required: true
    choices: [run, preflight, backup, migrate, rollout, cdn, smoke, verify, rollback, record]
  timeout:
    description: Seconds per request.
    type: float
    default: 5.0
  retries:
    description: Extra attempts on a timeout, HTTP 429 or 5xx.
    type: int
    default: 1
  delay:
    description: Seconds between attempts.
    type: float
    default: 1.0
"""

EXAMPLES = r"""
- name: Tell everyone the run ended
  liftoff.release.notify:
    targets: "{{ notify_targets }}"
    phase: record
    event: {event: end, run_id: "{{ run_id }}", environment: production, version: v2.3.1, outcome: success}
"""

RETURN = r"""
deliveries:
  description: Per target - name, type, ok, status, ms, attempts, error (no URL, no key).
  returned: always
  type: list
  elements: dict
  sample: [{name: ops, type: slack, ok: true, status: 200, ms: 41.2, attempts: 1, error: ""}]
failed_targets:
  description: Names of the targets that could not be told.
  returned: always
  type: list
  elements: str
  sample: [on-call]
"""
