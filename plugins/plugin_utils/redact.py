# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""Masking of secret values in anything the collection writes or prints."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
SECRET_NAME = re.compile(
    r"(pass(word|wd|phrase)?(?!e[ds]|ing)|secret|token|api[_-]?key|private[_-]?key|access[_-]?key|"
    r"credential|authorization|dsn|connection[_-]?string)",
    re.IGNORECASE,
)
# Values shorter than this are not treated as secrets when found by name (a "true", a port).
MIN_SECRET_LEN = 4
_TOKEN_PARAM = re.compile(
    r"(?P<key>(?:^|[?&;\s])(?:access_)?(?:token|api_key|apikey|key|password|secret)=)(?P<val>[^&\s\"';]+)",
    re.IGNORECASE,
)
_AUTH_HEADER = re.compile(
    r"(?P<key>authorization[\"']?\s*[:=]\s*[\"']?(?:bearer|basic|token)?\s*)(?P<val>[^\s\"',}]+)",
    re.IGNORECASE,
)
# `"api_token": "abc"`, `'password': 'x y'`, `db_password: abc`, `client_secret=abc`: a key, no space before
# the `:` or `=` (a role's `name : task` banner is no key), then a quoted or bare value. The key is
# checked with is_secret_name when the pattern matches (JSON, YAML and Python-repr forms in module output).
_KEY_VALUE = re.compile(
    r"""(?P<key>(?<![\w.-])(?P<q>["']?)(?P<name>-{0,2}[a-z_][\w.-]{0,80})(?P=q)(?:=|:[ \t]*))"""
    r"""(?:"(?P<dq>(?:[^"\\\n]|\\.)*)"|'(?P<sq>[^'\n]*)'|(?P<bare>[^\s"',;&}\]]+))""",
    re.IGNORECASE,
)
# Bare words a secret-named key often holds that are no secret (flags, placeholders, masks).
_NOT_SECRET_VALUES = frozenset({"true", "false", "yes", "no", "none", "null", "~", "", "bearer", "basic", "token",
                                "<omitted>", "value_specified_in_no_log_parameter"})
_BEARER = re.compile(r"(?P<key>\bbearer\s+)(?P<val>[\w.~+/=-]{8,})", re.IGNORECASE)
# The password runs to the *last* '@' of the authority, so an unencoded '@' in it is masked whole.
# The scheme (and a key name above) is bounded: an unbounded run makes a long line without spaces
# (a minified JSON, a hex blob) cost quadratic time, seconds for 20 kB.
_URL_PASSWORD = re.compile(
    r"(?P<key>[a-z][a-z0-9+.-]{0,31}://[^:/@\s]+:)(?P<val>\S+?)(?=@[^@\s/]*(?:[/?#\s\"',;)]|$))",
    re.IGNORECASE,
)


def is_secret_name(name: str) -> bool:
    """True when a variable or key name says it holds a secret."""
    return bool(SECRET_NAME.search(name))


def secret_values_from(variables: Mapping[str, Any], extra: Iterable[Any] = ()) -> set[str]:
    """Collect the string values held under secret-looking names (nested), plus ``extra``."""
    found: set[str] = {str(v) for v in extra if v is not None and len(str(v)) >= MIN_SECRET_LEN}

    def walk(value: Any, secret: bool, depth: int) -> None:
        if depth > 6:
            return
        if isinstance(value, Mapping):
            for key, sub in value.items():
                walk(sub, secret or is_secret_name(str(key)), depth + 1)
        elif isinstance(value, (list, tuple, set)):
            for sub in value:
                walk(sub, secret, depth + 1)
        elif secret and isinstance(value, (str, int)) and not isinstance(value, bool):
            text = str(value)
            if len(text) >= MIN_SECRET_LEN:
                found.add(text)

    for key, value in variables.items():
        walk(value, is_secret_name(str(key)), 0)
    return found


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """Mask known secret values and secret-shaped fragments (token=, Authorization:, URL passwords)."""
    for secret in sorted(set(secrets), key=len, reverse=True):
        if secret and secret in text:
            text = text.replace(secret, MASK)
    text = _TOKEN_PARAM.sub(lambda m: m.group("key") + MASK, text)
    text = _AUTH_HEADER.sub(lambda m: m.group("key") + MASK, text)
    text = _BEARER.sub(lambda m: m.group("key") + MASK, text)
    text = _KEY_VALUE.sub(_mask_key_value, text)
    return _URL_PASSWORD.sub(lambda m: m.group("key") + MASK, text)


def redact(value: Any, secrets: Iterable[str] = ()) -> Any:
    """Return a deep copy of ``value`` with secrets masked.

    Scalar values under secret-named keys become MASK, also when nested in lists or mappings
    below such a key (``{"api_tokens": ["...", "..."]}``), as ``secret_values_from`` reads them.
    """
    secret_set = set(secrets)

    def walk(item: Any, secret: bool = False) -> Any:
        if isinstance(item, Mapping):
            return {str(k): walk(v, secret or is_secret_name(str(k))) for k, v in item.items()}
        if isinstance(item, (list, tuple)):
            return [walk(v, secret) for v in item]
        if secret and _is_scalar_secret(item):
            return MASK
        if isinstance(item, str):
            return redact_text(item, secret_set)
        return item

    return walk(value)


def _is_scalar_secret(value: Any) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool) and value != ""


def _mask_key_value(match: re.Match[str]) -> str:
    """The value of a secret-named key in `key: value` / `"key": "value"` / `key=value` text, masked."""
    found = _secret_key_value(match)
    if found is None:
        return match.group(0)
    return f"{match.group('key')}{found[1]}{MASK}{found[1]}"


def _secret_key_value(match: re.Match[str]) -> tuple[str, str] | None:
    """(value, its quote) when a _KEY_VALUE match is a secret-named key holding a value worth masking."""
    name = match.group("name")
    if not is_secret_name(name) or name.lower().endswith("authorization"):  # headers: _AUTH_HEADER keeps the scheme
        return None
    for group, quote in (("dq", '"'), ("sq", "'"), ("bare", "")):
        value = match.group(group)
        if value is not None:
            if value.lower() in _NOT_SECRET_VALUES or value.startswith(MASK):
                return None
            return value, quote
    return None


def secret_values_in_text(text: str) -> set[str]:
    """The values ``text`` shows in secret-shaped places (what redact_text masks without being told).

    ``token=`` parameters, ``Authorization:`` and ``Bearer`` credentials, URL passwords and values of
    secret-named keys (``"access_token": "..."``); only those of MIN_SECRET_LEN or more. A caller that
    learns them can mask the same value where it shows without its key (a later ``echo $TOKEN``).
    """
    found: set[str] = set()
    for pattern in (_TOKEN_PARAM, _AUTH_HEADER, _BEARER, _URL_PASSWORD):
        found.update(match.group("val") for match in pattern.finditer(text))
    for match in _KEY_VALUE.finditer(text):
        pair = _secret_key_value(match)
        if pair is not None:
            found.add(pair[0])
    return {value for value in found
            if len(value) >= MIN_SECRET_LEN and not value.startswith(MASK) and value.lower() not in _NOT_SECRET_VALUES}
