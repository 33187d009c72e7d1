# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""The gate's metric providers: where a sample's number comes from.

Each provider reads one metric once and returns a :class:`Reading`, or raises
:class:`ProviderError` with a short reason (never a secret: URLs lose their userinfo,
headers and passwords are never echoed). The sampling schedule is ``gate_run.py``'s;
the decision is ``gate.py``'s.

- ``scrape``: the Prometheus text exposition of every target, once per tick (shared by
  the metrics due at that tick); each metric is measured over the delta since its own
  previous good scrape, so a sample describes its interval only;
- ``prometheus``: the Prometheus HTTP API (``prom_api.py``), instant or range query;
- ``json``: an HTTP GET answering JSON, reduced with JMESPath;
- ``command``: a command on the controller, argv without a shell, with a timeout;
- ``fact``: a value the play already knows;
- ``sql``: a read-only transaction with ``statement_timeout`` (psycopg 3).
"""
from __future__ import annotations

import contextlib
import decimal
import json
import shlex
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ansible_collections.liftoff.release.plugins.plugin_utils.gate import reduce_values
from ansible_collections.liftoff.release.plugins.plugin_utils.gate_spec import (
    MetricSpec,
    judge_baseline_spec,
)
from ansible_collections.liftoff.release.plugins.plugin_utils.prom_api import (
    PrometheusError,
    query_instant,
    query_range,
    safe_address,
)
from ansible_collections.liftoff.release.plugins.plugin_utils.prom_text import (
    PromParseError,
    Scrape,
    measure,
    parse_text,
)

# The gate talks to the app directly: a proxy between controller and app would
# measure the proxy.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_MAX_BODY = 4 * 1024 * 1024


class ProviderError(RuntimeError):
    """A provider could not read a metric; the message is safe to record."""


class Reading(NamedTuple):
    """One read of a metric: its value and, for a canary judge, the baseline's."""

    value: float | None
    baseline_value: float | None = None


# URLs in messages lose their userinfo, query and fragment (a password or a token may sit there).
safe_url = safe_address


