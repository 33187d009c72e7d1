# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""The checklist a run executes: which evidence proves each checklist item, and how it went.

``liftoff_checklist`` maps each item of a go-live checklist (seed catalogue ids such as
``s003-042``) to the evidence ids that prove it, or says why no run can check it::

    liftoff_checklist:
      name: PFA Vanguard go-live
      source: seeds/003_14ae320941f2eb32.txt
      items:
        s003-042: {evidence: [preflight.active_syncs]}
        s003-300: {out_of_scope: "24 h after the deploy"}

:func:`parse` validates it (errors name the variable and the expected form), :func:`journal_details`
is what the run journals in ``run.start``'s details (``checklist``) (with the items' texts from the
catalogue), and :func:`rows` folds a journal into one row per item: the item, how it is
handled, its status (pass, fail, skip, missing, n/a) and what was seen. Items a gate profile
enforces come from the gate verdict's ``details.catalogue`` ([{metric, items}]: the catalogue ids).
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ansible_collections.liftoff.release.plugins.plugin_utils.record_facts import summary_id

ITEM_ID = re.compile(r"^s\d{3}-\d{3}$")
EVIDENCE_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[A-Za-z0-9_-]+)+$")
STATUSES = ("pass", "fail", "missing", "partial", "skip", "n/a")
Item = Mapping[str, Any]


class ChecklistError(ValueError):
    """liftoff_checklist (or the catalogue it names) is not in the expected form."""


@dataclass(frozen=True)
class Entry:
    """One checklist item: the evidence that proves it, or why it is out of scope."""

    id: str
    evidence: tuple[str, ...] = ()
    out_of_scope: str | None = None


@dataclass(frozen=True)
class Checklist:
    name: str
    source: str | None
    entries: tuple[Entry, ...]


def _entry(ident: Any, raw: Any, var: str) -> Entry:
    at = f"{var}.items.{ident}"
    if not isinstance(ident, str) or not ITEM_ID.match(ident):
        raise ChecklistError(f"{var}.items: keys must be checklist item ids like s003-042, got {ident!r}")
    if not isinstance(raw, Mapping):
        raise ChecklistError(f"{at} must be a mapping with evidence (a list of evidence ids) or out_of_scope "
                             f"(the reason), got {type(raw).__name__}")
    unknown = sorted(set(raw) - {"evidence", "out_of_scope", "note"})
    if unknown:
        raise ChecklistError(f"{at}: unknown key {unknown[0]!r}; expected evidence, out_of_scope or note")
    has_evidence, has_scope = "evidence" in raw, "out_of_scope" in raw
    if has_evidence == has_scope:
        raise ChecklistError(f"{at} must give exactly one of evidence (a list of evidence ids such as "
                             f"[preflight.health]) or out_of_scope (why no run can check it)")
    if has_scope:
        reason = raw["out_of_scope"]
        if not isinstance(reason, str) or len(reason.strip()) < 10:
            raise ChecklistError(f"{at}.out_of_scope must say why no run can check the item (a sentence), "
                                 f"got {reason!r}")
        return Entry(ident, out_of_scope=reason.strip())
    evidence = raw["evidence"]
    if isinstance(evidence, str):
        evidence = [evidence]
    if not isinstance(evidence, Sequence) or not evidence:
        raise ChecklistError(f"{at}.evidence must be a non-empty list of evidence ids such as [backup.dump]")
    for value in evidence:
        if not isinstance(value, str) or not EVIDENCE_ID.match(value):
            raise ChecklistError(f"{at}.evidence: {value!r} is not an evidence id (<phase>.<name>, "
                                 f"e.g. preflight.health)")
    return Entry(ident, evidence=tuple(evidence))


def parse(raw: Any, var: str = "liftoff_checklist") -> Checklist | None:
    """The checklist, or None when the variable is empty. Raises ChecklistError naming ``var``."""
    if raw in (None, {}, ""):
        return None
    if not isinstance(raw, Mapping):
        raise ChecklistError(f"{var} must be a mapping with name and items, got {type(raw).__name__}")
    unknown = sorted(set(raw) - {"name", "source", "catalogue", "items"})
    if unknown:
        raise ChecklistError(f"{var}: unknown key {unknown[0]!r}; expected name, source, catalogue and items")
    items = raw.get("items")
    if not isinstance(items, Mapping) or not items:
        raise ChecklistError(f"{var}.items must be a mapping of checklist item ids (s003-042) to "
                             f"{{evidence: [...]}} or {{out_of_scope: why}}")
    name = raw.get("name") or "Checklist"
    if not isinstance(name, str):
        raise ChecklistError(f"{var}.name must be a string")
    source = raw.get("source")
    if source is not None and not isinstance(source, str):
        raise ChecklistError(f"{var}.source must be a string (the checklist's file)")
    entries = tuple(_entry(ident, value, var) for ident, value in items.items())
    return Checklist(name=name, source=source, entries=entries)


