# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""Open a server-sent-events stream and read its first events within a deadline (the network part)."""
from __future__ import annotations

import http.client
import ssl
import time
import urllib.parse
from collections.abc import Mapping

from ansible_collections.liftoff.release.plugins.plugin_utils.sse import Event, SSEParser, StreamResult


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000.0, 2)


def _connection(url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"unsupported URL {url!r}: expected an http:// or https:// URL")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if scheme == "https":
        return http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout,
                                           context=ssl.create_default_context()), target
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout), target


def read_stream(url: str, *, events: int, deadline: float, headers: Mapping[str, str] | None = None) -> StreamResult:
    """Read until ``events`` events arrived, the server closed the stream, or ``deadline`` seconds passed.

    The deadline covers everything from the connection on; the first event's time is from the
    start of the request. Events are kept without limit up to ``events``.
    """
    start = time.perf_counter()
    status: int | None = None
    content_type = ""
    got: list[Event] = []
    first_ms: float | None = None

    def done(stopped: str, error: str | None = None) -> StreamResult:
        if status is None and stopped == "deadline":
            error = f"no response within the {deadline:g} s deadline"
        return StreamResult(status, content_type, got[:events], first_ms, _ms(start), stopped, error)

    try:
        conn, target = _connection(url, deadline)
    except ValueError as exc:
        return done("error", str(exc))
    try:
        conn.request("GET", target, headers={"Accept": "text/event-stream", "Cache-Control": "no-cache",
                                             **dict(headers or {})})
        response = conn.getresponse()
        status, content_type = response.status, response.getheader("Content-Type") or ""
        if status != 200 or not content_type.lower().startswith("text/event-stream"):
            return done("error")
        parser = SSEParser()
        while len(got) < events:
            remaining = deadline - (time.perf_counter() - start)
            if remaining <= 0:
                return done("deadline")
            if conn.sock is not None:
                conn.sock.settimeout(remaining)
            chunk = response.read1(65536)
            if not chunk:
                got.extend(parser.close())
                return done("count" if len(got) >= events else "eof")
            got.extend(parser.feed(chunk))
            if got and first_ms is None:
                first_ms = _ms(start)
        return done("count")
    except TimeoutError:
        return done("deadline")
    except (OSError, http.client.HTTPException) as exc:
        return done("error", f"{type(exc).__name__}: {exc}")
    finally:
        conn.close()


def probe(url: str, *, method: str = "GET", headers: Mapping[str, str] | None = None,
          timeout: float = 5.0) -> tuple[int | None, float, str, str | None]:
    """One request for its status only: (status, latency ms, content type, error); the body is not read.

    Safe on an endpoint that streams (an event stream never ends; reading it would wait for the timeout).
    """
    start = time.perf_counter()
    try:
        conn, target = _connection(url, timeout)
    except ValueError as exc:
        return None, _ms(start), "", str(exc)
    try:
        conn.request(method, target, headers=dict(headers or {}))
        response = conn.getresponse()
        return response.status, _ms(start), response.getheader("Content-Type") or "", None
    except (OSError, http.client.HTTPException) as exc:
        return None, _ms(start), "", f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()
