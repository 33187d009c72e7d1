# Copyright: (c) 2026, liftoff.release maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
# Private to the liftoff.release collection.
"""Find destructive statements in PostgreSQL migration SQL, before anything runs.

Destructive means: data is lost (DROP, TRUNCATE, DELETE without WHERE, a column type
change that rewrites or truncates values), a write of the running old version starts to
fail (SET NOT NULL, ADD COLUMN ... NOT NULL without DEFAULT), or the running old version
stops finding what it uses (DROP, RENAME).

The scan is lexical: comments, string literals, dollar-quoted bodies and quoted
identifiers are blanked first (keeping every offset, so line numbers stay right), then
the text is cut into statements at top-level semicolons and each statement is matched.
SQL built at run time (``EXECUTE`` in a ``DO`` block or a function) is not seen.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

EXCERPT_MAX = 160

# Kinds, as shown to the operator.
DROP = "DROP {}"
DROP_COLUMN = "DROP COLUMN"
DROP_CONSTRAINT = "DROP CONSTRAINT"
ALTER_TYPE = "ALTER COLUMN TYPE"
SET_NOT_NULL = "SET NOT NULL"
ADD_NOT_NULL = "ADD COLUMN NOT NULL without DEFAULT"
TRUNCATE = "TRUNCATE"
DELETE_ALL = "DELETE without WHERE"
RENAME = "RENAME"


@dataclass(frozen=True)
class Finding:
    """One destructive statement: where it is, what kind, and the statement itself."""

    file: str
    line: int
    kind: str
    excerpt: str
    version: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"file": self.file, "version": self.version, "line": self.line, "kind": self.kind,
                "excerpt": self.excerpt}

    def describe(self) -> str:
        return f"{self.file}:{self.line} {self.kind}: {self.excerpt}"


_DOLLAR_TAG = re.compile(r"\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$")


def blank_sql(text: str, *, comments_only: bool = False) -> str:
    """``text`` with comments, literals and quoted identifiers replaced by spaces.

    Every character keeps its offset and every newline stays, so a position in the result
    is the same position (and line) in ``text``. String literals become ``''`` padded with
    spaces, quoted identifiers ``"_"`` (still one identifier, never a keyword). With
    ``comments_only``, only comments are blanked (the text shown to the operator).
    """
    out = list(text)
    i, n = 0, len(text)

    def blank(start: int, end: int, comment: bool = False) -> None:
        if comments_only and not comment:
            return
        for k in range(start, min(end, n)):
            if out[k] != "\n":
                out[k] = " "

    while i < n:
        ch = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if ch == "-" and nxt == "-":
            end = text.find("\n", i)
            end = n if end < 0 else end
            blank(i, end, comment=True)
            i = end
        elif ch == "/" and nxt == "*":
            depth, k = 1, i + 2  # PostgreSQL block comments nest
            while k < n and depth:
                if text.startswith("/*", k):
                    depth, k = depth + 1, k + 2
                elif text.startswith("*/", k):
                    depth, k = depth - 1, k + 2
                else:
                    k += 1
            blank(i, k, comment=True)
            i = k
        elif ch == "'":
            escapes = i > 0 and text[i - 1] in "eE" and (i < 2 or not (text[i - 2].isalnum() or text[i - 2] == "_"))
            k = i + 1
            while k < n:
                if escapes and text[k] == "\\":
                    k += 2
                    continue
                if text[k] == "'":
                    if k + 1 < n and text[k + 1] == "'":
                        k += 2
                        continue
                    break
                k += 1
            blank(i + 1, k)
            i = k + 1
        elif ch == '"':
            k = i + 1
            while k < n:
                if text[k] == '"':
                    if k + 1 < n and text[k + 1] == '"':
                        k += 2
                        continue
                    break
                k += 1
            blank(i + 1, k)
            if i + 1 < k and not comments_only:
                out[i + 1] = "_"
            i = k + 1
        elif ch == "$" and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] in "_$")):
            match = _DOLLAR_TAG.match(text, i)
            if match is None:
                i += 1
                continue
            tag = match.group(0)
            end = text.find(tag, match.end())
            end = n if end < 0 else end
            blank(match.end(), end)
            i = end + len(tag)
        else:
            i += 1
    return "".join(out)


def _split_top_level(text: str, separator: str) -> Iterator[tuple[int, str]]:
    """(offset, text) of each piece of ``text`` cut at ``separator`` outside parentheses; the tail last."""
    depth, start = 0, 0
    for k, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(depth - 1, 0)
        elif ch == separator and depth == 0:
            yield start, text[start:k]
            start = k + 1
    yield start, text[start:]


def statements(blanked: str) -> Iterator[tuple[int, str]]:
    """(offset, text) of each statement of blanked SQL, cut at top-level semicolons (no empty tail)."""
    for start, piece in _split_top_level(blanked, ";"):
        if start + len(piece) < len(blanked) or piece.strip():  # the unterminated tail only when not blank
            yield start, piece


def split_actions(body: str) -> Iterator[tuple[int, str]]:
    """(offset, text) of each comma-separated action of an ALTER TABLE body (top level only)."""
    return _split_top_level(body, ",")


_W = r"(?:[A-Za-z_][A-Za-z0-9_$]*|\"_\s*\")"  # an identifier (quoted ones are blanked to "_")
_NAME = rf"{_W}(?:\s*\.\s*{_W})*"
_I = re.IGNORECASE | re.DOTALL

_DROP_STMT = re.compile(
    r"^\s*DROP\s+(?P<what>MATERIALIZED\s+VIEW|FOREIGN\s+TABLE|TEXT\s+SEARCH\s+\w+|EVENT\s+TRIGGER|ACCESS\s+METHOD|"
    r"OPERATOR\s+CLASS|OPERATOR\s+FAMILY|USER\s+MAPPING|[A-Za-z]+)\b", _I)
_TRUNCATE_STMT = re.compile(r"^\s*TRUNCATE\b", _I)
_DELETE_STMT = re.compile(r"^\s*(?:WITH\b.*?\)\s*)?DELETE\s+FROM\b", _I)
_WHERE = re.compile(r"\bWHERE\b", _I)
_ALTER_TABLE = re.compile(
    rf"^\s*ALTER\s+(?:FOREIGN\s+)?TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?{_NAME}\s*\*?\s*", _I)
_ALTER_OTHER_RENAME = re.compile(
    r"^\s*ALTER\s+(?:MATERIALIZED\s+VIEW|VIEW|INDEX|SEQUENCE|SCHEMA|TYPE|DOMAIN|FUNCTION|PROCEDURE)\b.*?\bRENAME\b",
    _I)

_ACT_DROP_CONSTRAINT = re.compile(r"^\s*DROP\s+CONSTRAINT\b", _I)
_ACT_DROP_COLUMN = re.compile(r"^\s*DROP\s+(?:COLUMN\b|(?!CONSTRAINT\b)(?:IF\s+EXISTS\s+)?[A-Za-z_\"])", _I)
_ACT_ALTER_TYPE = re.compile(rf"^\s*ALTER\s+(?:COLUMN\s+)?{_W}\s+(?:SET\s+DATA\s+)?TYPE\b", _I)
_ACT_SET_NOT_NULL = re.compile(rf"^\s*ALTER\s+(?:COLUMN\s+)?{_W}\s+SET\s+NOT\s+NULL\b", _I)
_ACT_ADD_COLUMN = re.compile(
    rf"^\s*ADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?(?!(?:CONSTRAINT|PRIMARY|UNIQUE|CHECK|FOREIGN|EXCLUDE)\b)"
    rf"(?P<col>{_W})\s+(?P<rest>.*)$", _I)
_NOT_NULL = re.compile(r"\bNOT\s+NULL\b", _I)
_HAS_DEFAULT = re.compile(r"\bDEFAULT\b|\bGENERATED\b|^\s*(?:SMALL|BIG)?SERIAL[248]?\b", _I)
_ACT_RENAME = re.compile(r"^\s*RENAME\b", _I)


def _excerpt(original: str, start: int, end: int) -> str:
    text = " ".join(original[start:end].split())
    return text if len(text) <= EXCERPT_MAX else text[: EXCERPT_MAX - 3] + "..."


def _line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _first_token(stmt: str) -> int:
    return len(stmt) - len(stmt.lstrip())


def _alter_table_kinds(body: str) -> Iterator[tuple[int, str]]:
    for offset, action in split_actions(body):
        kind: str | None = None
        if _ACT_DROP_CONSTRAINT.match(action):
            kind = DROP_CONSTRAINT
        elif _ACT_DROP_COLUMN.match(action):
            kind = DROP_COLUMN
        elif _ACT_ALTER_TYPE.match(action):
            kind = ALTER_TYPE
        elif _ACT_SET_NOT_NULL.match(action):
            kind = SET_NOT_NULL
        elif _ACT_RENAME.match(action):
            kind = RENAME
        else:
            added = _ACT_ADD_COLUMN.match(action)
            if added and _NOT_NULL.search(added.group("rest")) and not _HAS_DEFAULT.search(added.group("rest")):
                kind = ADD_NOT_NULL
        if kind is not None:
            yield offset + _first_token(action), kind


def _statement_kinds(stmt: str) -> Iterator[tuple[int, str]]:
    """(offset inside stmt, kind) of every destructive part of one blanked statement."""
    head = _first_token(stmt)
    dropped = _DROP_STMT.match(stmt)
    if dropped:
        yield head, DROP.format(" ".join(dropped.group("what").upper().split()))
        return
    if _TRUNCATE_STMT.match(stmt):
        yield head, TRUNCATE
        return
    deleted = _DELETE_STMT.match(stmt)
    if deleted and not _WHERE.search(stmt, deleted.end()):
        yield head, DELETE_ALL
        return
    altered = _ALTER_TABLE.match(stmt)
    if altered:
        for offset, kind in _alter_table_kinds(stmt[altered.end():]):
            yield altered.end() + offset, kind
        return
    if _ALTER_OTHER_RENAME.match(stmt):
        yield head, RENAME


def scan(sql_text: str, file: str = "", version: str = "") -> list[Finding]:
    """Every destructive statement of ``sql_text``, in file order."""
    blanked = blank_sql(sql_text)
    shown = blank_sql(sql_text, comments_only=True)
    findings: list[Finding] = []
    for start, stmt in statements(blanked):
        if not stmt.strip():
            continue
        stmt_start = start + _first_token(stmt)
        stmt_end = start + len(stmt.rstrip())
        for offset, kind in _statement_kinds(stmt):
            findings.append(Finding(file=file, version=version, line=_line_at(sql_text, start + offset),
                                    kind=kind, excerpt=_excerpt(shown, stmt_start, stmt_end)))
    return findings


def unapproved(findings: Iterable[Finding], approved_versions: Sequence[str]) -> list[Finding]:
    """Findings whose migration version is not approved (versions compare numerically when digits)."""
    def key(v: str) -> str:
        return str(int(v)) if v.isdigit() else v

    approved = {key(str(v)) for v in approved_versions}
    return [f for f in findings if key(f.version) not in approved]


def refusal(findings: Sequence[Finding], option: str) -> str:
    """The one-line message that refuses unapproved destructive migrations."""
    versions = sorted({f.version for f in findings}, key=lambda v: (len(v), v))
    return (
        "destructive migration(s) not approved, nothing applied: "
        + "; ".join(f.describe() for f in findings)
        + f". Review them, then approve versions {versions} with {option}"
    )
