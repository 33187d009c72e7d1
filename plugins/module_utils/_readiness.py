# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Preflight readiness checks: the verdicts, pure, and the small reads they need.

Each check returns a :class:`Verdict` (status pass/fail, target, actual, details) that the
preflight role records as one evidence item. A secret's value never enters a verdict: secret
checks return only what is wrong with it (missing, a placeholder, too short), and a config
value is shown only for the keys a check expects.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import shlex
import socket
import ssl
from dataclasses import asdict, dataclass, field
from typing import Any

# Values that say "nobody filled this in" (seed 004: "All placeholder values replaced").
PLACEHOLDERS = (
    "changeme", "change_me", "change-me", "replace_me", "replaceme", "todo", "tbd", "fixme", "xxx", "placeholder",
    "your_secret_here", "secret", "password", "example", "dummy", "none", "null",
)
_PLACEHOLDER_SHAPES = (
    re.compile(r"^<[^>]*>$"),            # <your-key>
    re.compile(r"^\$\{[^}]*\}$"),        # ${JWT_SECRET}
    re.compile(r"^\{\{.*\}\}$"),         # {{ jwt_secret }}
    re.compile(r"^(x+|\*+|0+|\.+)$", re.IGNORECASE),
    re.compile(r"^(your|my)[-_ ]", re.IGNORECASE),
)
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtp]?)(i?b?)\s*$", re.IGNORECASE)


@dataclass
class Verdict:
    status: str  # pass | fail
    target: str
    actual: str
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def verdict(ok: bool, target: str, actual: str, **details: Any) -> Verdict:
    return Verdict("pass" if ok else "fail", target, actual, details)


# ---- secrets --------------------------------------------------------------------------------
def secret_problems(value: Any, min_length: int = 0, placeholders: tuple[str, ...] = PLACEHOLDERS) -> list[str]:
    """What is wrong with a secret, in words that never contain it; empty when it is usable."""
    if value is None:
        return ["not set"]
    text = str(value)
    if not text.strip():
        return ["empty"]
    problems: list[str] = []
    bare = text.strip()
    if bare.lower() in {p.lower() for p in placeholders} or any(s.search(bare) for s in _PLACEHOLDER_SHAPES):
        problems.append("a placeholder value")
    if min_length and len(text) < min_length:
        problems.append(f"{len(text)} characters, fewer than {min_length}")
    return problems


def secret_verdict(label: str, value: Any, min_length: int = 0,
                   placeholders: tuple[str, ...] = PLACEHOLDERS) -> Verdict:
    problems = secret_problems(value, min_length, placeholders)
    target = f"{label} set, not a placeholder" + (f", {min_length}+ characters" if min_length else "")
    actual = "; ".join(problems) if problems else f"set, {len(str(value))} characters"
    return verdict(not problems, target, actual, problems=problems)


# ---- configuration files ---------------------------------------------------------------------
def parse_env(text: str) -> dict[str, str]:
    """KEY=value lines of a .env file (export prefix, quotes and comments handled)."""
    out: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export "):].lstrip()
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", key.strip()):
            continue
        value = value.strip()
        if value[:1] in {"'", '"'}:
            try:
                value = shlex.split(value)[0] if value else ""
            except ValueError:
                value = value.strip("'\"")
        else:
            value = re.split(r"\s+#", value, maxsplit=1)[0].strip()
        out[key.strip()] = value
    return out


def parse_config(text: str, fmt: str) -> dict[str, Any]:
    if fmt == "env":
        return parse_env(text)
    if fmt == "json":
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("the JSON file is not an object")
        return data
    raise ValueError(f"unknown format {fmt!r} (env or json)")


def _lookup(config: dict[str, Any], key: str) -> tuple[bool, Any]:
    if key in config:
        return True, config[key]
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _same(actual: Any, expected: Any) -> bool:
    def norm(value: Any) -> str:
        text = json.dumps(value) if isinstance(value, bool) else str(value)
        return text.strip().lower()
    return norm(actual) == norm(expected)


def config_verdict(path: str, config: dict[str, Any], expect: dict[str, Any],
                   secret_keys: list[str] | None = None, min_length: int = 0) -> Verdict:
    """Each expected key has the expected value (case-insensitive; true/True/\"true\" are one);
    each of ``secret_keys`` is set and not a placeholder (its value never shown)."""
    wrong: list[str] = []
    seen: dict[str, Any] = {}
    for key, expected in expect.items():
        found, value = _lookup(config, key)
        seen[key] = value if found else None
        if not found:
            wrong.append(f"{key} missing (expected {expected})")
        elif not _same(value, expected):
            wrong.append(f"{key}={value} (expected {expected})")
    secrets: dict[str, list[str]] = {}
    for key in secret_keys or []:
        found, value = _lookup(config, key)
        problems = secret_problems(value if found else None, min_length)
        if problems:
            secrets[key] = problems
            wrong.append(f"{key}: {'; '.join(problems)}")
    parts = [f"{k}={v}" for k, v in expect.items()] + [f"{k} set" for k in secret_keys or []]
    target = f"{path}: " + ", ".join(parts)
    actual = "; ".join(wrong) if wrong else "as expected"
    return verdict(not wrong, target, actual, values=seen, secret_problems=secrets)


