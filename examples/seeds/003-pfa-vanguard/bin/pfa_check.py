#!/usr/bin/env python3
"""The seed 003 example's own checks, run by the collection's generic mechanisms.

    pfa_check.py redis-memory HOST PORT PASSWORD_FILE MAX_RATIO   readiness (command): Redis memory < 70%
    pfa_check.py promql URL QUERY MAX                              readiness (command): a PromQL value <= MAX
    pfa_check.py pm2-usage PM2_BIN PM2_HOME cpu|memory|crashes NAME...  gate (command provider): worst ratio, crashes
    pfa_check.py smoke BACKEND_URL WORKER_URL                      smoke (test command): the seed's suite, TAP
    pfa_check.py tables DSN TABLE...                               smoke (test command): tables exist, TAP

The smoke suite reads the principal token from SMOKE_TEST_TOKEN and `tables` the password from
PGPASSWORD (the smoke role passes both through its no_log environment); nothing secret is printed.
Standard library only, except `tables` (psycopg, which the gate's sql provider needs anyway).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
import socket
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _resp(sock: socket.socket, *args: str) -> bytes:
    sock.sendall(b"".join([f"*{len(args)}\r\n".encode()] + [f"${len(a.encode())}\r\n{a}\r\n".encode() for a in args]))
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
        if data.startswith((b"+", b"-")) and data.endswith(b"\r\n"):
            break
        if data.startswith(b"$"):
            size = int(data[1:data.index(b"\r\n")])
            if len(data) >= data.index(b"\r\n") + 2 + size + 2:
                break
    if data.startswith(b"-"):
        raise RuntimeError(data.decode(errors="replace").strip()[:80])
    return data


def redis_memory(host: str, port: str, password_file: str, max_ratio: str) -> int:
    password = Path(password_file).read_text(encoding="utf-8").strip()
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        if password:
            _resp(sock, "AUTH", password)
        info = _resp(sock, "INFO", "memory").decode(errors="replace")
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    used, limit = int(fields["used_memory"]), int(fields.get("maxmemory", "0"))
    if not limit:  # no maxmemory: the host's memory is the limit
        limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    ratio = used / limit
    print(f"redis memory {ratio:.4%} of {limit} bytes (max {float(max_ratio):.0%})")
    return 0 if ratio < float(max_ratio) else 1


def promql(url: str, query: str, maximum: str) -> int:
    address = url.rstrip("/") + "/api/v1/query?" + urllib.parse.urlencode({"query": query})
    with urllib.request.urlopen(address, timeout=10) as reply:  # noqa: S310 - the inventory's http URL
        result = json.load(reply)["data"]["result"]
    values = [float(r["value"][1]) for r in result if r["value"][1] not in ("NaN", "+Inf", "-Inf")]
    if not values:
        print(f"no data for {query}")
        return 2
    print(f"{max(values):g} (max {float(maximum):g})")
    return 0 if max(values) <= float(maximum) else 1


CRASH = re.compile(r"^(\S+): PM2 log: App \[(.+):[^:\]]+\] exited with code \[(\w+)\] via signal \[(\w+)\]")


def pm2_crashes(pm2_home: str, names: tuple[str, ...], hours: float = 1.0) -> int:
    """Exits of these processes in pm2's log over the last hour that were not a reload or a stop
    (those exit 0 on SIGINT): a crash, an out-of-memory kill, an exception."""
    since = _dt.datetime.now() - _dt.timedelta(hours=hours)
    crashes = 0
    for line in (Path(pm2_home) / "pm2.log").read_text(encoding="utf-8", errors="replace").splitlines():
        match = CRASH.match(line)
        if not match or match.group(2) not in names:
            continue
        try:
            at = _dt.datetime.fromisoformat(match.group(1))
        except ValueError:
            continue
        if at >= since and not (match.group(3) == "0" and match.group(4) in ("SIGINT", "SIGTERM")):
            crashes += 1
    return crashes


def pm2_usage(pm2_bin: str, pm2_home: str, metric: str, *names: str) -> int:
    if metric == "crashes":
        print(pm2_crashes(pm2_home, names))
        return 0
    out = subprocess.run(["env", "-i", f"PATH={os.environ.get('PATH', '')}", f"HOME={os.environ.get('HOME', '')}",
                          f"PM2_HOME={pm2_home}", pm2_bin, "jlist"], capture_output=True, text=True, check=True,
                         timeout=30).stdout
    procs = [p for p in json.loads(out.strip().splitlines()[-1]) if p.get("name") in names]
    if not procs:
        return 0  # empty output: no data
    if metric == "cpu":
        ratios = [float(p["monit"]["cpu"]) / 100 for p in procs]
    else:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        ratios = [float(p["monit"]["memory"]) / total for p in procs]
    print(f"{max(ratios):.6f}")
    return 0


def _request(url: str, method: str = "GET", headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, method=method, headers=headers or {},  # noqa: S310 - the inventory's URLs
                                     data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:  # noqa: S310 - the inventory's http URL
            body = reply.read()
            status = reply.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read(), exc.code
    try:
        return status, json.loads(body or b"null")
    except ValueError:
        return status, body.decode(errors="replace")


def _tap(tests: list[tuple[str, Callable[[], bool]]]) -> int:
    print(f"1..{len(tests)}")
    failed = 0
    for number, (name, test) in enumerate(tests, 1):
        try:
            ok = test()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            ok, name = False, f"{name} ({type(exc).__name__})"
        failed += not ok
        print(f"{'ok' if ok else 'not ok'} {number} - {name}")
    return 1 if failed else 0


def smoke(backend: str, worker: str) -> int:
    principal = os.environ.get("SMOKE_TEST_TOKEN", "")

    def authentication() -> bool:
        status, body = _request(backend + "/api/token", "POST", {"Authorization": f"Bearer {principal}"})
        if status != 200:
            return False
        status, body = _request(backend + "/api/protected", headers={"Authorization": f"Bearer {body['token']}"})
        return status == 200 and body.get("auth") == "ephemeral"

    def metrics() -> bool:
        with urllib.request.urlopen(worker + "/metrics", timeout=5) as reply:  # noqa: S310 - the inventory's URL
            return b"sync_manual_triggers_total" in reply.read()

    return _tap([
        ("health checks", lambda: _request(backend + "/health")[1].get("status") == "ok"),
        ("authentication", authentication),
        ("sync status", lambda: _request(worker + "/health")[1].get("status") == "ok"),
        ("queue metrics", metrics),
        ("manual sync trigger", lambda: _request(worker + "/sync", "POST")[0] == 202),
    ])


def tables(dsn: str, *names: str) -> int:
    import psycopg

    with psycopg.connect(dsn, password=os.environ.get("PGPASSWORD") or None, connect_timeout=5) as conn:
        found = {row[0] for row in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'").fetchall()}

    def exists(name: str) -> Callable[[], bool]:
        return lambda: name in found

    return _tap([(f"table {name} exists", exists(name)) for name in names])


COMMANDS: dict[str, Callable[..., int]] = {"redis-memory": redis_memory, "promql": promql, "pm2-usage": pm2_usage,
                                           "smoke": smoke, "tables": tables}


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        print(__doc__, file=sys.stderr)
        return 2
    return COMMANDS[argv[0]](*argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
