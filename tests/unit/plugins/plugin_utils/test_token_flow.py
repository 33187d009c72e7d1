"""The ephemeral-token flow's steps and judgement, with the requests and the clock passed in."""
from __future__ import annotations

import json
from typing import Any

import pytest

from ansible_collections.liftoff.release.plugins.plugin_utils.token_flow import (
    FlowSpec,
    read_issue,
    run_flow,
    summary,
    target,
    with_token,
)

PRINCIPAL = "principal-0123456789"
EPHEMERAL = "e" * 60


class FakeServer:
    """Issues EPHEMERAL with a TTL; accepts it until ``accept_until`` on the fake clock."""

    def __init__(self, ttl: float = 2.0, accept_until: float = 2.0, issue_status: int = 200,
                 body: dict[str, Any] | None = None) -> None:
        self.now = 100.0
        self.ttl, self.accept_until, self.issue_status = ttl, accept_until, issue_status
        self.body = body if body is not None else {"token": EPHEMERAL, "expires_in": ttl}
        self.calls: list[tuple[str, str, dict[str, str]]] = []
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def fetch(self, url: str, *, method: str, headers: dict[str, str], timeout: float) -> tuple[Any, ...]:
        self.calls.append((method, url, headers))
        return self.issue_status, 1.5, json.dumps(self.body), None

    def probe(self, url: str, *, headers: dict[str, str], timeout: float) -> tuple[Any, ...]:
        self.calls.append(("GET", url, headers))
        given = headers.get("Authorization", "").removeprefix("Bearer ") or url.partition("token=")[2]
        if given == PRINCIPAL:
            return 200, 1.0, "text/event-stream", None
        if given == EPHEMERAL:
            return (200 if self.now - 100.0 < self.accept_until else 403), 1.0, "text/event-stream", None
        return 401, 1.0, "application/json", None


def spec(**kw: Any) -> FlowSpec:
    return FlowSpec(issue_url="http://app/api/token", use_url="http://app/api/events?x=1", principal_token=PRINCIPAL,
                    **kw)


def run(server: FakeServer, **kw: Any) -> Any:
    return run_flow(spec(**kw), fetch=server.fetch, probe=server.probe, clock=server.clock, sleep=server.sleep)


def test_the_whole_flow_passes() -> None:
    server = FakeServer()
    flow = run(server)
    assert flow.passed and flow.failures == []
    assert [(s.step, s.status, s.passed) for s in flow.steps] == [
        ("issue", 200, True), ("use", 200, True), ("expired", 403, True), ("principal", 200, True)]
    assert flow.token == EPHEMERAL and flow.ttl == 2.0
    assert server.slept == [3.0] and flow.waited_s == 3.0  # TTL + 1 s grace, from the issue request
    assert server.calls[0] == ("POST", "http://app/api/token", {"Authorization": f"Bearer {PRINCIPAL}"})
    assert server.calls[1] == ("GET", f"http://app/api/events?x=1&token={EPHEMERAL}", {})
    assert server.calls[3] == ("GET", "http://app/api/events?x=1", {"Authorization": f"Bearer {PRINCIPAL}"})
    assert summary(flow) == "issue 200, use 200, expired 403, principal 200, TTL 2 s"
    assert EPHEMERAL not in summary(flow) and PRINCIPAL not in repr([s.to_dict() for s in flow.steps])


def test_a_token_still_accepted_after_its_ttl_fails() -> None:
    flow = run(FakeServer(ttl=2.0, accept_until=10.0))
    assert not flow.passed
    assert flow.failures == ["using the token after its TTL: still accepted (status 200) 3.0 s after issue, TTL 2 s"]
    assert summary(flow) == "issue 200, use 200, expired 200 (fail), principal 200, TTL 2 s"


def test_a_refused_principal_fails_the_fallback() -> None:
    server = FakeServer()
    flow = run_flow(spec(), fetch=server.fetch, clock=server.clock, sleep=server.sleep,
                    probe=lambda url, **kw: (401, 1.0, "", None) if "token=" not in url else server.probe(url, **kw))
    assert flow.failures == ["the principal token fallback: status 401, expected 200"]


@pytest.mark.parametrize(("server", "failure"), [
    (FakeServer(issue_status=401), "issuing a token with the principal: status 401, expected 200 or 201"),
    (FakeServer(body={"nothing": 1}), "issuing a token with the principal: no token at 'token' in the issue response"),
])
def test_no_token_stops_before_use(server: FakeServer, failure: str) -> None:
    flow = run(server)
    assert [s.step for s in flow.steps] == ["issue", "principal"]
    assert flow.failures == [failure] and server.slept == []


def test_a_ttl_longer_than_the_wait_bound_fails_without_waiting() -> None:
    server = FakeServer(ttl=3600, accept_until=3600)
    flow = run(server, expiry_wait_max=120)
    assert server.slept == []
    assert flow.failures == ["using the token after its TTL: TTL 3600 s (+1 s grace) is longer than "
                             "expiry_wait_max 120 s; not waited"]


def test_expiry_and_principal_can_be_left_out_and_the_token_sent_in_a_header() -> None:
    server = FakeServer()
    flow = run(server, check_expiry=False, check_principal=False, send_as="header")
    assert [s.step for s in flow.steps] == ["issue", "use"] and flow.passed
    assert server.calls[1] == ("GET", "http://app/api/events?x=1", {"Authorization": f"Bearer {EPHEMERAL}"})
    assert target(spec(check_expiry=False, check_principal=False)) == "issue 200/201, use 200"
    assert target(spec()) == "issue 200/201, use 200, after TTL 403, principal 200"


@pytest.mark.parametrize(("body", "kw", "expected"), [
    ('{"sse_token": "abc", "ttl": 60}', {"ephemeral_path": "sse_token", "ttl_path": "ttl"}, ("abc", 60.0, "")),
    ('{"token": "abc"}', {"ttl": 5}, ("abc", 5.0, "")),
    ('{"token": "abc"}', {}, ("abc", None, "no TTL: the issue response has no number at 'expires_in' and ttl is not set")),
    ('{"token": "abc", "expires_in": true}', {}, ("abc", None, "no TTL: the issue response has no number at "
                                                               "'expires_in' and ttl is not set")),
    ("<html>", {}, (None, None, "the issue response is not JSON")),
    ('{"token": ""}', {}, (None, None, "no token at 'token' in the issue response")),
])
def test_read_issue(body: str, kw: dict[str, Any], expected: tuple[Any, ...]) -> None:
    assert read_issue(body, spec(**kw)) == expected


def test_with_token() -> None:
    assert with_token(spec(query_param="sse"), "t0k") == ("http://app/api/events?x=1&sse=t0k", {})
    assert with_token(spec(send_as="header", use_header="X-VX11-Token", use_prefix=""), "t0k") == (
        "http://app/api/events?x=1", {"X-VX11-Token": "t0k"})
