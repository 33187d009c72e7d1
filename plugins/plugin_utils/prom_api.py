# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""A small client for the Prometheus HTTP API, the deploy gate's ``prometheus`` metric provider.

Stdlib only. ``query_instant`` and ``query_range`` turn a PromQL query into plain floats
(one per series, or one list per series); ``gate.reduce_values`` folds them into one number.
Every failure is a :class:`PrometheusError` whose message names the address, without
its userinfo, and the short reason; header values (tokens) are never echoed.

Requests go straight to the address: no proxy from the environment (a proxy between
the controller and Prometheus would only add a way to fail), no redirects followed (a
redirect would carry the ``Authorization`` header to wherever it points). A
``user:password@`` in the address becomes HTTP basic auth. ``timeout`` bounds each
socket operation and is also sent as the query's evaluation timeout.
"""
from __future__ import annotations

import base64
import http.client
import json
import math
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any, Literal

__all__ = ["OPENER", "PrometheusError", "query_instant", "query_range", "safe_address"]

Reduction = Literal["last", "min", "max", "avg", "sum", "p95"]
_MAX_BODY = 32 * 1024 * 1024
_CLIP = 300
_BAD_HEADER = re.compile(r"[\r\n\0]")


class PrometheusError(RuntimeError):
    """A Prometheus API call failed; the message is safe to record (no userinfo, no headers)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> None:
        return None  # the 3xx surfaces as an HTTPError, reported with its Location


OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())


# --------------------------------------------------------------------------- queries

def query_instant(address: str, query: str, *, timeout: float, headers: Mapping[str, str] | None = None,
                  at: float | None = None, opener: urllib.request.OpenerDirector | None = None) -> list[float]:
    """``GET {address}/api/v1/query``: one float per series of a vector, one for a scalar.

    An empty vector gives ``[]``; ``NaN`` / ``+Inf`` / ``-Inf`` become float nan / inf.
    ``at`` is the evaluation time (Unix seconds; Prometheus' "now" when None).
    """
    params = {"query": _check_query(address, query)}
    if at is not None:
        params["time"] = _number(address, "at", at)
    kind, result = _get(address, "/api/v1/query", params, timeout=timeout, headers=headers, opener=opener)
    if kind == "vector":
        return [_sample_value(address, item, "value") for item in _as_list(address, result, "vector")]
    if kind == "scalar":
        return [_point_value(address, result)]
    if kind == "matrix":
        raise PrometheusError(f"Prometheus at {safe_address(address)}: the query returned a range vector "
                              f"(matrix); use a range query or wrap the selector in a function such as rate()")
    raise PrometheusError(f"Prometheus at {safe_address(address)}: unsupported result type {kind!r} "
                          f"(expected vector or scalar)")


def query_range(address: str, query: str, *, start: float, end: float, step: float, timeout: float,
                headers: Mapping[str, str] | None = None,
                opener: urllib.request.OpenerDirector | None = None) -> list[list[float]]:
    """``GET {address}/api/v1/query_range``: one list of values (oldest first) per series."""
    params = {"query": _check_query(address, query), "start": _number(address, "start", start),
              "end": _number(address, "end", end), "step": _number(address, "step", step)}
    if step <= 0:
        raise PrometheusError(f"Prometheus at {safe_address(address)}: invalid range query: step must be > 0, "
                              f"got {step!r}")
    if end < start:
        raise PrometheusError(f"Prometheus at {safe_address(address)}: invalid range query: end ({end!r}) is "
                              f"before start ({start!r})")
    kind, result = _get(address, "/api/v1/query_range", params, timeout=timeout, headers=headers, opener=opener)
    if kind != "matrix":
        raise PrometheusError(f"Prometheus at {safe_address(address)}: unsupported result type {kind!r} "
                              f"for a range query (expected matrix)")
    series: list[list[float]] = []
    for item in _as_list(address, result, "matrix"):
        if not isinstance(item, Mapping):
            raise _malformed(address, "a matrix series is not an object")
        if "histograms" in item and "values" not in item:
            raise PrometheusError(f"Prometheus at {safe_address(address)}: unsupported native histogram "
                                  f"series; query a float expression (e.g. histogram_quantile)")
        series.append([_point_value(address, point) for point in _as_list(address, item.get("values"), "values")])
    return series