def to_number(value: Any, what: str) -> float | None:
    """A provider's raw result as one number (None for null); lists are reduced by the caller."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ProviderError(f"{what} gave a boolean ({value}), not a number")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return float(text)
        except ValueError:
            raise ProviderError(f"{what} gave {_clip(text)!r}, not a number") from None
    raise ProviderError(f"{what} gave a {type(value).__name__}, not a number")


def numbers(value: Any, what: str) -> list[float]:
    """A raw result (number, numeric string, null, or a list of those) as a list of numbers."""
    if isinstance(value, (list, tuple)):
        out = []
        for item in value:
            number = to_number(item, what)
            if number is not None:
                out.append(number)
        return out
    number = to_number(value, what)
    return [] if number is None else [number]


def _clip(text: str, n: int = 80) -> str:
    return text if len(text) <= n else text[:n] + "..."


def _jmespath(query: str | None, doc: Any, what: str) -> Any:
    if query is None:
        return doc
    try:
        import jmespath  # runtime dependency (requirements.txt); imported here to keep startup light
    except ImportError:  # pragma: no cover - jmespath ships with the collection's requirements
        raise ProviderError("the jmespath Python library is missing on the controller "
                            "(pip install jmespath)") from None
    try:
        return jmespath.search(query, doc)
    except jmespath.exceptions.JMESPathError as exc:
        raise ProviderError(f"{what}: JMESPath {query!r}: {exc}") from None


def http_get(url: str, *, timeout: float, headers: Mapping[str, str] | None = None) -> str:
    """GET url straight (no proxy), the body as text; ProviderError on any failure."""
    if not url.startswith(("http://", "https://")):
        raise ProviderError(f"GET {safe_url(url)}: only http and https URLs are read")
    request = urllib.request.Request(url, headers=dict(headers or {}))  # noqa: S310 - scheme checked above
    try:
        with OPENER.open(request, timeout=timeout) as resp:
            body: bytes = resp.read(_MAX_BODY)
            return body.decode("utf-8", errors="replace")
    except urllib.error.HTTPError as exc:
        exc.close()
        raise ProviderError(f"GET {safe_url(url)}: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ProviderError(f"GET {safe_url(url)}: {reason}") from None


def scrape_targets(targets: Sequence[str], timeout: float) -> list[Scrape]:
    """Scrape every target once; any failure fails the whole scrape (a partial sum would lie)."""
    out: list[Scrape] = []
    for url in targets:
        body = http_get(url, timeout=timeout)
        try:
            out.append(parse_text(body))
        except PromParseError as exc:
            raise ProviderError(f"scrape {safe_url(url)}: {exc}") from None
    return out


@dataclass
class ScrapeSource:
    """The ``scrape`` provider: one scrape per tick and target set, deltas per metric."""

    targets: Sequence[str]
    timeout: float
    scrape: Callable[[Sequence[str]], list[Scrape]] | None = None
    _tick: dict[tuple[str, ...], list[Scrape] | ProviderError] = field(default_factory=dict)
    _last: dict[str, list[Scrape]] = field(default_factory=dict)

    def begin_tick(self) -> None:
        self._tick.clear()

    def _now(self, targets: tuple[str, ...]) -> list[Scrape]:
        if targets not in self._tick:
            fetch = self.scrape or (lambda t: scrape_targets(t, self.timeout))
            try:
                self._tick[targets] = fetch(targets)
            except ProviderError as exc:
                self._tick[targets] = exc
        got = self._tick[targets]
        if isinstance(got, ProviderError):
            raise got
        return got

    def _targets(self, spec: MetricSpec) -> tuple[str, ...]:
        targets = tuple(spec.targets or self.targets)
        if not targets:
            raise ProviderError(f"{spec.name}: no targets to scrape (set the gate's targets)")
        return targets

    def prime(self, spec: MetricSpec, key: str) -> None:
        """Take the scrape the first interval is measured from (a failure is left to read)."""
        try:
            self._last[key] = self._now(self._targets(spec))
        except ProviderError:
            self._last.pop(key, None)

    def read(self, spec: MetricSpec, key: str) -> float | None:
        after = self._now(self._targets(spec))
        before = self._last.get(key)
        self._last[key] = after  # a failed scrape keeps the last good one as "before"
        if before is None:
            raise ProviderError("no earlier scrape to measure this interval from (the previous one failed)")
        if spec.kind is None:
            raise AssertionError("spec.kind is unset")
        try:
            return measure(spec.kind, before, after, quantile=spec.quantile, route=spec.route,
                           series=spec.series)
        except ValueError as exc:
            raise ProviderError(str(exc)) from None


@dataclass
class SqlSource:
    """The ``sql`` provider: one read-only connection per connection settings, reused."""

    defaults: Mapping[str, Any]
    timeout: float
    _conns: dict[tuple[tuple[str, str], ...], Any] = field(default_factory=dict)

    def read(self, spec: MetricSpec) -> list[float]:
        params = {**self.defaults, **spec.connection}
        key = tuple(sorted((k, str(v)) for k, v in params.items()))
        try:
            import psycopg
        except ImportError:  # pragma: no cover - psycopg ships with the collection's requirements
            raise ProviderError("the psycopg Python library is missing on the controller "
                                "(pip install 'psycopg[binary]')") from None
        where = f"{params.get('user', '')}@{params.get('host', '')}:{params.get('port', '')}/{params.get('dbname', '')}"
        try:
            conn = self._conns.get(key)
            if conn is None or conn.closed:
                options = (f"-c statement_timeout={int(self.timeout * 1000)} "
                           f"-c default_transaction_read_only=on")
                conn = psycopg.connect(connect_timeout=max(1, int(self.timeout)), options=options,
                                       autocommit=True, **params)
                self._conns[key] = conn
            with conn.cursor() as cur:
                cur.execute(spec.query or "")
                row = cur.fetchone()
        except psycopg.Error as exc:
            self._drop(key)
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ProviderError(f"sql {where}: {first}") from None
        if row is None or not row:
            return []
        value = float(row[0]) if isinstance(row[0], decimal.Decimal) else row[0]
        return numbers(value, f"sql {spec.name}")

    def _drop(self, key: tuple[tuple[str, str], ...]) -> None:
        conn = self._conns.pop(key, None)
        if conn is not None:
            with contextlib.suppress(Exception):  # closing a broken connection may fail; nothing to keep
                conn.close()

    def close(self) -> None:
        for key in list(self._conns):
            self._drop(key)


@dataclass
class Providers:
    """Dispatch a metric to its provider; the one object the sampling loop talks to."""

    timeout: float
    targets: Sequence[str] = ()
    prometheus_url: str | None = None
    sql_connection: Mapping[str, Any] = field(default_factory=dict)
    scrape: Callable[[Sequence[str]], list[Scrape]] | None = None
    now: Callable[[], float] = time.time
    run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run
    _scrape: ScrapeSource | None = None
    _sql: SqlSource | None = None

    def __post_init__(self) -> None:
        self._scrape = ScrapeSource(self.targets, self.timeout, self.scrape)
        self._sql = SqlSource(self.sql_connection, self.timeout)

    def begin_tick(self) -> None:
        if self._scrape is None:
            raise AssertionError("self._scrape is unset")
        self._scrape.begin_tick()

    def prime(self, spec: MetricSpec) -> None:
        """Before the first interval: the scrape provider takes its starting point."""
        if self._scrape is None:
            raise AssertionError("self._scrape is unset")
        if spec.provider == "scrape":
            self._scrape.prime(spec, spec.name)
            if spec.judge is not None:
                self._scrape.prime(judge_baseline_spec(spec), f"{spec.name}#baseline")

    def read(self, spec: MetricSpec) -> Reading:
        """The metric's value now (and its judge baseline's); ProviderError when it cannot be read."""
        value = self._value(spec, spec.name)
        if spec.judge is None:
            return Reading(value)
        return Reading(value, self._value(judge_baseline_spec(spec), f"{spec.name}#baseline"))

    def _value(self, spec: MetricSpec, key: str) -> float | None:
        if spec.provider == "scrape":
            if self._scrape is None:
                raise AssertionError("self._scrape is unset")
            return self._scrape.read(spec, key)
        if spec.provider == "fact":
            return spec.value
        if spec.provider == "sql":
            if self._sql is None:
                raise AssertionError("self._sql is unset")
            return reduce_values(self._sql.read(spec), "last", spec)
        if spec.provider == "prometheus":
            return reduce_values(self._prometheus(spec), spec.reduce, spec)
        if spec.provider == "json":
            return reduce_values(self._json(spec), spec.reduce, spec)
        if spec.provider == "command":
            return reduce_values(self._command(spec), spec.reduce, spec)
        raise ProviderError(f"unknown provider {spec.provider!r}")

    def _prometheus(self, spec: MetricSpec) -> list[float]:
        address = spec.url or self.prometheus_url
        if not address:
            raise ProviderError(f"{spec.name}: no Prometheus address (set the metric's url or "
                                f"the gate's prometheus_url)")
        query = spec.query or ""
        try:
            if spec.range is None:
                return query_instant(address, query, timeout=self.timeout, headers=spec.headers)
            end = self.now()
            step = spec.step or max(spec.range / 60.0, 1.0)
            series = query_range(address, query, start=end - spec.range, end=end, step=step,
                                 timeout=self.timeout, headers=spec.headers)
            return [v for values in series for v in values]
        except PrometheusError as exc:
            raise ProviderError(str(exc)) from None

    def _json(self, spec: MetricSpec) -> list[float]:
        if spec.url is None:
            raise AssertionError("spec.url is unset")
        body = http_get(spec.url, timeout=self.timeout, headers=spec.headers)
        try:
            doc = json.loads(body)
        except ValueError:
            raise ProviderError(f"GET {safe_url(spec.url)}: not JSON ({_clip(body.strip())!r})") from None
        return numbers(_jmespath(spec.query, doc, f"GET {safe_url(spec.url)}"), f"GET {safe_url(spec.url)}")

    def _command(self, spec: MetricSpec) -> list[float]:
        argv = list(spec.command) if isinstance(spec.command, tuple) else shlex.split(spec.command or "")
        what = f"command {argv[0]}" if argv else "command"
        try:
            done = self.run(argv, capture_output=True, text=True, timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired:
            raise ProviderError(f"{what}: no answer within {self.timeout:g} s") from None
        except OSError as exc:
            raise ProviderError(f"{what}: {exc.strerror or exc}") from None
        if done.returncode != 0:
            tail = (done.stderr or "").strip().splitlines()[-1:] or [""]
            raise ProviderError(f"{what} exited {done.returncode}: {_clip(tail[0])}")
        out = done.stdout.strip()
        if spec.query is None:
            return numbers(out, what)
        try:
            doc = json.loads(out)
        except ValueError:
            raise ProviderError(f"{what}: output is not JSON ({_clip(out)!r})") from None
        return numbers(_jmespath(spec.query, doc, what), what)

    def close(self) -> None:
        if self._sql is not None:
            self._sql.close()
