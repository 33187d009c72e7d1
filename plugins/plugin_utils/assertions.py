# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""Assertions on a response: JSON values found with JMESPath, and response headers. Pure.

A JSON assertion is ``{jmespath: <expression>, <test>: <value>, ...}``; its tests all apply:

- ``equals`` / ``not_equals``: the value is (is not) exactly this (``1`` and ``1.0`` are equal);
- ``min`` / ``max``: the value is a number at least / at most this (use ``length(items)`` to
  count);
- ``contains``: a string value contains this substring, or a list value has this element;
- ``matches``: the value, as a string, matches this regular expression (``re.search``);
- ``exists``: the expression finds something (not null) - ``true`` - or finds nothing - ``false``.

A header assertion is ``{name: <header>, <test>: <value>}`` with ``equals``, ``contains``,
``matches`` (header names are case-insensitive) or ``present`` (true / false).

Values found under a secret-looking expression or header (``token``, ``authorization``...) are
never repeated in a failure: the sentence says ``(hidden)`` instead.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

try:
    import jmespath
    from jmespath.exceptions import JMESPathError
except ImportError:  # only JSON assertions need it: they say so (MISSING_JMESPATH) instead of failing the import
    HAS_JMESPATH = False
else:
    HAS_JMESPATH = True

from ansible_collections.liftoff.release.plugins.plugin_utils.redact import is_secret_name, redact

MISSING_JMESPATH = "JSON assertions need the Python package jmespath on the controller (pip install jmespath)"
JSON_TESTS = ("equals", "not_equals", "min", "max", "contains", "matches", "exists")
HEADER_TESTS = ("equals", "contains", "matches", "present")


def _given(item: Mapping[str, Any]) -> dict[str, Any]:
    """The keys that were given: an argument spec fills every suboption not given with null."""
    return {k: v for k, v in item.items() if v is not None}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def json_assertion_errors(items: Sequence[Mapping[str, Any]], where: str = "json_checks") -> list[str]:
    """Problems with the assertions themselves (bad expression, no test, wrong value types)."""
    errors: list[str] = []
    for index, raw in enumerate(items):
        at = f"{where}[{index}]"
        item = _given(raw)
        expression = item.get("jmespath")
        if not isinstance(expression, str) or not expression:
            errors.append(f"{at}.jmespath: a JMESPath expression is required")
        elif not HAS_JMESPATH:
            errors.append(f"{at}.jmespath: {MISSING_JMESPATH}")
        else:
            try:
                jmespath.compile(expression)
            except JMESPathError as exc:
                reason = str(exc).splitlines()[0].rstrip(":")
                errors.append(f"{at}.jmespath: {expression!r} is not a valid JMESPath expression ({reason})")
        unknown = sorted(set(item) - {"jmespath", *JSON_TESTS})
        if unknown:
            errors.append(f"{at}: unknown keys {unknown}; tests are {', '.join(JSON_TESTS)}")
        if not any(t in item for t in JSON_TESTS):
            errors.append(f"{at}: give at least one of {', '.join(JSON_TESTS)}")
        for bound in ("min", "max"):
            if bound in item and not _is_number(item[bound]):
                errors.append(f"{at}.{bound}: expected a number, got {item[bound]!r}")
        if "matches" in item:
            errors.extend(_regex_error(f"{at}.matches", item["matches"]))
        if "exists" in item and not isinstance(item["exists"], bool):
            errors.append(f"{at}.exists: expected true or false, got {item['exists']!r}")
    return errors


def header_assertion_errors(items: Sequence[Mapping[str, Any]], where: str = "header_checks") -> list[str]:
    errors: list[str] = []
    for index, raw in enumerate(items):
        at = f"{where}[{index}]"
        item = _given(raw)
        if not isinstance(item.get("name"), str) or not item.get("name"):
            errors.append(f"{at}.name: a header name is required")
        unknown = sorted(set(item) - {"name", *HEADER_TESTS})
        if unknown:
            errors.append(f"{at}: unknown keys {unknown}; tests are {', '.join(HEADER_TESTS)}")
        if not any(t in item for t in HEADER_TESTS):
            errors.append(f"{at}: give one of {', '.join(HEADER_TESTS)}")
        if "matches" in item:
            errors.extend(_regex_error(f"{at}.matches", item["matches"]))
        if "present" in item and not isinstance(item["present"], bool):
            errors.append(f"{at}.present: expected true or false, got {item['present']!r}")
    return errors


