# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation for the liftoff.release.run action plugin (no module code runs)."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: run
short_description: Start or join a deployment run, or read its state from the evidence journal
version_added: 1.0.0
description:
  - An B(action plugin that runs on the controller only); this file only documents it.
  - A run has an id and a run directory on the controller,
    C(<record_dir>/<environment>/<run_id>/), holding the evidence journal
    C(evidence.jsonl) and, at the end, the record. The journal is the only source of
    truth for the run's state.
  - O(state=start) starts a run or joins it. It creates the run directory and appends the
    C(run.start) evidence item (with O(details) plus the run id, environment, operator and
    whether the run is in check mode). When the journal in that directory already has a
    C(run.start), it joins that run and appends nothing (RV(joined)). It returns the run
    id and directory, which the caller shares with every host as the C(run_id) and
    C(run_dir) facts. It takes no lock; see M(liftoff.release.lock).
  - O(state=query) reads the journal of the current run (the directory in the C(run_dir)
    variable; the task fails when no run was started in the play) and folds it into the
    run's state - whether it failed, in which phase and why, the gate's verdict, what the
    run changed - and the changes not yet undone, newest first, for rollback.
    O(record_dir), O(environment), O(operator), O(run_id) and O(details) are ignored.
author:
  - liftoff.release contributors (@liftoff-release)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - liftoff.release.controller_action
attributes:
  check_mode:
    support: full
    details:
      - O(state=start) writes the run directory and C(run.start) in check mode too, with
        C(check_mode=true), so a check-mode run leaves a record of its plan.
options:
  state:
    description:
      - V(start) starts a run (or joins the run already in the run directory).
      - V(query) reads the current run's state from its journal.
    type: str
    choices: [start, query]
    default: query
  record_dir:
    description:
      - Directory holding every environment's run directories.
      - Default C($LIFTOFF_RECORD_DIR), else C(~/.liftoff/records). Only for O(state=start).
    type: path
  environment:
    description:
      - Name of the environment deployed to, for example C(production).
        Required for O(state=start) (the task fails without it).
    type: str
  operator:
    description:
      - Who runs the deploy, recorded in C(run.start).
      - Default C($LIFTOFF_OPERATOR), else C($USER) or C($LOGNAME), else the login name.
        Only for O(state=start).
    type: str
  run_id:
    description:
      - Id of the run to start or join, a plain name (no C(/), not starting with C(.)).
      - Default a new sortable id, C(YYYYmmddTHHMMSSZ-<6 hex>) in UTC. Only for O(state=start).
    type: str
  resume:
    description:
      - Id of an earlier run of this environment to continue (C(liftoff_resume)), instead of starting one.
      - The run continues from its first phase that did not pass; the evidence it recorded is kept and
        reused, its changes stay to be undone, and a C(run.resume) item is appended.
      - Refused, before anything changes, when the run does not exist, ended successfully or was rolled
        back, when O(details) ask for another version or strategy, other hosts (C(hosts)) or another mode
        (check mode), or when a later run of the environment (not a plan) started since.
      - Only for O(state=start).
    type: str
  resume_check:
    description:
      - With O(resume), only decide whether the run may be resumed (failing when not) and return
        RV(completed), RV(remembered) and RV(expected_releases), without writing anything, so the caller can
        check the hosts before the resume is recorded.
    type: bool
    default: false
  details:
    description:
      - More details for the C(run.start) item (for example version, strategy, pipeline).
        C(run_id), C(environment), C(operator) and C(check_mode) are set by the plugin.
      - Secret values are masked before they are written. Only for O(state=start).
    type: dict
    default: {}
seealso:
  - module: liftoff.release.evidence
  - module: liftoff.release.lock
  - module: liftoff.release.record
"""

EXAMPLES = r"""
- name: Start the run on the controller
  liftoff.release.run:
    state: start
    record_dir: /var/lib/liftoff/records
    environment: production
    run_id: "{{ run_id | default(omit) }}"
    details:
      version: "2.4.1"
      strategy: pm2
  run_once: true
  register: run_started

- name: Share the run id and directory with every host of the play
  ansible.builtin.set_fact:
    run_id: "{{ run_started.run_id }}"
    run_dir: "{{ run_started.run_dir }}"
  run_once: true

- name: Read the run's state before the next phase
  liftoff.release.run:
    state: query
  run_once: true
  register: run_now