def safe_address(address: str) -> str:
    """The address for messages: without userinfo (``user:password@``), query or fragment.

    Cut at the last ``@`` rather than parsed, so that a password with an unencoded
    ``/``, ``?`` or ``#`` (which moves the split point of a URL parser) is dropped too.
    """
    text = str(address).strip()
    scheme, sep, rest = text.partition("://")
    if not sep:
        scheme, rest = "", text
    if "@" in rest:
        rest = rest.rpartition("@")[2]
    rest = rest.split("?", 1)[0].split("#", 1)[0]
    return f"{scheme}{sep}{rest}"


# --------------------------------------------------------------------------- transport

def _get(address: str, path: str, params: dict[str, str], *, timeout: float,
         headers: Mapping[str, str] | None, opener: urllib.request.OpenerDirector | None) -> tuple[str, Any]:
    """One API GET; returns (resultType, result) of a ``status: success`` answer."""
    shown = safe_address(address)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or not 0 < timeout < math.inf:
        raise PrometheusError(f"Prometheus at {shown}: timeout must be a positive number of seconds, "
                              f"got {timeout!r}")
    params = {**params, "timeout": _number(address, "timeout", timeout)}
    url, auth = _url(address, path, params)
    request_headers = {"Accept": "application/json", "User-Agent": "liftoff.release-prom-api"}
    if auth is not None:
        request_headers["Authorization"] = auth
    for name, value in (headers or {}).items():  # an explicit Authorization header wins over userinfo
        if not isinstance(name, str) or not isinstance(value, str) or _BAD_HEADER.search(name + value):
            # http.client would echo the value (a token, perhaps) in its error: name the header only
            raise PrometheusError(f"Prometheus at {shown}: invalid request header {str(name)[:60]!r} "
                                  f"(names and values must be text without line breaks)")
        request_headers[name] = value
    request = urllib.request.Request(url, headers=request_headers, method="GET")  # noqa: S310 - http(s) only
    status: int | None = None
    try:
        with (opener or OPENER).open(request, timeout=timeout) as reply:
            status = int(reply.status)
            body = reply.read(_MAX_BODY + 1)
    except urllib.error.HTTPError as exc:
        raise _http_error(shown, exc) from None
    except urllib.error.URLError as exc:
        raise PrometheusError(f"Prometheus at {shown}: {_reason(exc.reason, timeout)}") from None
    except (OSError, http.client.HTTPException) as exc:  # timeouts and resets while reading
        raise PrometheusError(f"Prometheus at {shown}: {_reason(exc, timeout)}") from None
    except ValueError as exc:  # e.g. a header value http.client cannot encode: never echo it
        raise PrometheusError(f"Prometheus at {shown}: invalid request ({type(exc).__name__})") from None
    if len(body) > _MAX_BODY:
        raise PrometheusError(f"Prometheus at {shown}: answer larger than {_MAX_BODY // (1024 * 1024)} MiB; "
                              f"narrow the query")
    doc = _json(shown, body, status)
    if doc.get("status") == "error":
        raise PrometheusError(f"Prometheus at {shown}: {_api_error(doc)}")
    if doc.get("status") != "success":
        raise _malformed(address, f"status is {doc.get('status')!r}, expected 'success' or 'error'")
    data = doc.get("data")
    if not isinstance(data, Mapping) or "resultType" not in data or "result" not in data:
        raise _malformed(address, "no data.resultType / data.result")
    return str(data["resultType"]), data["result"]


def _url(address: str, path: str, params: Mapping[str, str]) -> tuple[str, str | None]:
    """The request URL (userinfo removed) and the basic-auth header the userinfo stands for."""
    shown = safe_address(address)
    try:
        parts = urllib.parse.urlsplit(address.strip())
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:  # its text may quote part of a password: not echoed
        raise PrometheusError(f"Prometheus at {shown}: invalid address (cannot parse host and port)") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise PrometheusError(f"Prometheus at {shown}: invalid address: expected http://host:port or "
                              f"https://host:port (with an optional path prefix)")
    if parts.query or parts.fragment:
        raise PrometheusError(f"Prometheus at {shown}: invalid address: no query string or fragment allowed")
    auth = None
    userinfo, _unused, host = parts.netloc.rpartition("@")
    if userinfo:
        user, _unused, password = userinfo.partition(":")
        pair = f"{urllib.parse.unquote(user)}:{urllib.parse.unquote(password)}"
        auth = "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")
    query = urllib.parse.urlencode(params, quote_via=urllib.parse.quote, safe="")
    base = urllib.parse.urlunsplit((parts.scheme.lower(), host, parts.path.rstrip("/") + path, "", ""))
    return f"{base}?{query}", auth


