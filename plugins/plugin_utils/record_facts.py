# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""The facts a person reads first in a deployment record, picked from the evidence journal.

Each function is pure: journal items in, a small JSON-serialisable value out. ``summary`` is the
"Deployment Metrics Summary" table of the seed checklists (003): metric, target, actual, status.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from typing import Any

# Seed 003's targets: total deployment time < 60 min, database migration time < 5 min, smoke
# test success rate 100%, rollback required: No. ``record_targets`` overrides them per environment.
DEFAULT_TARGETS: dict[str, float] = {"max_duration_s": 3600.0, "max_migration_s": 300.0,
                                     "min_smoke_success_pct": 100.0}

Item = Mapping[str, Any]
# Phases a time limit (targets max_phase_s) may name.
PHASES = ("preflight", "backup", "migrate", "rollout", "cdn", "smoke", "verify", "rollback")
# The summary's fixed rows (the gate adds "Metric <name>" rows and phase limits "Phase <name> time").
SUMMARY_METRICS = ("Total deployment time", "Database migration time", "Database backup", "Smoke test success rate",
                   "Post-deploy metrics (gate)", "Gate verdict", "CDN invalidation", "Rollback required")


def summary_id(metric: str) -> str:
    """The evidence id of a summary row: 'Total deployment time' -> summary.total_deployment_time."""
    return "summary." + "_".join("".join(c if c.isalnum() else " " for c in metric.lower()).split())


def phase_limit_error(limits: Any) -> str | None:
    """Why a max_phase_s value is not {phase: seconds > 0}; None when it is (or is not set)."""
    if limits is None:
        return None
    if not isinstance(limits, Mapping):
        return f"must be a mapping of phase to seconds, such as {{migrate: 300}}; got {limits!r}"
    for phase, seconds in limits.items():
        if phase not in PHASES:
            return f"names {phase!r}, not a phase ({', '.join(PHASES)})"
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
            return f"{phase} must be a number of seconds above 0; got {seconds!r}"
    return None


def _details(item: Item | None) -> Mapping[str, Any]:
    value = (item or {}).get("details")
    return value if isinstance(value, Mapping) else {}


def _last(items: Sequence[Item], ident: str) -> Item | None:
    return next((i for i in reversed(items) if i.get("id") == ident), None)


def _parse(ts: Any) -> _dt.datetime | None:
    try:
        return _dt.datetime.fromisoformat(str(ts).replace("Z", "+00:00"))
    except ValueError:
        return None


def span_seconds(started: Any, ended: Any) -> float | None:
    a, b = _parse(started), _parse(ended)
    return round((b - a).total_seconds(), 3) if a and b else None


