# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation for the liftoff.release.lock action plugin (no module code runs)."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: lock
short_description: Take, renew, release or read the deploy lock of an environment
version_added: 1.0.0
description:
  - An B(action plugin that runs on the controller only); this file only documents it.
  - The deploy lock is a JSON file on the controller at O(path), one per environment, so
    two runs never deploy to the same environment at once. It names the O(owner), the
    O(run_id), the O(environment), when it was acquired and when it expires (O(ttl) seconds
    after it was taken or last renewed). Updates to the file are serialised with an
    exclusive C(fcntl) lock on a C(<path>.guard) file next to it.
  - O(state=acquired) takes the lock. It is re-entrant for the same run id (a phase
    playbook run inside the pipeline joins the lock its run already holds, keeping the
    original acquisition time and renewing the expiry). Held by another run, the task fails
    naming the holder.
  - A lock past its expiry (a run that crashed) is B(stale). It is never broken
    automatically; only O(break_stale=true) breaks it, and the broken lock is returned in
    RV(broken) so the evidence can say whose lock was broken. An unreadable lock file
    counts as a stale lock held by nobody known.
  - O(state=heartbeat) renews the expiry (long phases call it so their lock does not go
    stale); it fails when the run no longer holds the lock.
  - O(state=released) removes the lock when this run holds it; held by another run or not
    held at all it changes nothing and says why in RV(reason).
  - O(state=query) only reads the lock.
author:
  - liftoff.release contributors
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - liftoff.release.controller_action
attributes:
  check_mode:
    support: full
    details: Takes, renews and releases nothing; the task still fails when the lock would be refused (held by another run and not stale).
options:
  path:
    description: The lock file on the controller, for example C(<record_dir>/<environment>/deploy.lock).
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
    description: Who holds the lock (the operator running the deploy), shown to anyone refused by it.
    type: str
    default: unknown
  run_id:
    description:
      - The run taking, renewing or releasing the lock. A lock held by the same run id is
        re-entered, not refused. Required for every O(state), V(query) included.
    type: str
    required: true
  environment:
    description: The environment the lock guards, stored in the lock and named in messages.
    type: str
    default: ''
  ttl:
    description:
      - Seconds the lock stays valid after it is taken or renewed; after that it is stale.
        Must be at least 1 (checked for every O(state)).
    type: int
    default: 1800
  break_stale:
    description:
      - Break a stale lock held by another run and take it. A lock that is not stale is
        never broken.
    type: bool
    default: false
notes:
  - The lock only guards runs started from controllers that share O(path).
seealso:
  - module: liftoff.release.run
"""

EXAMPLES = r"""
- name: Take the deploy lock for production
  liftoff.release.lock:
    path: "{{ liftoff_record_dir }}/production/deploy.lock"
    state: acquired
    owner: "{{ run_operator }}"
    run_id: "{{ run_id }}"
    environment: production
    ttl: 1800
  run_once: true
  register: deploy_lock

- name: Break a lock left behind by a crashed run (operator asked for it)
  liftoff.release.lock:
    path: "{{ liftoff_record_dir }}/production/deploy.lock"
    owner: "{{ run_operator }}"
    run_id: "{{ run_id }}"
    environment: production
    break_stale: true
  run_once: true

- name: Renew the lock before a long phase
  liftoff.release.lock:
    path: "{{ liftoff_record_dir }}/production/deploy.lock"
    state: heartbeat
    run_id: "{{ run_id }}"
    ttl: 1800
  run_once: true

- name: Release the lock at the end of the run
  liftoff.release.lock:
    path: "{{ liftoff_record_dir }}/production/deploy.lock"
    state: released
    run_id: "{{ run_id }}"
  run_once: true

- name: Who holds the lock?
  liftoff.release.lock:
    path: "{{ liftoff_record_dir }}/production/deploy.lock"
    state: query
    run_id: "{{ run_id }}"
  register: lock_state
"""

RETURN = r"""
acquired:
  description: Whether this run holds the lock (would hold it, in check mode). False when refused.
  returned: O(state=acquired), in check mode, or when the lock is refused
  type: bool
  sample: true
lock:
  description: The lock as written (or as released).
  returned: O(state=acquired) or O(state=heartbeat); O(state=released) when it was released
  type: dict
  contains:
    owner: {description: Who holds the lock., type: str, returned: always}
    run_id: {description: The run that holds the lock., type: str, returned: always}
    environment: {description: The environment it guards., type: str, returned: always}
    acquired: {description: When the run first took the lock (Unix time)., type: float, returned: always}
    expires: {description: When the lock goes stale (Unix time)., type: float, returned: always}
    ttl: {description: The TTL in seconds., type: int, returned: always}
  sample:
    owner: alice
    run_id: 20261123T064500Z-1a2b3c
    environment: production
    acquired: 1795329900.12
    expires: 1795331700.12
    ttl: 1800
reentered:
  description: Whether the same run already held the lock (then RV(changed) is false).
  returned: O(state=acquired)
  type: bool
  sample: false
broken:
  description: The stale lock that O(break_stale=true) broke (same fields as RV(lock)), else null.
  returned: O(state=acquired)
  type: dict
  sample:
    owner: bob
    run_id: 20261122T220000Z-9f8e7d
    environment: production
    acquired: 1795298400.0
    expires: 1795300200.0
    ttl: 1800
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
  description: Whether a lock file exists (in check mode, before anything would change).
  returned: O(state=query) or in check mode
  type: bool
  sample: true
holder:
  description: The lock as read (same fields as RV(lock)); null when not held.
  returned: O(state=query)
  type: dict
  sample:
    owner: alice
    run_id: 20261123T064500Z-1a2b3c
    environment: production
    acquired: 1795329900.12
    expires: 1795331700.12
    ttl: 1800
msg:
  description: Why the lock was refused (naming the holder), or that check mode took no lock.
  returned: when refused, or in check mode
  type: str
  sample: "deploy lock for 'production' is held by owner 'bob', run 20261123T060000Z-4d5e6f, acquired 2026-11-23T06:00:00Z, expires 2026-11-23T06:30:00Z; wait for that run to finish"
"""
