# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""HTTP smoke checks with millisecond latency, and the pure judgement of a response."""
from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ansible.module_utils.urls import open_url

from ansible_collections.liftoff.release.plugins.plugin_utils import assertions
from ansible_collections.liftoff.release.plugins.plugin_utils.redact import redact, redact_text


@dataclass
class Response:
    status: int | None
    latency_ms: float
    body: str
    error: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Judgement:
    passed: bool
    failures: list[str]
    response: Response
    attempts: int

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["response"]["body"] = self.response.body[:500]
        return data


def fetch(url: str, method: str = "GET", headers: Mapping[str, str] | None = None,
          timeout: float = 5.0, body: bytes | None = None) -> Response:
    """One HTTP request; an HTTP error status is a response, not an exception."""
    start = time.perf_counter()
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        # urlopen would read file:// (into the evidence) or raise ValueError on a bare word.
        return Response(None, _ms(start), "", f"unsupported URL {url!r}: expected an http:// or https:// URL")
    try:
        # The operator's URL, as urllib would open it: redirects followed, certificates verified, no
        # ~/.netrc credentials added and the body left as the server sent it.
        with open_url(url, data=body, headers=dict(headers or {}), method=method, timeout=timeout,
                      use_netrc=False, decompress=False) as reply:
            text = reply.read(65536).decode("utf-8", "replace")
            return Response(reply.status, _ms(start), text, None, dict(reply.headers.items()))
    except urllib.error.HTTPError as exc:
        text = exc.read(65536).decode("utf-8", "replace") if exc.fp else ""
        return Response(exc.code, _ms(start), text, None, dict(exc.headers.items()) if exc.headers else {})
    except (urllib.error.URLError, OSError, TimeoutError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        return Response(None, _ms(start), "", f"{type(exc).__name__}: {reason}")


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 2)


def judge(response: Response, expect_status: list[int], body_contains: list[str],
          json_equals: Mapping[str, Any], latency_max_ms: float | None, *,
          json_checks: Sequence[Mapping[str, Any]] = (), header_checks: Sequence[Mapping[str, Any]] = ()) -> list[str]:
    """Every way the response misses its expectations, as sentences; empty when it passes.

    ``json_checks`` are JMESPath assertions and ``header_checks`` response header assertions
    (see ``assertions``).
    """
    failures: list[str] = []
    if response.error:
        return [f"request failed: {response.error}"]
    if response.status not in expect_status:
        failures.append(f"status {response.status}, expected {' or '.join(map(str, expect_status))}")
    for needle in body_contains:
        if needle not in response.body:
            failures.append(f"body does not contain {needle!r}")
    failures.extend(assertions.check_headers(response.headers, header_checks))
    if json_equals or json_checks:
        try:
            document = json.loads(response.body)
        except ValueError:
            failures.append("body is not JSON")
        else:
            for key, expected in json_equals.items():
                actual = _dig(document, key)
                if actual != expected:
                    failures.append(f"JSON {key} is {actual!r}, expected {expected!r}")
            failures.extend(assertions.check_json(document, json_checks))
    if latency_max_ms is not None and response.latency_ms > latency_max_ms:
        failures.append(f"latency {response.latency_ms} ms over {latency_max_ms} ms")
    return failures


def _dig(document: Any, dotted: str) -> Any:
    current = document
    for part in dotted.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def check(url: str, *, method: str = "GET", headers: Mapping[str, str] | None = None,
          expect_status: list[int] | None = None, body_contains: list[str] | None = None,
          json_equals: Mapping[str, Any] | None = None, latency_max_ms: float | None = None,
          json_checks: Sequence[Mapping[str, Any]] = (), header_checks: Sequence[Mapping[str, Any]] = (),
          timeout: float = 5.0, retries: int = 0, delay: float = 1.0,
          fetcher: Callable[..., Response] = fetch, sleep: Callable[[float], None] = time.sleep) -> Judgement:
    """Request ``url`` until it passes or ``retries`` run out; the last attempt is the one judged."""
    statuses = expect_status or [200]
    attempts = 0
    while True:
        attempts += 1
        response = fetcher(url, method=method, headers=headers, timeout=timeout)
        failures = judge(response, statuses, body_contains or [], json_equals or {}, latency_max_ms,
                         json_checks=json_checks, header_checks=header_checks)
        if not failures or attempts > retries:
            return Judgement(not failures, failures, response, attempts)
        sleep(delay)


def redact_body(body: str, secrets: set[str]) -> str:
    """A response body fit to show: JSON values under secret-named keys masked, then known secrets."""
    try:
        document = json.loads(body)
    except ValueError:
        return redact_text(body, secrets)
    return json.dumps(redact(document, secrets))


def header_secrets(headers: Mapping[str, str]) -> set[str]:
    """Request header values (and their credential after a scheme word) to mask wherever they show."""
    found: set[str] = set()
    for value in headers.values():
        text = str(value)
        for candidate in (text, text.split(" ", 1)[-1]):
            if len(candidate) >= 4:
                found.add(candidate)
    return found
