"""HTTP smoke checks: the pure judgement, the retry loop, and a real request."""
from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from ansible_collections.liftoff.release.plugins.plugin_utils.http_check import (
    Judgement,
    Response,
    check,
    fetch,
    judge,
)

BODY = json.dumps({"status": "ok", "app": {"version": "v2", "deps": [{"name": "db", "up": True}]}})


def ok(body: str = BODY, status: int | None = 200, latency: float = 12.5, error: str | None = None) -> Response:
    return Response(status=status, latency_ms=latency, body=body, error=error)


@pytest.mark.parametrize(("response", "kw", "failures"), [
    (ok(), {}, []),
    (ok(status=503), {}, ["status 503, expected 200"]),
    (ok(status=404), {"expect_status": [200, 204]}, ["status 404, expected 200 or 204"]),
    (ok(), {"body_contains": ['"ok"', "healthy"]}, ["body does not contain 'healthy'"]),
    (ok(), {"json_equals": {"status": "ok", "app.version": "v2", "app.deps.0.up": True}}, []),
    (ok(), {"json_equals": {"app.version": "v3"}}, ["JSON app.version is 'v2', expected 'v3'"]),
    (ok(), {"json_equals": {"app.deps.5.name": "db"}}, ["JSON app.deps.5.name is None, expected 'db'"]),
    (ok(), {"json_equals": {"status.deeper": "x"}}, ["JSON status.deeper is None, expected 'x'"]),
    (ok(body="<html>"), {"json_equals": {"status": "ok"}}, ["body is not JSON"]),
    (ok(latency=812.3), {"latency_max_ms": 500}, ["latency 812.3 ms over 500 ms"]),
    (ok(latency=500), {"latency_max_ms": 500}, []),
    (ok(status=500, body="boom", latency=900), {"body_contains": ["ok"], "latency_max_ms": 100},
     ["status 500, expected 200", "body does not contain 'ok'", "latency 900 ms over 100 ms"]),
    (ok(status=None, body="", error="URLError: [Errno 111] Connection refused"), {"latency_max_ms": 1},
     ["request failed: URLError: [Errno 111] Connection refused"]),
])
def test_judge(response: Response, kw: dict[str, Any], failures: list[str]) -> None:
    args: dict[str, Any] = {"expect_status": [200], "body_contains": [], "json_equals": {}, "latency_max_ms": None}
    args.update(kw)
    assert judge(response, **args) == failures


class FakeFetcher:
    def __init__(self, responses: list[Response]) -> None:
        self.responses = responses
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, url: str, **kw: Any) -> Response:
        self.calls.append((url, kw))
        return self.responses[min(len(self.calls), len(self.responses)) - 1]


@pytest.mark.parametrize(("responses", "retries", "passed", "attempts", "sleeps"), [
    ([ok()], 0, True, 1, []),
    ([ok(status=503)], 0, False, 1, []),
    ([ok(status=503), ok(status=502), ok()], 5, True, 3, [2.0, 2.0]),
    ([ok(status=503)], 2, False, 3, [2.0, 2.0]),
])
def test_check_retries(responses: list[Response], retries: int, passed: bool, attempts: int,
                       sleeps: list[float]) -> None:
    fetcher = FakeFetcher(responses)
    slept: list[float] = []
    judgement = check("http://app/health", retries=retries, delay=2.0, fetcher=fetcher, sleep=slept.append,
                      headers={"X-Probe": "1"}, timeout=3.0)
    assert (judgement.passed, judgement.attempts, slept) == (passed, attempts, sleeps)
    assert len(fetcher.calls) == attempts
    assert fetcher.calls[0] == ("http://app/health", {"method": "GET", "headers": {"X-Probe": "1"}, "timeout": 3.0})
    assert judgement.failures == ([] if passed else ["status 503, expected 200"])


def test_judgement_to_dict_truncates_body() -> None:
    data = Judgement(True, [], ok(body="x" * 2000), 1).to_dict()
    assert len(data["response"]["body"]) == 500 and data["attempts"] == 1


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/health":
            payload, status = BODY.encode(), 200
        else:
            payload, status = b'{"error": "kaput"}', 500
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_fetch_200_json(server: str) -> None:
    response = fetch(server + "/health")
    assert (response.status, response.error) == (200, None)
    assert json.loads(response.body)["app"]["version"] == "v2"
    assert response.headers["Content-Type"] == "application/json"
    assert response.latency_ms >= 0
    judgement = check(server + "/health", json_equals={"app.version": "v2"}, latency_max_ms=5000)
    assert judgement.passed and judgement.attempts == 1


def test_fetch_500_is_a_response(server: str) -> None:
    response = fetch(server + "/broken")
    assert (response.status, response.error, response.body) == (500, None, '{"error": "kaput"}')
    assert judge(response, [200], [], {}, None) == ["status 500, expected 200"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_fetch_connection_refused() -> None:
    response = fetch(f"http://127.0.0.1:{free_port()}/health", timeout=2)
    assert response.status is None and response.body == ""
    assert response.error is not None and "refused" in response.error.lower()
    assert judge(response, [200], [], {}, None) == [f"request failed: {response.error}"]


def test_fetch_garbage_reply_is_an_error() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def answer() -> None:
        conn, _unused = listener.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"this is not HTTP\r\n\r\n")

    thread = threading.Thread(target=answer, daemon=True)
    thread.start()
    try:
        response = fetch(f"http://127.0.0.1:{listener.getsockname()[1]}/", timeout=5)
    finally:
        thread.join(5)
        listener.close()
    assert response.status is None
    assert response.error is not None and response.error.startswith("BadStatusLine")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "not-a-url", "ftp://example.com/x"])
def test_fetch_refuses_non_http_urls(url: str) -> None:
    response = fetch(url)
    assert response.status is None and response.body == ""
    assert response.error == f"unsupported URL {url!r}: expected an http:// or https:// URL"
