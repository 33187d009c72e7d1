"""The deployment record: JSON from the journal, and the Markdown checklist."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from ansible_collections.liftoff.release.plugins.plugin_utils.record import SCHEMA, build, markdown
from ansible_collections.liftoff.release.plugins.plugin_utils.redact import redact
from ansible_collections.liftoff.release.plugins.plugin_utils.run_state import fold


def ev(ident: str, status: str, started: str, ended: str, seq: int, **kw: Any) -> dict[str, Any]:
    return {"id": ident, "phase": ident.split(".")[0], "title": kw.pop("title", ident), "status": status,
            "target": kw.pop("target", None), "actual": kw.pop("actual", None), "started": started,
            "ended": ended, "host": kw.pop("host", "app1"), "details": kw.pop("details", {}), "seq": seq}


def ts(sec: float) -> str:
    return f"2026-11-23T06:40:{sec:06.3f}Z"


START = ev("run.start", "info", ts(0), ts(0), 1, title="Run started", host="controller",
           details={"run_id": "20261123T064000Z-abc123", "environment": "staging", "version": "v2",
                    "operator": "alice", "strategy": "pm2", "check_mode": False})


def success_journal() -> list[dict[str, Any]]:
    return [
        START,
        # Out of order on purpose: the phase spans min(started)..max(ended), not first..last item.
        ev("backup.verify", "pass", ts(3), ts(4), 2, title="Backup is a readable archive",
           target="pg_restore --list succeeds", actual="42 TOC entries", host="db1"),
        ev("backup.dump", "pass", ts(1), ts(2.5), 3, title="Dump written"),
        ev("backup.phase", "pass", ts(4), ts(4), 4, title="backup"),
        ev("rollout.change", "info", ts(5), ts(6), 5, title="Release v2 live",
           details={"undo": {"kind": "app", "previous": "v1"}}),
        ev("rollout.phase", "pass", ts(6), ts(6.25), 6, title="rollout"),
        ev("run.end", "info", ts(7), ts(7), 7, title="Run ended", actual="success"),
    ]


GATE = {"verdict": "ROLLBACK", "reasons": ["error_ratio breached max 0.05 in 2 of 2 samples"], "metrics": [
    {"name": "error_ratio", "result": "fail", "threshold": {"min": None, "max": 0.05}, "severity": "critical",
     "samples": [{"at": ts(8), "value": 0.2, "status": "fail"}, {"at": ts(9), "value": 0.3, "status": "fail"}]},
]}


def rolled_back_journal(rollback_status: str = "pass") -> list[dict[str, Any]]:
    items = success_journal()[:-1]
    items += [
        ev("verify.verdict", "fail", ts(8), ts(10), 8, title="Gate verdict", actual="ROLLBACK", details=GATE),
        ev("verify.phase", "fail", ts(10), ts(10), 9, title="verify"),
        ev("rollback.undo_app", rollback_status, ts(11), ts(12), 10, title="Previous release v1 live again",
           details={"change": "rollout.change#5"}),
        ev("rollback.phase", rollback_status, ts(12), ts(12), 11, title="rollback"),
        ev("run.end", "info", ts(13), ts(13), 12, title="Run ended", actual="rolled_back"),
    ]
    return items


def test_build_success() -> None:
    items = success_journal()
    record = build(items, fold(items))
    assert record["schema"] == SCHEMA
    assert (record["outcome"], record["run_id"], record["environment"], record["version"]) == (
        "success", "20261123T064000Z-abc123", "staging", "v2")
    assert (record["previous_version"], record["operator"], record["strategy"]) == ("v1", "alice", "pm2")
    assert (record["started"], record["ended"], record["duration_s"]) == (ts(0), ts(7), 7.0)
    assert record["verdict"] is None and record["gate"] is None
    assert record["rollback"] == {"performed": False, "status": None, "why": None, "undone": [], "pending": []}
    assert record["evidence"] == items
    phases = {p["name"]: p for p in record["phases"]}
    assert list(phases) == ["run", "backup", "rollout"]
    assert phases["backup"] == {"name": "backup", "status": "pass", "started": ts(1), "ended": ts(4),
                                "duration_s": 3.0, "checks": 2}
    assert phases["rollout"]["duration_s"] == 1.25
    assert phases["run"]["status"] == "info"


def test_phase_without_outcome_item_fails_when_a_check_failed() -> None:
    items = [ev("smoke.health", "fail", ts(1), ts(2), 1), ev("smoke.ready", "pass", ts(0), ts(1), 2)]
    record = build(items, fold(items))
    assert record["phases"][0]["status"] == "fail"
    assert record["phases"][0]["duration_s"] == 2.0


@pytest.mark.parametrize(("rollback_status", "outcome", "performed"), [
    ("pass", "rolled_back", True),
    ("fail", "rollback_failed", True),
    ("skip", "failed", False),
])
def test_build_rolled_back(rollback_status: str, outcome: str, performed: bool) -> None:
    items = rolled_back_journal(rollback_status)
    record = build(items, fold(items))
    assert record["outcome"] == outcome
    assert (record["verdict"], record["failed_phase"]) == ("ROLLBACK", "verify")
    assert record["reason"] == "gate verdict ROLLBACK: error_ratio breached max 0.05 in 2 of 2 samples"
    assert record["gate"] == GATE
    assert record["rollback"]["performed"] is performed
    assert record["rollback"]["status"] == rollback_status
    assert [i["id"] for i in record["rollback"]["undone"]] == ["rollback.undo_app"]


def test_markdown_success() -> None:
    items = success_journal()
    text = markdown(build(items, fold(items)))
    assert text.startswith("# Deployment record: staging v2\n")
    assert "**Outcome:** `SUCCESS`" in text
    assert "| Version | v1 -> v2 |" in text and "| Rolled back | No |" in text
    assert "| Gate verdict | - |" in text and "## Gate" not in text
    assert "| backup | pass | 3.0 | 2 |" in text
    for item in items:
        if not item["id"].endswith(".phase"):
            assert f"**{item['title']}**" in text
    assert ("- [x] **Backup is a readable archive** (db1): target: pg_restore --list succeeds; "
            "actual: 42 TOC entries `pass`") in text


def test_markdown_rolled_back_with_gate_table() -> None:
    items = rolled_back_journal()
    text = markdown(build(items, fold(items)))
    assert "**Outcome:** `ROLLED BACK`" in text
    assert "| Rolled back | Yes |" in text
    assert ("| Why it failed | gate verdict ROLLBACK: error_ratio breached max 0.05 in 2 of 2 samples "
            "(phase: verify) |") in text
    assert "- [ ] FAILED: **Gate verdict**" in text
    assert "**Previous release v1 live again**" in text
    assert "## Gate" in text and "**Verdict:** `ROLLBACK`" in text
    assert "### error_ratio (fail)" in text
    assert "| # | time | value | status |" in text
    assert f"| 1 | {ts(8)} | 0.2 | fail |" in text
    assert f"| 2 | {ts(9)} | 0.3 | fail |" in text


def test_markdown_escapes_pipes_and_newlines() -> None:
    items = [START, ev("smoke.phase", "fail", ts(1), ts(2), 2, details={"error": "a | b\nc"})]
    record = build(items, fold(items))
    text = markdown(record)
    assert "| Why it failed | a \\| b c (phase: smoke) |" in text
    record["gate"] = {"verdict": "HOLD", "metrics": {"m": {"name": "m", "status": "inconclusive",
                                                           "samples": [{"at": "x|y", "value": None}]}}}
    text = markdown(record)
    assert "| 1 | x\\|y | - | - |" in text


def test_markdown_check_mode_and_long_cells() -> None:
    start = dict(START, details=dict(START["details"], check_mode=True))
    items = [start, ev("preflight.config", "pass", ts(1), ts(2), 2, actual="y" * 300)]
    text = markdown(build(items, fold(items)))
    assert "(check mode: a plan, nothing was changed)" in text
    assert "actual: " + "y" * 157 + "..." in text


def test_markdown_gives_every_reason_in_full_and_thresholds_as_bounds() -> None:
    journal = rolled_back_journal()
    long_reason = "latency_p95 breached max 0.5 in 4 of 5 samples (last 0.91), more than failure_limit 0" * 3
    for item in journal:
        if item["id"] == "verify.verdict":
            item["details"]["reasons"] = [GATE["reasons"][0], long_reason]
    text = markdown(build(journal, fold(journal)))
    assert "## Why the run did not succeed" in text
    assert f"- {long_reason}" in text  # not cut like a table cell
    assert "Threshold: <= 0.05" in text
    assert "'min': None" not in text


def test_a_reason_that_is_not_the_gate_is_printed_whole() -> None:
    reason = "deploy lock for 'prod' is held by owner 'alice', run r1; wait for that run to finish"
    journal = [ev("run.start", "info", ts(0), ts(0), 1, details={"run_id": "r2", "environment": "prod"}),
               ev("preflight.phase", "fail", ts(1), ts(1), 2, details={"error": reason})]
    text = markdown(build(journal, fold(journal)))
    assert f"\n{reason}\n" in text


def full_journal() -> list[dict[str, Any]]:
    """A run with every fact the summary reads: backup, migration, smoke, CDN, approval, gate."""
    return [
        START,
        ev("preflight.approval.go", "pass", ts(0.5), ts(0.6), 2, title="Approval: go?",
           details={"name": "go", "question": "Go live?", "by": "carol", "at": ts(0.55), "how": "variable"}),
        ev("backup.dump", "pass", ts(1), ts(2), 3, details={"path": "/b/demo.pgc", "bytes": 3 * 1024 * 1024,
                                                            "sha256": "ab" * 32, "format": "custom",
                                                            "duration_ms": 950, "verified": True}),
        ev("backup.test_restore", "pass", ts(2), ts(3), 4, actual="2 tables, 4 rows"),
        ev("migrate.apply", "pass", ts(3), ts(4), 5, actual="applied 002",
           details={"applied": [{"version": "002"}], "duration_ms": 1250, "driver": "sql",
                    "fingerprint_before": "f0", "fingerprint_after": "f1"}),
        ev("cdn.invalidation", "pass", ts(5), ts(6), 6, details={"invalidation_id": "I2J3", "took_s": 4.5,
                                                                 "paths": ["/index.html"], "distribution_id": "E1"}),
        ev("smoke.health", "pass", ts(6), ts(6.1), 7),
        ev("smoke.login", "fail", ts(6.1), ts(6.2), 8),
        ev("verify.verdict", "pass", ts(7), ts(9), 9, actual="PROCEED", details={
            "verdict": "PROCEED", "metrics": [{"name": "error_ratio", "result": "pass", "threshold": {"max": 0.05},
                                               "samples": [{"value": 0.01}, {"value": 0.02}]}]}),
        ev("run.end", "pass", ts(10), ts(10), 10, actual="success"),
    ]


def test_summary_fills_the_seed_003_table() -> None:
    items = full_journal()
    record = build(items, fold(items), targets={"max_duration_s": 5})
    rows = {r["metric"]: r for r in record["summary"]}
    assert rows["Total deployment time"] == {"metric": "Total deployment time", "target": "< 5.0 s",
                                             "actual": "10.0 s", "status": "fail"}
    assert rows["Database migration time"]["actual"] == "1.2 s (002)"
    assert rows["Database migration time"]["status"] == "pass"
    assert rows["Database backup"]["actual"].startswith("3.0 MiB, sha256 abababababababab...")
    assert rows["Smoke test success rate"]["actual"] == "50% (1 of 2)"
    assert rows["Smoke test success rate"]["status"] == "fail"
    assert rows["Metric error_ratio"] == {"metric": "Metric error_ratio", "target": "<= 0.05",
                                          "actual": "worst 0.02 in 2 samples", "status": "pass"}
    assert rows["CDN invalidation"]["actual"] == "I2J3 in 4.5 s"
    assert rows["Rollback required"]["status"] == "pass" and rows["Rollback required"]["actual"] == "No"
    assert record["approvals"] == [{"id": "preflight.approval.go", "kind": "approval", "name": "go",
                                    "question": "Go live?", "status": "pass", "by": "carol", "at": ts(0.55),
                                    "how": "variable", "note": None}]
    text = markdown(record)
    assert "## Deployment Metrics Summary" in text
    assert "| Total deployment time | < 5.0 s | 10.0 s | **FAIL** |" in text
    assert "| Go live? | carol | " + ts(0.55) + " | variable | pass |" in text
    assert f"| sha256 | `{'ab' * 32}` |" in text
    assert "| Invalidation id | `I2J3` (E1) |" in text
    assert "| Applied | 002 |" in text
    assert "- **Deployment Status:** `SUCCESS`" in text


def test_summary_marks_what_the_run_did_not_measure() -> None:
    items = success_journal()
    rows = {r["metric"]: r for r in build(items, fold(items))["summary"]}
    assert rows["Database migration time"] == {"metric": "Database migration time", "target": "< 5 min 00 s",
                                               "actual": "not run", "status": "n/a"}
    assert rows["Post-deploy metrics (gate)"]["status"] == "n/a"
    assert rows["Total deployment time"]["status"] == "pass"


def test_rolled_back_record_says_rollback_required_and_why() -> None:
    items = rolled_back_journal()
    record = build(items, fold(items))
    rows = {r["metric"]: r for r in record["summary"]}
    assert rows["Rollback required"]["status"] == "fail"
    assert rows["Rollback required"]["actual"].startswith("Yes: gate verdict ROLLBACK")
    assert rows["Gate verdict"] == {"metric": "Gate verdict", "target": "PROCEED", "actual": "ROLLBACK",
                                    "status": "fail"}
    assert record["rollback"]["why"] == record["reason"]
    text = markdown(record)
    assert "**Rollback required:** Yes" in text
    assert "**Why:** gate verdict ROLLBACK" in text


SCHEMA_FILE = Path(__file__).resolve().parents[4] / "docs" / "record-schema.json"


@pytest.mark.parametrize("journal", [success_journal(), rolled_back_journal(), rolled_back_journal("fail"),
                                     full_journal(), []], ids=["success", "rolled_back", "rollback_failed",
                                                               "full", "empty"])
def test_records_match_the_published_schema(journal: list[dict[str, Any]]) -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert schema["properties"]["schema"]["const"] == SCHEMA
    # as the record action writes it: masked (a key that only looks like a secret name must not break it)
    document = json.loads(json.dumps(redact(build(journal, fold(journal)), {"unrelated-secret"}), default=str))
    if not journal:
        document["run_id"] = "r0"  # an empty journal has no id; the rest must still fit
    jsonschema.validate(document, schema)


def test_the_schema_rejects_what_breaks_the_contract() -> None:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    items = full_journal()
    document = json.loads(json.dumps(build(items, fold(items)), default=str))
    for broken in ({"outcome": "fine"}, {"summary": [{"metric": "x"}]}, {"schema": "liftoff.release/record/v1"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**document, **broken}, schema)


def test_a_journal_without_an_end_is_a_running_run() -> None:
    items = success_journal()[:-1]  # no run.end: rendered while the run goes on
    record = build(items, fold(items))
    assert record["outcome"] == "running"
    assert "**Outcome:** `INCOMPLETE`" in markdown(record)


def test_phase_time_limits_add_rows_to_the_summary() -> None:
    items = full_journal()
    record = build(items, fold(items), targets={"max_phase_s": {"migrate": 60, "smoke": 0.05, "rollback": 5}})
    rows = {r["metric"]: r for r in record["summary"]}
    assert rows["Phase migrate time"] == {"metric": "Phase migrate time", "target": "< 1 min 00 s", "actual": "1.0 s",
                                          "status": "pass"}
    assert rows["Phase smoke time"] == {"metric": "Phase smoke time", "target": "< 50 ms", "actual": "200 ms",
                                        "status": "fail"}
    assert rows["Phase rollback time"] == {"metric": "Phase rollback time", "target": "< 5.0 s", "actual": "not run",
                                           "status": "n/a"}


@pytest.mark.parametrize(("limits", "message"), [
    ([300], "must be a mapping of phase to seconds"),
    ({"deploy": 300}, "names 'deploy', not a phase"),
    ({"migrate": 0}, "migrate must be a number of seconds above 0; got 0"),
    ({"migrate": "5m"}, "got '5m'"),
])
def test_bad_phase_limits_are_refused_naming_the_phase(limits: Any, message: str) -> None:
    from ansible_collections.liftoff.release.plugins.filter.record import record_target_errors

    errors = record_target_errors({"max_phase_s": limits})
    assert len(errors) == 1 and errors[0].startswith("record_targets.max_phase_s ") and message in errors[0]
    assert record_target_errors({"max_duration_s": -1}) == ["record_targets.max_duration_s must be a number at "
                                                            "least 0; got -1"]
    assert record_target_errors({"max_phase_s": {"migrate": 300}, "max_duration_s": 3600}) == []
