#!/usr/bin/env python
"""docs/seed-coverage.md: how every item of the five seed checklists is handled, and where.

Generated from the seed catalogue (examples/seeds/catalogue/seed-catalogue.yml, with each example's
catalogue-corrections.yml applied) and the code: each example under examples/seeds/<dir>/ declares
``liftoff_checklist`` in its inventory's group_vars (item id -> the evidence ids that prove it, or
out_of_scope with the reason), and ``gate_profile`` with ``gate_metrics`` that use it; the profile
(roles/gate/files/profiles/) names the items its tiers and window enforce. Every evidence id is
resolved to the role task or plugin that writes it, and a name the example configures (a preflight
check, a smoke check, an approval) must be configured there.

    seed_coverage.py            write docs/seed-coverage.md
    seed_coverage.py --check    fail when an item is unmapped, mapped twice, an evidence id does not
                                resolve, or docs/seed-coverage.md is not what this would write
"""
from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / ".collections"))  # the checkout as ansible_collections.liftoff.release (bootstrap)

from ansible_collections.liftoff.release.plugins.plugin_utils import checklist, record_facts  # noqa: E402

SEEDS = REPO / "examples" / "seeds"
CATALOGUE = SEEDS / "catalogue" / "seed-catalogue.yml"
PROFILES = REPO / "roles" / "gate" / "files" / "profiles"
OUTPUT = REPO / "docs" / "seed-coverage.md"
HOWS = ("automated check", "action", "threshold in a profile", "recorded gate", "recorded attestation",
        "out of scope")
# Evidence families whose last part is a name the example configures: the variables that configure it.
NAMED = {
    "preflight": ("preflight_checks",),
    "smoke": ("smoke_checks", "smoke_sse_checks", "smoke_auth_checks", "smoke_log_checks", "smoke_test_commands"),
    "approval": ("approval_gates",),
    "attest": ("approval_attestations",),
}
EVIDENCE_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[A-Za-z0-9_-]+)+$")
# Placeholders whose values are a known set: {{ __approval_decision.kind }} is approval or attest.
KNOWN_PLACEHOLDERS = {"{{ __approval_decision.kind }}": "approval|attest"}
_JINJA = re.compile(r"\{\{.*?\}\}")
_FSTRING = re.compile(r"\{[^{}]*\}")


@dataclass
class Example:
    """One example under examples/seeds/: its inventory variables and what its checklist says."""

    name: str
    path: Path
    variables: dict[str, Any]
    errors: list[str] = field(default_factory=list)

    @property
    def checklist(self) -> Mapping[str, Any]:
        value = self.variables.get("liftoff_checklist") or {}
        return value if isinstance(value, Mapping) else {}

    @property
    def items(self) -> Mapping[str, Any]:
        items = self.checklist.get("items") or {}
        return items if isinstance(items, Mapping) else {}


@dataclass(frozen=True)
class Row:
    id: str
    seed: str
    kind: str
    phase: str
    text: str
    how: str
    where: str


def load_yaml(path: Path) -> Any:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506


def apply_corrections(catalogue: dict[str, Any], corrections: Iterable[tuple[Path, Any]]) -> list[dict[str, Any]]:
    """Apply each example's catalogue corrections in place; returns them (with their file) for the page."""
    items = {i["id"]: i for s in catalogue["seeds"] for i in s["items"]}
    applied = []
    for path, entries in corrections:
        for entry in entries or []:
            ident, name = entry.get("id"), entry.get("field")
            if ident not in items or not name or "now" not in entry or not entry.get("why"):
                raise SystemExit(f"{path}: each correction needs an id of the catalogue, field, was, now and why: "
                                 f"{entry!r}")
            if items[ident].get(name) != entry.get("was"):
                raise SystemExit(f"{path}: {ident}.{name} is {items[ident].get(name)!r} in the catalogue, "
                                 f"not {entry.get('was')!r} as the correction says")
            items[ident][name] = entry["now"]
            applied.append({**entry, "file": f"{path.parent.name}/{path.name}"})
    return applied


def load_examples() -> list[Example]:
    examples = []
    for path in sorted(p for p in SEEDS.iterdir() if p.is_dir() and p.name != "catalogue"):
        variables: dict[str, Any] = {}
        for var_file in sorted((path / "inventory").glob("group_vars/**/*.yml")):
            variables.update(load_yaml(var_file) or {})
        example = Example(path.name, path, variables)
        try:
            checklist.parse(variables.get("liftoff_checklist"))
        except checklist.ChecklistError as exc:
            example.errors.append(f"{path.name}: {exc}")
        if "record_checklist" in variables:
            example.errors.append(f"{path.name}: record_checklist is now liftoff_checklist (a run role variable, "
                                  "journaled with run.start); rename it")
        examples.append(example)
    return examples


