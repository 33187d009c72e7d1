# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""The ephemeral-token flow of seeds 000/001: issue with the principal, use, expire after the TTL, fall back.

The steps and their judgement are here, with the requests and the clock passed in, so the logic
is tested without a network. Token values never leave this module except as ``Flow.token``, which
the caller adds to the values it masks.
"""
from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

try:
    import jmespath
    from jmespath.exceptions import JMESPathError
except ImportError:  # read_issue says so instead of failing the import
    HAS_JMESPATH = False
else:
    HAS_JMESPATH = True

Fetch = Callable[..., tuple[int | None, float, str, str | None]]  # (status, ms, body or content type, error)


@dataclass
class FlowSpec:
    issue_url: str
    use_url: str
    principal_token: str
    issue_method: str = "POST"
    principal_header: str = "Authorization"
    principal_prefix: str = "Bearer "
    ephemeral_path: str = "token"
    ttl: float | None = None
    ttl_path: str = "expires_in"
    send_as: str = "query"  # query | header
    query_param: str = "token"
    use_header: str = "Authorization"
    use_prefix: str = "Bearer "
    issue_status: list[int] = field(default_factory=lambda: [200, 201])
    use_status: list[int] = field(default_factory=lambda: [200])
    expired_status: list[int] = field(default_factory=lambda: [403])
    principal_status: list[int] = field(default_factory=lambda: [200])
    check_expiry: bool = True
    expiry_grace: float = 1.0
    expiry_wait_max: float = 120.0
    check_principal: bool = True
    timeout: float = 5.0


@dataclass
class Step:
    step: str  # issue | use | expired | principal
    expected: list[int]
    status: int | None = None
    latency_ms: float | None = None
    passed: bool = False
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "expected": self.expected, "status": self.status,
                "latency_ms": self.latency_ms, "passed": self.passed, "note": self.note}


@dataclass
class Flow:
    steps: list[Step]
    failures: list[str]
    token: str | None = None
    ttl: float | None = None
    waited_s: float | None = None

    @property
    def passed(self) -> bool:
        return not self.failures


def with_token(spec: FlowSpec, token: str) -> tuple[str, dict[str, str]]:
    """The use URL and headers that carry ``token`` as the spec says."""
    if spec.send_as == "header":
        return spec.use_url, {spec.use_header: spec.use_prefix + token}
    parts = urllib.parse.urlsplit(spec.use_url)
    query = [*urllib.parse.parse_qsl(parts.query, keep_blank_values=True), (spec.query_param, token)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query))), {}


def read_issue(body: str, spec: FlowSpec) -> tuple[str | None, float | None, str]:
    """Token and TTL from the issue response body; the third value says what was wrong, if anything."""
    try:
        document = json.loads(body)
    except ValueError:
        return None, spec.ttl, "the issue response is not JSON"
    if not HAS_JMESPATH:
        return None, None, "reading the issue response needs the Python package jmespath on the controller"
    try:
        token = jmespath.search(spec.ephemeral_path, document)
        ttl = spec.ttl if spec.ttl is not None else jmespath.search(spec.ttl_path, document)
    except JMESPathError as exc:
        return None, None, f"JMESPath: {exc}"
    if not isinstance(token, str) or not token:
        return None, None, f"no token at {spec.ephemeral_path!r} in the issue response"
    if isinstance(ttl, bool) or not isinstance(ttl, (int, float)) or ttl < 0:
        return token, None, f"no TTL: the issue response has no number at {spec.ttl_path!r} and ttl is not set"
    return token, float(ttl), ""


def _judge(step: Step, reply: tuple[int | None, float, str, str | None]) -> Step:
    status, latency, _unused, error = reply
    step.status, step.latency_ms = status, latency
    step.passed = error is None and status in step.expected
    if error:
        step.note = f"request failed: {error}"
    elif not step.passed:
        step.note = f"status {status}, expected {' or '.join(map(str, step.expected))}"
    return step


_WHAT = {"issue": "issuing a token with the principal", "use": "using the ephemeral token",
         "expired": "using the token after its TTL", "principal": "the principal token fallback"}


def run_flow(spec: FlowSpec, *, fetch: Fetch, probe: Fetch,
             clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> Flow:
    """Issue, use, wait out the TTL and use again, then the principal; stop at the first failure that blocks."""
    flow = Flow([], [])
    principal = {spec.principal_header: spec.principal_prefix + spec.principal_token}
    issued_at = clock()
    reply = fetch(spec.issue_url, method=spec.issue_method, headers=principal, timeout=spec.timeout)
    issue = _judge(Step("issue", spec.issue_status), reply)
    flow.steps.append(issue)
    if issue.passed:
        flow.token, flow.ttl, problem = read_issue(reply[2], spec)
        if problem:
            issue.passed, issue.note = False, problem
    if issue.passed and flow.token:
        url, headers = with_token(spec, flow.token)
        flow.steps.append(_judge(Step("use", spec.use_status), probe(url, headers=headers, timeout=spec.timeout)))
        if spec.check_expiry and flow.ttl is not None:
            flow.steps.append(_expiry(spec, flow, issued_at, url, headers, probe, clock, sleep))
    if spec.check_principal:
        flow.steps.append(_judge(Step("principal", spec.principal_status),
                                 probe(spec.use_url, headers=principal, timeout=spec.timeout)))
    flow.failures = [f"{_WHAT[s.step]}: {s.note}" for s in flow.steps if not s.passed]
    return flow


def _expiry(spec: FlowSpec, flow: Flow, issued_at: float, url: str, headers: Mapping[str, str],
            probe: Fetch, clock: Callable[[], float], sleep: Callable[[float], None]) -> Step:
    step = Step("expired", spec.expired_status)
    ttl = flow.ttl or 0.0
    if ttl + spec.expiry_grace > spec.expiry_wait_max:
        step.note = (f"TTL {ttl:g} s (+{spec.expiry_grace:g} s grace) is longer than expiry_wait_max "
                     f"{spec.expiry_wait_max:g} s; not waited")
        return step
    wait = max(0.0, issued_at + ttl + spec.expiry_grace - clock())
    sleep(wait)
    flow.waited_s = round(wait, 3)
    _judge(step, probe(url, headers=headers, timeout=spec.timeout))
    if step.passed:
        step.note = f"refused {clock() - issued_at:.1f} s after issue (TTL {ttl:g} s)"
    elif step.status in spec.use_status:
        step.note = f"still accepted (status {step.status}) {clock() - issued_at:.1f} s after issue, TTL {ttl:g} s"
    return step


def summary(flow: Flow) -> str:
    """The evidence's actual: each step and its status, without any token."""
    parts = []
    for step in flow.steps:
        shown = step.status if step.status is not None else "no response"
        parts.append(f"{step.step} {shown}" + ("" if step.passed else " (fail)"))
    if flow.ttl is not None:
        parts.append(f"TTL {flow.ttl:g} s")
    return ", ".join(parts)


def target(spec: FlowSpec) -> str:
    parts = [f"issue {'/'.join(map(str, spec.issue_status))}", f"use {'/'.join(map(str, spec.use_status))}"]
    if spec.check_expiry:
        parts.append(f"after TTL {'/'.join(map(str, spec.expired_status))}")
    if spec.check_principal:
        parts.append(f"principal {'/'.join(map(str, spec.principal_status))}")
    return ", ".join(parts)
