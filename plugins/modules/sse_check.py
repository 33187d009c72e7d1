# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Documentation for the liftoff.release.sse_check action plugin (no module code runs)."""
from __future__ import annotations

DOCUMENTATION = r"""
---
module: sse_check
short_description: Open a server-sent-events stream from the controller and read its first events within a deadline
version_added: 1.0.0
description:
  - An B(action plugin that runs on the controller only); this file only documents it.
  - Seed 001's "SSE Stream Test" as a check - opens O(url) with C(Accept text/event-stream),
    expects a status in O(status) and the content type C(text/event-stream), then reads until
    O(events) events arrived, the server closed the stream, or O(deadline) seconds passed since
    the request started, whichever comes first.
  - Events are parsed by the rules of the WHATWG event-stream format (CRLF, LF or CR line ends
    in any chunking, comments, multi-line data, C(event), C(id), C(retry)); an event is counted
    when its blank line arrives.
  - The result and the evidence say how many events were read, the time to the first event in
    milliseconds, the event names in the order they first appeared, and why reading stopped
    (C(count), C(deadline), C(eof), C(error)). Event data is never recorded.
  - Fails with one sentence per miss - no response, a status not in O(status), another content
    type, fewer than O(events) events by the deadline or before the server closed the stream,
    an event name not in O(event_names), a first event later than O(first_event_max_ms).
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
      - Reads the stream in check mode too (a GET that changes nothing); never reports a change.
options:
  url:
    description:
      - The stream's URL (C(http://) or C(https://)). A C(token=) query value is masked wherever
        the URL is shown or recorded. Not sent through a proxy.
    type: str
    required: true
  headers:
    description: Request headers. Never logged; their values are masked wherever they would show.
    type: dict
    default: {}
  events:
    description: How many events to read. V(0) only checks that the stream opens.
    type: int
    default: 1
  deadline:
    description: Seconds from the start of the request by which O(events) events must have arrived.
    type: float
    default: 5.0
  status:
    description: HTTP status codes that pass.
    type: list
    elements: int
    default: [200]
  event_names:
    description: Event names the first O(events) events may have (C(message) when a stream names none); any when empty.
    type: list
    elements: str
    default: []
  first_event_max_ms:
    description: Highest passing time to the first event, in milliseconds. No limit when unset.
    type: float
  evidence:
    description:
      - Also record the check in the run's evidence journal (target - the events and the deadline;
        actual - the events read, their names, the time to the first one and why reading stopped).
        Needs a started run (the C(run_dir) variable).
    type: dict
    suboptions:
      id:
        description: Evidence id, for example C(smoke.events).
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
  - module: liftoff.release.http_check
  - module: liftoff.release.token_flow
"""

EXAMPLES = r"""
- name: The event stream sends three ticks within two seconds, the first within 500 ms
  liftoff.release.sse_check:
    url: "http://{{ inventory_hostname }}:3000/api/events"
    headers:
      Authorization: "Bearer {{ vault_principal_token }}"
    events: 3
    deadline: 2
    event_names: [tick]
    first_event_max_ms: 500
    evidence:
      id: smoke.events
      phase: smoke
      title: "Smoke: SSE stream"
"""

RETURN = r"""
passed:
  description: Whether the stream met every expectation (the task fails when not).
  returned: always
  type: bool
  sample: true
status:
  description: HTTP status code; null when no response came.
  returned: always
  type: int
  sample: 200
content_type:
  description: The response's Content-Type.
  returned: always
  type: str
  sample: text/event-stream
events:
  description: Events read (at most O(events)).
  returned: always
  type: int
  sample: 3
event_names:
  description: The names of the events read, in the order they first appeared.
  returned: always
  type: list
  elements: str
  sample: [tick]
first_event_ms:
  description: Milliseconds from the start of the request to the first event; null when none came.
  returned: always
  type: float
  sample: 104.2
elapsed_ms:
  description: Milliseconds from the start of the request until reading stopped.
  returned: always
  type: float
  sample: 305.9
stopped:
  description: Why reading stopped - C(count), C(deadline), C(eof) (the server closed the stream) or C(error).
  returned: always
  type: str
  sample: count
failures:
  description: One sentence per expectation missed; empty when it passed.
  returned: always
  type: list
  elements: str
  sample: ["1 of 3 events within the 2000 ms deadline"]
msg:
  description: The URL and every failure.
  returned: failure
  type: str
  sample: "http://app1:3000/api/events: content type 'application/json', expected text/event-stream"
"""