Templates = list[tuple[re.Pattern[str], re.Pattern[str], str, int]]


def evidence_index() -> tuple[dict[str, str], Templates]:
    """Evidence ids the code writes: literal ids -> file, and templated ids as patterns -> file.

    A templated id is kept twice: with each placeholder matching one dotless name (tried first, so
    `preflight.approval.go` is the approval's, not a preflight check named `approval.go`), and with
    placeholders matching anything (a gate prefix such as `rollout.step_10`)."""
    literal: dict[str, str] = {}
    templates: Templates = []

    def add(value: str, where: str, dynamic: re.Pattern[str] | None) -> None:
        value = value.strip().strip("\"'")
        for placeholder, literal_value in KNOWN_PLACEHOLDERS.items():
            value = value.replace(placeholder, literal_value)
        if "." not in value:
            return
        parts = dynamic.split(value) if dynamic else [value]
        if len(parts) == 1:
            if EVIDENCE_ID.match(value):
                literal.setdefault(value, where)
            return
        if any(" " in p for p in parts) or not "".join(parts):
            return
        escaped = [re.escape(p).replace(r"approval\|attest", "(?:approval|attest)") for p in parts]
        templates.append((re.compile("^" + "([^.]+)".join(escaped) + "$"), re.compile("^" + "(.+)".join(escaped) + "$"),
                          where, sum(len(p) for p in parts)))

    for path in sorted((REPO / "roles").glob("*/tasks/*.yml")):
        where = str(path.relative_to(REPO))
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"^\s+id:\s*(.+)$", text, re.MULTILINE):
            add(match.group(1), where, _JINJA)
        # an id passed to a shared task file in a variable: `__rollout_fleet_id: rollout.fleet`
        for match in re.finditer(r"^\s+__\w+_id:\s*(\S+)$", text, re.MULTILINE):
            add(match.group(1), where, None)
    for path in sorted((REPO / "plugins").glob("*/*.py")):
        where = str(path.relative_to(REPO))
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"""\bid=(f?)(?:"([^"\n]*)"|'([^'\n]*)')""", text):
            add(match.group(2) or match.group(3) or "", where, _FSTRING if match.group(1) else None)
        for match in re.finditer(r"""["']id["']:\s*["']([a-z_]+\.[a-z_.]+)["']""", text):
            add(match.group(1), where, None)
    templates.sort(key=lambda t: -t[3])
    return literal, templates


def _names(example: Example, variables: Iterable[str]) -> set[str]:
    names = set()
    for var in variables:
        for entry in example.variables.get(var) or []:
            if isinstance(entry, Mapping) and entry.get("name"):
                names.add(str(entry["name"]))
    return names


def resolve(example: Example, ident: str, index: tuple[dict[str, str], Templates], gate_names: set[str]) -> str | None:
    """Where evidence ``ident`` is written, with the example's variable behind a configured name."""
    literal, templates = index
    if ident in literal:
        return literal[ident]
    if ident.startswith("summary."):
        return _summary_row(example, ident, gate_names)
    phase, _dot, rest = ident.partition(".")
    # A phase's own ids, in every phase: its result and its notifications (not a smoke check named "phase").
    if rest == "phase":
        return "roles/run/tasks/phase.yml"
    if rest.startswith("notify.") and rest.count(".") == 1:
        return "plugins/action/notify.py"
    where = next((w for pattern, _any, w, _n in templates if pattern.match(ident)), None) \
        or next((w for _one, pattern, w, _n in templates if pattern.match(ident)), None)
    if where is None:
        example.errors.append(f"{example.name}: evidence {ident} is written by no role task or plugin")
        return None
    family, name = phase, rest
    if rest.split(".")[0] in ("approval", "attest"):
        family, _dot, name = rest.partition(".")
    if family == "metric" or ".metric." in ident:
        metric = ident.split(".metric.", 1)[1]
        if metric not in gate_names:
            example.errors.append(f"{example.name}: evidence {ident}: no gate metric named {metric} "
                                  f"(gate_metrics, expanded by the profile: {', '.join(sorted(gate_names))})")
        return f"{where} (gate_metrics: {metric})"
    variables = NAMED.get(family)
    if variables:
        if name not in _names(example, variables):
            example.errors.append(f"{example.name}: evidence {ident}: no {' / '.join(variables)} entry named {name}")
        return f"{where} ({variables[0] if len(variables) == 1 else 'smoke'}: {name})"
    return where


