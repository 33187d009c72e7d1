# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation for the liftoff.release.evidence action plugin (no module code runs)."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: evidence
short_description: Append one evidence item to the run's evidence journal
version_added: 1.0.0
description:
  - An B(action plugin that runs on the controller only); this file only documents it.
  - Every check and every action of a deployment leaves one evidence item, appended as
    one JSON line to the run's journal C(evidence.jsonl) in the run directory on the
    controller (the C(run_dir) variable set by M(liftoff.release.run); the task fails
    when no run was started in the play). The journal is the run's only source of truth -
    the run's state, the rollback plan and the record are all read from it.
  - An item follows the evidence contract - C(id), C(phase), C(title), C(target) (what
    was expected), C(actual) (what was seen), C(status), C(started), C(ended), C(host),
    C(details) - and the writer adds C(seq), its position in the journal.
  - Some ids are read by the run machinery - C(run.start), C(<phase>.phase) (a phase's
    outcome; C(details.error) on failure), C(<phase>.change) (something the run changed;
    C(details.undo) says how to undo it), C(verify.verdict) (the gate's verdict in
    C(actual)), C(rollback.*) and C(run.end).
  - Values of variables named like a secret (C(*password*), C(*token*), C(*secret*),
    C(*api_key*), C(*private_key*), C(*access_key*), C(*credential*)) and those listed in
    C(liftoff_secret_values) are masked everywhere in the
    item before it is written. Writers append under an exclusive C(fcntl) lock, so
    parallel hosts never interleave lines.
  - The item is validated first; a bad one fails the task and writes nothing.
author:
  - liftoff.release contributors (@liftoff-release)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - liftoff.release.controller_action
attributes:
  check_mode:
    support: full
    details: Writes the item in check mode too, so a check-mode run leaves evidence of its plan. Never reports a change.
options:
  id:
    description: Stable dotted id, C(<phase>.<check>), for example C(backup.verify).
    type: str
    required: true
  phase:
    description: The phase the item belongs to.
    type: str
    required: true
    choices: [run, preflight, backup, migrate, rollout, cdn, smoke, verify, rollback, record]
  title:
    description: What was checked or done, in words, for the record.
    type: str
    required: true
  status:
    description: V(pass) or V(fail) for a check, V(skip) for a check not made, V(info) for a fact or a change.
    type: str
    required: true
    choices: [pass, fail, skip, info]
  target:
    description: What was expected (a string or a number); null when nothing is expected.
    type: raw
  actual:
    description: What was seen (a string or a number).
    type: raw
  started:
    description: When the check started, UTC ISO-8601. Empty means the time the item is written.
    type: str
    default: ''
  ended:
    description: When the check ended, UTC ISO-8601. Empty means the time the item is written.
    type: str
    default: ''
  host:
    description: The inventory host the item concerns. Default the task's C(inventory_hostname).
    type: str
  details:
    description: Free-form, JSON-serialisable details. Secrets are masked before writing.
    type: dict
    default: {}
seealso:
  - module: liftoff.release.run
  - module: liftoff.release.record
"""

EXAMPLES = r"""
- name: Record that the backup is a readable archive
  liftoff.release.evidence:
    id: backup.verify
    phase: backup
    title: Backup is a readable archive
    status: "{{ 'pass' if backup_list.rc == 0 else 'fail' }}"
    target: pg_restore --list succeeds
    actual: "{{ backup_list.stdout_lines | length }} TOC entries"
    details:
      path: "{{ backup_path }}"

- name: Record what the rollout changed, and how to undo it
  liftoff.release.evidence:
    id: rollout.change
    phase: rollout
    title: Released {{ liftoff_version }}
    status: info
    target: "{{ liftoff_version }}"
    actual: "{{ rollout_release.current }}"
    details:
      undo:
        kind: app
        previous: "{{ rollout_release.previous }}"
  when: rollout_release.changed

- name: Record the phase outcome with its timing
  liftoff.release.evidence:
    id: migrate.phase
    phase: migrate
    title: Migrate phase
    status: pass
    target: completed
    actual: completed
    started: "{{ phase_started }}"
  run_once: true
"""

RETURN = r"""
evidence:
  description: The item as written to the journal, secrets masked, with C(seq) and the times filled in.
  returned: success
  type: dict
  contains:
    id: {description: The item's id., type: str, returned: always}
    phase: {description: The phase., type: str, returned: always}
    title: {description: The title., type: str, returned: always}
    target: {description: What was expected., type: raw, returned: always}
    actual: {description: What was seen., type: raw, returned: always}
    status: {description: "pass, fail, skip or info.", type: str, returned: always}
    started: {description: UTC ISO-8601., type: str, returned: always}
    ended: {description: UTC ISO-8601., type: str, returned: always}
    host: {description: The host it concerns., type: str, returned: always}
    details: {description: "The details, secrets masked.", type: dict, returned: always}
    seq: {description: "The item's position in the journal, from 1.", type: int, returned: always}
  sample:
    id: backup.verify
    phase: backup
    title: Backup is a readable archive
    target: pg_restore --list succeeds
    actual: 42 TOC entries
    status: pass
    started: "2026-11-23T06:40:00.123Z"
    ended: "2026-11-23T06:40:01.456Z"
    host: db1
    details: {path: /var/backups/liftoff/app-20261123T064000Z.dump}
    seq: 17
"""
