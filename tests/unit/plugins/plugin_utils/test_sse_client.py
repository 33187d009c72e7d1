"""Reading an event stream from a real local server: the count, the deadline, an early end, a wrong type."""
from __future__ import annotations

import http.server
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from ansible_collections.liftoff.release.plugins.plugin_utils.sse import Event
from ansible_collections.liftoff.release.plugins.plugin_utils.sse_client import probe, read_stream


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        query = {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}
        if self.path.startswith("/json"):
            body = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        if self.headers.get("Authorization") != "Bearer s3cret-header":
            self.send_response(401)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b": hello\n\n")
        self.wfile.flush()
        self.close_connection = True
        try:
            for n in range(int(query.get("count", "3"))):
                time.sleep(float(query.get("gap", "0.05")))
                # split an event across writes, with CRLF line ends
                self.wfile.write(f"event: tick\r\nid: {n}\r\n".encode())
                self.wfile.flush()
                self.wfile.write(f"data: {n}\r\n\r\n".encode())
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client read what it wanted and left

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


AUTH = {"Authorization": "Bearer s3cret-header"}


def test_reads_the_first_events(server: str) -> None:
    result = read_stream(server + "/s?count=5&gap=0.05", events=2, deadline=5, headers=AUTH)
    assert (result.status, result.stopped, result.error) == (200, "count", None)
    assert result.events == [Event("tick", "0", "0"), Event("tick", "1", "1")]
    assert result.first_event_ms is not None and 40 <= result.first_event_ms <= result.elapsed_ms


def test_the_server_ends_the_stream_early(server: str) -> None:
    result = read_stream(server + "/s?count=1&gap=0", events=3, deadline=5, headers=AUTH)
    assert (result.stopped, len(result.events)) == ("eof", 1)


def test_the_deadline_passes(server: str) -> None:
    started = time.monotonic()
    result = read_stream(server + "/s?count=3&gap=1.0", events=3, deadline=0.4, headers=AUTH)
    assert result.stopped == "deadline" and result.events == [] and result.first_event_ms is None
    assert 0.35 <= time.monotonic() - started < 1.0


def test_zero_events_only_opens_the_stream(server: str) -> None:
    result = read_stream(server + "/s?count=3&gap=1.0", events=0, deadline=2, headers=AUTH)
    assert (result.status, result.stopped, result.events) == (200, "count", [])


def test_unauthorised_and_wrong_content_type_stop_at_the_headers(server: str) -> None:
    denied = read_stream(server + "/s", events=1, deadline=2)
    assert (denied.status, denied.stopped, denied.events) == (401, "error", [])
    json_reply = read_stream(server + "/json", events=1, deadline=2)
    assert (json_reply.status, json_reply.content_type, json_reply.stopped) == (200, "application/json", "error")


def test_connection_refused_and_bad_urls() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    refused = read_stream(f"http://127.0.0.1:{port}/s", events=1, deadline=2)
    assert refused.status is None and refused.error and "refused" in refused.error.lower()
    bad = read_stream("file:///etc/passwd", events=1, deadline=2)
    assert bad.status is None and bad.error == "unsupported URL 'file:///etc/passwd': expected an http:// or https:// URL"


def test_probe_reads_the_status_of_a_stream_without_waiting_for_its_end(server: str) -> None:
    started = time.monotonic()
    status, latency, content_type, error = probe(server + "/s?count=3&gap=2", headers=AUTH, timeout=5)
    assert (status, content_type, error) == (200, "text/event-stream", None)
    assert latency >= 0 and time.monotonic() - started < 1.5
    assert probe(server + "/s", timeout=5)[0] == 401