def _summary_row(example: Example, ident: str, gate_names: set[str]) -> str | None:
    """A row of the record's Deployment Metrics Summary (record_facts.summary) the example has."""
    limits = (example.variables.get("record_targets") or {}).get("max_phase_s") or {}
    rows = [*record_facts.SUMMARY_METRICS, *(f"Phase {p} time" for p in limits), *(f"Metric {m}" for m in gate_names)]
    row = next((r for r in rows if record_facts.summary_id(r) == ident), None)
    if row is None:
        example.errors.append(f"{example.name}: evidence {ident}: no such row of the Deployment Metrics Summary "
                              f"(record_targets.max_phase_s names {', '.join(limits) or 'no phase'})")
        return None
    return f"plugins/plugin_utils/record_facts.py (Deployment Metrics Summary: {row})"


def profile_coverage(example: Example) -> tuple[dict[str, str], set[str]]:
    """Catalogue id -> the profile tier (or window) that enforces it, and the expanded gate metric names."""
    name = example.variables.get("gate_profile")
    metrics = [m for m in example.variables.get("gate_metrics") or [] if isinstance(m, Mapping)]
    gate_names = {str(m["name"]) for m in metrics if m.get("name") and not m.get("profile")}
    if not name:
        return {}, gate_names
    path = PROFILES / f"{name}.yml"
    if not path.exists():
        example.errors.append(f"{example.name}: gate_profile {name} has no file {path.relative_to(REPO)}")
        return {}, gate_names
    profile = load_yaml(path)
    covered: dict[str, str] = {}
    where = str(path.relative_to(REPO))
    for metric in metrics:
        key = metric.get("profile")
        if not key:
            continue
        tiers = ((profile.get("metrics") or {}).get(key) or {}).get("tiers") or []
        if not tiers:
            example.errors.append(f"{example.name}: gate_metrics {metric.get('name')}: profile {name} has no "
                                  f"metric {key}")
        for tier in tiers:
            gate_names.add(f"{metric.get('name')}.{tier['severity']}")
            for ident in tier.get("catalogue") or []:
                covered.setdefault(ident, f"{where}: {key}.{tier['severity']}")
    for window in ("window", "post_rollback"):
        for ident in (profile.get(window) or {}).get("catalogue") or []:
            covered.setdefault(ident, f"{where}: {window} ({profile[window].get('seconds')} s)")
    return covered, gate_names


def coverage(catalogue: dict[str, Any], examples: list[Example]) -> tuple[list[Row], list[str]]:
    """One row per catalogue item, and every error found."""
    index = evidence_index()
    rows: list[Row] = []
    errors: list[str] = []
    by_seed: dict[str, Example] = {}
    for candidate in examples:
        ids = {str(i).split("-", maxsplit=1)[0] for i in candidate.items}
        if len(ids) != 1:
            candidate.errors.append(f"{candidate.name}: liftoff_checklist.items must hold the ids of one seed "
                                    f"(found {sorted(ids) or 'none'})")
            continue
        by_seed[ids.pop()] = candidate
    for seed in catalogue["seeds"]:
        prefix = seed["items"][0]["id"].split("-", maxsplit=1)[0]
        example: Example | None = by_seed.get(prefix)
        covered, gate_names = profile_coverage(example) if example else ({}, set())
        known = {i["id"] for i in seed["items"]}
        if example:
            for ident in example.items:
                if ident not in known:
                    example.errors.append(f"{example.name}: {ident} is not an item of {seed['file']}")
                elif ident in covered:
                    example.errors.append(f"{example.name}: {ident} is enforced by {covered[ident]}; leave it out "
                                          "of liftoff_checklist")
        for item in seed["items"]:
            ident, kind = item["id"], str(item.get("kind"))
            base = dict(id=ident, seed=seed["file"], kind=kind, phase=str(item.get("phase")),
                        text=str(item.get("text")))
            entry = example.items.get(ident) if example else None
            if ident in covered:
                rows.append(Row(**base, how="threshold in a profile", where=covered[ident]))
            elif isinstance(entry, Mapping) and "out_of_scope" in entry:
                rows.append(Row(**base, how="out of scope", where=str(entry["out_of_scope"]).strip()))
            elif isinstance(entry, Mapping) and entry.get("evidence"):
                evidence = entry["evidence"] if isinstance(entry["evidence"], list) else [entry["evidence"]]
                places = [f"`{e}`: {resolve(example, str(e), index, gate_names)}" for e in evidence] \
                    if example else []
                rows.append(Row(**base, how=checklist.how({**entry, "kind": kind}), where="; ".join(places)))
            else:
                rows.append(Row(**base, how="not mapped",
                                where=f"not in {example.name}'s liftoff_checklist" if example else "no example"))
                if example:
                    example.errors.append(f"{example.name}: {ident} ({kind}) is neither in liftoff_checklist "
                                          "nor enforced by its gate profile")
    for example in examples:
        errors.extend(example.errors)
    return rows, errors


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _target_gaps(rows: list[Row]) -> list[Row]:
    """Items short of the issue's target: checks, actions and thresholds not automated with evidence;
    gates and organisational items without even a recorded attestation."""
    automated = ("automated check", "action", "threshold in a profile")
    return [r for r in rows if (r.kind in ("check", "action", "threshold") and r.how not in automated)
            or (r.kind in ("gate", "org") and r.how in ("out of scope", "not mapped"))]


