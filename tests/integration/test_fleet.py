"""Rolling and canary steps across real SSH hosts (network namespaces running sshd).

Three hosts, each its own network namespace with sshd; ansible-playbook reaches them over real
SSH as root. Each runs the demo app under its own pm2 daemon; the database is a throwaway
PostgreSQL cluster reached through its unix socket (namespaces share the filesystem). The whole
deploy pipeline runs with `rollout_steps: [10, 50, 100]`: batches [h1], [h2], [h3], the gate
after the first two. The fleet (hosts, database, inventory) is tests/support/fleet.py's, which
bench/fleet.py also uses.

- v1, then v2 through the canary: every batch passes its gate, all hosts serve v2.
- v3 carries a fault that shows only where LIFTOFF_DEMO_FAULTY is set (h2): the first batch
  (h1) passes its gate, the second (h2) breaches, and the rollback puts back BOTH upgraded
  hosts, not just the last batch; h3 was never touched. The record says which host runs what.
- v2b in one batch with rollout_max_fail_percentage 50, where h2 cannot take the release: the
  run goes on with two hosts upgraded, and the record says the fleet is split and who runs what.
- v4 in one batch with rollout_max_fail_percentage 50, where v4 crashes on h2 after the switch:
  h2 is put back to the release it ran at once (its change marked undone), the others run v4.
"""
from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import evidence, evidence_all

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "examples" / "app"))
sys.path.insert(0, str(REPO))

from build_release import build_release

from tests.support.fleet import Fleet

TIMINGS: dict[str, float] = {}


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    root = tmp_path_factory.mktemp("fleet").resolve()
    env = Fleet.start(root, 3, faulty=("h2",))
    try:
        # v3's fault shows only on hosts that set LIFTOFF_DEMO_FAULTY (h2): the canary's second batch.
        v3 = build_release("v3", root / "artifacts" / "v3")
        release = json.loads((v3 / "release.json").read_text(encoding="utf-8"))
        release.update(error_ratio=0.5, error_ratio_env="LIFTOFF_DEMO_FAULTY")
        (v3 / "release.json").write_text(json.dumps(release), encoding="utf-8")
        # v2b: v2's code under another name, to deploy over v2 with a host that fails.
        v2b = build_release("v2", root / "artifacts" / "v2b")
        (v2b / "release.json").write_text(json.dumps({**json.loads((v2b / "release.json").read_text()),
                                                      "version": "v2b"}), encoding="utf-8")
        # v4: v2's code that cannot start where LIFTOFF_DEMO_FAULTY is set (h2): it fails after the switch.
        v4 = build_release("v2", root / "artifacts" / "v4")
        (v4 / "release.json").write_text(json.dumps({**json.loads((v4 / "release.json").read_text()),
                                                     "version": "v4", "crash_env": "LIFTOFF_DEMO_FAULTY"}),
                                         encoding="utf-8")
        yield env
    finally:
        env.stop()


def _out(result: subprocess.CompletedProcess[str]) -> str:
    return (result.stdout + result.stderr)[-4000:]


def test_first_deploy_reaches_every_host(fleet: Fleet) -> None:
    result = fleet.playbook("deploy.yml", version="v1")
    assert result.returncode == 0, _out(result)
    assert fleet.served() == {"h1": "v1", "h2": "v1", "h3": "v1"}
    record = fleet.latest_record()
    assert record["outcome"] == "success"
    # The steps are [10, 50, 100] of 3 hosts: one host per batch.
    assert [evidence(record, f"rollout.batch_{s}")["details"]["hosts"] for s in ("10", "50", "100")] == [
        ["h1"], ["h2"], ["h3"]]