def catalogue_items(catalogue: Any, var: str = "liftoff_checklist.catalogue") -> dict[str, dict[str, Any]]:
    """Item id -> catalogue item, from the seed catalogue's document (``seeds: [{items: [...]}]``)."""
    if not isinstance(catalogue, Mapping) or not isinstance(catalogue.get("seeds"), list):
        raise ChecklistError(f"{var} must name a seed catalogue (a YAML document with a seeds list)")
    found: dict[str, dict[str, Any]] = {}
    for seed in catalogue["seeds"]:
        for item in (seed or {}).get("items") or []:
            if isinstance(item, Mapping) and isinstance(item.get("id"), str):
                found[item["id"]] = dict(item)
    return found


def journal_details(checklist: Checklist, catalogue: Mapping[str, Mapping[str, Any]] | None = None,
                    var: str = "liftoff_checklist") -> dict[str, Any]:
    """What the run journals in run.start's details (checklist): every item with its text, kind and evidence."""
    catalogue = catalogue or {}
    if catalogue:
        unknown = [e.id for e in checklist.entries if e.id not in catalogue]
        if unknown:
            raise ChecklistError(f"{var}.items: {unknown[0]} is not in the catalogue")
    items = []
    for entry in checklist.entries:
        known = catalogue.get(entry.id) or {}
        row: dict[str, Any] = {"id": entry.id, "text": known.get("text"), "kind": known.get("kind"),
                               "phase": known.get("phase")}
        if entry.out_of_scope is not None:
            row["out_of_scope"] = entry.out_of_scope
        else:
            row["evidence"] = list(entry.evidence)
        items.append(row)
    prefixes = sorted({e.id.split("-")[0] + "-" for e in checklist.entries})
    texts = {ident: {"text": v.get("text"), "kind": v.get("kind"), "phase": v.get("phase")}
             for ident, v in catalogue.items() if any(ident.startswith(p) for p in prefixes)}
    return {"name": checklist.name, "source": checklist.source, "items": items, "prefixes": prefixes,
            "catalogue": texts}


def _worst_status(found: Sequence[Item]) -> str:
    statuses = [str(i.get("status")) for i in found]
    if any(s == "fail" for s in statuses):
        return "fail"
    if all(s == "skip" for s in statuses):
        return "skip"
    return "pass"


def _summary_items(summary: Sequence[Mapping[str, Any]]) -> dict[str, Item]:
    """The Deployment Metrics Summary's rows as evidence: summary.<metric> -> {status, actual}.

    A row the run did not measure (n/a) is no evidence, so an item naming it is missing."""
    return {summary_id(str(row.get("metric"))): {
        "status": row.get("status"), "actual": f"{row.get('actual')} (target {row.get('target')})"}
        for row in summary if isinstance(row, Mapping) and row.get("status") in ("pass", "fail")}


def _evidence_row(item: Mapping[str, Any], journal: Sequence[Item],
                  summary: Mapping[str, Item] | None = None) -> dict[str, Any]:
    statuses, seen = [], []
    for ident in item.get("evidence") or []:
        found = [i for i in journal if i.get("id") == ident]
        if not found and str(ident).startswith("summary.") and summary and ident in summary:
            found = [summary[ident]]
        if not found:
            statuses.append("missing")
            seen.append(f"{ident}: no evidence")
            continue
        statuses.append(_worst_status(found))
        last = found[-1]
        seen.append(f"{ident}: {last.get('actual')}" if last.get("actual") not in (None, "") else ident)
    for status in ("fail", "missing", "skip"):
        if status in statuses:
            return {"status": status, "actual": "; ".join(seen)}
    return {"status": "pass", "actual": "; ".join(seen)}


def _metric_status(metric: Mapping[str, Any]) -> str:
    result = metric.get("result")
    if result == "pass":
        return "pass"
    if result in ("fail", "error"):
        return "fail"
    return "info" if metric.get("dry_run") else ("missing" if not metric else str(result or "missing"))


def _window_part(details: Mapping[str, Any]) -> tuple[list[str], tuple[str, str]] | None:
    window = details.get("window")
    if not isinstance(window, Mapping) or not window.get("catalogue"):
        return None
    wanted, seen = window.get("seconds"), details.get("seconds")
    if not isinstance(wanted, (int, float)) or not isinstance(seen, (int, float)):
        return list(window["catalogue"]), ("missing", "no observation time recorded")
    status = "pass" if seen >= wanted else "partial"
    return list(window["catalogue"]), (status, f"observed {seen:g} s of the profile's {wanted:g} s window")