def render(catalogue: dict[str, Any], rows: list[Row], corrections: list[dict[str, Any]],
           examples: list[Example]) -> str:
    lines = ["# Seed checklist coverage", "",
             "<!-- Generated by scripts/seed_coverage.py from examples/seeds/catalogue/seed-catalogue.yml, each",
             "     example's liftoff_checklist and gate profile, and the code: do not edit. -->", "",
             "Every item of the five seed checklists, how a run handles it and where. Each example under",
             "`examples/seeds/` maps its seed's items in `liftoff_checklist` (evidence ids, or out of scope",
             "with the reason); the items its gate profile enforces come from the profile. Each evidence id",
             "is resolved to the role task or plugin that writes it. Every run of an example fills in the",
             "same checklist in its record (`record.md`, section Checklist).", "",
             "| seed | example | items | " + " | ".join(HOWS) + " | not mapped |",
             "|---|---|---|" + "---|" * (len(HOWS) + 1)]
    examples_by_seed = {str(next(iter(e.items), "")).split("-", maxsplit=1)[0]: e.name for e in examples if e.items}
    for seed in catalogue["seeds"]:
        mine = [r for r in rows if r.seed == seed["file"]]
        prefix = seed["items"][0]["id"].split("-", maxsplit=1)[0]
        example = examples_by_seed.get(prefix)
        counts = [sum(1 for r in mine if r.how == how) for how in (*HOWS, "not mapped")]
        lines.append(f"| {seed['file']} | {f'[{example}](../examples/seeds/{example}/)' if example else '-'} | "
                     f"{len(mine)} | " + " | ".join(str(c) for c in counts) + " |")
    total = [sum(1 for r in rows if r.how == how) for how in (*HOWS, "not mapped")]
    lines.append(f"| all | | {len(rows)} | " + " | ".join(str(c) for c in total) + " |")
    gaps = _target_gaps(rows)
    lines += ["", "## Short of the target", "",
              "The target: every check, action and threshold item automated with evidence; every gate and",
              "organisational item at least a recorded attestation. These items are not, and why:", ""]
    if gaps:
        lines += ["| id | kind | item | handled as | why |", "|---|---|---|---|---|"]
        lines += [f"| {r.id} | {r.kind} | {_cell(r.text)} | {r.how} | {_cell(r.where)} |" for r in gaps]
    else:
        lines.append("None.")
    lines += ["", "## Catalogue corrections", "",
              "Where the catalogue misreads its seed, the example's `catalogue-corrections.yml` corrects it;",
              "the tables below use the corrected items.", ""]
    if corrections:
        lines += ["| id | field | was | now | why | file |", "|---|---|---|---|---|---|"]
        lines += [f"| {c['id']} | {c['field']} | {_cell(c.get('was'))} | {_cell(c['now'])} | {_cell(c['why'])} | "
                  f"{c['file']} |" for c in corrections]
    else:
        lines.append("None.")
    for seed in catalogue["seeds"]:
        lines += ["", f"## {seed['file']}: {_cell(seed.get('system', ''))}", "",
                  "| id | kind | phase | item | handled as | where |", "|---|---|---|---|---|---|"]
        lines += [f"| {r.id} | {r.kind} | {r.phase} | {_cell(r.text)} | {r.how} | {_cell(r.where)} |"
                  for r in rows if r.seed == seed["file"]]
    return "\n".join(lines) + "\n"


def build() -> tuple[str, list[str]]:
    catalogue = load_yaml(CATALOGUE)
    examples = load_examples()
    corrections = apply_corrections(catalogue, [(p, load_yaml(p)) for p in
                                                sorted(SEEDS.glob("*/catalogue-corrections.yml"))])
    rows, errors = coverage(catalogue, examples)
    return render(catalogue, rows, corrections, examples), errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="fail on mapping errors or a stale docs/seed-coverage.md")
    args = parser.parse_args(argv)
    text, errors = build()
    for error in errors:
        print(f"seed_coverage: {error}", file=sys.stderr)
    if args.check:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"seed_coverage: {OUTPUT.relative_to(REPO)} is not current: run .venv/bin/python "
                  "scripts/seed_coverage.py", file=sys.stderr)
            return 1
        return 1 if errors else 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(REPO)}" + (f" ({len(errors)} mapping errors)" if errors else ""))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
