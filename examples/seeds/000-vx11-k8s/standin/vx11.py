#!/usr/bin/env python
"""Local stand-ins for VX11 (seed 000) as the cluster would serve it, for tests/integration/test_seed_000.py.

No Kubernetes API server can be installed on the test machines (no kube-apiserver, kind or k3s), so the
k8s role renders each component's release (k8s_apply=false) and this process serves what the rendered
manifests declare, as a GitOps controller would apply them. It reads ``<manifest_root>/<app>/deployment.yml``
on every request and serves, each on its own 127.0.0.1 port:

- backend (operator-backend): ``/operator/api/health``; ``POST /operator/api/events/sse-token`` issues an
  ephemeral token (HMAC of a nonce and its expiry, keyed by the principal token; TTL from the config)
  to a caller with ``Authorization: Bearer <principal>``; ``/operator/api/events/stream`` is a
  server-sent-events stream for the principal (header) or an unexpired ephemeral token (``?token=``),
  403 for an expired or forged one; ``/metrics``.
- gateway (tentaculo-link): ``/health``, and ``/operator/api/*`` proxied to the backend (streams included).
- frontend (operator-frontend): ``/``, the UI page with the EventsPanel.
- monitoring: ``/d/vx11-tokens``, the monitoring dashboard.

A component whose manifest is not rendered answers 503. Request counts, latencies, tokens issued,
validation failures, the token cache and the streams are counted on what is really served; the
Deployments' available replicas on ``/metrics`` are the rendered replicas (made up: nothing runs pods).

    vx11.py CONFIG.json     # ports, manifest_root, principal_token, ttl

It runs until SIGTERM (the test stops it by its pid).
"""
from __future__ import annotations

import hashlib
import hmac
import http.client
import http.server
import json
import secrets
import signal
import sys
import threading
import time
import urllib.parse
from pathlib import Path
from typing import Any

import yaml

APPS = {"backend": "operator-backend", "gateway": "tentaculo-link", "frontend": "operator-frontend"}
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class State:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.key = str(config["principal_token"]).encode()
        self.lock = threading.Lock()
        self.requests: dict[tuple[str, str], int] = {}
        self.buckets = [0] * len(BUCKETS)
        self.count = 0
        self.seconds = 0.0
        self.issued = 0
        self.validation_failures = 0
        self.live_tokens: dict[str, float] = {}  # nonce -> expiry
        self.streams: dict[str, int] = {"ok": 0, "error": 0, "refused": 0}

    def deployment(self, role: str) -> dict[str, Any] | None:
        path = Path(self.config["manifest_root"]) / APPS[role] / "deployment.yml"
        try:
            return dict(yaml.safe_load(path.read_text(encoding="utf-8")))
        except (OSError, TypeError, ValueError):
            return None

    def version(self, role: str) -> str | None:
        deployment = self.deployment(role)
        return None if deployment is None else str(deployment["metadata"]["labels"]["app.kubernetes.io/version"])

    def observe(self, service: str, code: int, seconds: float | None) -> None:
        with self.lock:
            key = (service, str(code))
            self.requests[key] = self.requests.get(key, 0) + 1
            if seconds is not None and service == APPS["backend"]:
                for index, bound in enumerate(BUCKETS):
                    if seconds <= bound:
                        self.buckets[index] += 1
                self.count += 1
                self.seconds += seconds

    # ---- ephemeral tokens ------------------------------------------------------------------------
    def issue(self) -> tuple[str, int]:
        ttl = int(self.config["ttl"])
        nonce, expiry = secrets.token_hex(8), int(time.time()) + ttl
        mac = hmac.new(self.key, f"{nonce}.{expiry}".encode(), hashlib.sha256).hexdigest()[:32]
        with self.lock:
            self.issued += 1
            self.live_tokens[nonce] = expiry
        return f"{nonce}{expiry:x}{mac}", ttl

    def auth(self, headers: Any, query: dict[str, list[str]]) -> str:
        """principal | ephemeral | missing | invalid | expired."""
        header = str(headers.get("Authorization") or "")
        if header and hmac.compare_digest(header, f"Bearer {self.config['principal_token']}"):
            return "principal"
        token = (query.get("token") or [""])[0]
        if not token:
            return "missing"
        nonce, rest = token[:16], token[16:]
        try:
            expiry = int(rest[:-32], 16)
        except ValueError:
            expiry = 0
        want = hmac.new(self.key, f"{nonce}.{expiry}".encode(), hashlib.sha256).hexdigest()[:32]
        if not expiry or not hmac.compare_digest(rest[-32:], want):
            self.failure()
            return "invalid"
        if time.time() >= expiry:
            self.failure()
            return "expired"
        return "ephemeral"

    def failure(self) -> None:
        with self.lock:
            self.validation_failures += 1

    def cache_entries(self) -> int:
        now = time.time()
        with self.lock:
            self.live_tokens = {n: e for n, e in self.live_tokens.items() if e > now}
            return len(self.live_tokens)