def test_canary_passes_every_step(fleet: Fleet) -> None:
    started = time.monotonic()
    result = fleet.playbook("deploy.yml", version="v2")
    TIMINGS["canary"] = time.monotonic() - started
    assert result.returncode == 0, _out(result)
    assert fleet.served() == {"h1": "v2", "h2": "v2", "h3": "v2"}
    record = fleet.latest_record()
    assert record["outcome"] == "success", (record["failed_phase"], record["reason"])
    # The gate after each batch but the last, on the hosts upgraded so far; verify gates the whole fleet.
    step10, step50 = evidence(record, "rollout.step_10.verdict"), evidence(record, "rollout.step_50.verdict")
    assert step10["actual"] == step50["actual"] == "PROCEED"
    assert not evidence_all(record, "rollout.step_100.verdict")
    assert evidence(record, "verify.verdict")["actual"] == "PROCEED"
    # Each step's gate loaded and read only the upgraded hosts.
    metric10 = evidence(record, "rollout.step_10.metric.error_ratio")["details"]
    assert metric10["samples"], metric10
    assert step10["started"] < step50["started"]
    fleet_map = evidence(record, "rollout.fleet")
    assert fleet_map["status"] == "pass"
    assert fleet_map["details"]["hosts"] == {"h1": "v2", "h2": "v2", "h3": "v2"}
    for host in ("h1", "h2", "h3"):
        assert fleet.history(host)["current"] == "v2" and fleet.history(host)["previous"] == "v1"
    # Each host is read in preflight and before its switch; its switch's own report fills in the record of
    # which host runs what, with no third read: one status task in preflight and one per batch.
    assert result.stdout.count("Read the release history and the pm2 workers]") == 4, _out(result)
    print(f"\n3-host canary run v1 -> v2 ([10, 50, 100], gate after each step): {TIMINGS['canary']:.1f} s")


def test_second_batch_breach_rolls_back_every_upgraded_host(fleet: Fleet) -> None:
    started = time.monotonic()
    result = fleet.playbook("deploy.yml", version="v3")
    TIMINGS["breach"] = time.monotonic() - started
    assert result.returncode != 0
    assert fleet.served() == {"h1": "v2", "h2": "v2", "h3": "v2"}
    record = fleet.latest_record()
    assert record["outcome"] == "rolled_back", (record["failed_phase"], record["reason"])
    assert record["failed_phase"] == "rollout"
    assert evidence(record, "rollout.step_10.verdict")["actual"] == "PROCEED"
    breach = evidence(record, "rollout.step_50.verdict")
    assert breach["actual"] == "ROLLBACK" and breach["status"] == "fail"
    # The third batch never started: h3 was not touched.
    assert not evidence_all(record, "rollout.batch_100")
    changes = [c for c in record.get("changes", []) if c["id"] == "rollout.change"] or [
        i for i in record["evidence"] if i["id"] == "rollout.change"]
    assert sorted(c["host"] for c in changes) == ["h1", "h2"]
    assert "v3" not in json.dumps(fleet.history("h3")["history"])
    # Both upgraded batches were put back, not just the last one.
    undone = sorted(i["host"] for i in evidence_all(record, "rollback.undo_app") if i["status"] == "pass")
    assert undone == ["h1", "h2"]
    for host in ("h1", "h2"):
        history = fleet.history(host)
        assert history["current"] == "v2" and "v3" in history["rolled_back"]
    # The record says which host runs what: at the stop (split) and after the rollback (whole).
    at_stop = evidence(record, "rollout.fleet")
    assert at_stop["details"]["hosts"] == {"h1": "v3", "h2": "v3", "h3": "v2"} and at_stop["details"]["split"]
    after = evidence(record, "rollback.fleet")
    assert after["details"]["hosts"] == {"h1": "v2", "h2": "v2", "h3": "v2"} and not after["details"]["split"]
    print(f"\n3-host canary v2 -> v3, breach at step 50, rollback of h1 and h2: {TIMINGS['breach']:.1f} s")
    rollback = [i for i in record["evidence"] if i["id"] == "rollback.phase"]
    if rollback and rollback[-1].get("started") and rollback[-1].get("ended"):
        print(f"rollback phase: {rollback[-1]['started']} -> {rollback[-1]['ended']}")


