#!/usr/bin/env python3
"""The seed's five smoke tests of the SSE ephemeral tokens (scripts/test_sse_ephemeral_token.py in
VX11), against a gateway (tentaculo_link) and its operator backend; TAP on stdout.

    test_sse_ephemeral_token.py GATEWAY_URL --tokens-env FILE

1. the gateway is healthy and is tentaculo_link
2. the principal token (X-VX11-Token) gets an ephemeral sse_token, with its TTL
3. the SSE stream accepts that token as ?token= and sends an event within 3 s
4. a forged token is refused (403)
5. the principal token still works on the stream, in the header and as ?token= (the fallback)

The principal token comes from the tokens.env file (VX11_PRINCIPAL_TOKEN=...); no token is printed.
Exit status 0 when all pass, 1 otherwise.
"""
from __future__ import annotations

import argparse
import http.client
import json
import sys
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

ISSUE_PATH = "/operator/api/events/sse-token"
STREAM_PATH = "/operator/api/events/stream"


class Gateway:
    def __init__(self, url: str, principal: str) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.principal = principal

    def request(self, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
        try:
            conn.request(method, path, headers=headers or {})
            reply = conn.getresponse()
            body = reply.read()
        finally:
            conn.close()
        try:
            return reply.status, json.loads(body or b"null")
        except ValueError:
            return reply.status, None

    def stream(self, query: str = "", headers: dict[str, str] | None = None, deadline: float = 3.0) -> tuple[int, str]:
        """The stream's status and its first event's name (empty when none came within the deadline)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=deadline)
        try:
            conn.request("GET", STREAM_PATH + query, headers={"Accept": "text/event-stream", **(headers or {})})
            reply = conn.getresponse()
            if reply.status != 200:
                reply.read()
                return reply.status, ""
            ends = time.monotonic() + deadline
            while time.monotonic() < ends:
                line = reply.readline().decode("utf-8", "replace").strip()
                if line.startswith("event:"):
                    return 200, line.split(":", 1)[1].strip()
                if not line and reply.isclosed():
                    break
            return 200, ""
        except OSError:
            return 200, ""
        finally:
            conn.close()

    def issue(self) -> tuple[int, Any]:
        return self.request("POST", ISSUE_PATH, {"X-VX11-Token": self.principal})


def tests(gateway: Gateway) -> list[tuple[str, Callable[[], str | None]]]:
    """(description, test) pairs; a test returns None when it passes, else why it failed."""
    issued: dict[str, str] = {}

    def health() -> str | None:
        status, body = gateway.request("GET", "/health")
        if status != 200 or not isinstance(body, dict):
            return f"HTTP {status}"
        return None if (body.get("status"), body.get("module")) == ("ok", "tentaculo_link") else \
            f"status {body.get('status')!r}, module {body.get('module')!r}"

    def issue() -> str | None:
        status, body = gateway.issue()
        if status != 200 or not isinstance(body, dict) or not body.get("sse_token"):
            return f"HTTP {status}, no sse_token"
        if not isinstance(body.get("expires_in"), (int, float)) or body["expires_in"] <= 0:
            return f"expires_in {body.get('expires_in')!r}"
        issued["token"] = str(body["sse_token"])
        return None

    def stream() -> str | None:
        if "token" not in issued:
            return "no token was issued (test 2)"
        status, event = gateway.stream("?" + urllib.parse.urlencode({"token": issued["token"]}))
        if status != 200:
            return f"HTTP {status}"
        return None if event else "no event within 3 s"

    def forged() -> str | None:
        status, _event = gateway.stream("?" + urllib.parse.urlencode({"token": "0" * 60}), deadline=2)
        return None if status == 403 else f"HTTP {status} for a forged token, expected 403"

    def fallback() -> str | None:
        header_status, header_event = gateway.stream(headers={"X-VX11-Token": gateway.principal})
        query_status, query_event = gateway.stream("?" + urllib.parse.urlencode({"token": gateway.principal}))
        if (header_status, query_status) != (200, 200) or not (header_event and query_event):
            return f"header: HTTP {header_status}, query: HTTP {query_status}"
        return None

    return [("gateway health is ok (tentaculo_link)", health),
            ("principal token gets an ephemeral sse_token with a TTL", issue),
            ("SSE stream accepts the ephemeral token and sends an event within 3 s", stream),
            ("a forged token is refused (403)", forged),
            ("principal token fallback works (header and query)", fallback)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("gateway_url")
    parser.add_argument("--tokens-env", required=True)
    args = parser.parse_args()
    principal = ""
    for line in Path(args.tokens_env).read_text(encoding="utf-8").splitlines():
        key, _eq, value = line.partition("=")
        if key.strip() == "VX11_PRINCIPAL_TOKEN":
            principal = value.strip()
    if not principal:
        print(f"Bail out! {args.tokens_env} has no VX11_PRINCIPAL_TOKEN")
        return 1
    suite = tests(Gateway(args.gateway_url, principal))
    print("TAP version 13")
    print(f"1..{len(suite)}")
    failed = 0
    for number, (description, test) in enumerate(suite, 1):
        try:
            why = test()
        except OSError as exc:
            why = f"{type(exc).__name__}: {exc}"
        failed += why is not None
        print(f"{'ok' if why is None else 'not ok'} {number} - {description}" + (f" # {why}" if why else ""))
    print(f"# {len(suite) - failed}/{len(suite)} passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
