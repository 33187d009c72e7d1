# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation for the liftoff.release.token_flow action plugin (no module code runs)."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: token_flow
short_description: The ephemeral-token flow from the controller - issue, use, expiry after the TTL, principal fallback
version_added: 1.0.0
description:
  - An B(action plugin that runs on the controller only); this file only documents it.
  - Seeds 000/001's token checks as one check, in four steps
  - C(issue) - O(issue_method) O(issue_url) with the principal token (O(principal_header),
    O(principal_prefix)); a status in O(issue_status); the ephemeral token is read from the JSON
    response at O(ephemeral_path) and its TTL at O(ttl_path) (or O(ttl)).
  - C(use) - O(use_url) with the ephemeral token, as a query parameter O(query_param) or a header
    O(use_header) (O(send_as)); a status in O(use_status). Only the status is read, so O(use_url)
    may be an event stream.
  - C(expired) - with O(check_expiry), waits until the TTL plus O(expiry_grace) has passed since
    the token was requested, then uses it again; a status in O(expired_status) (403) passes, a
    token still accepted fails. A TTL longer than O(expiry_wait_max) fails rather than waiting.
  - C(principal) - with O(check_principal), O(use_url) with the principal token still works
    (the fallback); a status in O(principal_status).
  - B(Token values never appear) in the result, the failure message or the evidence - the
    principal (no_log) and the ephemeral token are masked, and the use URL is recorded without the token.
author:
  - liftoff.release contributors (@liftoff-release)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.flow
  - liftoff.release.controller_action
attributes:
  check_mode:
    support: none
    details:
      - Sends nothing in check mode (issuing a token is a POST); the task is skipped and the smoke
        role records the plan instead.
options:
  issue_url:
    description: Where a token is issued.
    type: str
    required: true
  use_url:
    description: An endpoint that accepts the principal or an ephemeral token (a protected API or the event stream).
    type: str
    required: true
  principal_token:
    description: The long-lived principal token. Never logged.
    type: str
    required: true
  issue_method:
    description: HTTP method of the issue request.
    type: str
    default: POST
  principal_header:
    description: Header that carries the principal token (seed 001 uses C(X-VX11-Token)).
    type: str
    default: Authorization
  principal_prefix:
    description: Text before the principal token in O(principal_header); V("") for a bare token.
    type: str
    default: "Bearer "
  ephemeral_path:
    description: JMESPath to the ephemeral token in the issue response (seed 001 - C(sse_token)).
    type: str
    default: token
  ttl:
    description: The token's TTL in seconds; when unset, read from the issue response at O(ttl_path).
    type: float
  ttl_path:
    description: JMESPath to the TTL in seconds in the issue response.
    type: str
    default: expires_in
  send_as:
    description: How the ephemeral token is sent - as the query parameter O(query_param) or the header O(use_header).
    type: str
    default: query
    choices: [query, header]
  query_param:
    description: Query parameter that carries the ephemeral token.
    type: str
    default: token
  use_header:
    description: Header that carries the ephemeral token.
    type: str
    default: Authorization
  use_prefix:
    description: Text before the ephemeral token in O(use_header).
    type: str
    default: "Bearer "
  issue_status:
    description: Statuses of a successful issue.
    type: list
    elements: int
    default: [200, 201]
  use_status:
    description: Statuses of a successful use.
    type: list
    elements: int
    default: [200]
  expired_status:
    description: Statuses that show the expired token was refused.
    type: list
    elements: int
    default: [403]
  principal_status:
    description: Statuses of a successful use of the principal token.
    type: list
    elements: int
    default: [200]
  check_expiry:
    description: Wait out the TTL and check the token is refused.
    type: bool
    default: true
  expiry_grace:
    description: Seconds past the TTL before the expired token is tried (clock skew, rounding).
    type: float
    default: 1.0
  expiry_wait_max:
    description: Longest wait for the TTL to pass, in seconds; a longer TTL fails the check.
    type: float
    default: 120.0
  check_principal:
    description: Check that the principal token is still accepted on O(use_url).
    type: bool
    default: true
  timeout:
    description: Seconds allowed per request.
    type: float
    default: 5.0
  evidence:
    description:
      - Also record the flow in the run's evidence journal (target - the expected status of each
        step; actual - each step's status and the TTL; details - every step with its latency).
        Needs a started run (the C(run_dir) variable).
    type: dict
    suboptions:
      id:
        description: Evidence id, for example C(smoke.tokens).
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
seealso:
  - module: liftoff.release.sse_check
  - module: liftoff.release.http_check
"""

EXAMPLES = r"""
- name: Seed 001 - an SSE token from the principal, used on the stream, refused after 60 s, principal still works
  liftoff.release.token_flow:
    issue_url: "https://api.example.com/operator/api/events/sse-token"
    use_url: "https://api.example.com/operator/api/events/stream"
    principal_token: "{{ vault_principal_token }}"
    principal_header: X-VX11-Token
    principal_prefix: ""
    ephemeral_path: sse_token
    ttl: 60
    evidence:
      id: smoke.sse_token
      phase: smoke
      title: "Smoke: ephemeral SSE token"
"""

RETURN = r"""
passed:
  description: Whether every step passed (the task fails when not).
  returned: always
  type: bool
  sample: true
ttl:
  description: The TTL in seconds the flow used; null when none was found.
  returned: always
  type: float
  sample: 60.0
waited_s:
  description: Seconds waited for the TTL to pass; null when the expiry was not checked.
  returned: always
  type: float
  sample: 58.7
steps:
  description: Each step with its expected statuses, status, latency in ms, whether it passed and a note.
  returned: always
  type: list
  elements: dict
  sample: [{step: issue, expected: [200, 201], status: 200, latency_ms: 3.1, passed: true, note: ""}]
failures:
  description: One sentence per failed step; empty when all passed.
  returned: always
  type: list
  elements: str
  sample: ["using the token after its TTL: still accepted (status 200) 3.0 s after issue, TTL 2 s"]
msg:
  description: Every failure.
  returned: failure
  type: str
  sample: "token flow: using the token after its TTL: still accepted (status 200) 3.0 s after issue, TTL 2 s"
"""
