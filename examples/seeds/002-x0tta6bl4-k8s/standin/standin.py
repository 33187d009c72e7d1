#!/usr/bin/env python
"""Local stand-ins for what seed 002's run talks to in production, for tests/integration/test_seed_002.py.

No Kubernetes API server can be installed on the test machines (no kube-apiserver, kind or k3s), so the k8s role renders
the release (k8s_apply=false) and this process stands in for what the cluster would serve. It reads the
desired state the role rendered (``<manifest_dir>/deployment.yml``) on every request, as a GitOps
controller would apply it, and serves, each on its own 127.0.0.1 port:

- api: the x0tta6bl4 API at the rendered release: ``/health``, ``/api/v1/info`` (the rendered version),
  ``/api/v1/db-check`` (a real ``SELECT 1`` on the test's PostgreSQL), ``/api/v1/cache-check`` (a real
  PING of the test's Redis) and ``/metrics``. Request counts and latencies are measured on the requests it
  really serves; ``x0tta6bl4_db_connection_errors_total`` counts its real failed connections.
  ``/metrics`` also carries what kube-state-metrics and cAdvisor would say about the rendered Deployment
  (replicas available = the rendered replicas, the rendered CPU and memory limits, a fixed CPU use of
  0.075 core and 400 MiB per pod, no restarts) and about the namespace's other services: these numbers
  are made up, and the README says so.
- grafana: ``/api/health`` and ``/api/dashboards/uid/<uid>`` (needs ``Authorization: Bearer <token>``).
- alertmanager: ``/-/ready`` and ``/api/v2/status`` (ready, with a routing configuration).
- status: the status page (``/``).

    standin.py CONFIG.json     # ports, manifest_dir, dsn, redis, grafana_token, other_deployments

It runs until SIGTERM (the test stops it by its pid).
"""
from __future__ import annotations

import http.server
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import redis
import yaml

NAMESPACE = "x0tta6bl4"
APP = "x0tta6bl4-api"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.5, 5.0)
CPU_PER_POD = 0.075  # cores: 15% of the seed's 500m limit
MEMORY_PER_POD = 400 * 1024 * 1024  # bytes: 39% of the seed's 1Gi limit
STARTED = time.time()


class State:
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.lock = threading.Lock()
        self.requests: dict[tuple[str, str], int] = {}
        self.buckets = [0] * len(BUCKETS)
        self.count = 0
        self.total_seconds = 0.0
        self.db_errors = 0

    def deployment(self) -> dict[str, Any] | None:
        path = Path(self.config["manifest_dir"]) / "deployment.yml"
        try:
            return dict(yaml.safe_load(path.read_text(encoding="utf-8")))
        except (OSError, TypeError, ValueError):
            return None

    def observe(self, path: str, code: int, seconds: float) -> None:
        with self.lock:
            key = (path, str(code))
            self.requests[key] = self.requests.get(key, 0) + 1
            for index, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    self.buckets[index] += 1
            self.count += 1
            self.total_seconds += seconds


def _quantity(text: Any) -> float:
    """A Kubernetes quantity: 500m -> 0.5, 1Gi -> 1073741824."""
    value = str(text)
    units = {"m": 0.001, "Ki": 1024, "Mi": 1024 ** 2, "Gi": 1024 ** 3, "k": 1e3, "M": 1e6, "G": 1e9}
    for suffix, factor in sorted(units.items(), key=lambda u: -len(u[0])):
        if value.endswith(suffix):
            return float(value[: -len(suffix)]) * factor
    return float(value)