def human_duration(seconds: float | None) -> str:
    """'25 ms', '42.6 s', '3 min 05 s', '1 h 02 min'; '-' when unknown."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def human_bytes(count: Any) -> str:
    try:
        value = float(count)
    except (TypeError, ValueError):
        return "-"
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"  # pragma: no cover - the loop returns at GiB


def backup(items: Sequence[Item]) -> dict[str, Any] | None:
    """The database backup: where, size, sha256, verified, test-restored, duration; None when none was taken."""
    dump = _last(items, "backup.dump")
    if dump is None:
        return None
    d = _details(dump)
    restore = _last(items, "backup.test_restore")
    upload = _last(items, "backup.upload")
    return {"status": dump.get("status"), "host": dump.get("host"), "path": d.get("path"), "bytes": d.get("bytes"),
            "sha256": d.get("sha256"), "format": d.get("format"), "duration_s": _ms(d.get("duration_ms")),
            "verified": d.get("verified"), "test_restore": (restore or {}).get("status"),
            "test_restore_actual": (restore or {}).get("actual"),
            "uploaded_to": _details(upload).get("url") or _details(upload).get("key") if upload else None}


def _ms(value: Any) -> float | None:
    try:
        return round(float(value) / 1000.0, 3)
    except (TypeError, ValueError):
        return None


def migrations(items: Sequence[Item]) -> dict[str, Any] | None:
    """Migrations applied by this run: versions, duration, schema fingerprint before and after."""
    applied = [i for i in items if i.get("id") == "migrate.apply"]
    if not applied:
        return None
    last = applied[-1]
    d = _details(last)
    versions = [str(m.get("version") or m.get("name")) for i in applied
                for m in (_details(i).get("applied") or []) if isinstance(m, Mapping)]
    duration = _ms(d.get("duration_ms"))
    return {"status": last.get("status"), "driver": d.get("driver"), "applied": versions,
            "duration_s": duration if duration is not None else span_seconds(last.get("started"), last.get("ended")),
            "fingerprint_before": d.get("fingerprint_before"), "fingerprint_after": d.get("fingerprint_after"),
            "actual": last.get("actual")}


def cdn(items: Sequence[Item]) -> dict[str, Any] | None:
    """The CDN phase: objects uploaded, the invalidation id and how long it took to complete."""
    inv = _last(items, "cdn.invalidation")
    upload = _last(items, "cdn.upload")
    if inv is None and upload is None:
        return None
    d = _details(inv)
    return {"invalidation_id": d.get("invalidation_id"), "invalidation_status": (inv or {}).get("status"),
            "paths": d.get("paths") or [], "took_s": d.get("took_s"), "distribution_id": d.get("distribution_id"),
            "upload": (upload or {}).get("actual"), "upload_status": (upload or {}).get("status")}


def approvals(items: Sequence[Item]) -> list[dict[str, Any]]:
    """Every go/no-go and attestation: what, who, when, how, and whether it was given."""
    out = []
    for item in items:
        parts = str(item.get("id", "")).split(".")
        if len(parts) < 3 or parts[1] not in ("approval", "attest"):
            continue
        d = _details(item)
        out.append({"id": item.get("id"), "kind": parts[1], "name": d.get("name") or parts[2],
                    "question": d.get("question") or item.get("title"), "status": item.get("status"),
                    "by": d.get("by"), "at": d.get("at"), "how": d.get("how"), "note": d.get("note")})
    return out


def smoke(items: Sequence[Item]) -> dict[str, Any] | None:
    """Smoke checks run, succeeded, and the success rate in percent.

    (Not "passed": a key named like a password is masked by the redaction of the record.)
    """
    checks = [i for i in items if i.get("phase") == "smoke" and not str(i.get("id", "")).endswith(".phase")
              and ".notify." not in str(i.get("id", "")) and i.get("status") in ("pass", "fail")]
    if not checks:
        return None
    passed = sum(1 for i in checks if i.get("status") == "pass")
    return {"total": len(checks), "succeeded": passed, "success_pct": round(100.0 * passed / len(checks), 2),
            "failed": [str(i.get("id")) for i in checks if i.get("status") == "fail"]}


def _status(ok: bool | None) -> str:
    return "n/a" if ok is None else ("pass" if ok else "fail")


def _row(metric: str, target: str, actual: str, ok: bool | None) -> dict[str, Any]:
    return {"metric": metric, "target": target, "actual": actual, "status": _status(ok)}


def summary(record: Mapping[str, Any], targets: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """The seed 003 "Deployment Metrics Summary": one row per metric, 'n/a' where the run did not measure it."""
    t = {**DEFAULT_TARGETS, **{k: float(v) for k, v in (targets or {}).items()
                               if v is not None and k != "max_phase_s"}}
    duration = record.get("duration_s")
    rows = [_row("Total deployment time", f"< {human_duration(t['max_duration_s'])}", human_duration(duration),
                 None if duration is None else duration < t["max_duration_s"])]
    mig = record.get("migrations")
    if mig:
        took = mig.get("duration_s")
        rows.append(_row("Database migration time", f"< {human_duration(t['max_migration_s'])}",
                         f"{human_duration(took)} ({', '.join(mig['applied']) or 'nothing pending'})",
                         None if took is None else (took < t["max_migration_s"] and mig.get("status") == "pass")))
    else:
        rows.append(_row("Database migration time", f"< {human_duration(t['max_migration_s'])}", "not run", None))
    bak = record.get("backup")
    rows.append(_row("Database backup", "taken, verified, test-restored",
                     f"{human_bytes(bak.get('bytes'))}, sha256 {str(bak.get('sha256') or '-')[:16]}..., restore "
                     f"{bak.get('test_restore') or 'not tested'}" if bak else "not taken",
                     (bak.get("status") == "pass") if bak else None))
    smk = record.get("smoke")
    rows.append(_row("Smoke test success rate", f"{t['min_smoke_success_pct']:g}%",
                     f"{smk['success_pct']:g}% ({smk['succeeded']} of {smk['total']})" if smk else "not run",
                     (smk["success_pct"] >= t["min_smoke_success_pct"]) if smk else None))
    rows += _phase_rows(record.get("phases") or [], (targets or {}).get("max_phase_s") or {})
    rows += _gate_rows(record.get("gate"))
    cd = record.get("cdn")
    if cd and cd.get("invalidation_id"):
        rows.append(_row("CDN invalidation", "completed", f"{cd['invalidation_id']} in {cd.get('took_s')} s",
                         cd.get("invalidation_status") == "pass"))
    rb = record.get("rollback") or {}
    required = bool(rb.get("performed")) or record.get("outcome") in ("rolled_back", "rollback_failed")
    rows.append(_row("Rollback required", "No", f"Yes: {record.get('reason')}" if required else "No", not required))
    return rows


def _phase_rows(phases: Sequence[Any], limits: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per time-limited phase: its duration against the limit (n/a when it did not run)."""
    took = {p.get("name"): p for p in phases if isinstance(p, Mapping)}
    rows = []
    for name, limit in limits.items():
        phase = took.get(name) or {}
        duration = phase.get("duration_s") if phase.get("status") not in (None, "skip") else None
        rows.append(_row(f"Phase {name} time", f"< {human_duration(float(limit))}",
                         human_duration(duration) if duration is not None else "not run",
                         None if duration is None else float(duration) < float(limit)))
    return rows


