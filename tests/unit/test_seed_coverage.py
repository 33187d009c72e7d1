"""scripts/seed_coverage.py: the coverage page is generated from the catalogue, the examples and the code."""
from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SPEC = importlib.util.spec_from_file_location("seed_coverage", REPO / "scripts" / "seed_coverage.py")
assert SPEC and SPEC.loader
seed_coverage = importlib.util.module_from_spec(SPEC)
sys.modules["seed_coverage"] = seed_coverage
SPEC.loader.exec_module(seed_coverage)

VARS: dict[str, Any] = {
    "gate_profile": "seed-003",
    "gate_metrics": [{"name": "error_ratio", "profile": "error_ratio", "kind": "error_ratio"},
                     {"name": "latency", "kind": "latency_quantile", "max": 1}],
    "preflight_checks": [{"name": "active_syncs", "kind": "command"}],
    "smoke_checks": [{"name": "health", "url": "http://x/health"}],
    "approval_gates": [{"name": "go_no_go"}],
    "approval_attestations": [{"name": "briefed"}],
}


def _seed_items(seed: str) -> list[dict[str, Any]]:
    catalogue = yaml.safe_load((REPO / "examples" / "seeds" / "catalogue" / "seed-catalogue.yml").read_text())
    return next(s for s in catalogue["seeds"] if s["file"].startswith(seed))["items"]


@pytest.fixture
def seeds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "seeds"
    shutil.copytree(REPO / "examples" / "seeds" / "catalogue", root / "catalogue")
    monkeypatch.setattr(seed_coverage, "SEEDS", root)
    monkeypatch.setattr(seed_coverage, "CATALOGUE", root / "catalogue" / "seed-catalogue.yml")
    return root


def _example(root: Path, items: dict[str, Any], extra: dict[str, Any] | None = None) -> Path:
    path = root / "003-test" / "inventory" / "group_vars" / "liftoff_app"
    path.mkdir(parents=True)
    (path / "main.yml").write_text(yaml.safe_dump({**VARS, **(extra or {}),
                                                   "liftoff_checklist": {"name": "t", "items": items}}))
    return root / "003-test"


def _full_mapping() -> dict[str, Any]:
    """Every s003 item not in the profile's error_ratio tiers, mapped to real evidence or out of scope."""
    profile = yaml.safe_load((REPO / "roles/gate/files/profiles/seed-003.yml").read_text())
    covered = {i for t in profile["metrics"]["error_ratio"]["tiers"] for i in t["catalogue"]}
    covered |= set((profile.get("window") or {}).get("catalogue") or [])
    items: dict[str, Any] = {}
    for n, item in enumerate(i for i in _seed_items("003") if i["id"] not in covered):
        items[item["id"]] = ({"evidence": ["backup.dump"]} if n % 3 == 0 else
                             {"evidence": ["preflight.attest.briefed"]} if n % 3 == 1 else
                             {"out_of_scope": "happens a day after the run ends"})
    return items


def test_a_complete_mapping_resolves_every_evidence_id_to_its_code(seeds: Path) -> None:
    items = _full_mapping()
    items[next(iter(items))] = {"evidence": ["preflight.active_syncs", "smoke.health", "verify.metric.latency",
                                             "verify.metric.error_ratio.medium", "preflight.approval.go_no_go",
                                             "rollout.step_10.verdict", "verify.notify.end", "rollout.fleet",
                                             "smoke.phase", "preflight.notify.phase", "summary.total_deployment_time",
                                             "summary.phase_migrate_time", "summary.metric_latency"]}
    _example(seeds, items, {"record_targets": {"max_phase_s": {"migrate": 300}}})
    text, errors = seed_coverage.build()
    assert errors == []
    first = next(line for line in text.splitlines() if line.startswith(f"| {next(iter(items))} |"))
    for where in ("`preflight.active_syncs`: roles/preflight/tasks/readiness.yml (preflight_checks: active_syncs)",
                  "`smoke.health`: roles/smoke/tasks/checks.yml (smoke: health)",
                  "`verify.metric.error_ratio.medium`: roles/gate/tasks/sample.yml (gate_metrics: error_ratio.medium)",
                  "`preflight.approval.go_no_go`: roles/approval/tasks/main.yml (approval_gates: go_no_go)",
                  "`rollout.step_10.verdict`: roles/gate/tasks/sample.yml",
                  "`verify.notify.end`: plugins/action/notify.py",
                  "`rollout.fleet`: roles/",
                  "`smoke.phase`: roles/run/tasks/phase.yml",
                  "`preflight.notify.phase`: plugins/action/notify.py",
                  "`summary.total_deployment_time`: plugins/plugin_utils/record_facts.py (Deployment Metrics Summary: "
                  "Total deployment time)",
                  "`summary.phase_migrate_time`: plugins/plugin_utils/record_facts.py (Deployment Metrics Summary: "
                  "Phase migrate time)"):
        assert where in first
    assert "| s003-135 | threshold | verify | Error rate < 0.5% | threshold in a profile | " \
           "roles/gate/files/profiles/seed-003.yml: error_ratio.medium |" in text
    summary = next(line for line in text.splitlines() if line.startswith("| 003_"))
    assert summary.endswith("| 0 |")  # nothing unmapped
    # other seeds have no example here: every one of their items is listed short of the target
    assert "| s000-001 | action | Record version" in text