def _http_error(shown: str, exc: urllib.error.HTTPError) -> PrometheusError:
    """An HTTP error status; Prometheus' own errors (400/422/503) carry a JSON error body."""
    try:
        body = exc.read(65536) if exc.fp else b""
    except (OSError, http.client.HTTPException):
        body = b""
    finally:
        exc.close()
    if 300 <= exc.code < 400:
        location = safe_address(exc.headers.get("Location", "") if exc.headers else "")
        return PrometheusError(f"Prometheus at {shown}: HTTP {exc.code} redirect to {location or '?'} "
                               f"(redirects are not followed: use the final address)")
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if isinstance(doc, Mapping) and doc.get("status") == "error":
        return PrometheusError(f"Prometheus at {shown}: HTTP {exc.code}: {_api_error(doc)}")
    text = _clip(body.decode("utf-8", "replace").strip())
    reason = f"HTTP {exc.code} {exc.reason}".rstrip()
    return PrometheusError(f"Prometheus at {shown}: {reason}" + (f": {text}" if text else ""))


def _reason(reason: object, timeout: float) -> str:
    if isinstance(reason, TimeoutError) or "timed out" in str(reason):
        return f"timed out after {timeout:g} s"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve host ({reason.strerror or reason})"
    if isinstance(reason, OSError) and reason.strerror:
        return _clip(reason.strerror)
    if isinstance(reason, http.client.HTTPException):
        return _clip(f"{type(reason).__name__}: {reason}".rstrip(": "))
    return _clip(str(reason) or type(reason).__name__)


def _api_error(doc: Mapping[str, Any]) -> str:
    kind = doc.get("errorType") or "error"
    return _clip(f"{kind}: {doc.get('error') or 'no error message'}")


def _json(shown: str, body: bytes, status: int | None) -> Mapping[str, Any]:
    try:
        doc = json.loads(body)
    except ValueError:
        text = _clip(body.decode("utf-8", "replace").strip())
        raise PrometheusError(f"Prometheus at {shown}: malformed JSON in the answer (HTTP {status}): "
                              f"{text!r}") from None
    if not isinstance(doc, Mapping):
        raise PrometheusError(f"Prometheus at {shown}: malformed answer: a JSON {type(doc).__name__}, "
                              f"expected an object")
    return doc


# --------------------------------------------------------------------------- values

def _sample_value(address: str, item: Any, key: str) -> float:
    if not isinstance(item, Mapping):
        raise _malformed(address, "a vector sample is not an object")
    if key not in item:
        if "histogram" in item:
            raise PrometheusError(f"Prometheus at {safe_address(address)}: unsupported native histogram "
                                  f"sample; query a float expression (e.g. histogram_quantile)")
        raise _malformed(address, f"a sample has no {key!r}")
    return _point_value(address, item[key])


def _point_value(address: str, point: Any) -> float:
    """``[timestamp, "value"]`` -> float; Prometheus sends values as strings (NaN, +Inf, -Inf too)."""
    if not isinstance(point, list | tuple) or len(point) != 2:
        raise _malformed(address, f"a point is {_clip(repr(point), 60)}, expected [timestamp, \"value\"]")
    raw = point[1]
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise _malformed(address, f"a value is {_clip(repr(raw), 60)}, expected a number as a string")
    try:
        return float(raw)
    except ValueError:
        raise _malformed(address, f"a value is {_clip(repr(raw), 60)}, not a number") from None


def _as_list(address: str, value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise _malformed(address, f"the {what} is not a list")
    return value


def _check_query(address: str, query: str) -> str:
    if not isinstance(query, str) or not query.strip():
        raise PrometheusError(f"Prometheus at {safe_address(address)}: empty query")
    return query


def _number(address: str, name: str, value: float) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PrometheusError(f"Prometheus at {safe_address(address)}: {name} must be a finite number, "
                              f"got {value!r}")
    return repr(float(value))


def _malformed(address: str, what: str) -> PrometheusError:
    return PrometheusError(f"Prometheus at {safe_address(address)}: malformed answer: {what}")


def _clip(text: str, limit: int = _CLIP) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
