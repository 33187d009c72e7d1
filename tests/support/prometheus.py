"""A throwaway Prometheus server for tests and the demo.

It scrapes a given list of ``host:port`` targets every second (one job, name of your
choice), binds 127.0.0.1 on a free port chosen at run time, keeps its TSDB, config and
log in its own directory, and is stopped by its own pid (SIGTERM, then SIGKILL).

Nothing in it needs the network: Prometheus has no telemetry or update check, and the
config has no alerting, rule files, remote write/read or service discovery (static
targets only); the process gets no ``*_proxy`` variables, its console template dirs
are empty dirs of its own (not /etc/prometheus), its external URL is its loopback
address (not the machine's hostname), and CORS is limited to loopback origins.

    with PrometheusServer(["127.0.0.1:8000"], job="app") as prom:
        prom.wait_for_targets_up(timeout=15)
        prom.query("up")            # -> {"resultType": "vector", "result": [...]}
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

from tests.support.pg import free_port  # reserved ports, see pg.py (test_prometheus_live imports it from here)

PACKAGE = "prometheus"
MISSING_MSG = (
    "the `prometheus` binary was not found; install the Debian package `prometheus` "
    "(apt-get install -y --no-install-recommends prometheus, or run scripts/bootstrap.sh as root) "
    "or put the binary on PATH"
)
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
_PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "no_proxy", "ftp_proxy"}


class PrometheusServerError(RuntimeError):
    """The throwaway server could not be started, queried or stopped."""


def find_prometheus() -> str:
    """The path of the ``prometheus`` binary, or an error naming the Debian package."""
    found = shutil.which("prometheus")
    if found:
        return found
    if Path("/usr/bin/prometheus").is_file():
        return "/usr/bin/prometheus"
    raise PrometheusServerError(MISSING_MSG)


def prometheus_version(binary: str | None = None) -> str:
    """``2.42.0+ds`` from ``prometheus --version``."""
    proc = subprocess.run([binary or find_prometheus(), "--version"], capture_output=True, text=True, check=False)
    first = (proc.stdout or proc.stderr).splitlines()[0] if (proc.stdout or proc.stderr) else ""
    return first.split("version", 1)[-1].split()[0] if "version" in first else first


def _duration(seconds: float) -> str:
    millis = round(seconds * 1000)
    if millis <= 0:
        raise ValueError(f"a Prometheus interval must be at least 1 ms, got {seconds!r} s")
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def render_config(targets: Sequence[str], job: str, interval: float = 1.0) -> str:
    """The prometheus.yml text: one job scraping ``targets`` (JSON strings are valid YAML scalars)."""
    every = _duration(interval)
    target_list = ", ".join(json.dumps(str(t)) for t in targets)
    return (
        "global:\n"
        f"  scrape_interval: {every}\n"
        f"  evaluation_interval: {every}\n"
        f"  scrape_timeout: {every}\n"
        "scrape_configs:\n"
        f"  - job_name: {json.dumps(job)}\n"
        "    static_configs:\n"
        f"      - targets: [{target_list}]\n"
    )


class PrometheusServer:
    """One throwaway Prometheus; a context manager, or call :meth:`start` / :meth:`stop`."""

    def __init__(self, targets: Sequence[str], *, job: str = "liftoff", base_dir: Path | str | None = None,
                 interval: float = 1.0, ready_timeout: float = 30.0, binary: str | None = None) -> None:
        if isinstance(targets, str):
            raise TypeError("targets is a list of 'host:port' strings, not one string")
        self.targets = [str(t) for t in targets]
        self.job = job
        self.interval = interval
        self.ready_timeout = ready_timeout
        self.binary = binary
        self._own_dir = base_dir is None
        self.base_dir: Path | None = None if base_dir is None else Path(base_dir)
        self.port: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    # ---- lifecycle -----------------------------------------------------------------
    def start(self) -> PrometheusServer:
        """Write the config, start prometheus on a free loopback port, return once /-/ready answers."""
        if self._proc is not None:
            raise PrometheusServerError("this PrometheusServer was already started")
        binary = self.binary or find_prometheus()
        if self.base_dir is None:
            self.base_dir = Path(tempfile.mkdtemp(prefix="liftoff-prometheus-"))
        base = self.base_dir
        base.mkdir(parents=True, exist_ok=True)
        for sub in ("data", "consoles", "console_libraries"):
            (base / sub).mkdir(exist_ok=True)
        config = base / "prometheus.yml"
        config.write_text(render_config(self.targets, self.job, self.interval), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k.lower() not in _PROXY_VARS}
        last_error = ""
        for _attempt in range(3):  # a chosen port can be taken between pick and bind
            port = free_port()
            address = f"127.0.0.1:{port}"
            argv = [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={base / 'data'}",
                f"--web.listen-address={address}",
                f"--web.external-url=http://{address}/",
                f"--web.console.templates={base / 'consoles'}",
                f"--web.console.libraries={base / 'console_libraries'}",
                r"--web.cors.origin=https?://(127\.0\.0\.1|localhost)(:[0-9]+)?",
                "--storage.tsdb.retention.time=1d",
            ]
            log = (base / "prometheus.log").open("ab")
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                        cwd=base, env=env, start_new_session=True)
            finally:
                log.close()
            self._proc, self.port = proc, port
            atexit.register(self.stop)  # a safety net; stop() unregisters it
            try:
                self._wait_ready()
            except PrometheusServerError as exc:
                last_error = str(exc)
                self._terminate()
                self._proc, self.port = None, None
                if "address already in use" in last_error:
                    continue
                self.stop()
                raise
            return self
        self.stop()
        raise PrometheusServerError(f"could not start prometheus in {base}: {last_error}")

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        last = ""
        while time.monotonic() < deadline:
            proc = self._proc
            assert proc is not None
            if proc.poll() is not None:
                raise PrometheusServerError(f"prometheus exited with {proc.returncode} before it was ready; "
                                            f"log tail:\n{self.log_tail()}")
            try:
                with _OPENER.open(f"{self.url}/-/ready", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, OSError) as exc:
                last = str(getattr(exc, "reason", exc))
            time.sleep(0.05)
        raise PrometheusServerError(f"prometheus not ready at {self.url} within {self.ready_timeout:g} s "
                                    f"({last}); log tail:\n{self.log_tail()}")

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM by its own pid, SIGKILL after ``timeout``; idempotent. Removes a dir it created itself."""
        atexit.unregister(self.stop)
        self._terminate(timeout)
        if self._own_dir and self.base_dir is not None and not self.running:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None

    def _terminate(self, timeout: float = 10.0) -> None:
        proc = self._proc  # a Popen child is not reaped until waited for: its pid cannot be reused
        if proc is None or proc.poll() is not None:
            return
        try:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def url(self) -> str:
        if self.port is None:
            raise PrometheusServerError("the PrometheusServer is not started")
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 20) -> str:
        if self.base_dir is None:
            return ""
        try:
            text = (self.base_dir / "prometheus.log").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # ---- use -----------------------------------------------------------------------
    def api(self, path: str, **params: str) -> Any:
        """GET ``/api/v1/<path>`` and return its ``data``; raise on an error answer."""
        url = f"{self.url}/api/v1/{path.lstrip('/')}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with _OPENER.open(url, timeout=10) as reply:
                body = json.load(reply)
        except urllib.error.HTTPError as exc:
            try:
                body = json.load(exc)
            except ValueError:
                raise PrometheusServerError(f"GET {url}: HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise PrometheusServerError(f"GET {url}: {getattr(exc, 'reason', exc)}") from None
        if body.get("status") != "success":
            raise PrometheusServerError(f"GET {url}: {body.get('errorType')}: {body.get('error')}")
        return body["data"]

    def query(self, promql: str, at: float | None = None) -> dict[str, Any]:
        """An instant query: ``{"resultType": ..., "result": [...]}``."""
        params = {"query": promql}
        if at is not None:
            params["time"] = repr(float(at))
        return dict(self.api("query", **params))

    def wait_for_query(self, promql: str, timeout: float = 15.0,
                       until: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
        """Repeat an instant query until ``until(data)`` (default: a non-empty result) holds."""
        check = until or (lambda data: bool(data["result"]))
        deadline = time.monotonic() + timeout
        while True:
            data = self.query(promql)
            if check(data):
                return data
            if time.monotonic() >= deadline:
                raise PrometheusServerError(f"{promql!r}: condition not met within {timeout:g} s; last {data}")
            time.sleep(0.2)

    def active_targets(self) -> list[dict[str, Any]]:
        return list(self.api("targets", state="active")["activeTargets"])

    def wait_for_targets_up(self, timeout: float = 30.0) -> list[dict[str, Any]]:
        """Wait until every configured target of the job was scraped successfully; return the targets."""
        deadline = time.monotonic() + timeout
        while True:
            active = [t for t in self.active_targets() if t.get("labels", {}).get("job") == self.job]
            health = {t.get("labels", {}).get("instance"): t for t in active}
            if all(health.get(t, {}).get("health") == "up" for t in self.targets):
                return active
            if time.monotonic() >= deadline:
                seen = {t: (health.get(t, {}).get("health", "absent"), health.get(t, {}).get("lastError", ""))
                        for t in self.targets}
                raise PrometheusServerError(f"targets not all up within {timeout:g} s: {seen}")
            time.sleep(0.2)


# ---- pytest fixture (import it from conftest.py or a test module) ---------------------
@pytest.fixture
def prometheus_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., PrometheusServer]]:
    """``make(targets, job=...)`` -> a started server; every server made is stopped at teardown."""
    servers: list[PrometheusServer] = []

    def make(targets: Sequence[str], **kwargs: Any) -> PrometheusServer:
        kwargs.setdefault("base_dir", tmp_path_factory.mktemp("prometheus"))
        server = PrometheusServer(targets, **kwargs)
        servers.append(server)
        return server.start()

    try:
        yield make
    finally:
        for server in servers:
            server.stop()
