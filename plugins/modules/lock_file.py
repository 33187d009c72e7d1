#!/usr/bin/python
# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: lock_file
short_description: The deploy lock as a file on the host the module runs on
version_added: 1.0.0
description:
  - The file backend of M(liftoff.release.lock), run on a designated host (for example a bastion
    that every operator's controller reaches), so runs started from different controllers share
    one lock. M(liftoff.release.lock) with O(liftoff.release.lock#module:host) set runs this module on
    that host; you can also call it yourself with C(delegate_to).
  - Same semantics as M(liftoff.release.lock) with the file backend, from the same code - the lock
    JSON names the owner, the run id, a random owner token, the environment, when it was acquired and
    when it expires; updates are serialised with an exclusive C(fcntl) lock on C(<path>.guard).
  - A stale lock (past its expiry) is broken only with O(break_stale=true); the broken lock is
    returned in RV(broken).
author:
  - liftoff.release contributors (@liftoff-release)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Takes, renews and releases nothing; fails when the lock would be refused.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  path:
    description: The lock file on the host the module runs on.
    type: path
    required: true
  state:
    description:
      - V(acquired) takes the lock (re-entrant for the same O(run_id)), V(heartbeat) renews
        its expiry, V(released) removes it, V(query) only reads it.
    type: str
    choices: [acquired, released, heartbeat, query]
    default: acquired
  owner:
    description: Who holds the lock, shown to anyone refused by it.
    type: str
    default: unknown
  run_id:
    description: The run taking, renewing or releasing the lock.
    type: str
    required: true
  environment:
    description: The environment the lock guards, stored in the lock and named in messages.
    type: str
    default: ''
  ttl:
    description: Seconds the lock stays valid after it is taken or renewed; at least 1.
    type: int
    default: 1800
  break_stale:
    description: Break a stale lock held by another run and take it. A live lock is never broken.
    type: bool
    default: false
notes:
  - There is no background renewer for a lock on a remote host; the pipeline renews it at the
    start of every phase, so the TTL must be longer than the longest phase.
seealso:
  - module: liftoff.release.lock
"""

EXAMPLES = r"""
- name: Take the deploy lock on the bastion
  liftoff.release.lock_file:
    path: /var/lib/liftoff/production.lock
    owner: "{{ run_operator }}"
    run_id: "{{ run_id }}"
    environment: production
  delegate_to: bastion
  run_once: true

- name: Release it
  liftoff.release.lock_file:
    path: /var/lib/liftoff/production.lock
    state: released
    run_id: "{{ run_id }}"
  delegate_to: bastion
  run_once: true
"""

RETURN = r"""
acquired:
  description: Whether this run holds the lock (would hold it, in check mode). False when refused.
  returned: O(state=acquired), in check mode, or when refused
  type: bool
  sample: true
lock:
  description: The lock as written (or as released); the same fields as RV(liftoff.release.lock#module:lock).
  returned: O(state=acquired) or O(state=heartbeat); O(state=released) when it was released
  type: dict
  sample: {owner: alice, run_id: 20261123T064500Z-1a2b3c, environment: production,
           acquired: 1795329900.12, expires: 1795331700.12, ttl: 1800}
broken:
  description: The stale lock that O(break_stale=true) broke, else null.
  returned: O(state=acquired)
  type: dict
  sample: {owner: bob, run_id: 20261122T220000Z-9f8e7d, environment: production,
           acquired: 1795298400.0, expires: 1795300200.0, ttl: 1800}
reentered:
  description: Whether the same run already held the lock.
  returned: O(state=acquired)
  type: bool
  sample: false
released:
  description: Whether this task removed the lock.
  returned: O(state=released)
  type: bool
  sample: true
reason:
  description: Why nothing was released.
  returned: O(state=released) when RV(released) is false
  type: str
  sample: not held
held:
  description: Whether a lock exists.
  returned: O(state=query) or in check mode
  type: bool
  sample: true
holder:
  description: The lock as read; null when not held.
  returned: O(state=query)
  type: dict
  sample: {owner: alice, run_id: 20261123T064500Z-1a2b3c, environment: production,
           acquired: 1795329900.12, expires: 1795331700.12, ttl: 1800}
msg:
  description: Why the lock was refused, naming the holder.
  returned: when refused, or in check mode
  type: str
  sample: >-
    deploy lock for 'production' is held by owner 'bob', run 20261123T060000Z-4d5e6f,
    acquired 2026-11-23T06:00:00Z, expires 2026-11-23T06:30:00Z; wait for that run to finish
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.liftoff.release.plugins.module_utils import _lock

ARGUMENT_SPEC = {
    "path": {"type": "path", "required": True},
    "state": {"type": "str", "choices": ["acquired", "released", "heartbeat", "query"], "default": "acquired"},
    "owner": {"type": "str", "default": "unknown"},
    "run_id": {"type": "str", "required": True},
    "environment": {"type": "str", "default": ""},
    "ttl": {"type": "int", "default": 1800},
    "break_stale": {"type": "bool", "default": False},
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    args = module.params
    if args["ttl"] < 1:
        module.fail_json(msg=f"ttl must be a positive number of seconds, got {args['ttl']}")
    try:
        outcome = _lock.perform(args["path"], args["state"], args["run_id"], args["owner"], args["environment"],
                                args["ttl"], args["break_stale"], module.check_mode)
    except OSError as exc:
        module.fail_json(msg=f"lock file {args['path']}: {exc}", acquired=False, changed=False)
    outcome.pop("token", None)  # the renewer's business; no renewer runs for a lock on a remote host
    if outcome.pop("failed", False):
        module.fail_json(**outcome)
    module.exit_json(**outcome)


if __name__ == "__main__":
    main()
