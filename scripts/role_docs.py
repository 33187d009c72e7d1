#!/usr/bin/env python
"""Write docs/roles/<role>.md, and the index docs/roles/README.md, from each role's meta/argument_specs.yml.

    role_docs.py            rewrite docs/roles/
    role_docs.py --check    exit 1 when a committed file differs from what would be written (or is stale)

Per entry point: its short description and description, then one row per option (suboptions as
``parent.child``) with its type, whether it is required, its default, its choices and its description.
Ansible markup (``I()``, ``O()``, ``V()``, ``C()``, ``RV()``, ``B()``, ``U()``, ``L()``, ``M()``...) becomes
Markdown; markup this script does not know fails the run rather than being printed raw.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
ROLES = REPO / "roles"
DOCS = REPO / "docs" / "roles"
FQCN = "liftoff.release"
HEADER = (
    "<!-- Generated from roles/{role}/meta/argument_specs.yml by scripts/role_docs.py: do not edit.\n"
    "     Run `.venv/bin/python scripts/role_docs.py` after changing an argument spec. -->\n"
)
INDEX_HEADER = (
    "<!-- Generated from roles/*/meta/argument_specs.yml by scripts/role_docs.py: do not edit. -->\n"
)

_CODE = re.compile(r"\b(?:I|O|V|C|RV|E|P|M)\(([^()]*(?:\([^()]*\)[^()]*)*)\)")
_BOLD = re.compile(r"\bB\(([^()]*)\)")
_URL = re.compile(r"\bU\(([^()]*)\)")
_LINK = re.compile(r"\bL\(([^(),]*),\s*([^()]*)\)")
_HR = re.compile(r"\bHORIZONTALLINE\b")
_LEFTOVER = re.compile(r"\b(?:I|O|V|C|RV|E|P|M|B|U|L|R)\(")


class MarkupError(ValueError):
    pass


def _code(text: str) -> str:
    fence = "``" if "`" in text else "`"
    pad = " " if fence == "``" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def markup(text: str, where: str) -> str:
    """Ansible markup to Markdown, one line (a table cell): ``|`` escaped."""
    out = _LINK.sub(lambda m: f"[{m.group(1)}]({m.group(2).strip()})", text)
    out = _URL.sub(lambda m: f"<{m.group(1)}>", out)
    out = _BOLD.sub(lambda m: f"**{m.group(1)}**", out)
    out = _CODE.sub(lambda m: _code(m.group(1)), out)
    out = _HR.sub("---", out)
    left = _LEFTOVER.search(out)
    if left:
        raise MarkupError(f"{where}: markup this script does not know, or unbalanced: {text!r}")
    return " ".join(out.split()).replace("|", "\\|")


def paragraphs(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [markup(str(item), where) for item in items]


def _value(value: Any) -> str:
    text = value if isinstance(value, str) and value else json.dumps(value)
    return _code(text).replace("|", "\\|")


def _type(opt: dict[str, Any]) -> str:
    kind = str(opt.get("type", "str"))
    if opt.get("elements"):
        kind += f" of {opt['elements']}"
    return kind


def option_rows(options: dict[str, Any], where: str, prefix: str = "") -> list[str]:
    rows: list[str] = []
    for name in sorted(options):
        opt = options[name] or {}
        at = f"{where}.{prefix}{name}"
        notes = paragraphs(opt.get("description"), at)
        if opt.get("aliases"):
            notes.append("Aliases: " + ", ".join(_code(a) for a in opt["aliases"]) + ".")
        if opt.get("no_log"):
            notes.append("A secret: never logged.")
        choices = ", ".join(_value(c) for c in opt["choices"]) if opt.get("choices") is not None else ""
        default = _value(opt["default"]) if "default" in opt else ""
        required = "yes" if opt.get("required") else "no"
        rows.append(f"| {_code(prefix + name)} | {_type(opt)} | {required} | {default} | {choices} | "
                    f"{'<br>'.join(notes)} |")
        if opt.get("options"):
            rows.extend(option_rows(opt["options"], where, f"{prefix}{name}."))
    return rows


def render_role(role: str, spec: dict[str, Any]) -> str:
    points = spec.get("argument_specs") or {}
    where = f"roles/{role}/meta/argument_specs.yml"
    order = sorted(points, key=lambda p: (p != "main", p))
    lines = [HEADER.format(role=role), f"# {FQCN}.{role}", ""]
    lines.append("Entry points: " + ", ".join(f"[`{p}`](#entry-point-{p})" for p in order) + ".")
    lines.append("")
    for point in order:
        entry = points[point] or {}
        at = f"{where}: {point}"
        lines += [f"## Entry point {point}", ""]
        if entry.get("short_description"):
            lines += [f"**{markup(str(entry['short_description']), at)}**", ""]
        for para in paragraphs(entry.get("description"), at):
            lines += [para, ""]
        usage = "tasks_from: " + point if point != "main" else ""
        lines += ["```yaml", "- ansible.builtin.include_role:", f"    name: {FQCN}.{role}"]
        if usage:
            lines.append(f"    {usage}")
        lines += ["```", ""]
        options = entry.get("options") or {}
        if not options:
            lines += ["No options.", ""]
            continue
        lines += ["| Option | Type | Required | Default | Choices | Description |",
                  "| --- | --- | --- | --- | --- | --- |"]
        lines += option_rows(options, at)
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def render_index(specs: dict[str, dict[str, Any]]) -> str:
    lines = [INDEX_HEADER, "# Role reference", "",
             "Every role of liftoff.release, with its entry points and their options, as the roles'",
             "`meta/argument_specs.yml` state them (Ansible validates a role's variables against them).", "",
             "| Role | Entry points | What it does |", "| --- | --- | --- |"]
    for role, spec in specs.items():
        points = spec.get("argument_specs") or {}
        main: dict[str, Any] = points.get("main") or next(iter(points.values()), {}) or {}
        what = markup(str(main.get("short_description", "")), f"roles/{role}")
        names = ", ".join(_code(p) for p in sorted(points, key=lambda p: (p != "main", p)))
        lines.append(f"| [{FQCN}.{role}]({role}.md) | {names} | {what} |")
    return "\n".join(lines) + "\n"


def wanted() -> dict[Path, str]:
    specs: dict[str, dict[str, Any]] = {}
    for path in sorted(ROLES.glob("*/meta/argument_specs.yml")):
        specs[path.parent.parent.name] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    files = {DOCS / f"{role}.md": render_role(role, spec) for role, spec in specs.items()}
    files[DOCS / "README.md"] = render_index(specs)
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail when docs/roles/ is not current")
    args = parser.parse_args()
    try:
        files = wanted()
    except MarkupError as exc:
        print(f"role_docs: {exc}", file=sys.stderr)
        return 1
    stale = sorted(p for p in DOCS.glob("*.md") if p not in files)
    if args.check:
        drift = [p for p, text in files.items() if not p.exists() or p.read_text(encoding="utf-8") != text]
        for path in drift + stale:
            print(f"role_docs: {path.relative_to(REPO)} is out of date: run .venv/bin/python scripts/role_docs.py",
                  file=sys.stderr)
        return 1 if drift or stale else 0
    DOCS.mkdir(parents=True, exist_ok=True)
    for path in stale:
        path.unlink()
    for path, text in files.items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