@pytest.mark.parametrize(("change", "error"), [
    ({"s003-135": {"evidence": ["run.start"]}}, "s003-135 is enforced by roles/gate/files/profiles/seed-003.yml"),
    ({"s003-001": {"evidence": ["preflight.nothere"]}}, "no preflight_checks entry named nothere"),
    ({"s003-001": {"evidence": ["smoke.gone"]}}, "entry named gone"),
    ({"s003-001": {"evidence": ["verify.metric.nope"]}}, "no gate metric named nope"),
    ({"s003-001": {"evidence": ["preflight.attest.unknown"]}}, "no approval_attestations entry named unknown"),
    ({"s003-001": {"evidence": ["bogus.thing"]}}, "evidence bogus.thing is written by no role task or plugin"),
    ({"s003-001": {"out_of_scope": "later"}}, "must say why no run can check the item"),
    ({"s003-999": {"evidence": ["run.start"]}}, "s003-999 is not an item of 003_"),
    ({"s003-001": {"evidence": ["summary.phase_cdn_time"]}},
     "summary.phase_cdn_time: no such row of the Deployment Metrics Summary (record_targets.max_phase_s names no phase)"),
])
def test_mapping_errors_are_reported(seeds: Path, change: dict[str, Any], error: str) -> None:
    _example(seeds, {**_full_mapping(), **change})
    _text, errors = seed_coverage.build()
    assert any(error in e for e in errors), errors


def test_an_unmapped_item_is_an_error_and_short_of_the_target(seeds: Path) -> None:
    items = _full_mapping()
    dropped = next(i for i in items if i != "s003-001")
    del items[dropped]
    _example(seeds, items)
    text, errors = seed_coverage.build()
    assert any(f"{dropped} " in e and "neither in liftoff_checklist nor enforced" in e for e in errors)
    assert f"| {dropped} |" in text.split("## Catalogue corrections")[0]


def test_the_old_variable_name_is_refused_with_the_new_one(seeds: Path) -> None:
    path = _example(seeds, _full_mapping())
    (path / "inventory" / "group_vars" / "liftoff_app" / "old.yml").write_text("record_checklist: {}\n")
    _text, errors = seed_coverage.build()
    assert any("record_checklist is now liftoff_checklist" in e for e in errors)


def test_corrections_are_applied_and_listed(seeds: Path) -> None:
    path = _example(seeds, _full_mapping())
    (path / "catalogue-corrections.yml").write_text(yaml.safe_dump([
        {"id": "s003-001", "field": "kind", "was": "action", "now": "check", "why": "seed line 3 is a check"}]))
    text, errors = seed_coverage.build()
    assert errors == []
    assert "| s003-001 | kind | action | check | seed line 3 is a check | 003-test/catalogue-corrections.yml |" in text
    assert "| s003-001 | check | record |" in text
    (path / "catalogue-corrections.yml").write_text(yaml.safe_dump([
        {"id": "s003-001", "field": "kind", "was": "gate", "now": "check", "why": "x"}]))
    with pytest.raises(SystemExit, match=r"s003-001\.kind is 'action' in the catalogue, not 'gate'"):
        seed_coverage.build()


def test_the_committed_page_is_current() -> None:
    text, _errors = seed_coverage.build()
    assert (REPO / "docs" / "seed-coverage.md").read_text(encoding="utf-8") == text, \
        "docs/seed-coverage.md is stale: run .venv/bin/python scripts/seed_coverage.py"