- name: Skip the phase when the run already failed
  ansible.builtin.debug:
    msg: "run failed in {{ run_now.state.failed_phase }}: {{ run_now.state.reason }}"
  when: run_now.state.failed
"""

RETURN = r"""
run_id:
  description: The run's id.
  returned: O(state=start)
  type: str
  sample: 20261123T064500Z-1a2b3c
run_dir:
  description: The run directory on the controller.
  returned: always
  type: str
  sample: /var/lib/liftoff/records/production/20261123T064500Z-1a2b3c
operator:
  description: Who runs the deploy.
  returned: O(state=start)
  type: str
  sample: alice
joined:
  description: Whether the run had already started in that directory (nothing was appended).
  returned: O(state=start)
  type: bool
  sample: false
resumed:
  description: Whether an earlier run was resumed (O(resume)).
  returned: O(state=start) with O(resume)
  type: bool
  sample: true
completed:
  description: The phases that passed before the resume; they are not run again.
  returned: O(state=start) with O(resume)
  type: list
  elements: str
  sample: [preflight, backup]
remembered:
  description: Per host, the facts the completed phases left for later ones (C(details.remember) of their evidence).
  returned: O(state=start) with O(resume)
  type: dict
  sample: {app1: {backup_result: {path: /var/backups/demo-20261123T064500Z-1a2b3c.pgc}}}
expected_releases:
  description: Per host, the release the resumed run's changes left it running (checked before resuming).
  returned: O(state=start) with O(resume)
  type: dict
  sample: {app1: "2.4.1"}
state:
  description: The run's state folded from its evidence journal.
  returned: O(state=query)
  type: dict
  contains:
    run_id: {description: The run's id (from C(run.start))., type: str, returned: always}
    environment: {description: The environment., type: str, returned: always}
    version: {description: The version deployed (from C(run.start) details)., type: str, returned: always}
    started: {description: When the run started (UTC ISO-8601)., type: str, returned: always}
    check_mode: {description: Whether the run is in check mode., type: bool, returned: always}
    phases: {description: "Each phase's outcome by phase name (pass, fail, skip).", type: dict, returned: always}
    failed:
      description: Whether the run failed (a phase failed, the run was interrupted, or the gate said HOLD or ROLLBACK).
      type: bool
      returned: always
    failed_phase: {description: The phase that failed first; null when none did., type: str, returned: always}
    reason: {description: Why the run failed; null when it did not., type: str, returned: always}
    verdict: {description: "The gate's verdict (PROCEED, HOLD, ROLLBACK); null before the gate ran.", type: str, returned: always}
    changes: {description: "What the run changed, in order: C(id), C(seq), C(phase), C(host), C(undo), C(title).", type: list, elements: dict, returned: always}
    undone: {description: "Changes already undone by rollback, as C(<id>#<seq>).", type: list, elements: str, returned: always}
    rollback_status: {description: Outcome of the rollback phase; null when it did not run., type: str, returned: always}
    outcome: {description: "success, failed, rolled_back, rollback_failed or interrupted.", type: str, returned: always}
    interrupted: {description: Whether ansible-playbook stopped before the run ended (C(run.stopped))., type: bool, returned: always}
    completed: {description: The phases that passed before the last resume., type: list, elements: str, returned: always}
    resumed: {description: How many times the run was resumed., type: int, returned: always}
    ended: {description: Whether the run ended (C(run.end) or C(run.stopped)) since it last started or resumed., type: bool, returned: always}
    started_details: {description: The details of C(run.start)., type: dict, returned: always}
  sample:
    run_id: 20261123T064500Z-1a2b3c
    environment: production
    version: "2.4.1"
    started: "2026-11-23T06:45:00.123Z"
    check_mode: false
    phases: {preflight: pass, backup: pass, migrate: pass, rollout: pass, smoke: fail}
    failed: true
    failed_phase: smoke
    reason: "http://app1:3000/health: status 502, expected 200"
    verdict: null
    changes:
      - {id: rollout.change, seq: 31, phase: rollout, host: app1, title: Released 2.4.1, undo: {kind: app, previous: "2.4.0"}}
    undone: []
    rollback_status: null
    outcome: failed
pending_undo:
  description: The changes not yet undone, newest first (the order rollback undoes them in).
  returned: O(state=query)
  type: list
  elements: dict
  sample:
    - {id: rollout.change, seq: 31, phase: rollout, host: app1, title: Released 2.4.1, undo: {kind: app, previous: "2.4.0"}}
"""