def test_tolerated_failure_leaves_a_recorded_split(fleet: Fleet) -> None:
    # h2 cannot take v2b: a file stands where its release directory must go.
    (fleet.root / "hosts" / "h2" / "app" / "releases" / "v2b").write_text("in the way", encoding="utf-8")
    result = fleet.playbook("deploy.yml", "-e", '{"rollout_steps": [100], "rollout_max_fail_percentage": 50}',
                            version="v2b")
    assert result.returncode == 0, _out(result)
    assert fleet.served() == {"h1": "v2b", "h2": "v2", "h3": "v2b"}
    record = fleet.latest_record()
    assert record["outcome"] == "success", (record["failed_phase"], record["reason"])
    batch = evidence(record, "rollout.batch_100")
    assert batch["status"] == "info" and batch["details"]["outcome"]["failed"] == ["h2"]
    assert not batch["details"]["outcome"]["stop"]
    failed = evidence(record, "rollout.host_failed")
    assert failed["host"] == "h2" and failed["status"] == "fail" and "v2b" in failed["actual"]
    split = evidence(record, "rollout.fleet")
    assert split["details"]["hosts"] == {"h1": "v2b", "h2": "v2", "h3": "v2b"}
    assert split["details"]["split"] is True and split["details"]["off_target"] == ["h2"]
    assert fleet.history("h2")["current"] == "v2"


def test_host_failing_after_the_switch_is_put_back_at_once(fleet: Fleet) -> None:
    before = fleet.served()
    assert before == {"h1": "v2b", "h2": "v2", "h3": "v2b"}
    result = fleet.playbook("deploy.yml", "-e", '{"rollout_steps": [100], "rollout_max_fail_percentage": 50, '
                            '"pm2_health_retries": 16}', version="v4")
    assert result.returncode == 0, _out(result)
    # h2 switched to v4, which crashed there, and is back on v2 now; the others serve v4.
    assert fleet.served() == {"h1": "v4", "h2": "v2", "h3": "v4"}
    history = fleet.history("h2")
    assert history["current"] == "v2" and "v4" in history["rolled_back"]
    assert [(h["action"], h["version"]) for h in history["history"][-2:]] == [("deploy", "v4"), ("rollback", "v2")]
    record = fleet.latest_record()
    assert record["outcome"] == "success", (record["failed_phase"], record["reason"])
    failed = evidence(record, "rollout.host_failed")
    assert failed["host"] == "h2" and failed["details"]["step"] == "100"
    # Why, in words: the workers' state and the release's own error from their log.
    assert "release v4 does not start: 0 of 2 process(es)" in failed["actual"], failed["actual"]
    assert "cannot start here: LIFTOFF_DEMO_FAULTY is set" in failed["actual"], failed["actual"]
    restored = evidence(record, "rollout.host_restored")
    assert restored["host"] == "h2" and restored["status"] == "pass" and restored["target"] == "v2 serving"
    # The restore undoes h2's own change, and no other: the rollback phase did not run.
    change = [i for i in record["evidence"] if i["id"] == "rollout.change" and i["host"] == "h2"][-1]
    assert restored["details"]["undoes"] == f"{change['id']}#{change['seq']}"
    assert evidence(record, "rollback.phase")["status"] == "skip"
    split = evidence(record, "rollout.fleet")
    assert split["details"]["hosts"] == {"h1": "v4", "h2": "v2", "h3": "v4"} and split["details"]["split"] is True


def test_a_batch_whose_first_host_already_runs_the_release_still_reaches_the_others(fleet: Fleet) -> None:
    # h1, the batch's first host (where run_once tasks run), is put back on v2 by hand; h3 is still on v4.
    # Deploying v2 must still pack the release for h3: run_once must not decide on h1's "nothing to do".
    assert fleet.served() == {"h1": "v4", "h2": "v2", "h3": "v4"}
    switch = fleet.playbook(str(REPO / "tests" / "integration" / "playbooks" / "pm2_switch.yml"), "--limit", "h1",
                            "-e", "pm2_rollback_to=v2", version="v2")
    assert switch.returncode == 0, _out(switch)
    assert fleet.served() == {"h1": "v2", "h2": "v2", "h3": "v4"}
    h1_last = fleet.history("h1")["history"][-1]
    result = fleet.playbook("deploy.yml", "-e", '{"rollout_steps": [100]}', version="v2")
    assert result.returncode == 0, _out(result)
    assert fleet.served() == {"h1": "v2", "h2": "v2", "h3": "v2"}
    assert fleet.history("h3")["current"] == "v2" and fleet.history("h3")["previous"] == "v4"
    assert fleet.history("h1")["history"][-1] == h1_last  # h1 was left alone: no new history entry
    record = fleet.latest_record()
    assert record["outcome"] == "success", (record["failed_phase"], record["reason"])
    assert [i["host"] for i in record["evidence"] if i["id"] == "rollout.change"] == ["h3"]
