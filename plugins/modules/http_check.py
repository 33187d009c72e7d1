# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation for the liftoff.release.http_check action plugin (no module code runs)."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: http_check
short_description: HTTP smoke check from the controller, latency in milliseconds, recorded as evidence
version_added: 1.0.0
description:
  - An B(action plugin that runs on the controller only); this file only documents it.
  - Requests O(url) from the controller and judges the response - the status is one of
    O(status), the body contains every O(body_contains) string, the JSON body has the
    O(json) values and meets every O(json_checks) JMESPath assertion, the response headers meet
    O(header_checks), the latency is at most O(latency_max_ms). The task fails with one
    sentence per miss, so a smoke check says what was wrong, not just that it was.
  - The latency is measured in B(milliseconds) (two decimals), unlike
    M(ansible.builtin.uri), whose C(elapsed) is whole seconds - too coarse to hold a
    health endpoint to a latency budget.
  - A failed attempt is retried O(retries) times, O(delay) seconds apart; the last
    attempt is the one judged. A connection error is a failed attempt, not a crash.
  - With O(evidence), the result is also appended to the run's evidence journal as one
    item (C(pass) or C(fail); C(target) the expected status and latency, C(actual) the
    status and latency seen; C(details) the URL, failures, attempts, latency and status
    code), so the record shows the check either way.
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
      - Sends the request in check mode too (and records O(evidence)); a check only reads,
        unless O(method) is one that changes something on the server. Never reports a change.
options:
  url:
    description: The URL to request; only C(http://) and C(https://) URLs are requested.
    type: str
    required: true
  method:
    description: HTTP method.
    type: str
    default: GET
  headers:
    description:
      - Request headers. Never logged (they may carry credentials); their values are also masked
        wherever they would show (a response body that echoes them, a failure message).
    type: dict
    default: {}
  status:
    description: HTTP status codes that pass.
    type: list
    elements: int
    default: [200]
  body_contains:
    description: Strings the response body must all contain.
    type: list
    elements: str
    default: []
  json:
    description:
      - Values the JSON response body must have, by dotted path (C(checks.db), C(items.0.id))
        to the expected value. A body that is not JSON fails the check.
    type: dict
    default: {}
  json_checks:
    description:
      - "JMESPath assertions on the JSON response body, each C({jmespath: <expression>, <test>: <value>})
        with one or more tests, all of which must hold. A body that is not JSON fails the check."
      - "C(equals) / C(not_equals) - the value is (is not) exactly this (C(1) equals C(1.0));
        C(min) / C(max) - a number at least / at most this (count with C(length(items)));
        C(contains) - a string containing this substring, or a list with this element;
        C(matches) - the value as a string matches this regular expression;
        C(exists) - the expression finds something (C(true)) or nothing (C(false))."
      - A value found under a secret-looking expression (C(token), C(password)...) is never shown in a failure.
    type: list
    elements: dict
    default: []
  header_checks:
    description:
      - "Response header assertions, each C({name: <header>, <test>: <value>}) with C(equals),
        C(contains) (case-insensitive), C(matches) (regular expression) or C(present) (true / false).
        Header names are case-insensitive."
    type: list
    elements: dict
    default: []
  latency_max_ms:
    description: Highest passing latency in milliseconds. No limit when unset.
    type: float
  timeout:
    description: Seconds allowed per request.
    type: float
    default: 5.0
  retries:
    description: How many more times to try after a failed attempt.
    type: int
    default: 0
  delay:
    description: Seconds between attempts.
    type: float
    default: 1.0
  evidence:
    description:
      - Also record the check in the run's evidence journal, as M(liftoff.release.evidence)
        would. Needs a started run (the C(run_dir) variable).
    type: dict
    suboptions:
      id:
        description: Evidence id, for example C(smoke.health).
        type: str
        required: true
      phase:
        description: The phase the check belongs to.
        type: str
        required: true
        choices: [run, preflight, backup, migrate, rollout, cdn, smoke, verify, rollback, record]
      title:
        description: What is checked, in words.
        type: str
        required: true
notes:
  - Reads at most 64 KiB of the body; RV(body) returns the first 500 characters.
  - The request honours the controller's proxy environment variables.
seealso:
  - module: ansible.builtin.uri
  - module: liftoff.release.evidence
"""

EXAMPLES = r"""
- name: Smoke-check the health endpoint and record it
  liftoff.release.http_check:
    url: "http://{{ inventory_hostname }}:3000/health"
    status: [200]
    json:
      status: ok
      checks.db: ok
    json_checks:
      - {jmespath: "checks.db", equals: ok}
      - {jmespath: "length(workers)", min: 2}
    header_checks:
      - {name: Content-Type, contains: application/json}
    latency_max_ms: 250
    retries: 5
    delay: 2
    evidence:
      id: smoke.health
      phase: smoke
      title: "Smoke: health endpoint"

- name: The home page renders the new version
  liftoff.release.http_check:
    url: https://shop.example.com/
    body_contains:
      - "<title>Shop</title>"
      - "{{ liftoff_version }}"
    headers:
      Authorization: "Bearer {{ smoke_token }}"
  register: home
  no_log: true

- name: Show the latency
  ansible.builtin.debug:
    msg: "home page answered {{ home.status }} in {{ home.latency_ms }} ms"
"""

RETURN = r"""
passed:
  description: Whether the last attempt met every expectation (the task fails when not).
  returned: always
  type: bool
  sample: true
status:
  description: HTTP status code of the last attempt; null when no response came.
  returned: always
  type: int
  sample: 200
latency_ms:
  description: Latency of the last attempt in milliseconds (two decimals).
  returned: always
  type: float
  sample: 12.34
failures:
  description: One sentence per expectation the last attempt missed; empty when it passed.
  returned: always
  type: list
  elements: str
  sample: ["status 502, expected 200", "latency 812.5 ms over 250.0 ms"]
attempts:
  description: Attempts made.
  returned: always
  type: int
  sample: 1
body:
  description:
    - The first 500 characters of the last response body, with JSON values under secret-named keys
      (C(token), C(password)...) and known secrets masked.
  returned: always
  type: str
  sample: '{"status": "ok", "version": "2.4.1"}'
msg:
  description: The URL and every failure.
  returned: failure
  type: str
  sample: "http://app1:3000/health: status 502, expected 200"
"""