def metrics(state: State) -> str:
    lines: list[str] = []
    labels = f'namespace="{NAMESPACE}",app="{APP}"'
    with state.lock:
        lines.append("# TYPE http_requests_total counter")
        for (path, code), count in sorted(state.requests.items()):
            lines.append(f'http_requests_total{{{labels},path="{path}",code="{code}"}} {count}')
        lines.append("# TYPE http_request_duration_seconds histogram")
        for bound, count in zip(BUCKETS, state.buckets, strict=True):
            lines.append(f'http_request_duration_seconds_bucket{{{labels},le="{bound}"}} {count}')
        lines.append(f'http_request_duration_seconds_bucket{{{labels},le="+Inf"}} {state.count}')
        lines.append(f"http_request_duration_seconds_sum{{{labels}}} {state.total_seconds}")
        lines.append(f"http_request_duration_seconds_count{{{labels}}} {state.count}")
        lines.append("# TYPE x0tta6bl4_db_connection_errors_total counter")
        lines.append(f"x0tta6bl4_db_connection_errors_total{{{labels}}} {state.db_errors}")
    deployment = state.deployment()
    deployments = {name: 1 for name in state.config.get("other_deployments", [])}
    if deployment:
        replicas = int(deployment["spec"]["replicas"])
        deployments[APP] = replicas
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        limits = (container.get("resources") or {}).get("limits") or {}
        # cAdvisor stamps its container samples with the time it read them; so does this counter, so a
        # rate over two scrapes is the pod's real use however late the scrape's answer comes on a busy host.
        stamp_ms = int(time.time() * 1000)
        elapsed = stamp_ms / 1000 - STARTED
        lines.append("# TYPE container_cpu_usage_seconds_total counter")
        lines.append("# TYPE container_memory_working_set_bytes gauge")
        lines.append("# TYPE kube_pod_container_resource_limits gauge")
        lines.append("# TYPE kube_pod_container_status_restarts_total counter")
        for index in range(replicas):
            pod = f'namespace="{NAMESPACE}",pod="{APP}-{index}",container="{container["name"]}"'
            lines.append(f"container_cpu_usage_seconds_total{{{pod}}} {CPU_PER_POD * elapsed:.6f} {stamp_ms}")
            lines.append(f"container_memory_working_set_bytes{{{pod}}} {MEMORY_PER_POD}")
            lines.append(f"kube_pod_container_status_restarts_total{{{pod}}} 0")
            if "cpu" in limits:
                lines.append(f'kube_pod_container_resource_limits{{{pod},resource="cpu",unit="core"}} '
                             f"{_quantity(limits['cpu'])}")
            if "memory" in limits:
                lines.append(f'kube_pod_container_resource_limits{{{pod},resource="memory",unit="byte"}} '
                             f"{_quantity(limits['memory'])}")
    lines.append("# TYPE kube_deployment_spec_replicas gauge")
    lines.append("# TYPE kube_deployment_status_replicas_available gauge")
    for name, replicas in sorted(deployments.items()):
        lines.append(f'kube_deployment_spec_replicas{{namespace="{NAMESPACE}",deployment="{name}"}} {replicas}')
        lines.append(f'kube_deployment_status_replicas_available{{namespace="{NAMESPACE}",deployment="{name}"}} '
                     f"{replicas}")
    return "\n".join(lines) + "\n"


def api(state: State, path: str) -> tuple[int, Any]:
    deployment = state.deployment()
    if deployment is None:
        return 503, {"status": "unavailable", "reason": "nothing deployed"}
    version = deployment["metadata"]["labels"]["app.kubernetes.io/version"]
    if path == "/health":
        return 200, {"status": "ok", "version": version}
    if path == "/api/v1/info":
        return 200, {"name": APP, "version": version, "replicas": deployment["spec"]["replicas"]}
    if path == "/api/v1/db-check":
        try:
            with psycopg.connect(state.config["dsn"], connect_timeout=3) as conn:
                conn.execute("SELECT 1").fetchone()
        except psycopg.Error as exc:
            with state.lock:
                state.db_errors += 1
            return 503, {"database": "error", "error": type(exc).__name__}
        return 200, {"database": "ok"}
    if path == "/api/v1/cache-check":
        cache = state.config["redis"]
        try:
            redis.Redis(host=cache["host"], port=cache["port"], password=cache.get("password"),
                        socket_timeout=3).ping()
        except redis.RedisError as exc:
            return 503, {"cache": "error", "error": type(exc).__name__}
        return 200, {"cache": "ok"}
    return 404, {"error": "not found"}


def grafana(state: State, path: str, headers: Any) -> tuple[int, Any]:
    if path == "/api/health":
        return 200, {"database": "ok", "version": "10.4.0"}
    if path.startswith("/api/dashboards/uid/"):
        if headers.get("Authorization") != f"Bearer {state.config['grafana_token']}":
            return 401, {"message": "Unauthorized"}
        uid = path.rsplit("/", 1)[1]
        if uid not in state.config.get("dashboards", []):
            return 404, {"message": "Dashboard not found"}
        return 200, {"dashboard": {"uid": uid, "title": f"{APP} overview"}, "meta": {"provisioned": True}}
    return 404, {"message": "Not found"}


ALERTMANAGER_CONFIG = "route:\n  receiver: war-room\nreceivers:\n- name: war-room\n- name: pagerduty\n"


def alertmanager(path: str) -> tuple[int, Any]:
    if path == "/-/ready":
        return 200, "OK"
    if path == "/api/v2/status":
        return 200, {"cluster": {"status": "ready", "peers": []}, "config": {"original": ALERTMANAGER_CONFIG},
                     "versionInfo": {"version": "0.25.0"}, "uptime": "2026-01-20T16:00:00Z"}
    return 404, "Not found"


def serve(state: State, role: str, port: int) -> http.server.ThreadingHTTPServer:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            started = time.monotonic()
            path = self.path.split("?", 1)[0]
            if role == "api" and path == "/metrics":
                self._send(200, metrics(state), "text/plain; version=0.0.4")
                return
            if role == "api":
                code, body = api(state, path)
                state.observe(path if code != 404 else "other", code, time.monotonic() - started)
            elif role == "grafana":
                code, body = grafana(state, path, self.headers)
            elif role == "alertmanager":
                code, body = alertmanager(path)
            else:
                code, body = 200, "<html><body>x0tta6bl4 status: All Systems Operational</body></html>"
            if isinstance(body, str):
                self._send(code, body, "text/html" if role == "status" else "text/plain")
            else:
                self._send(code, json.dumps(body), "application/json")

        def _send(self, code: int, text: str, content_type: str) -> None:
            data = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

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
