# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation for the liftoff.release.record action plugin (no module code runs)."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: record
short_description: Render the deployment record (record.json, record.md, record.html) from the evidence journal
version_added: 1.0.0
description:
  - An B(action plugin that runs on the controller only); this file only documents it.
  - Reads the current run's evidence journal (C(evidence.jsonl) in the C(run_dir)
    directory set by M(liftoff.release.run); the task fails when no run was started in the
    play), folds it into the run's state and renders the deployment record into the
    same directory - C(record.json) (schema C(liftoff.release/record/v2), docs/record-schema.json) for machines
    and C(record.md), the filled-in checklist in the seed checklists' form (with the
    Deployment Metrics Summary, backup, migrations, CDN, approvals, rollback and sign-off), for people,
    and C(record.html), one self-contained page for a browser (inline CSS and SVG, nothing fetched) - the
    outcome and why, a timeline of the phases and their steps on one time axis, every gate's metric samples
    plotted against their thresholds with the breaching samples marked, and the evidence checklist per phase.
  - The record names the run, environment, version and previous version, operator,
    strategy, outcome (C(success), C(failed), C(rolled_back), C(rollback_failed), C(interrupted)), the
    failed phase and why, the gate's verdict, each phase with its status and timing, and
    every evidence item.
  - It is rendered for failed and rolled-back runs too, and can be rendered again at any
    time; each file is replaced atomically.
  - Secrets are masked in every file, as in the journal.
author:
  - liftoff.release contributors (@liftoff-release)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - liftoff.release.controller_action
attributes:
  check_mode:
    support: full
    details: Writes the record in check mode too, so a check-mode run leaves its plan on record. Never reports a change.
options:
  formats:
    description: Which files to write - V(json) for C(record.json), V(markdown) for C(record.md), V(html) for C(record.html).
    type: list
    elements: str
    choices: [json, markdown, html]
    default: [json, markdown, html]
  targets:
    description:
      - The targets of the Deployment Metrics Summary; each one left out keeps seed 003's.
    type: dict
    default: {}
    suboptions:
      max_duration_s:
        description: Total deployment time must stay under this many seconds (seed 003 - 60 min).
        type: float
      max_migration_s:
        description: Database migration time must stay under this many seconds (seed 003 - 5 min).
        type: float
      min_smoke_success_pct:
        description: Smoke test success rate must reach this percentage (seed 003 - 100).
        type: float
      max_phase_s:
        description:
          - Time limits of phases in seconds by phase name, such as C(migrate) 300 and C(rollout) 600 - seed 003's time-boxed steps (Step 2 Database
            Migration, 5 minutes). Each phase named gets a row "Phase <name> time" in the summary; a phase that did
            not run is n/a there.
        type: dict
seealso:
  - module: liftoff.release.run
  - module: liftoff.release.evidence
"""

EXAMPLES = r"""
- name: Write the deployment record
  liftoff.release.record:
  run_once: true
  register: deploy_record

- name: Fail the command when the run did not succeed
  ansible.builtin.fail:
    msg: "{{ deploy_record.outcome }} in {{ deploy_record.failed_phase }}: {{ deploy_record.reason }} (see {{ deploy_record.paths.markdown }})"
  when: deploy_record.outcome != 'success'
  run_once: true

- name: Only the machine-readable record
  liftoff.release.record:
    formats: [json]
  run_once: true
"""

RETURN = r"""
paths:
  description: The files written, by format.
  returned: always
  type: dict
  sample:
    json: /var/lib/liftoff/records/production/20261123T064500Z-1a2b3c/record.json
    markdown: /var/lib/liftoff/records/production/20261123T064500Z-1a2b3c/record.md
    html: /var/lib/liftoff/records/production/20261123T064500Z-1a2b3c/record.html
outcome:
  description: The run's outcome - C(success), C(failed), C(rolled_back) or C(rollback_failed).
  returned: always
  type: str
  sample: rolled_back
reason:
  description: Why the run failed; null when it did not.
  returned: always
  type: str
  sample: "gate verdict ROLLBACK: error_ratio breached max 0.05 in 3 of 5 samples"
failed_phase:
  description: The phase that failed first; null when none did.
  returned: always
  type: str
  sample: verify
verdict:
  description: The gate's verdict (PROCEED, HOLD, ROLLBACK); null when the gate did not run.
  returned: always
  type: str
  sample: ROLLBACK
"""
