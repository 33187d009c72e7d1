# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation for the liftoff.release.secret_cache action plugin (no module code runs)."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: secret_cache
short_description: Template the host's secret variables once, so masking them does not run their lookups again
version_added: 1.2.0
description:
  - An B(action plugin that runs on the controller only); this file only documents it.
  - Every evidence item, check and record masks the values of the variables named like a secret
    (C(*password*), C(*token*), C(*secret*), C(*api_key*), ...) and of C(liftoff_secret_values).
    To know those values it templates the variables - and a variable defined by a lookup
    (C(amazon.aws.secretsmanager_secret), C(community.hashi_vault.hashi_vault), C(ansible.builtin.pipe))
    runs that lookup each time, once per variable for every item the run writes.
  - This action templates them once, when the host joins the run; its result is registered as
    C(__liftoff_secret_cache). Later masking takes a variable's value from it as long as the variable
    is still defined the same way (the fingerprint of its definition, not of its value, is kept with
    it); a variable defined or changed since (a C(set_fact), a loop variable, a play's C(vars)) is
    templated when it is needed, as before.
  - The result is meant to be registered, not returned as a fact - facts go to the fact cache, which
    ansible-runner and AWX write to disk - so it lives in the memory of the C(ansible-playbook) process
    only. The task runs with C(no_log), and the stdout callback C(liftoff.release.redact) masks the
    values anyway.
  - A secret rotated by its store during the run is masked with the value it had when the host
    joined; list a value that must be masked from a later moment in C(liftoff_secret_values) in a
    C(set_fact), which is templated afresh.
author:
  - liftoff.release contributors (@liftoff-release)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - liftoff.release.controller_action
attributes:
  check_mode:
    support: full
    details: Reads and templates only; the same in check mode.
options: {}
seealso:
  - module: liftoff.release.evidence
  - module: liftoff.release.run
"""

EXAMPLES = r"""
- name: Read the secret variables once for this host's part of the run
  liftoff.release.secret_cache:
  register: __liftoff_secret_cache
  no_log: true
  when: __liftoff_secret_cache is not defined
"""

RETURN = r"""
secrets:
  description:
    - Per secret variable, the fingerprint of its definition (C(source)) and its templated value (C(value)).
    - The values themselves; the task must run with C(no_log) (the action marks its result C(no_log) too).
  returned: success
  type: dict
  sample: {liftoff_db_password: {source: 9f2c..., value: "********"}}
variables:
  description: The names of the variables whose values were kept (never the values).
  returned: success
  type: list
  elements: str
  sample: [liftoff_db_password, pfa_gemini_api_key]
"""
