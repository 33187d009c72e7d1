"""Masking of secrets in everything the collection writes."""
from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.liftoff.release.plugins.plugin_utils.redact import (
    MASK,
    is_secret_name,
    redact,
    redact_text,
    secret_values_from,
)


@pytest.mark.parametrize("name", [
    "liftoff_db_password", "PASSWORD", "login_passwd", "gpg_passphrase", "api_token", "client_secret",
    "stripe_api_key", "ssh_private_key", "aws_access_key_id", "credentials", "Authorization",
    "database_dsn", "connection_string",
])
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize("name", ["liftoff_environment", "db_host", "port", "version", "owner", "health_url"])
def test_ordinary_names(name: str) -> None:
    assert not is_secret_name(name)


def test_secret_values_from_nested_and_extra() -> None:
    variables = {
        "liftoff_db_password": "hunter22",
        "db": {"host": "db1", "credentials": {"user": "appuser", "pass": "s3cr3t-pw"}},
        "services": [{"name": "api", "token": "tok-123456"}],
        "plain": "not-a-secret-value",
        "deep": {"api_key": 98765},
    }
    found = secret_values_from(variables, extra=["extra-secret", None])
    assert found == {"hunter22", "appuser", "s3cr3t-pw", "tok-123456", "98765", "extra-secret"}


@pytest.mark.parametrize("value", ["", "abc", 123, True, False])
def test_short_and_boolean_values_are_not_collected(value: Any) -> None:
    assert secret_values_from({"some_password": value}, extra=["xyz", ""]) == set()


def test_secret_values_from_stops_at_depth() -> None:
    deep: dict[str, Any] = {"password": "too-deep-to-see"}
    for _unused in range(8):
        deep = {"level": deep}
    assert secret_values_from({"cfg": deep}) == set()


@pytest.mark.parametrize(("text", "expected"), [
    ("GET /health?token=abc123&x=1", "GET /health?token=***&x=1"),
    ("https://h/api?access_token=abcd.efgh", "https://h/api?access_token=***"),
    ("curl https://h/?a=1&api_key=K3Y-VALUE", "curl https://h/?a=1&api_key=***"),
    ("token=abcdef;path=/", "token=***;path=/"),
    ("run with password=hunter22 now", "run with password=*** now"),
    ("Authorization: Bearer eyJhbGciOi.J9.sig", "Authorization: Bearer ***"),
    ("authorization: basic dXNlcjpwYXNz", "authorization: basic ***"),
    ('{"Authorization": "Bearer abc.def"}', '{"Authorization": "Bearer ***"}'),
    ("postgresql://app:pw@db.example:5432/app", "postgresql://app:***@db.example:5432/app"),
    ("dsn postgresql://app:p@ss@db:5432/app?sslmode=require", "dsn postgresql://app:***@db:5432/app?sslmode=require"),
    ('"redis://u:pw/x@cache"', '"redis://u:***@cache"'),
    ("a https://u:p1@h and https://v:p2@i", "a https://u:***@h and https://v:***@i"),
    ("http://example.com:8080/health", "http://example.com:8080/health"),
    ("nothing to see here", "nothing to see here"),
])
def test_redact_text_patterns(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_redact_text_known_values_longest_first() -> None:
    text = "pw is hunter22-extended and hunter22"
    assert redact_text(text, ["hunter22", "hunter22-extended"]) == "pw is *** and ***"


def test_redact_nested_structures() -> None:
    value: dict[str, Any] = {
        "title": "connect with hunter22",
        "details": {
            "db_password": "hunter22",
            "api_tokens": ["tok-aaaa", "tok-bbbb"],
            "credentials": {"user": "app", "pass": "x"},
            "steps": [{"cmd": "psql postgresql://app:hunter22@db/app"}, ("log: hunter22 used",)],
            "count": 3,
            "passed": True,
            "empty_secret": "",
            "headers": {"Authorization": "Bearer abc.def"},
        },
    }
    out = redact(value, ["hunter22"])
    assert out == {
        "title": "connect with ***",
        "details": {
            "db_password": MASK,
            "api_tokens": [MASK, MASK],
            "credentials": {"user": MASK, "pass": MASK},
            "steps": [{"cmd": "psql postgresql://app:***@db/app"}, ["log: *** used"]],
            "count": 3,
            "passed": True,
            "empty_secret": "",
            "headers": {"Authorization": MASK},
        },
    }
    assert value["details"]["db_password"] == "hunter22", "redact must not change its input"


def test_redact_scalars_pass_through() -> None:
    assert redact(None) is None
    assert redact(4.5) == 4.5
    assert redact("plain") == "plain"
