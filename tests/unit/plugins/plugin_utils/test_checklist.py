"""The checklist a run executes: validation, what is journaled, and the record's rows item by item."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.liftoff.release.plugins.filter.checklist import checklist_details
from ansible_collections.liftoff.release.plugins.plugin_utils import checklist, record, record_html
from ansible_collections.liftoff.release.plugins.plugin_utils.redact import redact
from ansible_collections.liftoff.release.plugins.plugin_utils.run_state import fold

CATALOGUE = {"seeds": [{"file": "003.txt", "items": [
    {"id": "s003-001", "text": "Feature flag off", "kind": "action", "phase": "migrate"},
    {"id": "s003-002", "text": "Active syncs = 0", "kind": "check", "phase": "preflight"},
    {"id": "s003-003", "text": "Team briefed", "kind": "org", "phase": "org"},
    {"id": "s003-004", "text": "24 h review", "kind": "check", "phase": "verify"},
    {"id": "s003-005", "text": "Error rate < 0.5%", "kind": "threshold", "phase": "verify"},
    {"id": "s003-006", "text": "Monitor for 1 hour", "kind": "check", "phase": "verify"},
    {"id": "s003-007", "text": "Go / no-go", "kind": "gate", "phase": "approval"},
]}, {"file": "004.txt", "items": [{"id": "s004-001", "text": "other seed", "kind": "check"}]}]}

CHECKLIST = {
    "name": "PFA go-live", "source": "seeds/003.txt",
    "items": {
        "s003-001": {"evidence": ["maintenance.flag"]},
        "s003-002": {"evidence": ["maintenance.drain", "preflight.health"]},
        "s003-003": {"evidence": ["preflight.attest.briefed"]},
        "s003-004": {"out_of_scope": "the review happens 24 h after the run ends"},
        "s003-007": {"evidence": "preflight.approval.go_no_go"},
    },
}


def _item(ident: str, status: str = "pass", actual: Any = "ok", **details: Any) -> dict[str, Any]:
    phase = ident.split(".")[0]
    return {"id": ident, "phase": phase, "title": ident, "status": status, "target": None, "actual": actual,
            "started": "2026-12-03T10:00:00Z", "ended": "2026-12-03T10:00:01Z", "host": "app1",
            "details": details}


def _journal(*items: dict[str, Any], listed: Any = None) -> list[dict[str, Any]]:
    start = _item("run.start", "info", "r1", run_id="r1", environment="prod", version="v2",
                  checklist=checklist_details(CHECKLIST if listed is None else listed, CATALOGUE))
    return [start, *items]


def test_details_carry_the_items_texts_and_only_this_seeds_catalogue() -> None:
    details = checklist_details(CHECKLIST, CATALOGUE)
    assert [i["id"] for i in details["items"]] == ["s003-001", "s003-002", "s003-003", "s003-004", "s003-007"]
    assert details["items"][0] == {"id": "s003-001", "text": "Feature flag off", "kind": "action",
                                   "phase": "migrate", "evidence": ["maintenance.flag"]}
    assert details["items"][3]["out_of_scope"].startswith("the review")
    assert details["items"][4]["evidence"] == ["preflight.approval.go_no_go"]
    assert details["prefixes"] == ["s003-"]
    assert "s004-001" not in details["catalogue"] and "s003-005" in details["catalogue"]


@pytest.mark.parametrize(("value", "message"), [
    ("nope", "liftoff_checklist must be a mapping"),
    ({"items": {}}, "liftoff_checklist.items must be a mapping of checklist item ids"),
    ({"items": {"42": {"evidence": ["a.b"]}}}, "keys must be checklist item ids like s003-042, got '42'"),
    ({"items": {"s003-001": {}}}, "liftoff_checklist.items.s003-001 must give exactly one of evidence"),
    ({"items": {"s003-001": {"evidence": ["a.b"], "out_of_scope": "x" * 20}}}, "exactly one of"),
    ({"items": {"s003-001": {"evidence": ["health"]}}}, "'health' is not an evidence id"),
    ({"items": {"s003-001": {"evidence": []}}}, "must be a non-empty list of evidence ids"),
    ({"items": {"s003-001": {"out_of_scope": "later"}}}, "must say why no run can check the item"),
    ({"items": {"s003-001": {"evidnce": ["a.b"]}}}, "unknown key 'evidnce'"),
    ({"items": {"s003-001": {"evidence": ["a.b"]}}, "titel": "x"}, "liftoff_checklist: unknown key 'titel'"),
    ({"items": {"s003-999": {"evidence": ["a.b"]}}}, "s003-999 is not in the catalogue"),
])
def test_bad_checklists_are_refused_naming_the_variable(value: Any, message: str) -> None:
    with pytest.raises(AnsibleFilterError, match=None) as info:
        checklist_details(value, CATALOGUE)
    assert message in str(info.value)


def test_an_empty_checklist_journals_nothing() -> None:
    assert checklist_details({}, CATALOGUE) == {}
    assert checklist.rows(_journal(listed={})) is None


def test_rows_fill_each_item_from_the_journal() -> None:
    journal = _journal(
        _item("maintenance.flag", actual="off"),
        _item("maintenance.drain", actual="0 active"), _item("preflight.health", actual="200"),
        _item("preflight.attest.briefed", actual="alice"),
    )
    result = checklist.rows(journal)
    assert result is not None
    by_id = {r["id"]: r for r in result["items"]}
    assert by_id["s003-001"]["status"] == "pass" and by_id["s003-001"]["how"] == "action"
    assert by_id["s003-002"]["actual"] == "maintenance.drain: 0 active; preflight.health: 200"
    assert by_id["s003-003"]["how"] == "recorded attestation"
    assert by_id["s003-004"] == {**by_id["s003-004"], "status": "n/a", "how": "out of scope"}
    assert by_id["s003-007"]["status"] == "missing" and by_id["s003-007"]["how"] == "recorded gate"
    assert result["counts"] == [{"status": "pass", "count": 3}, {"status": "missing", "count": 1},
                                {"status": "n/a", "count": 1}]


def test_any_failing_host_fails_the_item_and_skips_only_when_all_skip() -> None:
    journal = _journal(_item("maintenance.flag"), _item("maintenance.flag", "fail", "still on"),
                       _item("maintenance.drain", "skip"), _item("preflight.health", "skip"))
    by_id = {r["id"]: r for r in checklist.rows(journal)["items"]}  # type: ignore[index]
    assert by_id["s003-001"]["status"] == "fail"
    assert by_id["s003-002"]["status"] == "skip"


def _verdict(seconds: float, result: str) -> dict[str, Any]:
    return _item("verify.verdict", "pass" if result == "pass" else "fail", "PROCEED", seconds=seconds,
                 metrics=[{"name": "error_ratio.medium", "result": result, "reason": "max 0.001 <= 0.005"},
                          {"name": "latency_p95.medium", "result": "pass", "reason": "fine"}],
                 catalogue=[{"metric": "error_ratio.medium", "items": ["s003-005", "s004-001"]},
                            {"metric": "latency_p95.medium", "items": ["s003-002"]}],
                 window={"seconds": 3600, "catalogue": ["s003-006"]})


def test_profile_items_come_from_the_verdict_and_are_not_counted_twice() -> None:
    result = checklist.rows(_journal(_verdict(60, "fail")))
    assert result is not None
    by_id = {r["id"]: r for r in result["items"]}
    assert by_id["s003-005"] == {"id": "s003-005", "text": "Error rate < 0.5%", "kind": "threshold",
                                 "how": "threshold in a profile", "evidence": ["verify.metric.error_ratio.medium"],
                                 "status": "fail", "actual": "error_ratio.medium: max 0.001 <= 0.005"}
    # the window was observed for 60 s of 3600: partly, not passed
    assert by_id["s003-006"]["status"] == "partial" and "observed 60 s of the profile's 3600 s" in \
        by_id["s003-006"]["actual"]
    assert "s004-001" not in by_id  # another checklist's item
    assert by_id["s003-002"]["how"] == "automated check"  # listed explicitly: the profile does not override it
    assert [r["id"] for r in result["items"]] == sorted(by_id)


def test_the_record_has_the_checklist_in_json_and_markdown() -> None:
    journal = _journal(_item("maintenance.flag", actual="flag off"), _verdict(3600, "pass"),
                       _item("run.end", "pass", "success", outcome="success"))
    document = record.build(journal, fold(journal))
    assert document["checklist"]["counts"][0] == {"status": "pass", "count": 3}
    assert "7 items: 3 pass, 3 missing, 1 n/a." in record.markdown(redact(document))
    schema = json.loads((Path(__file__).resolve().parents[4] / "docs" / "record-schema.json").read_text())
    jsonschema.validate(redact(document), schema)
    text = record.markdown(document)
    assert "## Checklist: PFA go-live" in text
    assert "| [x] | s003-001 Feature flag off | action | maintenance.flag | maintenance.flag: flag off |" in text
    assert "| [ ] **NO EVIDENCE** | s003-003 Team briefed | recorded attestation |" in text
    assert "| [-] n/a | s003-004 24 h review | out of scope |" in text
    assert "| [x] | s003-006 Monitor for 1 hour | threshold in a profile |" in text


def test_a_record_without_a_checklist_has_none() -> None:
    journal = [_item("run.start", "info", "r1", run_id="r1", environment="prod", version="v2")]
    document = record.build(journal, fold(journal))
    assert document["checklist"] is None
    assert "## Checklist" not in record.markdown(document)


def test_the_html_record_shows_the_checklist_item_by_item() -> None:
    journal = _journal(_item("maintenance.flag", actual="<flag> off"), _verdict(60, "pass"))
    page = record_html.render(record.build(journal, fold(journal)))
    section = page.split('<section id="checklist">', 1)[1].split("</section>", 1)[0]
    assert "Checklist: PFA go-live" in section and "7 items: 2 pass, 3 missing, 1 partial, 1 n/a." in section
    assert '<tr class="s-pass" data-item="s003-001" data-status="pass">' in section
    assert 'data-item="s003-003" data-status="missing"' in section
    assert "maintenance.flag: &lt;flag&gt; off" in section  # escaped
    no_list = [_item("run.start", "info", "r1", run_id="r1", environment="prod", version="v2")]
    assert 'id="checklist"' not in record_html.render(record.build(no_list, fold(no_list)))


def test_an_item_may_name_a_row_of_the_deployment_metrics_summary() -> None:
    listed = {"name": "PFA", "items": {"s003-001": {"evidence": ["summary.total_deployment_time"]},
                                       "s003-002": {"evidence": ["summary.phase_rollout_time"]},
                                       "s003-005": {"evidence": ["summary.database_migration_time"]}}}
    summary = [{"metric": "Total deployment time", "target": "< 1 h 00 min", "actual": "2 min", "status": "pass"},
               {"metric": "Phase rollout time", "target": "< 10 min 00 s", "actual": "11 min", "status": "fail"},
               {"metric": "Database migration time", "target": "< 5 min 00 s", "actual": "not run", "status": "n/a"}]
    result = checklist.rows(_journal(listed=listed), summary)
    assert result is not None
    by_id = {r["id"]: r for r in result["items"]}
    assert by_id["s003-001"]["status"] == "pass"
    assert by_id["s003-001"]["actual"] == "summary.total_deployment_time: 2 min (target < 1 h 00 min)"
    assert by_id["s003-002"]["status"] == "fail"
    assert by_id["s003-005"]["status"] == "missing"  # not measured is no evidence
    assert checklist.rows(_journal(listed=listed))["items"][0]["status"] == "missing"  # type: ignore[index]


def test_summary_ids_are_the_row_names_in_snake_case() -> None:
    from ansible_collections.liftoff.release.plugins.plugin_utils.record_facts import summary_id

    assert summary_id("Total deployment time") == "summary.total_deployment_time"
    assert summary_id("Post-deploy metrics (gate)") == "summary.post_deploy_metrics_gate"
    assert summary_id("Metric error_ratio.critical") == "summary.metric_error_ratio_critical"


def test_a_metric_named_like_a_secret_keeps_its_catalogue_ids_through_the_redaction() -> None:
    verdict = _item("verify.verdict", "pass", "PROCEED", seconds=10,
                    metrics=[{"name": "token_cache_size.high", "result": "pass", "reason": "max 900 <= 1000"}],
                    catalogue=[{"metric": "token_cache_size.high", "items": ["s003-005"]}])
    result = checklist.rows(redact(_journal(verdict, listed={"name": "t", "items": {"s003-001": {
        "evidence": ["maintenance.flag"]}}})))
    assert result is not None
    row = next(r for r in result["items"] if r["id"] == "s003-005")
    assert row["status"] == "pass" and row["evidence"] == ["verify.metric.token_cache_size.high"]