# ---- disk ------------------------------------------------------------------------------------
def parse_size(text: Any) -> int:
    """Bytes from 512, '10G', '1.5 GiB', '800M' (powers of 1024)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return int(text)
    match = _SIZE.match(str(text))
    if not match:
        raise ValueError(f"not a size: {text!r} (bytes, or a number with K, M, G, T or P)")
    number, unit = float(match.group(1)), match.group(2).upper()
    return int(number * 1024 ** " KMGTP".index(unit or " "))


def human(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def disk_verdict(path: str, free: int, total: int, min_free: int = 0, min_free_percent: float = 0) -> Verdict:
    percent = 100.0 * free / total if total else 0.0
    ok = free >= min_free and percent >= min_free_percent
    wants = [human(min_free)] if min_free else []
    wants += [f"{min_free_percent:g}%"] if min_free_percent else []
    target = f"{path}: at least " + " and ".join(wants) + " free" if wants else f"{path}: free space measured"
    return verdict(ok, target, f"{human(free)} free of {human(total)} ({percent:.1f}%)",
                   free_bytes=free, total_bytes=total, free_percent=round(percent, 2))


# ---- TLS -------------------------------------------------------------------------------------
def tls_verdict(endpoint: str, not_after: dt.datetime, now: dt.datetime, min_days: int,
                subject: str = "", issuer: str = "") -> Verdict:
    days = (not_after - now).total_seconds() / 86400
    expired = days < 0
    ok = not expired and days >= min_days
    actual = (f"expired {-days:.1f} days ago ({not_after:%Y-%m-%d %H:%M} UTC)" if expired
              else f"valid until {not_after:%Y-%m-%d %H:%M} UTC, {days:.1f} days left")
    return verdict(ok, f"{endpoint}: certificate valid for {min_days}+ days", actual,
                   days_left=round(days, 2), not_after=not_after.strftime("%Y-%m-%dT%H:%M:%SZ"),
                   subject=subject, issuer=issuer)


def _name(parts: Any) -> str:
    try:
        return ", ".join(f"{k}={v}" for rdn in parts for (k, v) in rdn)
    except (TypeError, ValueError):
        return ""


def read_certificate(host: str, port: int, server_name: str, ca_file: str | None, verify: bool,
                     timeout: float) -> dict[str, Any]:
    """The peer certificate of host:port (verified against ca_file or the system CAs unless verify is false)."""
    context = ssl.create_default_context(cafile=ca_file or None)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=timeout) as raw:
        with context.wrap_socket(raw, server_hostname=server_name or host) as tls:
            if verify:
                cert = tls.getpeercert() or {}
                return {"not_after": cert.get("notAfter"), "subject": _name(cert.get("subject")),
                        "issuer": _name(cert.get("issuer"))}
            der = tls.getpeercert(binary_form=True) or b""
    return {"der": der}


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of the value, end of the value) of the DER element at pos."""
    tag, first = data[pos], data[pos + 1]
    if first < 0x80:
        return tag, pos + 2, pos + 2 + first
    count = first & 0x7F
    length = int.from_bytes(data[pos + 2:pos + 2 + count], "big")
    return tag, pos + 2 + count, pos + 2 + count + length


def der_not_after(der: bytes) -> dt.datetime:
    """notAfter of a DER certificate (RFC 5280: tbsCertificate's validity), without any library."""
    try:
        _unused, cert_start, _unused = _tlv(der, 0)
        _unused, pos, _unused = _tlv(der, cert_start)  # tbsCertificate
        tag, _unused, end = _tlv(der, pos)
        if tag == 0xA0:  # [0] version
            pos = end
        for _unused in range(3):  # serialNumber, signature, issuer
            pos = _tlv(der, pos)[2]
        _unused, validity, _unused = _tlv(der, pos)
        not_before_end = _tlv(der, validity)[2]
        tag, start, end = _tlv(der, not_before_end)
        text = der[start:end].decode("ascii")
    except (IndexError, UnicodeDecodeError) as exc:
        raise ValueError(f"not a DER certificate: {exc}") from exc
    fmt = "%y%m%d%H%M%SZ" if tag == 0x17 else "%Y%m%d%H%M%SZ"  # UTCTime or GeneralizedTime
    return dt.datetime.strptime(text, fmt).replace(tzinfo=dt.timezone.utc)


