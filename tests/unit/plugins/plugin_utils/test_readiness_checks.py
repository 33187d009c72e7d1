"""readiness.check_errors: bad preflight_checks named before anything runs."""
from __future__ import annotations

from ansible_collections.liftoff.release.plugins.plugin_utils.readiness import check_errors


def test_usable_checks() -> None:
    assert check_errors([
        {"name": "api_health", "kind": "http", "url": "http://x/health"},
        {"name": "redis", "kind": "redis", "host": "127.0.0.1", "port": 6379, "password_var": "redis_password"},
        {"name": "jwt", "kind": "secret", "var": "app_jwt_secret", "min_length": 32},
        {"name": "jwt_file", "kind": "secret", "key": "JWT_SECRET", "path": "/srv/.env"},
        {"name": "tag", "kind": "command", "argv": ["git", "tag"], "on": "controller"},
    ]) == []


def test_each_problem_names_the_item() -> None:
    assert check_errors([
        {"name": "Bad Name", "kind": "tcp", "host": "db", "port": 5432},
        {"name": "db", "kind": "tcp", "host": "db"},
        {"name": "db", "kind": "tls", "host": "h", "port": 443},
        {"name": "x", "kind": "ftp"},
        {"name": "redis", "kind": "redis", "host": "r", "port": 1, "password": "hunter2"},
        {"name": "jwt", "kind": "secret", "key": "JWT"},
        {"name": "cmd", "kind": "command", "argv": ["true"], "on": "elsewhere"},
        "disk",
    ]) == [
        "preflight_checks[0].name must be lowercase letters, digits and _ (it names the evidence preflight.<name>), "
        "got 'Bad Name'",
        "preflight_checks[1] (tcp) needs port",
        "preflight_checks[2].name 'db' is used twice",
        "preflight_checks[3].kind must be one of http, tcp, redis, tls, dns, disk, secret, config, command, s3, got 'ftp'",
        "preflight_checks[4].password: a check never holds a secret; name the variable that holds it (password_var)",
        "preflight_checks[5] (secret) needs var (the variable holding the secret) or key and path (an env file)",
        "preflight_checks[6].on must be target or controller, got 'elsewhere'",
        "preflight_checks[7] must be a mapping with name and kind",
    ]


def test_not_a_list() -> None:
    assert check_errors({"name": "x"}) == ["preflight_checks must be a list of checks, got dict"]
