"""prom_api against a tiny http.server serving canned Prometheus API answers on loopback."""
from __future__ import annotations

import base64
import http.server
import json
import math
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import pytest

from ansible_collections.liftoff.release.plugins.plugin_utils.prom_api import (
    PrometheusError,
    query_instant,
    query_range,
    safe_address,
)

T = 1_700_000_000.0


def vector(*values: str) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"__name__": "m", "i": str(n)}, "value": [T, v]} for n, v in enumerate(values)]}}


def matrix(*series: list[str]) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"i": str(n)}, "values": [[T + k, v] for k, v in enumerate(values)]}
        for n, values in enumerate(series)]}}


SCALAR = {"status": "success", "data": {"resultType": "scalar", "result": [T, "42"]}}
STRING = {"status": "success", "data": {"resultType": "string", "result": [T, "hello"]}}
BAD_DATA = {"status": "error", "errorType": "bad_data",
            "error": 'invalid parameter "query": 1:15: parse error: unclosed left parenthesis'}


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


class FakePrometheus(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, Route] = {}
        self.requests: list[dict[str, Any]] = []
        self.release = threading.Event()

    @property
    def address(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def answer(self, path: str, body: Any = None, status: int = 200, *, raw: bytes | None = None,
               content_type: str = "application/json", delay: float = 0.0, headers: dict[str, str] | None = None) -> None:
        payload = raw if raw is not None else json.dumps(body).encode()
        self.routes[path] = Route(status, payload, content_type, delay, headers or {})

    def last_params(self) -> dict[str, list[str]]:
        return urllib.parse.parse_qs(urllib.parse.urlsplit(self.requests[-1]["path"]).query, keep_blank_values=True)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: FakePrometheus

    def do_GET(self) -> None:
        self.server.requests.append({"path": self.path, "headers": dict(self.headers.items())})
        route = self.server.routes.get(urllib.parse.urlsplit(self.path).path)
        if route is None:
            route = Route(404, b"404 page not found\n", "text/plain")
        if route.delay:
            self.server.release.wait(route.delay)
        try:
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            self.send_header("Content-Length", str(len(route.body)))
            for name, value in route.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(route.body)
        except OSError:
            pass  # the client gave up (timeout tests)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serve(server: FakePrometheus) -> Iterator[FakePrometheus]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def prom() -> Iterator[FakePrometheus]:
    yield from _serve(FakePrometheus())


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that is bound (so nobody else takes it) but not listening: connections are refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


# --------------------------------------------------------------------------- success

def test_vector_one_float_per_series(prom: FakePrometheus) -> None:
    prom.answer("/api/v1/query", vector("1.5", "2", "0"))
    assert query_instant(prom.address, "m", timeout=5) == [1.5, 2.0, 0.0]


def test_scalar_is_one_float(prom: FakePrometheus) -> None:
    prom.answer("/api/v1/query", SCALAR)
    assert query_instant(prom.address, "scalar(m)", timeout=5) == [42.0]


def test_empty_vector_is_empty_list(prom: FakePrometheus) -> None:
    prom.answer("/api/v1/query", vector())
    assert query_instant(prom.address, "absent_metric", timeout=5) == []


def test_nan_and_infinities(prom: FakePrometheus) -> None:
    prom.answer("/api/v1/query", vector("NaN", "+Inf", "-Inf", "1e-3"))
    values = query_instant(prom.address, "m", timeout=5)
    assert math.isnan(values[0])
    assert values[1:] == [math.inf, -math.inf, 0.001]


def test_matrix_one_list_per_series(prom: FakePrometheus) -> None:
    prom.answer("/api/v1/query_range", matrix(["1", "2", "NaN"], ["+Inf"]))
    series = query_range(prom.address, "m", start=T - 60, end=T, step=15, timeout=5)
    assert len(series) == 2
    assert series[0][:2] == [1.0, 2.0] and math.isnan(series[0][2])
    assert series[1] == [math.inf]


def test_empty_matrix(prom: FakePrometheus) -> None:
    prom.answer("/api/v1/query_range", matrix())
    assert query_range(prom.address, "m", start=T - 60, end=T, step=15, timeout=5) == []


def test_address_path_prefix_and_trailing_slash(prom: FakePrometheus) -> None:
    prom.answer("/prom/api/v1/query", vector("7"))
    assert query_instant(prom.address + "/prom/", "m", timeout=5) == [7.0]
    assert urllib.parse.urlsplit(prom.requests[-1]["path"]).path == "/prom/api/v1/query"


# --------------------------------------------------------------------------- request shape

QUERY = 'sum(rate(http_requests_total{code=~"5..", path="/a b&c+d?e=f#g"}[1m])) / 2 + 1'


def test_instant_query_string_is_encoded(prom: FakePrometheus) -> None:
    prom.answer("/api/v1/query", vector("1"))
    query_instant(prom.address, QUERY, timeout=2.5, at=T + 0.25)
    raw = urllib.parse.urlsplit(prom.requests[-1]["path"]).query
    assert " " not in raw and "#" not in raw and "+" not in raw and '"' not in raw
    assert raw.count("&") == 2  # query, time, timeout: the & inside the query is escaped
    params = prom.last_params()
    assert params == {"query": [QUERY], "time": ["1700000000.25"], "timeout": ["2.5"]}


def test_range_query_parameters(prom: FakePrometheus) -> None:
    prom.answer("/api/v1/query_range", matrix(["1"]))
    query_range(prom.address, QUERY, start=T - 300, end=T, step=0.5, timeout=3)
    params = prom.last_params()
    assert params == {"query": [QUERY], "start": ["1699999700.0"], "end": ["1700000000.0"],
                      "step": ["0.5"], "timeout": ["3.0"]}
    assert prom.requests[-1]["path"].startswith("/api/v1/query_range?")


def test_no_time_parameter_without_at(prom: FakePrometheus) -> None:
    prom.answer("/api/v1/query", vector("1"))
    query_instant(prom.address, "up", timeout=5)
    assert "time" not in prom.last_params()


def test_headers_are_sent(prom: FakePrometheus) -> None:
    prom.answer("/api/v1/query", vector("1"))
    query_instant(prom.address, "up", timeout=5, headers={"X-Scope-OrgID": "tenant-1", "Authorization": "Bearer t0k"})
    sent = {k.lower(): v for k, v in prom.requests[-1]["headers"].items()}
    assert sent["x-scope-orgid"] == "tenant-1"
    assert sent["authorization"] == "Bearer t0k"
    assert sent["accept"] == "application/json"


def test_userinfo_becomes_basic_auth_and_leaves_the_url(prom: FakePrometheus) -> None:
    prom.answer("/api/v1/query", vector("1"))
    address = prom.address.replace("http://", "http://alice:s%40cret@")
    assert query_instant(address, "up", timeout=5) == [1.0]
    sent = {k.lower(): v for k, v in prom.requests[-1]["headers"].items()}
    assert base64.b64decode(sent["authorization"].removeprefix("Basic ")) == b"alice:s@cret"
    assert "alice" not in prom.requests[-1]["path"]


def test_injected_opener_is_used_for_https() -> None:
    seen: list[urllib.request.Request] = []

    class Reply:
        status = 200

        def __enter__(self) -> Self:
            return self

        def __exit__(self, *exc: object) -> None:
            pass

        def read(self, size: int = -1) -> bytes:
            return json.dumps(vector("3")).encode()

    class Opener:
        def open(self, request: urllib.request.Request, timeout: float) -> Reply:
            seen.append(request)
            return Reply()

    assert query_instant("https://prom.example:9443/", "up", timeout=5, opener=Opener()) == [3.0]  # type: ignore[arg-type]
    assert seen[0].full_url.startswith("https://prom.example:9443/api/v1/query?query=up")


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.fail("openssl is missing: install the Debian package `openssl`")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def test_https_with_a_real_tls_server(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server = FakePrometheus()
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    server.socket = server_ctx.wrap_socket(server.socket, server_side=True)
    server.answer("/api/v1/query", vector("5"))
    for srv in _serve(server):
        address = f"https://127.0.0.1:{srv.server_address[1]}"
        trusting = urllib.request.build_opener(urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(
            context=ssl.create_default_context(cafile=str(cert))))
        assert query_instant(address, "up", timeout=5, opener=trusting) == [5.0]
        with pytest.raises(PrometheusError, match="certificate verify failed") as err:
            query_instant(address, "up", timeout=5)  # the default opener verifies against the system CAs
        assert str(err.value).startswith(f"Prometheus at {address}: ")


# --------------------------------------------------------------------------- failures

def test_error_body_names_type_and_message(prom: FakePrometheus) -> None:
    prom.answer("/api/v1/query", BAD_DATA, status=400)
    with pytest.raises(PrometheusError) as err:
        query_instant(prom.address, "sum(rate(m[1m])", timeout=5)
    message = str(err.value)
    assert message.startswith(f"Prometheus at {prom.address}: HTTP 400: bad_data: ")
    assert "unclosed left parenthesis" in message


def test_error_status_in_a_200_answer(prom: FakePrometheus) -> None:
    prom.answer("/api/v1/query", {"status": "error", "errorType": "execution", "error": "query timed out"})
    with pytest.raises(PrometheusError, match=r"execution: query timed out"):
        query_instant(prom.address, "m", timeout=5)


def test_http_500_plain_text(prom: FakePrometheus) -> None:
    prom.answer("/api/v1/query", raw=b"upstream exploded\n", status=500, content_type="text/plain")
    with pytest.raises(PrometheusError) as err:
        query_instant(prom.address, "m", timeout=5)
    assert str(err.value) == f"Prometheus at {prom.address}: HTTP 500 Internal Server Error: upstream exploded"


def test_404_wrong_path_prefix(prom: FakePrometheus) -> None:
    with pytest.raises(PrometheusError, match="HTTP 404 Not Found: 404 page not found"):
        query_instant(prom.address + "/wrong", "m", timeout=5)


def test_redirect_is_not_followed(prom: FakePrometheus) -> None:
    prom.answer("/api/v1/query", raw=b"", status=302, headers={"Location": "https://u:pw@elsewhere.example/api/v1/query"})
    with pytest.raises(PrometheusError) as err:
        query_instant(prom.address, "m", timeout=5, headers={"Authorization": "Bearer t0k"})
    message = str(err.value)
    assert "HTTP 302 redirect to https://elsewhere.example/api/v1/query" in message
    assert "pw" not in message and "t0k" not in message
    assert len(prom.requests) == 1


@pytest.mark.parametrize(("raw", "fragment"), [
    (b"<html>not json</html>", "malformed JSON in the answer (HTTP 200): '<html>not json</html>'"),
    (b"", "malformed JSON"),
    (b"[1, 2]", "malformed answer: a JSON list, expected an object"),
    (b'{"status": "success"}', "malformed answer: no data.resultType / data.result"),
    (b'{"status": "weird", "data": {}}', "malformed answer: status is 'weird'"),
    (b'{"status": "success", "data": {"resultType": "vector", "result": {}}}', "the vector is not a list"),
    (b'{"status": "success", "data": {"resultType": "vector", "result": [{"metric": {}}]}}', "a sample has no 'value'"),
    (b'{"status": "success", "data": {"resultType": "vector", "result": [{"value": [1, "abc"]}]}}', "'abc', not a number"),
    (b'{"status": "success", "data": {"resultType": "vector", "result": [{"value": [1, null]}]}}', "a value is None"),
    (b'{"status": "success", "data": {"resultType": "vector", "result": [{"value": "1"}]}}', "a point is '1'"),
    (b'{"status": "success", "data": {"resultType": "scalar", "result": [1]}}', "a point is [1]"),
])
def test_malformed_answers(prom: FakePrometheus, raw: bytes, fragment: str) -> None:
    prom.answer("/api/v1/query", raw=raw)
    with pytest.raises(PrometheusError) as err:
        query_instant(prom.address, "m", timeout=5)
    assert str(err.value).startswith(f"Prometheus at {prom.address}: ")
    assert fragment in str(err.value)


@pytest.mark.parametrize(("path", "body", "fragment"), [
    ("/api/v1/query", STRING, "unsupported result type 'string' (expected vector or scalar)"),
    ("/api/v1/query", matrix(["1"]), "returned a range vector (matrix)"),
    ("/api/v1/query", {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {}, "histogram": [T, {"count": "1"}]}]}}, "unsupported native histogram"),
    ("/api/v1/query_range", vector("1"), "unsupported result type 'vector' for a range query"),
])
def test_unsupported_result_types(prom: FakePrometheus, path: str, body: Any, fragment: str) -> None:
    prom.answer(path, body)
    with pytest.raises(PrometheusError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        if path.endswith("range"):
            query_range(prom.address, "m", start=T - 1, end=T, step=1, timeout=5)
        else:
            query_instant(prom.address, "m", timeout=5)


def test_connection_refused(closed_port: int) -> None:
    address = f"http://127.0.0.1:{closed_port}"
    with pytest.raises(PrometheusError) as err:
        query_instant(address, "up", timeout=5)
    assert str(err.value) == f"Prometheus at {address}: connection refused"
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_timeout_with_a_server_that_sleeps(prom: FakePrometheus) -> None:
    prom.answer("/api/v1/query", vector("1"), delay=10)
    started = time.monotonic()
    with pytest.raises(PrometheusError) as err:
        query_instant(prom.address, "up", timeout=0.3)
    assert time.monotonic() - started < 3
    assert str(err.value) == f"Prometheus at {prom.address}: timed out after 0.3 s"


def test_range_timeout(prom: FakePrometheus) -> None:
    prom.answer("/api/v1/query_range", matrix(["1"]), delay=10)
    with pytest.raises(PrometheusError, match=r"timed out after 0\.2 s"):
        query_range(prom.address, "up", start=T - 1, end=T, step=1, timeout=0.2)


def test_unresolvable_host(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dns(*args: Any, **kwargs: Any) -> Any:  # no resolver round trip: deterministic and offline
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(PrometheusError) as err:
        query_instant("http://no-such-host.invalid:9090", "up", timeout=5)
    assert str(err.value) == ("Prometheus at http://no-such-host.invalid:9090: "
                              "cannot resolve host (Name or service not known)")


# --------------------------------------------------------------------------- secrets

SECRET = "s3cr3t-Passw0rd"


def _assert_clean(message: str) -> None:
    assert SECRET not in message
    assert "alice" not in message
    assert "t0ken" not in message


def test_userinfo_not_leaked_on_http_error(prom: FakePrometheus) -> None:
    prom.answer("/api/v1/query", raw=b"boom", status=500, content_type="text/plain")
    address = prom.address.replace("http://", f"http://alice:{SECRET}@")
    with pytest.raises(PrometheusError) as err:
        query_instant(address, "up", timeout=5, headers={"X-Token": "t0ken"})
    assert str(err.value).startswith(f"Prometheus at {prom.address}: HTTP 500")
    _assert_clean(str(err.value))


def test_userinfo_not_leaked_on_error_body(prom: FakePrometheus) -> None:
    prom.answer("/api/v1/query_range", BAD_DATA, status=400)
    address = prom.address.replace("http://", f"http://alice:{SECRET}@") + "/"
    with pytest.raises(PrometheusError) as err:
        query_range(address, "up", start=T - 1, end=T, step=1, timeout=5)
    assert str(err.value).startswith(f"Prometheus at {prom.address}/: HTTP 400: bad_data")
    _assert_clean(str(err.value))


def test_userinfo_not_leaked_on_refused_or_timeout(prom: FakePrometheus, closed_port: int) -> None:
    refused = f"http://alice:{SECRET}@127.0.0.1:{closed_port}"
    with pytest.raises(PrometheusError) as err:
        query_instant(refused, "up", timeout=5)
    assert str(err.value) == f"Prometheus at http://127.0.0.1:{closed_port}: connection refused"
    prom.answer("/api/v1/query", vector("1"), delay=10)
    with pytest.raises(PrometheusError) as err:
        query_instant(prom.address.replace("http://", f"http://alice:{SECRET}@"), "up", timeout=0.2)
    _assert_clean(str(err.value))
    assert "timed out" in str(err.value)


@pytest.mark.parametrize("address", [
    f"http://alice:{SECRET}@127.0.0.1:notaport",
    f"http://alice:{SECRET}/x@127.0.0.1:9090",  # an unencoded / in the password
    f"ftp://alice:{SECRET}@127.0.0.1:9090",
    f"alice:{SECRET}@127.0.0.1:9090",
    f"http://alice:{SECRET}@127.0.0.1:9090/?token=t0ken",
    "",
])
def test_invalid_addresses_are_rejected_without_leaks(address: str) -> None:
    with pytest.raises(PrometheusError, match="invalid address") as err:
        query_instant(address, "up", timeout=5)
    _assert_clean(str(err.value))


def test_header_with_a_line_break_is_rejected_by_name(prom: FakePrometheus) -> None:
    with pytest.raises(PrometheusError) as err:
        query_instant(prom.address, "up", timeout=5, headers={"Authorization": "Bearer t0ken\r\nX-Evil: 1"})
    assert "invalid request header 'Authorization'" in str(err.value)
    _assert_clean(str(err.value))
    assert prom.requests == []


@pytest.mark.parametrize(("address", "shown"), [
    ("http://u:p@h:9090/x", "http://h:9090/x"),
    ("https://u@[::1]:9090/prom/", "https://[::1]:9090/prom/"),
    ("http://u:p/w@h:9090", "http://h:9090"),
    ("http://h:9090/?k=v#f", "http://h:9090/"),
    ("http://h:9090", "http://h:9090"),
])
def test_safe_address(address: str, shown: str) -> None:
    assert safe_address(address) == shown


# --------------------------------------------------------------------------- arguments

@pytest.mark.parametrize(("kwargs", "fragment"), [
    ({"start": T, "end": T - 1, "step": 1}, "end .* is before start"),
    ({"start": T - 1, "end": T, "step": 0}, "step must be > 0"),
    ({"start": math.nan, "end": T, "step": 1}, "start must be a finite number"),
    ({"start": T - 1, "end": math.inf, "step": 1}, "end must be a finite number"),
])
def test_invalid_range_arguments(prom: FakePrometheus, kwargs: dict[str, float], fragment: str) -> None:
    with pytest.raises(PrometheusError, match=fragment):
        query_range(prom.address, "up", timeout=5, **kwargs)
    assert prom.requests == []


@pytest.mark.parametrize(("query", "kwargs", "fragment"), [
    ("  ", {"timeout": 5}, "empty query"),
    ("up", {"timeout": 0}, "timeout must be a positive number"),
    ("up", {"timeout": 5, "at": math.nan}, "at must be a finite number"),
])
def test_invalid_instant_arguments(prom: FakePrometheus, query: str, kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(PrometheusError, match=fragment):
        query_instant(prom.address, query, **kwargs)
    assert prom.requests == []