def metrics(state: State) -> str:
    cache = state.cache_entries()
    lines = ["# TYPE vx11_http_requests_total counter"]
    with state.lock:
        for (service, code), count in sorted(state.requests.items()):
            lines.append(f'vx11_http_requests_total{{namespace="vx11",service="{service}",code="{code}"}} {count}')
        lines.append("# TYPE vx11_http_request_duration_seconds histogram")
        base = 'namespace="vx11",service="operator-backend"'
        for bound, count in zip(BUCKETS, state.buckets, strict=True):
            lines.append(f'vx11_http_request_duration_seconds_bucket{{{base},le="{bound}"}} {count}')
        lines.append(f'vx11_http_request_duration_seconds_bucket{{{base},le="+Inf"}} {state.count}')
        lines.append(f"vx11_http_request_duration_seconds_sum{{{base}}} {state.seconds}")
        lines.append(f"vx11_http_request_duration_seconds_count{{{base}}} {state.count}")
        lines.append("# TYPE vx11_ephemeral_tokens_issued_total counter")
        lines.append(f'vx11_ephemeral_tokens_issued_total{{namespace="vx11"}} {state.issued}')
        lines.append("# TYPE vx11_token_validation_failures_total counter")
        lines.append(f'vx11_token_validation_failures_total{{namespace="vx11"}} {state.validation_failures}')
        lines.append("# TYPE vx11_sse_streams_total counter")
        for outcome, count in sorted(state.streams.items()):
            lines.append(f'vx11_sse_streams_total{{namespace="vx11",outcome="{outcome}"}} {count}')
    lines.append("# TYPE vx11_token_cache_entries gauge")
    lines.append(f'vx11_token_cache_entries{{namespace="vx11"}} {cache}')
    lines.append("# TYPE kube_deployment_status_replicas_available gauge")
    for role, app in APPS.items():
        deployment = state.deployment(role)
        if deployment is not None:
            lines.append(f'kube_deployment_status_replicas_available{{namespace="vx11",deployment="{app}"}} '
                         f"{int(deployment['spec']['replicas'])}")
    return "\n".join(lines) + "\n"


def serve(state: State, role: str, port: int) -> http.server.ThreadingHTTPServer:
    service = APPS.get(role, role)

    class Handler(http.server.BaseHTTPRequestHandler):
        def _reply(self, code: int, body: Any, content_type: str = "application/json") -> None:
            data = (body if isinstance(body, str) else json.dumps(body)).encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _route(self, method: str) -> None:
            started = time.monotonic()
            parts = urllib.parse.urlsplit(self.path)
            path, query = parts.path, urllib.parse.parse_qs(parts.query)
            if role == "backend" and path == "/metrics":
                self._reply(200, metrics(state), "text/plain; version=0.0.4")
                return
            if role == "monitoring":
                self._reply(200, "<html><body>VX11 ephemeral tokens dashboard</body></html>", "text/html")
                return
            version = state.version(role)
            if version is None:
                code = 503
                self._reply(code, {"status": "unavailable", "reason": f"{service} is not deployed"})
            elif role == "gateway" and path.startswith("/operator/api/"):
                code = self._proxy(method)
            elif role == "gateway" and path == "/health":
                code = 200
                self._reply(code, {"status": "ok", "service": service, "version": version})
            elif role == "frontend" and path in ("/", "/index.html"):
                code = 200
                self._reply(code, f'<html><head><meta name="version" content="{version}"></head><body>'
                                  '<div id="EventsPanel" data-token-endpoint="/operator/api/events/sse-token">'
                                  "</div></body></html>", "text/html")
            elif role == "backend":
                code = self._backend(method, path, query, version)
            else:
                code = 404
                self._reply(code, {"error": "not found"})
            streaming = path.endswith("/events/stream")
            state.observe(service, code, None if streaming else time.monotonic() - started)

        def _backend(self, method: str, path: str, query: dict[str, list[str]], version: str) -> int:
            if path == "/operator/api/health":
                self._reply(200, {"status": "ok", "service": service, "version": version})
                return 200
            if path == "/operator/api/events/sse-token" and method == "POST":
                if state.auth(self.headers, {}) != "principal":
                    self._reply(401, {"error": "principal token required"})
                    return 401
                token, ttl = state.issue()
                self._reply(200, {"token": token, "token_type": "ephemeral", "expires_in": ttl})
                return 200
            if path == "/operator/api/events/stream":
                who = state.auth(self.headers, query)
                if who not in ("principal", "ephemeral"):
                    with state.lock:
                        state.streams["refused"] += 1
                    code = 401 if who == "missing" else 403
                    self._reply(code, {"error": f"token {who}"})
                    return code
                return self._stream()
            self._reply(404, {"error": "not found"})
            return 404

        def _stream(self) -> int:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            with state.lock:
                state.streams["ok"] += 1
            try:
                for index in range(50):
                    self.wfile.write(f"event: heartbeat\nid: {index}\ndata: {{\"seq\": {index}}}\n\n".encode())
                    self.wfile.flush()
                    time.sleep(0.1)
            except OSError:
                pass  # the client read what it wanted and left
            return 200

        def _proxy(self, method: str) -> int:
            """Forward to the backend; a stream is copied as it comes."""
            conn = http.client.HTTPConnection("127.0.0.1", int(state.config["ports"]["backend"]), timeout=10)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if method == "POST" else None
            forwarded = ("authorization", "accept", "content-type")
            headers = {k: v for k, v in self.headers.items() if k.lower() in forwarded}
            code = 502
            try:
                conn.request(method, self.path, body=body, headers=headers)
                reply = conn.getresponse()
                code = int(reply.status)
                self.send_response(code)
                for name in ("Content-Type", "Cache-Control"):
                    if reply.getheader(name):
                        self.send_header(name, str(reply.getheader(name)))
                length = reply.getheader("Content-Length")
                if length:
                    self.send_header("Content-Length", length)
                self.end_headers()
                while chunk := reply.read1(65536):
                    self.wfile.write(chunk)
                    self.wfile.flush()
            except OSError:
                if code == 502:  # the backend did not answer; a client that left a stream is not an error
                    self._reply(502, {"error": "backend unreachable"})
            finally:
                conn.close()
            return code

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> int:
    config = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    state = State(config)
    servers = [serve(state, role, int(port)) for role, port in config["ports"].items()]
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_args: stop.set())
    signal.signal(signal.SIGINT, lambda *_args: stop.set())
    print("ready", flush=True)
    stop.wait()
    for server in servers:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
