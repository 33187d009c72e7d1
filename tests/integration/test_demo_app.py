"""The demo app (examples/app) built with build_release and run directly with node."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
APP_DIR = ROOT / "examples" / "app"
NODE = shutil.which("node") or "/usr/bin/node"

pytestmark = pytest.mark.skipif(not Path(NODE).exists(), reason="node is not installed")


def _load_builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location("liftoff_demo_build_release", APP_DIR / "build_release.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


builder = _load_builder()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _get_json(port: int, path: str) -> tuple[int, Any]:
    status, body = _get(port, path)
    return status, json.loads(body)


class App:
    def __init__(self, port: int, proc: subprocess.Popen[bytes], release_dir: Path) -> None:
        self.port = port
        self.proc = proc
        self.release_dir = release_dir


@pytest.fixture
def run_app(tmp_path: Path, request: pytest.FixtureRequest) -> Callable[..., App]:
    def start(version: str, **env: str) -> App:
        release_dir = builder.build_release(version, tmp_path / version)
        port = _free_port()
        base_env = {k: v for k, v in os.environ.items() if k not in ("METRICS_PORT_BASE", "NODE_APP_INSTANCE")}
        proc_env = {**base_env, "HOST": "127.0.0.1", "PORT": str(port), **env}
        log = (tmp_path / f"{version}.log").open("wb")
        # Run from an unrelated cwd: the app must find release.json via __dirname.
        proc = subprocess.Popen([NODE, str(release_dir / "server.js")], cwd=tmp_path,
                                env=proc_env, stdout=log, stderr=subprocess.STDOUT)

        def stop() -> None:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            log.close()

        request.addfinalizer(stop)
        deadline = time.monotonic() + 10
        while True:
            try:
                if _get(port, "/health")[0] == 200:
                    break
            except OSError:
                pass
            assert proc.poll() is None, (tmp_path / f"{version}.log").read_text()
            assert time.monotonic() < deadline, "demo app did not come up"
            time.sleep(0.05)
        return App(port, proc, release_dir)

    return start


_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{([^}]*)\})?\s+(\S+)$')


def parse_metrics(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Minimal parser for the Prometheus text format (no escapes in our label values)."""
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, f"unparsable metrics line: {line!r}"
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        samples[(m.group(1), labels)] = float(m.group(3))
    return samples


def _sample(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_build_release_layout(tmp_path: Path) -> None:
    out = builder.build_release("v2", tmp_path / "r")
    assert out == tmp_path / "r"
    assert json.loads((out / "release.json").read_text()) == {"version": "v2", "error_ratio": 0.0, "latency_ms": 5}
    pkg = json.loads((out / "package.json").read_text())
    assert pkg["name"] == "liftoff-demo-app" and pkg["version"]
    assert sorted(p.name for p in (out / "migrations").iterdir()) == [
        "001_create_items.sql", "002_items_add_status.sql"]
    assert (out / "server.js").read_bytes() == (APP_DIR / "server.js").read_bytes()

    broken = builder.build_release("v3", tmp_path / "b", broken_migration=True)
    assert sorted(p.name for p in (broken / "migrations").iterdir()) == [
        "001_create_items.sql", "002_items_add_status.sql", "003_items_name_index.sql", "004_broken.sql"]


def test_build_release_unknown_version(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown version 'v9'"):
        builder.build_release("v9", tmp_path / "x")
    assert not (tmp_path / "x").exists()
    assert builder.main(["v9", str(tmp_path / "y")]) == 2


def test_v1_version_and_health(run_app: Callable[..., App]) -> None:
    app = run_app("v1")
    assert _get_json(app.port, "/version") == (200, {"version": "v1"})
    status, health = _get_json(app.port, "/health")
    assert status == 200
    assert health == {"status": "ok", "version": "v1", "pid": app.proc.pid}
    for _unused in range(20):
        assert _get(app.port, "/api/items")[0] == 200
    assert _get(app.port, "/")[0] == 200
    assert _get(app.port, "/nope")[0] == 404
    samples = parse_metrics(_get(app.port, "/metrics")[1])
    assert _sample(samples, "http_requests_total", route="/api/items", status="200") == 20
    assert _sample(samples, "app_info", version="v1") == 1
    # /health and /metrics are not counted
    assert not any(dict(labels).get("route") in ("/health", "/metrics") for _unused, labels in samples)


def test_v3_fails_exactly_30_percent_and_metrics_count_it(run_app: Callable[..., App]) -> None:
    app = run_app("v3")
    assert _get_json(app.port, "/version") == (200, {"version": "v3"})
    codes = [_get(app.port, "/api/items")[0] for _unused in range(100)]
    assert codes.count(500) == 30
    assert codes.count(200) == 70
    # deterministic: request n fails iff floor(0.3n) > floor(0.3(n-1))
    expected = [500 if (n * 3) // 10 > ((n - 1) * 3) // 10 else 200 for n in range(1, 101)]
    assert codes == expected

    text = _get(app.port, "/metrics")[1]
    samples = parse_metrics(text)
    assert _sample(samples, "http_requests_total", route="/api/items", status="500") == 30
    assert _sample(samples, "http_requests_total", route="/api/items", status="200") == 70
    assert _sample(samples, "http_request_duration_seconds_count", route="/api/items") == 100
    assert _sample(samples, "http_request_duration_seconds_bucket", route="/api/items", le="+Inf") == 100
    # latency_ms = 5: nothing is faster than 5 ms, histogram buckets are cumulative
    assert _sample(samples, "http_request_duration_seconds_bucket", route="/api/items", le="0.005") <= 100
    buckets = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf"]
    values = [_sample(samples, "http_request_duration_seconds_bucket", route="/api/items", le=b) for b in buckets]
    assert values == sorted(values)
    assert _sample(samples, "http_request_duration_seconds_sum", route="/api/items") >= 100 * 0.005
    assert _sample(samples, "app_info", version="v3") == 1
    assert "# TYPE http_request_duration_seconds histogram" in text

    try:  # cross-check with the official parser when it is available
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:  # pragma: no cover
        return
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert families["http_request_duration_seconds"].type == "histogram"
    assert families["http_requests"].type == "counter"


def test_per_worker_metrics_port_and_graceful_exit(run_app: Callable[..., App]) -> None:
    base = _free_port()
    app = run_app("v2", METRICS_PORT_BASE=str(base), NODE_APP_INSTANCE="0", SHUTDOWN_GRACE_MS="0")
    for _unused in range(5):
        assert _get(app.port, "/api/items")[0] == 200
    samples = parse_metrics(_get(base, "/metrics")[1])
    assert _sample(samples, "http_requests_total", route="/api/items", status="200") == 5
    assert _sample(samples, "app_info", version="v2") == 1
    app.proc.terminate()
    assert app.proc.wait(timeout=10) == 0