def cert_time(text: str) -> dt.datetime:
    """notAfter as ssl reports it ('Jun  1 12:00:00 2027 GMT'), in UTC."""
    return dt.datetime.fromtimestamp(ssl.cert_time_to_seconds(text), tz=dt.timezone.utc)


# ---- DNS -------------------------------------------------------------------------------------
def dns_verdict(name: str, addresses: list[str], expect: list[str]) -> Verdict:
    missing = sorted(set(expect) - set(addresses))
    ok = bool(addresses) and not missing
    target = f"{name} resolves" + (f" to {', '.join(expect)}" if expect else "")
    actual = ", ".join(addresses) if addresses else "does not resolve"
    if missing and addresses:
        actual += f" (missing {', '.join(missing)})"
    return verdict(ok, target, actual, addresses=addresses)


def resolve(name: str) -> list[str]:
    try:
        infos = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        return []
    return sorted({str(info[4][0]) for info in infos})


# ---- TCP and Redis ---------------------------------------------------------------------------
def redis_command(*parts: str) -> bytes:
    """A RESP array command (so a password with spaces or newlines is sent as one argument)."""
    out = [f"*{len(parts)}\r\n".encode()]
    for part in parts:
        data = part.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def redis_persistence(info: str) -> dict[str, Any]:
    """What INFO persistence says about RDB and AOF (seed 002: "Persistence configured (RDB + AOF)")."""
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line and not line.startswith("#"))
    return {"aof_enabled": fields.get("aof_enabled", "0").strip() == "1",
            "rdb_last_save_status": fields.get("rdb_last_bgsave_status", "").strip(),
            "rdb_changes_since_last_save": fields.get("rdb_changes_since_last_save", "").strip()}


def redis_verdict(endpoint: str, reply: str, persistence: dict[str, Any] | None, want: list[str],
                  rdb_configured: bool) -> Verdict:
    ok = reply == "+PONG"
    problems: list[str] = [] if ok else [f"PING answered {reply or 'nothing'}"]
    if ok and persistence is not None:
        if "aof" in want and not persistence["aof_enabled"]:
            problems.append("AOF off")
        if "rdb" in want and not rdb_configured:
            problems.append("RDB snapshots off (save is empty)")
    target = f"{endpoint}: PING answers PONG" + (f", persistence {' + '.join(w.upper() for w in want)}" if want else "")
    actual = "PONG" + (f", AOF {'on' if persistence and persistence['aof_enabled'] else 'off'}, RDB "
                       f"{'on' if rdb_configured else 'off'}" if persistence is not None else "")
    return verdict(not problems, target, "; ".join(problems) if problems else actual,
                   persistence=persistence or {}, rdb_configured=rdb_configured)


# ---- commands --------------------------------------------------------------------------------
def command_verdict(argv: list[str], rc: int, stdout: str, expect_rc: int, stdout_regex: str) -> Verdict:
    problems: list[str] = []
    if rc != expect_rc:
        problems.append(f"exit {rc} (expected {expect_rc})")
    if stdout_regex and not re.search(stdout_regex, stdout, re.MULTILINE):
        problems.append(f"output does not match {stdout_regex!r}")
    target = f"`{' '.join(argv)}` exits {expect_rc}" + (f", output matches {stdout_regex!r}" if stdout_regex else "")
    last = stdout.strip().splitlines()[-1:] if stdout.strip() else []
    actual = "; ".join(problems) if problems else f"exit {rc}" + (f": {last[0][:200]}" if last else "")
    return verdict(not problems, target, actual, rc=rc)


# ---- S3 --------------------------------------------------------------------------------------
def s3_verdict(bucket: str, reachable: bool, error: str, features: dict[str, bool], require: list[str]) -> Verdict:
    """The bucket answers (HEAD), and has each of ``require`` (versioning, encryption, lifecycle)."""
    target = f"bucket {bucket} reachable" + (f", {', '.join(require)} on" if require else "")
    if not reachable:
        return verdict(False, target, f"not reachable: {error}", features=features)
    missing = [name for name in require if not features.get(name)]
    shown = ", ".join(f"{name} {'on' if on else 'off'}" for name, on in sorted(features.items()))
    actual = ("reachable" + (f"; {shown}" if shown else "")) if not missing else f"{', '.join(missing)} off"
    return verdict(not missing, target, actual, features=features)