def _gate_rows(gate: Any) -> list[dict[str, Any]]:
    """One row per gate metric: its threshold and the worst sample seen."""
    if not isinstance(gate, Mapping):
        return [_row("Post-deploy metrics (gate)", "PROCEED", "not run", None)]
    metrics = gate.get("metrics") or []
    if isinstance(metrics, Mapping):
        metrics = list(metrics.values())
    rows = []
    for metric in metrics:
        if not isinstance(metric, Mapping):
            continue
        values = [float(s["value"]) for s in metric.get("samples") or [] if isinstance(s, Mapping)
                  and isinstance(s.get("value"), (int, float)) and not isinstance(s.get("value"), bool)]
        worst = _worst(values, metric.get("threshold"))
        status = metric.get("status") or metric.get("result")
        rows.append(_row(f"Metric {metric.get('name')}", threshold_text(metric.get("threshold")),
                         f"worst {worst:g} in {len(values)} samples" if worst is not None else "no data",
                         None if status in (None, "inconclusive", "dry_run") else status in ("pass", "ok")))
    rows.append(_row("Gate verdict", "PROCEED", str(gate.get("verdict")), gate.get("verdict") == "PROCEED"))
    return rows


def _worst(values: list[float], threshold: Any) -> float | None:
    if not values:
        return None
    if isinstance(threshold, Mapping) and threshold.get("min") is not None and threshold.get("max") is None:
        return min(values)
    return max(values)


def threshold_text(threshold: Any) -> str:
    """'>= 1 and <= 5' from {'min': 1, 'max': 5}; other shapes as text."""
    if not isinstance(threshold, Mapping):
        return "-" if threshold in (None, "") else str(threshold)
    parts = [f">= {threshold['min']}"] if threshold.get("min") is not None else []
    parts += [f"<= {threshold['max']}"] if threshold.get("max") is not None else []
    return " and ".join(parts) or "-"
