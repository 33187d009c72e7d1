"""The cdn phase against moto's S3 and CloudFront, with real ansible-playbook runs of the real playbooks.

The tests share one environment (PostgreSQL, pm2, the demo app) and one moto server, and run in file order:
a deploy without a CDN, the cdn phase alone onto a bucket holding a previous release, the same build again
(nothing to do), a deploy whose smoke check fails after the cdn phase (the previous assets are put back),
and bad input rejected by preflight. After each run the world is read back: the objects with their headers,
the invalidations moto holds, the evidence in the record, and no AWS secret key anywhere.
"""
from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import evidence, latest_record, runs, served_version
from localenv import LocalEnv

from tests.support.moto import MotoServer

pytestmark = pytest.mark.integration

BUCKET = "www-liftoff"
AWS_SECRET = "cdn-secret-" + secrets.token_hex(16)
HTML = "no-cache"
IMMUTABLE = "public, max-age=31536000, immutable"
FAILING_SMOKE = {"smoke_checks": [{"name": "new-endpoint", "url": "http://127.0.0.1:1/nothing-listens-here"}],
                 "smoke_retries": 1, "smoke_delay": 1}


def out(result: subprocess.CompletedProcess[str]) -> str:
    return result.stdout + result.stderr


@pytest.fixture(scope="module")
def moto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    server = MotoServer(tmp_path_factory.mktemp("moto")).start()
    try:
        server.s3().create_bucket(Bucket=BUCKET)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def distribution(moto: MotoServer) -> str:
    reply = cloudfront(moto).create_distribution(DistributionConfig={
        "CallerReference": "liftoff-test", "Comment": "", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{"Id": "s3", "DomainName": f"{BUCKET}.s3.amazonaws.com",
                                              "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "s3", "ViewerProtocolPolicy": "allow-all", "MinTTL": 0,
                                 "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                                 "TrustedSigners": {"Enabled": False, "Quantity": 0}}})
    return str(reply["Distribution"]["Id"])


def cloudfront(moto: MotoServer) -> Any:
    import boto3

    return boto3.client("cloudfront", endpoint_url=moto.url, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def aws_env(moto: MotoServer) -> dict[str, str]:
    return moto.aws_environ() | {"AWS_SECRET_ACCESS_KEY": AWS_SECRET}


def cdn_vars(moto: MotoServer, distribution: str, build: Path, **extra: Any) -> list[str]:
    values = {"cdn_build_dir": str(build), "cdn_bucket": BUCKET, "cdn_endpoint_url": moto.url,
              "cdn_distribution_id": distribution, "cdn_delete": True, "cdn_invalidation_timeout": 60,
              "cdn_invalidation_poll": 1} | extra
    return ["-e", json.dumps(values)]


def write_build(root: Path, files: dict[str, str]) -> Path:
    for rel, body in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(body, encoding="utf-8")
    return root


def site(moto: MotoServer) -> dict[str, dict[str, str]]:
    """Every object of the site (not the backups): body, Cache-Control and Content-Type."""
    s3 = moto.s3()
    found: dict[str, dict[str, str]] = {}
    for obj in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        if obj["Key"].startswith("_liftoff/"):
            continue
        got = s3.get_object(Bucket=BUCKET, Key=obj["Key"])
        found[obj["Key"]] = {"body": got["Body"].read().decode(), "cache": got.get("CacheControl", ""),
                             "type": got.get("ContentType", "")}
    return found


def invalidations(moto: MotoServer, distribution: str) -> dict[str, list[str]]:
    cf = cloudfront(moto)
    items = cf.list_invalidations(DistributionId=distribution)["InvalidationList"].get("Items") or []
    return {i["Id"]: sorted(cf.get_invalidation(DistributionId=distribution, Id=i["Id"])["Invalidation"]
                            ["InvalidationBatch"]["Paths"].get("Items") or []) for i in items}


def assert_no_aws_secret(env: LocalEnv, *texts: str) -> None:
    for text in texts:
        assert AWS_SECRET not in text
    for path in (env.root / "records").rglob("*"):
        if path.is_file():
            assert AWS_SECRET.encode() not in path.read_bytes(), f"the AWS secret key leaked into {path}"


PREVIOUS = {  # the release the bucket serves before these tests deploy
    "index.html": ("<h1>v0</h1>", HTML, "text/html"),
    "docs/a.html": ("a v0", HTML, "text/html"),
    "docs/b.html": ("b v0", HTML, "text/html"),
    "assets/app.v0.js": ("console.log('v0')", IMMUTABLE, "text/javascript"),
    "robots.txt": ("User-agent: *", "public, max-age=300", "text/plain"),
}
BUILD_1 = {
    "index.html": "<h1>v1</h1>",
    "docs/a.html": "a v1",
    "docs/b.html": "b v1",
    "assets/app.v1.js": "console.log('v1')",
    "robots.txt": "User-agent: *",  # the same bytes: not uploaded, not invalidated
}


def test_a_deploy_without_a_cdn_records_the_phase_as_skipped(local_env: LocalEnv) -> None:
    result = local_env.playbook("deploy.yml", version="v1")
    assert result.returncode == 0, out(result)[-3000:]
    record = latest_record(local_env)
    assert record["outcome"] == "success", (record["failed_phase"], record["reason"])
    phase = evidence(record, "cdn.phase")
    assert phase["status"] == "skip" and "cdn_build_dir is not set" in phase["actual"]
    assert not [i for i in record["evidence"] if i["id"].startswith("cdn.") and i["id"] != "cdn.phase"]


def test_cdn_phase_uploads_with_cache_headers_and_invalidates_only_what_changed(
        local_env: LocalEnv, moto: MotoServer, distribution: str, tmp_path: Path) -> None:
    s3 = moto.s3()
    for key, (body, cache, ctype) in PREVIOUS.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body.encode(), CacheControl=cache, ContentType=ctype)
    build = write_build(tmp_path / "dist", BUILD_1)
    result = local_env.playbook("cdn.yml", *cdn_vars(moto, distribution, build), version="v1",
                                extra_env=aws_env(moto))
    assert result.returncode == 0, out(result)[-3000:]

    now = site(moto)
    assert set(now) == set(BUILD_1)  # assets/app.v0.js deleted (cdn_delete)
    assert {k: v["body"] for k, v in now.items()} == BUILD_1
    assert now["index.html"]["cache"] == HTML and now["index.html"]["type"] == "text/html"
    assert now["docs/a.html"]["cache"] == HTML
    assert now["assets/app.v1.js"]["cache"] == IMMUTABLE and now["assets/app.v1.js"]["type"] == "text/javascript"
    assert now["robots.txt"]["cache"] == "public, max-age=300"  # unchanged: left as it was

    record = latest_record(local_env)
    assert record["outcome"] == "success", (record["failed_phase"], record["reason"])
    run_id = runs(local_env)[-1].name
    # the objects the upload overwrote or deleted were kept for a rollback, with their headers
    backup = evidence(record, "cdn.backup")
    prefix = f"_liftoff/cdn-backups/{run_id}"
    assert backup["status"] == "pass" and backup["details"]["prefix"] == prefix
    assert sorted(backup["details"]["copied"]) == ["assets/app.v0.js", "docs/a.html", "docs/b.html", "index.html"]
    kept = s3.get_object(Bucket=BUCKET, Key=f"{prefix}/index.html")
    assert kept["Body"].read() == b"<h1>v0</h1>" and kept["CacheControl"] == HTML

    # only what changed is invalidated: the wholly changed docs/ as one wildcard, index.html also as /
    paths = ["/", "/assets/app.v0.js", "/docs/*", "/index.html"]
    assert list(invalidations(moto, distribution).values()) == [paths]
    inv = evidence(record, "cdn.invalidation")
    assert inv["status"] == "pass" and inv["details"]["paths"] == paths
    assert inv["details"]["invalidation_id"] in invalidations(moto, distribution)
    assert inv["details"]["status"].lower() == "completed" and inv["details"]["took_s"] is not None
    assert "completed in" in inv["actual"]

    change = evidence(record, "cdn.change")
    undo = change["details"]["undo"]
    assert undo["kind"] == "cdn" and undo["backup_prefix"] == prefix and undo["remove"] == ["assets/app.v1.js"]
    upload = evidence(record, "cdn.upload")
    assert upload["status"] == "pass" and int(upload["details"]["uploaded"]) == 4
    assert int(upload["details"]["bytes"]) == sum(len(BUILD_1[k]) for k in BUILD_1 if k != "robots.txt")
    assert upload["details"]["deleted"] == ["assets/app.v0.js"] and int(upload["details"]["unchanged"]) == 1
    # the change was journaled before the upload
    order = [i["id"] for i in record["evidence"]]
    assert order.index("cdn.backup") < order.index("cdn.change") < order.index("cdn.upload") \
        < order.index("cdn.invalidation")
    plan = evidence(record, "cdn.plan")
    assert plan["details"]["cache_control"]["assets/app.v1.js"] == IMMUTABLE
    assert_no_aws_secret(local_env, out(result))


def test_the_same_build_again_uploads_and_invalidates_nothing(
        local_env: LocalEnv, moto: MotoServer, distribution: str, tmp_path: Path) -> None:
    before = site(moto), invalidations(moto, distribution)
    build = write_build(tmp_path / "dist", BUILD_1)
    result = local_env.playbook("cdn.yml", *cdn_vars(moto, distribution, build), version="v1",
                                extra_env=aws_env(moto))
    assert result.returncode == 0, out(result)[-3000:]
    assert (site(moto), invalidations(moto, distribution)) == before
    record = latest_record(local_env)
    assert "nothing to upload" in evidence(record, "cdn.upload")["actual"]
    assert evidence(record, "cdn.invalidation")["status"] == "skip"
    assert not [i for i in record["evidence"] if i["id"] == "cdn.change"]


def test_a_smoke_failure_after_the_cdn_phase_puts_the_previous_assets_back(
        local_env: LocalEnv, moto: MotoServer, distribution: str, tmp_path: Path) -> None:
    assert served_version(local_env) == "v1"
    before = site(moto)
    known = set(invalidations(moto, distribution))
    build = write_build(tmp_path / "dist", {"index.html": "<h1>v2</h1>", "docs/a.html": "a v1", "docs/b.html": "b v2",
                                            "assets/app.v2.js": "console.log('v2')", "robots.txt": "User-agent: *"})
    result = local_env.playbook("deploy.yml", *cdn_vars(moto, distribution, build), "-e", json.dumps(FAILING_SMOKE),
                                version="v2", extra_env=aws_env(moto))
    assert result.returncode != 0
    record = latest_record(local_env)
    assert record["outcome"] == "rolled_back" and record["failed_phase"] == "smoke", record["reason"]
    assert evidence(record, "cdn.phase")["status"] == "pass"
    assert evidence(record, "cdn.upload")["status"] == "pass"

    # the bucket is what it was: bodies, Cache-Control and Content-Type; v2's new asset is gone
    assert site(moto) == before
    assert served_version(local_env) == "v1"
    undo = evidence(record, "rollback.undo_cdn")
    change = evidence(record, "cdn.change")
    assert undo["status"] == "pass" and undo["details"]["change"] == f"cdn.change#{change['seq']}"
    assert undo["details"]["removed"] == ["assets/app.v2.js"]
    assert sorted(undo["details"]["restored"]) == ["assets/app.v1.js", "docs/b.html", "index.html"]
    # the deploy's invalidation, then the rollback's of the same paths
    new = {k: v for k, v in invalidations(moto, distribution).items() if k not in known}
    deployed = evidence(record, "cdn.invalidation")["details"]
    rolled = evidence(record, "rollback.cdn_invalidation")
    assert rolled["status"] == "pass" and rolled["phase"] == "rollback"
    assert new == {deployed["invalidation_id"]: deployed["paths"],
                   rolled["details"]["invalidation_id"]: rolled["details"]["paths"]}
    assert deployed["paths"] == ["/", "/assets/app.v1.js", "/docs/b.html", "/index.html"]
    # v1.js and v2.js are all of assets/ before and after: one wildcard
    assert rolled["details"]["paths"] == ["/", "/assets/*", "/docs/b.html", "/index.html"]
    order = [i["id"] for i in record["evidence"]]
    assert order.index("rollback.undo_cdn") < order.index("rollback.undo_app")  # newest change first
    assert_no_aws_secret(local_env, out(result))


def test_check_mode_plans_the_upload_and_changes_nothing(
        local_env: LocalEnv, moto: MotoServer, distribution: str, tmp_path: Path) -> None:
    before = site(moto), invalidations(moto, distribution)
    build = write_build(tmp_path / "dist", {**BUILD_1, "index.html": "<h1>v3</h1>", "assets/app.v3.js": "v3"})
    result = local_env.playbook("cdn.yml", "--check", *cdn_vars(moto, distribution, build), version="v3",
                                extra_env=aws_env(moto))
    assert result.returncode == 0, out(result)[-3000:]
    assert (site(moto), invalidations(moto, distribution)) == before
    record = latest_record(local_env)
    plan = evidence(record, "cdn.upload")
    assert plan["status"] == "skip" and plan["actual"].startswith("plan: would upload 2 objects")
    assert "/index.html" in plan["actual"]
    assert evidence(record, "cdn.plan")["details"]["new"] == ["assets/app.v3.js"]
    assert not [i for i in record["evidence"] if i["id"] in ("cdn.change", "cdn.backup", "cdn.invalidation")]


def test_liftoff_skip_phases_skips_a_configured_cdn(
        local_env: LocalEnv, moto: MotoServer, distribution: str, tmp_path: Path) -> None:
    before = site(moto), invalidations(moto, distribution)
    build = write_build(tmp_path / "dist", {"index.html": "<h1>v4</h1>"})
    result = local_env.playbook("cdn.yml", *cdn_vars(moto, distribution, build), "-e",
                                json.dumps({"liftoff_skip_phases": ["cdn"]}), version="v4", extra_env=aws_env(moto))
    assert result.returncode == 0, out(result)[-3000:]
    assert (site(moto), invalidations(moto, distribution)) == before
    phase = evidence(latest_record(local_env), "cdn.phase")
    assert phase["status"] == "skip" and "liftoff_skip_phases lists it" in phase["actual"]


@pytest.mark.parametrize(("bad", "needle"), [
    ({"cdn_cache_control": [{"value": "no-cache"}]}, "missing required arguments: pattern found in cdn_cache_control"),
    ({"cdn_invalidation_timeout": -5}, "cdn_invalidation_timeout must be a number of seconds (0: do not wait) at least 0; got -5"),
    ({"cdn_invalidation_max_wildcards": 40}, "cdn_invalidation_max_wildcards must be"),
])
def test_bad_cdn_input_fails_in_preflight_before_any_change(
        local_env: LocalEnv, moto: MotoServer, distribution: str, tmp_path: Path, bad: dict[str, Any],
        needle: str) -> None:
    # preflight's validation runs before the run starts (playbooks/run_start.yml): bad input starts no run
    before = site(moto), invalidations(moto, distribution), served_version(local_env), len(runs(local_env))
    build = write_build(tmp_path / "dist", {"index.html": "<h1>v9</h1>"})
    result = local_env.playbook("deploy.yml", *cdn_vars(moto, distribution, build, **bad), version="v2",
                                extra_env=aws_env(moto))
    assert result.returncode != 0
    assert needle in out(result), out(result)[-3000:]
    assert "TASK [Validate the CDN settings]" in out(result)  # the preflight step that includes the cdn checks
    after = site(moto), invalidations(moto, distribution), served_version(local_env), len(runs(local_env))
    assert after == before
    assert not (local_env.root / "records" / "local" / "deploy.lock").exists()
    assert_no_aws_secret(local_env, out(result))
