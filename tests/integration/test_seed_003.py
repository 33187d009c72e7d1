"""Seed 003 (PFA Vanguard, ADR-008 Phase 4) end to end: examples/seeds/003-pfa-vanguard.

Real ansible-playbook runs of playbooks/deploy.yml with the example's own inventory against the
stand-in environment: PostgreSQL, pm2 (backend cluster + sync worker), Prometheus, a Redis with a
password, and moto for S3 (frontend and backups), CloudFront and Secrets Manager (where the secrets
come from). v1 is production before Phase 4; v2 is the seed's deployment - auto_sync off, no
active syncs, pre-migration dump (verified, test-restored, copied to S3), migrations, backend and
worker, frontend to S3 with an invalidation, the smoke suite, the gate, auto_sync back on - and its
record fills in the seed's checklist item by item; v3 is a bad release that the gate rolls back,
auto_sync back on and the v2 frontend restored.
"""
from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, applied_migrations, checked_record, checklist_shortfalls, evidence
from localenv import LocalEnv

sys.path.insert(0, str(REPO))
from tests.support.moto import MotoServer
from tests.support.receiver import Receiver
from tests.support.redis import RedisServer

pytestmark = pytest.mark.integration

EXAMPLE = REPO / "examples" / "seeds" / "003-pfa-vanguard"
INVENTORY = EXAMPLE / "inventory"
FRONTEND, BACKUPS = "pfavanguard-frontend", "pfavanguard-backups"
SECRETS = {name: f"{name}-" + secrets.token_hex(20) for name in
           ("pems-api-key", "gemini-api-key", "redis-password", "smoke-test-token")}
APPROVED = {"approval_given": {name: {"by": "dana", "note": "CAB-4242"} for name in
                               ("product_owner", "devsecops_lead", "security_team", "go_no_go", "rollback_criteria_clear",
                                "deployment_complete")},
            "approval_attested": {name: "sam" for name in
                                  ("staging_verified", "window_scheduled", "monitoring_ready", "oncall_confirmed",
                                   "runbook_reviewed", "communication_drafted", "team_ready", "maintenance_announced",
                                   "maintenance_removed", "ui_verified", "monitoring_active",
                                   "no_manual_interventions", "retrospective_scheduled")}}
# v1 is production as it was before Phase 4 (no PFA tables, no queue, no traffic yet): the run that
# puts it there skips what only makes sense against it - the flag and the queue, the readiness
# checks, the smoke suite and the gate (whose sync metrics have no syncs to measure).
BEFORE_PHASE_4 = {"maintenance_flags": [], "maintenance_drain": [], "preflight_checks": [],
                  "smoke_test_commands": [], "backup_s3_bucket": "", "liftoff_skip_phases": ["verify"]}