def _trace(value: Any) -> dict[str, Any]:
    """The verdict's catalogue trace, metric name -> ids: a list of {metric, items} (a mapping before 1.0)."""
    if isinstance(value, Mapping):
        return dict(value)
    return {str(e.get("metric")): e.get("items") for e in value or [] if isinstance(e, Mapping)}


def _profile_rows(journal: Sequence[Item], prefixes: Sequence[str], listed: set[str]) -> list[dict[str, Any]]:
    """Items a gate profile enforced: the metric tiers of the last gate verdict before the rollback
    phase (verify, else a rollout step), the profile's window on it and its post_rollback window on
    the gate after a rollback."""
    verdicts = [i for i in journal if str(i.get("id", "")).endswith(".verdict")
                and (i["id"] == "verify.verdict" or str(i["id"]).startswith("rollout.step_"))]
    parts: dict[str, list[tuple[str, str]]] = {}
    evidence: dict[str, list[str]] = {}

    def add(ident: Any, ev: str, part: tuple[str, str]) -> None:
        if ident in listed or not any(str(ident).startswith(p) for p in prefixes):
            return
        parts.setdefault(str(ident), []).append(part)
        evidence.setdefault(str(ident), []).append(ev)

    if verdicts:
        verdict = verdicts[-1]
        details = verdict.get("details") or {}
        trace = _trace(details.get("catalogue"))
        metrics = {m.get("name"): m for m in details.get("metrics") or [] if isinstance(m, Mapping)}
        for name, ids in trace.items():
            metric = metrics.get(name) or {}
            for ident in ids if isinstance(ids, list) else []:
                add(ident, f"{verdict['id'].rsplit('.', 1)[0]}.metric.{name}",
                    (_metric_status(metric), f"{name}: {metric.get('reason') or 'not sampled'}"))
    after = next((i for i in reversed(journal) if i.get("id") == "rollback.gate.verdict"), None)
    for verdict in (verdicts[-1:] if verdicts else []) + ([after] if after else []):
        window = _window_part(verdict.get("details") or {})
        if window is not None:
            ids, part = window
            for ident in ids:
                add(ident, str(verdict["id"]), part)
    out = []
    for ident, found in parts.items():
        statuses = [status for status, _text in found]
        out.append({"id": ident, "how": "threshold in a profile", "evidence": evidence[ident],
                    "status": next((s for s in ("fail", "missing", "partial") if s in statuses), "pass"),
                    "actual": "; ".join(text for _status, text in found)})
    return out


def how(item: Mapping[str, Any]) -> str:
    """How an item is handled, from its evidence ids and its kind."""
    if item.get("out_of_scope") is not None:
        return "out of scope"
    evidence = item.get("evidence") or []
    evidence = [evidence] if isinstance(evidence, str) else [str(e) for e in evidence]
    if evidence and all(".approval." in e for e in evidence):
        return "recorded gate"
    if evidence and all(".attest." in e or ".approval." in e for e in evidence):
        return "recorded attestation"
    return "action" if item.get("kind") == "action" else "automated check"


def rows(journal: Sequence[Item], summary: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any] | None:
    """The record's checklist: one row per item, from the checklist journaled with ``run.start``.

    An item's evidence is journal ids, or rows of the Deployment Metrics Summary (``summary``) as
    ``summary.<metric>`` (record_facts.summary_id)."""
    start = next((i for i in journal if i.get("id") == "run.start"), None)
    details = ((start or {}).get("details") or {}).get("checklist")
    if not isinstance(details, Mapping) or not details.get("items"):
        return None
    texts = details.get("catalogue") or {}
    summary_items = _summary_items(summary)
    out: list[dict[str, Any]] = []
    for item in details.get("items") or []:
        row = {"id": item.get("id"), "text": item.get("text"), "kind": item.get("kind"), "how": how(item)}
        if item.get("out_of_scope") is not None:
            row.update(status="n/a", evidence=[], actual=f"out of scope: {item['out_of_scope']}")
        else:
            row.update(evidence=list(item.get("evidence") or []), **_evidence_row(item, journal, summary_items))
        out.append(row)
    listed = {str(r["id"]) for r in out}
    for row in _profile_rows(journal, details.get("prefixes") or [], listed):
        known = texts.get(row["id"]) or {}
        out.append({"id": row["id"], "text": known.get("text"), "kind": known.get("kind"), **row})
    out.sort(key=lambda r: str(r["id"]))
    # A list, not {status: n}: the redaction masks values under a key named like "pass".
    counts = [{"status": status, "count": sum(1 for r in out if r["status"] == status)}
              for status in STATUSES if any(r["status"] == status for r in out)]
    return {"name": details.get("name"), "source": details.get("source"), "items": out, "counts": counts}
