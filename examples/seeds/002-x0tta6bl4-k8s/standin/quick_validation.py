#!/usr/bin/env python
"""Seed 002's "Quick validation suite: 6/6 passed", as the run's smoke phase runs it against the new release.

Six checks of the x0tta6bl4 API at --url; prints each, then ``N/6 passed`` (read by smoke_test_commands with
format fraction) and exits non-zero when one failed. The x0tta6bl4 project's own suite takes its place in
production (``x0_quick_validation_argv``); this one is what tests/integration/test_seed_002.py runs against
the stand-in API (standin.py).

    quick_validation.py --url http://127.0.0.1:PORT --version v2.4.0
"""
from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any


def get(url: str) -> tuple[int, str]:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url}")
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:  # noqa: S310 (http(s) only, checked above)
            return int(reply.status), reply.read().decode()
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode(errors="replace")


def body(url: str) -> Any:
    status, text = get(url)
    return json.loads(text) if status == 200 else {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--version", required=True)
    args = parser.parse_args()
    base = args.url.rstrip("/")
    checks: list[tuple[str, Callable[[], bool]]] = [
        ("health is ok", lambda: body(f"{base}/health").get("status") == "ok"),
        ("info names the release", lambda: body(f"{base}/api/v1/info").get("version") == args.version),
        ("database reachable from the API", lambda: body(f"{base}/api/v1/db-check").get("database") == "ok"),
        ("cache reachable from the API", lambda: body(f"{base}/api/v1/cache-check").get("cache") == "ok"),
        ("metrics exported", lambda: "http_requests_total" in get(f"{base}/metrics")[1]),
        ("unknown path is a 404", lambda: get(f"{base}/api/v1/no-such-endpoint")[0] == 404),
    ]
    passed = 0
    for name, check in checks:
        try:
            ok = check()
        except (OSError, ValueError):
            ok = False
        passed += ok
        print(f"{'PASS' if ok else 'FAIL'} {name}")
    print(f"{passed}/{len(checks)} passed")
    return 0 if passed == len(checks) else 1


if __name__ == "__main__":
    sys.exit(main())