def _regex_error(at: str, pattern: Any) -> list[str]:
    try:
        re.compile(str(pattern))
    except re.error as exc:
        return [f"{at}: {pattern!r} is not a valid regular expression ({exc})"]
    return []


def _shown(value: Any, secret: bool) -> str:
    if secret:
        return "(hidden)"
    text = repr(redact(value))  # values under secret-named keys inside a found object
    return text if len(text) <= 120 else text[:117] + "..."


def _equal(actual: Any, expected: Any) -> bool:
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected if isinstance(actual, bool) and isinstance(expected, bool) else False
    if _is_number(actual) and _is_number(expected):
        return float(actual) == float(expected)
    return bool(actual == expected)


def check_json(document: Any, items: Sequence[Mapping[str, Any]]) -> list[str]:
    """One sentence per failed JSON assertion; empty when all pass."""
    failures: list[str] = []
    for raw in items:
        item = _given(raw)
        expression = str(item["jmespath"])
        if not HAS_JMESPATH:
            failures.append(f"JSON {expression}: {MISSING_JMESPATH}")
            continue
        try:
            actual = jmespath.search(expression, document)
        except JMESPathError as exc:
            failures.append(f"JSON {expression}: {type(exc).__name__}: {exc}")
            continue
        failures.extend(_json_failures(expression, actual, item, is_secret_name(expression)))
    return failures


def _json_failures(expression: str, actual: Any, item: Mapping[str, Any], secret: bool) -> list[str]:
    seen = _shown(actual, secret)
    out: list[str] = []
    if "exists" in item and (actual is not None) != item["exists"]:
        out.append(f"JSON {expression} is {seen}, expected it {'to exist' if item['exists'] else 'to be absent'}")
    if "equals" in item and not _equal(actual, item["equals"]):
        out.append(f"JSON {expression} is {seen}, expected {_shown(item['equals'], secret)}")
    if "not_equals" in item and _equal(actual, item["not_equals"]):
        out.append(f"JSON {expression} is {seen}, expected anything else")
    for bound, sign in (("min", ">="), ("max", "<=")):
        if bound not in item:
            continue
        if not _is_number(actual):
            out.append(f"JSON {expression} is {seen}, expected a number {sign} {item[bound]}")
        elif (actual < item[bound]) if bound == "min" else (actual > item[bound]):
            out.append(f"JSON {expression} is {seen}, expected {sign} {item[bound]}")
    if "contains" in item and not _contains(actual, item["contains"]):
        out.append(f"JSON {expression} is {seen}, expected it to contain {_shown(item['contains'], secret)}")
    if "matches" in item and (actual is None or not re.search(str(item["matches"]), _as_text(actual))):
        out.append(f"JSON {expression} is {seen}, expected to match {item['matches']!r}")
    return out


def _contains(actual: Any, needle: Any) -> bool:
    if isinstance(actual, str):
        return str(needle) in actual
    if isinstance(actual, list):
        return any(_equal(element, needle) for element in actual)
    if isinstance(actual, Mapping):
        return isinstance(needle, str) and needle in actual
    return False


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check_headers(headers: Mapping[str, str], items: Sequence[Mapping[str, Any]]) -> list[str]:
    """One sentence per failed header assertion; header names are case-insensitive."""
    lowered = {k.lower(): v for k, v in headers.items()}
    failures: list[str] = []
    for raw in items:
        item = _given(raw)
        name = str(item["name"])
        actual = lowered.get(name.lower())
        seen = _shown(actual, is_secret_name(name) or name.lower() in ("set-cookie", "cookie"))
        present = item.get("present")
        if present is not None and (actual is not None) != present:
            failures.append(f"header {name} is {'present' if actual is not None else 'absent'}, "
                            f"expected it {'present' if present else 'absent'}")
        if item.get("equals") is not None and actual != str(item["equals"]):
            failures.append(f"header {name} is {seen}, expected {item['equals']!r}")
        if item.get("contains") is not None and (actual is None or str(item["contains"]).lower() not in actual.lower()):
            failures.append(f"header {name} is {seen}, expected it to contain {item['contains']!r}")
        if item.get("matches") is not None and (actual is None or not re.search(str(item["matches"]), actual)):
            failures.append(f"header {name} is {seen}, expected to match {item['matches']!r}")
    return failures
