#!/usr/bin/env python3
"""Seed 004's ``scripts/validate_external_services.py`` for this example: probe each external service
of the Halcytone content generator with the URL and key that ``.env.production`` gives it.

    validate_external_services.py --env .env.production --all
    validate_external_services.py --env .env.production --service crm

A service passes when it answers 2xx to an authenticated request (a 401 or 403 is "not authenticated",
anything else "unreachable"). One line per service, then ``passed: N/M`` (for more than one); the exit
code is 1 when one failed. Keys are sent, never printed. The preflight runs it per service (a
``command`` check each) and with --all; the smoke phase runs --all again as a test command (format
fraction).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

Env = dict[str, str]


def read_env(path: Path) -> Env:
    """KEY=value lines (comments and blank lines skipped, no quoting: the file's own format)."""
    out: Env = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _sep, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def _google_token(env: Env) -> str:
    """The service account's key id (the stand-in's bearer token; Google mints an OAuth token from the key)."""
    account = json.loads(Path(env["GOOGLE_APPLICATION_CREDENTIALS"]).read_text(encoding="utf-8"))
    return str(account["private_key_id"])


# name -> (base URL key, path, headers)
SERVICES: dict[str, tuple[str, Callable[[Env], str], Callable[[Env], dict[str, str]]]] = {
    "crm": ("CRM_BASE_URL", lambda e: "/v1/health", lambda e: {"Authorization": f"Bearer {e['CRM_API_KEY']}"}),
    "platform": ("PLATFORM_BASE_URL", lambda e: "/v1/status", lambda e: {"X-API-Key": e["PLATFORM_API_KEY"]}),
    "openai": ("OPENAI_BASE_URL", lambda e: "/v1/models", lambda e: {"Authorization": f"Bearer {e['OPENAI_API_KEY']}"}),
    "google_docs": ("GOOGLE_DOCS_BASE_URL", lambda e: f"/v1/documents/{e['GOOGLE_DOCS_DOCUMENT_ID']}",
                    lambda e: {"Authorization": f"Bearer {_google_token(e)}"}),
    "notion": ("NOTION_BASE_URL", lambda e: f"/v1/databases/{e['NOTION_DATABASE_ID']}",
               lambda e: {"Authorization": f"Bearer {e['NOTION_API_KEY']}", "Notion-Version": "2022-06-28"}),
}


def probe(name: str, env: Env, timeout: float) -> tuple[bool, str]:
    base_key, path, headers = SERVICES[name]
    try:
        url = env[base_key].rstrip("/") + path(env)
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{base_key} is not an http(s) URL")
        request = urllib.request.Request(url, headers=headers(env))  # noqa: S310 (http(s) only, checked above)
    except (KeyError, OSError, ValueError) as exc:
        return False, f"not configured ({type(exc).__name__}: {exc})"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    started = time.monotonic()
    try:
        with opener.open(request, timeout=timeout) as reply:
            status = int(reply.status)
    except urllib.error.HTTPError as exc:
        status = int(exc.code)
    except (OSError, ValueError) as exc:
        return False, f"unreachable ({getattr(exc, 'reason', exc)})"
    ms = round((time.monotonic() - started) * 1000)
    if 200 <= status < 300:
        return True, f"HTTP {status}, authenticated ({ms} ms)"
    if status in (401, 403):
        return False, f"HTTP {status}, not authenticated"
    return False, f"HTTP {status}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", required=True, type=Path, help=".env.production")
    parser.add_argument("--all", action="store_true", help="every service")
    parser.add_argument("--service", action="append", choices=sorted(SERVICES), default=[])
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args(argv)
    names = sorted(SERVICES) if args.all else args.service
    if not names:
        parser.error("give --all or --service NAME")
    env = read_env(args.env)
    passed = 0
    for name in names:
        ok, text = probe(name, env, args.timeout)
        passed += ok
        print(f"{name}: {text}")
    if len(names) > 1:  # one service: its own line is the last (what the preflight evidence shows)
        print(f"passed: {passed}/{len(names)}")
    return 0 if passed == len(names) else 1


if __name__ == "__main__":
    sys.exit(main())
