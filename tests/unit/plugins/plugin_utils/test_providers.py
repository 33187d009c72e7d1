"""The gate's providers against real local peers: an HTTP server, real commands."""
from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from ansible_collections.liftoff.release.plugins.plugin_utils.gate import parse_metric_spec
from ansible_collections.liftoff.release.plugins.plugin_utils.providers import (
    ProviderError,
    Providers,
    Reading,
    numbers,
    safe_url,
)

ROUTES: dict[str, tuple[int, str]] = {
    "/stats": (200, json.dumps({"queue": {"size": 42, "workers": [3, 9, 4]}, "ok": True, "name": "x"})),
    "/number": (200, "7.5"),
    "/broken": (500, "{}"),
    "/html": (200, "<html>"),
    "/api/v1/query": (200, json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"i": "1"}, "value": [1, "0.2"]}, {"metric": {"i": "2"}, "value": [1, "0.4"]}]}})),
}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(dict(self.headers))
            code, body = ROUTES.get(self.path.split("?")[0], (404, ""))
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def read(raw: dict[str, Any], **kw: Any) -> Reading:
    return Providers(timeout=2, **kw).read(parse_metric_spec({"name": "m", "max": 1000, **raw}, 0))


def test_json_with_jmespath(server: str) -> None:
    assert read({"provider": "json", "url": f"{server}/stats", "query": "queue.size"}).value == 42
    assert read({"provider": "json", "url": f"{server}/stats", "query": "queue.workers"}).value == 9  # worst: max
    assert read({"provider": "json", "url": f"{server}/stats", "query": "queue.workers",
                 "reduce": "sum"}).value == 16
    assert read({"provider": "json", "url": f"{server}/number"}).value == 7.5
    assert read({"provider": "json", "url": f"{server}/stats", "query": "missing"}).value is None


@pytest.mark.parametrize(("raw", "match"), [
    ({"url": "/broken"}, r"GET http://127\.0\.0\.1:\d+/broken: HTTP 500"),
    ({"url": "/html"}, r"not JSON \('<html>'\)"),
    ({"url": "/stats", "query": "ok"}, r"gave a boolean"),
    ({"url": "/stats", "query": "name"}, r"gave 'x', not a number"),
    ({"url": "/stats", "query": "queue"}, r"gave a dict, not a number"),
    ({"url": "/stats", "query": "[[["}, r"JMESPath '\[\[\['"),
])
def test_json_errors(server: str, raw: dict[str, Any], match: str) -> None:
    raw = {**raw, "url": server + raw["url"], "provider": "json"}
    with pytest.raises(ProviderError, match=match):
        read(raw)


def test_json_sends_headers_and_never_shows_userinfo(server: str) -> None:
    url = server.replace("http://", "http://admin:s3cret@") + "/broken"
    with pytest.raises(ProviderError) as info:
        read({"provider": "json", "url": url, "headers": {"X-Token": "t0ken"}})
    assert "s3cret" not in str(info.value) and "admin" not in str(info.value)
    assert safe_url("https://u:p@h:8443/x?token=t") == "https://h:8443/x"


def test_unreachable_is_a_provider_error() -> None:
    with pytest.raises(ProviderError, match=r"GET http://127\.0\.0\.1:9/x: "):
        read({"provider": "json", "url": "http://127.0.0.1:9/x"})


def test_command_output_is_a_number_or_json() -> None:
    py = sys.executable
    assert read({"provider": "command", "command": [py, "-c", "print(' 12 ')"]}).value == 12
    assert read({"provider": "command", "command": f"{py} -c 'print(3)'"}).value == 3
    assert read({"provider": "command", "command": [py, "-c", "import json; print(json.dumps({'q': [1, 5]}))"],
                 "query": "q", "reduce": "last"}).value == 5
    assert read({"provider": "command", "command": [py, "-c", "pass"]}).value is None


@pytest.mark.parametrize(("command", "match"), [
    (["/nonexistent/tool"], r"command /nonexistent/tool: No such file or directory"),
    ([sys.executable, "-c", "import sys; sys.stderr.write('boom\\n'); sys.exit(3)"], r"exited 3: boom"),
    ([sys.executable, "-c", "print('many')"], r"gave 'many', not a number"),
    ([sys.executable, "-c", "import time; time.sleep(5)"], r"no answer within 0\.5 s"),
])
def test_command_errors(command: list[str], match: str) -> None:
    spec = parse_metric_spec({"name": "m", "provider": "command", "command": command, "max": 1}, 0)
    with pytest.raises(ProviderError, match=match):
        Providers(timeout=0.5).read(spec)


def test_fact() -> None:
    assert read({"provider": "fact", "value": 3}).value == 3
    assert read({"provider": "fact", "value": None}).value is None


def test_prometheus_provider_reduces_series(server: str) -> None:
    assert read({"provider": "prometheus", "query": "x"}, prometheus_url=server).value == 0.4
    assert read({"provider": "prometheus", "query": "x", "reduce": "avg"},
                prometheus_url=server).value == pytest.approx(0.3)
    with pytest.raises(ProviderError, match="no Prometheus address"):
        read({"provider": "prometheus", "query": "x"})


def test_judge_reads_both_tracks(server: str) -> None:
    r = read({"provider": "json", "url": f"{server}/stats", "query": "queue.size",
              "judge": {"baseline": {"url": f"{server}/number", "query": None}}})
    assert r == Reading(42, 7.5)


def test_numbers() -> None:
    assert numbers([1, "2", None, 3.5], "x") == [1, 2, 3.5]
    assert numbers(None, "x") == [] and numbers("", "x") == []
