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
  - An B(action plugin that runs on the controller); this file only documents it.
  - The deploy lock of an environment, so two runs never deploy to the same environment at once. It
    names the O(owner), the O(run_id), a random owner token, the O(environment), when it was acquired
    and when it expires (O(ttl) seconds after it was taken or last renewed).
  - "Backends (O(backend)): V(file), a JSON file at O(path) on the controller, or on the designated
    host O(host) (a bastion every operator's controller reaches) where the M(liftoff.release.lock_file)
    module runs it; updates are serialised with an exclusive C(fcntl) lock on a C(<path>.guard) file.
    V(redis), the key O(redis_key) at O(redis_url), taken with C(SET NX PX) and changed only by Lua
    compare-and-set / compare-and-delete scripts, so a run never renews or deletes a lock it did not read."
  - O(state=acquired) takes the lock. It is re-entrant for the same run id (a phase
    playbook run inside the pipeline joins the lock its run already holds, keeping the
    original acquisition time and renewing the expiry). Held by another run, the task fails
    naming the holder. Two runs acquiring at the same instant - exactly one gets the lock.
  - A lock past its expiry (a run that crashed) is B(stale). It is never broken
    automatically; only O(break_stale=true) breaks it, and the broken lock is returned in
    RV(broken) so the evidence can say whose lock was broken. An unreadable lock
    counts as a stale lock held by nobody known. With Redis the JSON expiry decides staleness too;
    the key itself lives O(ttl) + O(redis_retain) seconds, so a stale lock stays visible for
    O(redis_retain) seconds before Redis forgets it.
  - With O(renew=true) (and not for a lock on a remote O(host)), acquiring also starts a detached
    renewer process on the controller that renews the lock every O(ttl)/3 seconds while the
    ansible-playbook process of this run lives. It stops within one period after that process dies
    (it never releases the lock, so a killed run's lock goes stale after the TTL, and breaking it is
    explicit) and as soon as the lock is no longer this acquisition's (released, or broken by
    another run). Its spec, which may hold O(redis_url), reaches it on stdin, never on its command line.
  - O(state=heartbeat) renews the expiry (every phase calls it); it fails when the run no
    longer holds the lock, and restarts the renewer if it is gone.
  - O(state=released) removes the lock when this run holds it; held by another run or not
    held at all it changes nothing and says why in RV(reason).
  - O(state=query) only reads the lock.
author:
  - liftoff.release contributors (@liftoff-release)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - liftoff.release.controller_action
attributes:
  platform:
    platforms: posix
    details:
      - Runs on the controller, and never connects to a managed host, except with O(host) set, when
        the M(liftoff.release.lock_file) module runs on that host through the task's C(delegate_to).
  check_mode:
    support: full
    details: Takes, renews and releases nothing; the task still fails when the lock would be refused (held by another run and not stale).
options:
  backend:
    description: Where the lock lives - a file (O(path), on the controller or on O(host)) or a Redis key.
    type: str
    choices: [file, redis]
    default: file
  path:
    description:
      - The lock file for O(backend=file), for example C(<record_dir>/<environment>/deploy.lock).
        Required with that backend. On the controller, or on O(host) when it is set.
    type: path
  host:
    description:
      - The inventory host that holds the lock file (O(backend=file) only); empty means the controller.
        The task must be delegated to it (C(delegate_to)), so the M(liftoff.release.lock_file) module
        runs there over that host's connection. No renewer runs for such a lock.
    type: str
    default: ''
  redis_url:
    description:
      - The Redis server for O(backend=redis), for example C(redis://127.0.0.1:6379/0) or
        C(redis://:password@redis.internal:6379/0); required with that backend. Never returned or
        printed - messages show it without its user and password.
    type: str
  redis_key:
    description: The Redis key holding the lock. Default C(liftoff:lock:<environment>).
    type: str
  redis_retain:
    description:
      - Seconds a stale Redis lock stays visible before Redis forgets it (the key expires after
        O(ttl) + O(redis_retain) without a renewal). Zero or more.
    type: int
    default: 86400
  renew:
    description:
      - Keep the lock alive with a renewer process while the run's ansible-playbook process lives
        (started by O(state=acquired), restarted by O(state=heartbeat) if gone).
    type: bool
    default: true
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
  - A controller lock file only guards runs started from controllers that share O(path); use O(host)
    or O(backend=redis) for several controllers.
  - The Redis backend needs the Python package C(redis) on the controller.
seealso:
  - module: liftoff.release.run
  - module: liftoff.release.lock_file
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

- name: Take the lock in Redis, shared by every operator's controller
  liftoff.release.lock:
    backend: redis
    redis_url: "{{ vault_lock_redis_url }}"
    owner: "{{ run_operator }}"
    run_id: "{{ run_id }}"
    environment: production
  run_once: true

- name: Take the lock as a file on the bastion
  liftoff.release.lock:
    path: /var/lib/liftoff/production.lock
    host: bastion
    owner: "{{ run_operator }}"
    run_id: "{{ run_id }}"
    environment: production
  delegate_to: bastion
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
  description: Whether the same run already held the lock (then the result's C(changed) is false).
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
  description: Whether a lock exists (in check mode, before anything would change).
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
backend:
  description: The backend used.
  returned: always, unless the arguments were rejected
  type: str
  sample: redis
where:
  description: The lock's place, for messages and evidence; a Redis URL appears without user or password.
  returned: always, unless the arguments were rejected
  type: str
  sample: "Redis key 'liftoff:lock:production' at redis://redis.internal:6379/0"
renewer:
  description: The renewer keeping the lock alive while the run lives.
  returned: O(state=acquired) or O(state=heartbeat), when the lock is held, outside check mode, not for O(host)
  type: dict
  contains:
    running: {description: Whether a renewer runs for this acquisition., type: bool, returned: always}
    pid: {description: Its process id., type: int, returned: always}
    watching: {description: The pid of the ansible-playbook process it watches., type: int, returned: always}
    period: {description: Seconds between renewals (O(ttl)/3)., type: float, returned: when running}
    error: {description: Why no renewer could be started (the lock is held all the same)., type: str, returned: when it could not start}
  sample: {running: true, pid: 41234, watching: 41200, period: 600.0}
msg:
  description: Why the lock was refused (naming the holder), or that check mode took no lock.
  returned: when refused, or in check mode
  type: str
  sample: >-
    deploy lock for 'production' is held by owner 'bob', run 20261123T060000Z-4d5e6f,
    acquired 2026-11-23T06:00:00Z, expires 2026-11-23T06:30:00Z; wait for that run to finish
"""