class Seed003:
    def __init__(self, root: Path) -> None:
        self.env = LocalEnv.start(root)
        self.redis: RedisServer | None = None
        self.moto: MotoServer | None = None
        self.hooks: Receiver | None = None
        try:
            self.hooks = Receiver().start()
            subprocess.run([sys.executable, str(EXAMPLE / "build.py"), str(root)], check=True, capture_output=True)
            self.redis = RedisServer.start(root / "redis", password=SECRETS["redis-password"])
            self.moto = MotoServer(root / "moto").start()
            self.worker_port = _free_port()
            self.distribution = self._aws_resources()
            password_file = root / "redis.pass"
            password_file.write_text(SECRETS["redis-password"], encoding="utf-8")
            password_file.chmod(0o600)
            (root / "seed003.json").write_text(json.dumps({
                "redis_port": self.redis.port, "redis_password_file": str(password_file),
                "worker_port": self.worker_port, "aws_endpoint_url": self.moto.url,
                "distribution_id": self.distribution, "source_dir": str(root / "source"),
                "origin": str(root / "origin.git"), "notify_url": self.hooks.url("")}), encoding="utf-8")
        except BaseException:
            self.stop()
            raise

    def _aws_resources(self) -> str:
        assert self.moto is not None
        s3 = self.moto.s3()
        for bucket in (FRONTEND, BACKUPS):
            s3.create_bucket(Bucket=bucket)
        # The frontend bucket is a static site's origin: anyone may read it (the smoke checks do).
        s3.put_bucket_policy(Bucket=FRONTEND, Policy=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{FRONTEND}/*"}]}))
        manager = self.client("secretsmanager")
        for name, value in SECRETS.items():
            manager.create_secret(Name=f"pfa/production/{name}", SecretString=value)
        reply = self.client("cloudfront").create_distribution(DistributionConfig={
            "CallerReference": "pfa-frontend", "Comment": "", "Enabled": True,
            "Origins": {"Quantity": 1, "Items": [{"Id": "s3", "DomainName": f"{FRONTEND}.s3.amazonaws.com",
                                                  "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
            "DefaultCacheBehavior": {"TargetOriginId": "s3", "ViewerProtocolPolicy": "allow-all", "MinTTL": 0,
                                     "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                                     "TrustedSigners": {"Enabled": False, "Quantity": 0}}})
        return str(reply["Distribution"]["Id"])

    def client(self, service: str) -> Any:
        import boto3

        assert self.moto is not None
        return boto3.client(service, endpoint_url=self.moto.url, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def deploy(self, version: str, extra: dict[str, Any] | None = None) -> subprocess.CompletedProcess[str]:
        assert self.moto is not None
        return self.env.playbook("deploy.yml", "-e", json.dumps({**APPROVED, **(extra or {})}), version=version,
                                 inventory=INVENTORY, extra_env=self.moto.aws_environ())

    def sql(self, query: str) -> str:
        return self.env.pg.psql(query, db="demo").strip()

    def stop(self) -> None:
        for part in (self.moto, self.redis, self.hooks):
            if part is not None:
                part.stop()
        self.env.stop()


def _free_port() -> int:
    from localenv import free_port

    return int(free_port())


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as reply:
        return json.load(reply)


def latest_record(seed: Seed003) -> dict[str, Any]:
    """The newest record of the example's environment (liftoff_environment: production), schema-checked."""
    runs = sorted(p for p in (seed.env.root / "records" / "production").glob("2*") if p.is_dir())
    return checked_record(runs[-1] / "record.json")


def site(seed: Seed003) -> set[str]:
    """The frontend bucket's files, without the cdn role's backups of the files it replaced (_liftoff/)."""
    assert seed.moto is not None
    listing = seed.moto.s3().list_objects_v2(Bucket=FRONTEND).get("Contents", [])
    return {o["Key"] for o in listing if not o["Key"].startswith("_liftoff/")}


def output(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


def assert_no_secret(seed: Seed003, *texts: str) -> None:
    planted = [*SECRETS.values(), seed.env.db_password]
    for text in texts:
        for value in planted:
            assert value not in text
    for path in (seed.env.root / "records").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert not [v for v in planted if v.encode() in data], f"a planted secret leaked into {path}"


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seed003]:
    env = Seed003(tmp_path_factory.mktemp("seed003"))
    try:
        yield env
    finally:
        env.stop()


def test_v1_is_production_before_phase_4(seed: Seed003) -> None:
    result = seed.deploy("v1", BEFORE_PHASE_4)
    assert result.returncode == 0, output(result)[-3000:]
    assert _get(f"http://127.0.0.1:{seed.env.app_port}/version")["version"] == "v1"
    assert _get(f"http://127.0.0.1:{seed.worker_port}/health")["version"] == "v1"
    assert seed.sql("SELECT enabled FROM feature_flags WHERE flag_name = 'auto_sync'") == "t"
    assert applied_migrations(seed.env) == ["001", "010"]
    # The queue as production has it: finished syncs, a few pending, none in flight.
    seed.sql("INSERT INTO pfa_write_queue (pfa_id, status) SELECT 'pfa-' || g, 'done' FROM generate_series(1, 40) g")
    seed.sql("INSERT INTO pfa_write_queue (pfa_id, status) SELECT 'pfa-p' || g, 'pending' FROM generate_series(1, 3) g")
    # An hour of production traffic, in short: the T-1 h error-rate check needs some in Prometheus.
    for _request in range(30):
        urllib.request.urlopen(f"http://127.0.0.1:{seed.env.app_port}/api/items", timeout=5).read()
    query = 'sum(rate(http_requests_total[1h]))'
    assert seed.env.prometheus is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        data = _get(seed.env.prometheus.url + "/api/v1/query?" + urllib.parse.urlencode({"query": query}))
        if data["data"]["result"] and float(data["data"]["result"][0]["value"][1]) > 0:
            break
        time.sleep(1)
    else:
        pytest.fail("Prometheus never saw the v1 traffic")


def test_v2_runs_the_seed_checklist_and_fills_it_in(seed: Seed003) -> None:
    result = seed.deploy("v2")
    text = output(result)
    assert result.returncode == 0, text[-4000:]
    record = latest_record(seed)
    assert record["outcome"] == "success", (record["failed_phase"], record["reason"])
    # Step 1: auto_sync was off during the deploy and is back on; no sync was in flight.
    flag = evidence(record, "maintenance.flag")
    assert flag["status"] == "pass" and flag["details"]["flag"] == "auto_sync", flag
    assert evidence(record, "maintenance.drain")["status"] == "pass"
    assert evidence(record, "maintenance.restore")["status"] == "pass"
    assert seed.sql("SELECT enabled FROM feature_flags WHERE flag_name = 'auto_sync'") == "t"
    # Step 2: a verified, test-restored dump before the migrations, also in s3://pfavanguard-backups/.
    dumps = sorted((seed.env.root / "backups").glob("*.pgc"))
    assert dumps and evidence(record, "backup.test_restore")["status"] == "pass"
    assert seed.moto is not None
    keys = [o["Key"] for o in seed.moto.s3().list_objects_v2(Bucket=BACKUPS).get("Contents", [])]
    assert any(k.endswith(dumps[-1].name) for k in keys), keys
    assert applied_migrations(seed.env) == ["001", "010", "020"]
    assert seed.sql("SELECT to_regclass('public.pfa_sync_conflict') IS NOT NULL") == "t"
    assert seed.sql("SELECT count(*) FROM pfa_write_queue") == "43"  # the queue survived the migration
    # Steps 3 and 4: the backend's workers and the sync worker run v2.
    assert _get(f"http://127.0.0.1:{seed.env.app_port}/version")["version"] == "v2"
    assert _get(f"http://127.0.0.1:{seed.worker_port}/health") == {
        "status": "ok", "worker": "pems-write-sync", "version": "v2", "queue": "initialized"}
    # Step 5: the v2 frontend in the bucket (v1's bundle deleted) and one invalidation.
    assert site(seed) == {"index.html", "assets/app.v2.js"}
    invalidations = seed.client("cloudfront").list_invalidations(DistributionId=seed.distribution)
    assert invalidations["InvalidationList"]["Quantity"] >= 1
    # Step 6 and the first hour: the smoke suite's five tests and the gate's PROCEED.
    suite = evidence(record, "smoke.smoke_suite")
    assert suite["status"] == "pass" and suite["actual"].startswith("5/5 passed"), suite
    assert evidence(record, "verify.verdict")["actual"].startswith("PROCEED")
    # The Deployment Metrics Summary is filled in.
    summary = {row["metric"]: row for row in record["summary"]}
    assert summary["Total deployment time"]["status"] == "pass"
    assert summary["Rollback required"]["actual"] == "No"
    # Every mapped item has its evidence, and passed.
    assert checklist_shortfalls(record) == {}
    assert_no_secret(seed, text)


def test_v3_is_rolled_back_by_the_gate_with_auto_sync_back_on(seed: Seed003) -> None:
    assert seed.hooks is not None
    seed.hooks.clear()
    result = seed.deploy("v3")
    text = output(result)
    assert result.returncode != 0
    record = latest_record(seed)
    assert record["outcome"] == "rolled_back", (record["failed_phase"], record["reason"])
    # An immediate-rollback criterion of the seed decided it: the error rate above 5% or the critical errors
    # (the gate), or failing smoke tests (v3 fails 30% of the API's requests; a smoke check may meet them first).
    if record["failed_phase"] == "verify":
        assert "error_ratio.critical" in record["reason"] or "critical_errors.critical" in record["reason"], record
    else:
        assert record["failed_phase"] == "smoke" and "/api/items" in record["reason"], record["reason"]
    assert _get(f"http://127.0.0.1:{seed.env.app_port}/version")["version"] == "v2"
    assert _get(f"http://127.0.0.1:{seed.worker_port}/health")["version"] == "v2"
    assert seed.sql("SELECT enabled FROM feature_flags WHERE flag_name = 'auto_sync'") == "t"
    assert seed.moto is not None
    assert site(seed) == {"index.html", "assets/app.v2.js"}
    rows = {row["id"]: row for row in record["checklist"]["items"]}
    decided_by = ("s003-194", "s003-193") if record["failed_phase"] == "verify" else ("s003-121",)
    assert any(rows[i]["status"] == "fail" for i in decided_by), {i: rows[i] for i in decided_by}
    assert {row["metric"]: row for row in record["summary"]}["Rollback required"]["status"] == "fail"
    # Slack heard the rollback as it began; the status page and the customers heard the end, rolled back.
    assert any("pfa-vanguard v3 to production: rolling back after" in json.dumps(b) for b in seed.hooks.bodies("/slack"))
    for path in ("/statuspage", "/customer-email"):
        assert any("ROLLED BACK" in json.dumps(b) for b in seed.hooks.bodies(path)), seed.hooks.bodies(path)
    assert_no_secret(seed, text)
