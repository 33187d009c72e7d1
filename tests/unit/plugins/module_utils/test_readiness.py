"""The preflight readiness verdicts: pure functions, and the DER expiry reader on real certificates."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ansible_collections.liftoff.release.plugins.module_utils._readiness import (
    command_verdict,
    config_verdict,
    der_not_after,
    disk_verdict,
    dns_verdict,
    parse_config,
    parse_env,
    parse_size,
    redis_command,
    redis_persistence,
    redis_verdict,
    s3_verdict,
    secret_problems,
    secret_verdict,
    tls_verdict,
)

UTC = dt.UTC


@pytest.mark.parametrize("value", ["changeme", "CHANGE_ME", "<your-jwt-secret>", "${JWT_SECRET}", "{{ jwt }}",
                                   "xxxxxxxx", "********", "your_api_key", "TODO", " placeholder "])
def test_placeholders_are_found(value: str) -> None:
    assert "a placeholder value" in secret_problems(value)


def test_missing_empty_and_short() -> None:
    assert secret_problems(None) == ["not set"]
    assert secret_problems("   ") == ["empty"]
    assert secret_problems("s3cr3t-but-short", min_length=32) == ["16 characters, fewer than 32"]
    assert secret_problems("k" * 8 + "9f2c1e7a0b3d4f5e6a7b8c9d0e1f2a3b", min_length=32) == []


@given(st.text(min_size=6, max_size=80))
def test_a_secret_never_appears_in_its_verdict(value: str) -> None:
    words = "JWT secret set, not a placeholder, 32+ characters; empty a placeholder value fewer than problems"
    assume(value.strip() and value not in words and value.strip() not in words)
    found = json.dumps(secret_verdict("JWT secret", value, min_length=32).as_dict(), ensure_ascii=False)
    assert value not in found


def test_secret_verdict_words() -> None:
    ok = secret_verdict("JWT secret", "9f2c1e7a0b3d4f5e6a7b8c9d0e1f2a3b4c", min_length=32)
    assert (ok.status, ok.actual) == ("pass", "set, 34 characters")
    bad = secret_verdict("JWT secret", "changeme", min_length=32)
    assert bad.status == "fail" and bad.actual == "a placeholder value; 8 characters, fewer than 32"


def test_parse_env() -> None:
    text = "\n".join([
        "# production", "export DEBUG=false", 'DRY_RUN="false"', "LOG_LEVEL=INFO  # or WARNING",
        "JWT_SECRET='a b#c'", "not a line", "EMPTY=", "URL=postgres://u:p@h/db?x=1",
    ])
    assert parse_env(text) == {"DEBUG": "false", "DRY_RUN": "false", "LOG_LEVEL": "INFO", "JWT_SECRET": "a b#c",
                               "EMPTY": "", "URL": "postgres://u:p@h/db?x=1"}


def test_config_verdict_expected_values_and_secret_keys() -> None:
    config = parse_env("DEBUG=true\nDRY_RUN=False\nJWT_SECRET=changeme\nUSE_MOCK_SERVICES=false")
    found = config_verdict(".env.production", config, {"DEBUG": False, "DRY_RUN": "false", "USE_MOCK_SERVICES": False,
                                                       "LOG_LEVEL": "INFO"}, ["JWT_SECRET"], 32)
    assert found.status == "fail"
    assert found.actual == ("DEBUG=true (expected False); LOG_LEVEL missing (expected INFO); "
                            "JWT_SECRET: a placeholder value; 8 characters, fewer than 32")
    assert "changeme" not in json.dumps(found.as_dict())
    good = config_verdict("app.json", parse_config('{"app": {"debug": false}}', "json"), {"app.debug": "false"})
    assert (good.status, good.actual) == ("pass", "as expected")
    with pytest.raises(ValueError, match="not an object"):
        parse_config("[1]", "json")


@pytest.mark.parametrize(("text", "size"), [(512, 512), ("10G", 10 * 1024 ** 3), ("1.5 GiB", int(1.5 * 1024 ** 3)),
                                            ("800M", 800 * 1024 ** 2), ("0", 0)])
def test_parse_size(text: object, size: int) -> None:
    assert parse_size(text) == size


def test_parse_size_refuses_words() -> None:
    with pytest.raises(ValueError, match="not a size"):
        parse_size("lots")


def test_disk_verdict() -> None:
    gib = 1024 ** 3
    assert disk_verdict("/srv", 5 * gib, 100 * gib, min_free=2 * gib).status == "pass"
    low = disk_verdict("/srv", 5 * gib, 100 * gib, min_free=2 * gib, min_free_percent=10)
    assert low.status == "fail" and low.actual == "5.0 GiB free of 100.0 GiB (5.0%)"
    assert low.target == "/srv: at least 2.0 GiB and 10% free"


def test_tls_verdict_days() -> None:
    now = dt.datetime(2026, 12, 2, tzinfo=UTC)
    assert tls_verdict("h:443", now + dt.timedelta(days=30), now, 14).status == "pass"
    soon = tls_verdict("h:443", now + dt.timedelta(days=3), now, 14)
    assert soon.status == "fail" and "3.0 days left" in soon.actual and soon.details["days_left"] == 3.0
    gone = tls_verdict("h:443", now - dt.timedelta(days=1), now, 0)
    assert gone.status == "fail" and gone.actual.startswith("expired 1.0 days ago")


@pytest.mark.parametrize("days", [1, 400])
def test_der_not_after_reads_a_real_certificate(tmp_path: Path, days: int) -> None:
    key, cert = tmp_path / "k.pem", tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-days", str(days), "-subj", "/CN=localhost"], check=True, capture_output=True)
    der = subprocess.run(["openssl", "x509", "-in", str(cert), "-outform", "DER"], check=True,
                         capture_output=True).stdout
    end = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-enddate"], check=True, capture_output=True,
                         text=True).stdout.strip().split("=", 1)[1]
    expected = dt.datetime.strptime(end, "%b %d %H:%M:%S %Y GMT").replace(tzinfo=UTC)
    assert der_not_after(der) == expected


def test_der_not_after_refuses_garbage() -> None:
    with pytest.raises(ValueError, match="not a DER certificate"):
        der_not_after(b"\x30\x03\x02")


def test_dns_verdict() -> None:
    assert dns_verdict("db", ["10.0.0.5"], []).status == "pass"
    assert dns_verdict("db", [], []).actual == "does not resolve"
    partial = dns_verdict("db", ["10.0.0.5"], ["10.0.0.5", "10.0.0.6"])
    assert partial.status == "fail" and partial.actual == "10.0.0.5 (missing 10.0.0.6)"


def test_redis_resp_and_persistence() -> None:
    assert redis_command("AUTH", "p a\r\nss") == b"*2\r\n$4\r\nAUTH\r\n$7\r\np a\r\nss\r\n"
    info = "# Persistence\r\naof_enabled:0\r\nrdb_last_bgsave_status:ok\r\nrdb_changes_since_last_save:3\r\n"
    persistence = redis_persistence(info)
    assert persistence == {"aof_enabled": False, "rdb_last_save_status": "ok", "rdb_changes_since_last_save": "3"}
    missing = redis_verdict("r:6379", "+PONG", persistence, ["aof", "rdb"], rdb_configured=True)
    assert missing.status == "fail" and missing.actual == "AOF off"
    assert redis_verdict("r:6379", "+PONG", None, [], False).status == "pass"
    assert redis_verdict("r:6379", "-NOAUTH Authentication required.", None, [], False).actual.startswith(
        "PING answered -NOAUTH")


def test_command_verdict() -> None:
    ok = command_verdict(["git", "ls-remote", "--tags", "origin", "v2"], 0, "abc\trefs/tags/v2\n", 0, r"refs/tags/v2$")
    assert ok.status == "pass" and ok.actual == "exit 0: abc\trefs/tags/v2"
    bad = command_verdict(["validate"], 2, "4/5 passed", 0, r"5/5")
    assert bad.status == "fail" and bad.actual == "exit 2 (expected 0); output does not match '5/5'"


def test_s3_verdict() -> None:
    on = {"versioning": True, "encryption": True, "lifecycle": False}
    assert s3_verdict("backups", True, "", on, ["versioning", "encryption"]).actual == (
        "reachable; encryption on, lifecycle off, versioning on")
    missing = s3_verdict("backups", True, "", on, ["lifecycle"])
    assert missing.status == "fail" and missing.actual == "lifecycle off"
    down = s3_verdict("backups", False, "An error occurred (404) when calling the HeadBucket operation", {}, [])
    assert down.status == "fail" and down.actual.startswith("not reachable: An error occurred (404)")
