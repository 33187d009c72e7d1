"""JMESPath assertions on a JSON body and response header assertions."""
from __future__ import annotations

from typing import Any

import pytest

from ansible_collections.liftoff.release.plugins.plugin_utils.assertions import (
    check_headers,
    check_json,
    header_assertion_errors,
    json_assertion_errors,
)
from ansible_collections.liftoff.release.plugins.plugin_utils.http_check import Response, judge, redact_body

DOC = {"version": "v2", "items": [{"id": 1, "name": "alpha"}, {"id": 2, "name": "beta"}], "ok": True,
       "ratio": 0.25, "auth": {"token": "tok-abcdef0123456789"}, "none": None}


@pytest.mark.parametrize(("item", "failures"), [
    ({"jmespath": "items[0].id", "equals": 1}, []),
    ({"jmespath": "items[0].id", "equals": 1.0}, []),
    ({"jmespath": "items[0].id", "equals": 2}, ["JSON items[0].id is 1, expected 2"]),
    ({"jmespath": "ok", "equals": True}, []),
    ({"jmespath": "ok", "equals": 1}, ["JSON ok is True, expected 1"]),  # true is not 1
    ({"jmespath": "length(items)", "min": 1}, []),
    ({"jmespath": "length(items)", "min": 3}, ["JSON length(items) is 2, expected >= 3"]),
    ({"jmespath": "ratio", "max": 0.2}, ["JSON ratio is 0.25, expected <= 0.2"]),
    ({"jmespath": "ratio", "min": 0.1, "max": 0.5}, []),
    ({"jmespath": "version", "min": 1}, ["JSON version is 'v2', expected a number >= 1"]),
    ({"jmespath": "items[].name", "contains": "beta"}, []),
    ({"jmespath": "items[].name", "contains": "gamma"}, ["JSON items[].name is ['alpha', 'beta'], expected it to contain 'gamma'"]),
    ({"jmespath": "version", "contains": "2"}, []),
    ({"jmespath": "auth", "contains": ["not", "hashable"]}, ["JSON auth is {'token': '***'}, expected it "
                                                             "to contain ['not', 'hashable']"]),
    ({"jmespath": "items[0]", "contains": "name"}, []),
    ({"jmespath": "version", "matches": "^v[0-9]+$"}, []),
    ({"jmespath": "version", "matches": "^[0-9]+$"}, ["JSON version is 'v2', expected to match '^[0-9]+$'"]),
    ({"jmespath": "missing", "exists": False}, []),
    ({"jmespath": "none", "exists": False}, []),
    ({"jmespath": "version", "exists": False}, ["JSON version is 'v2', expected it to be absent"]),
    ({"jmespath": "missing", "exists": True}, ["JSON missing is None, expected it to exist"]),
    ({"jmespath": "version", "not_equals": "v1"}, []),
    ({"jmespath": "version", "not_equals": "v2"}, ["JSON version is 'v2', expected anything else"]),
    # a test given as null is not given (argument specs fill absent suboptions with null)
    ({"jmespath": "version", "equals": "v2", "min": None, "contains": None}, []),
    # a value under a secret-looking expression is never repeated
    ({"jmespath": "auth.token", "equals": "x"}, ["JSON auth.token is (hidden), expected (hidden)"]),
])
def test_check_json(item: dict[str, Any], failures: list[str]) -> None:
    assert json_assertion_errors([item]) == []
    assert check_json(DOC, [item]) == failures


def test_json_assertion_errors_name_the_item() -> None:
    errors = json_assertion_errors([{"jmespath": "items[0", "equals": 1}])
    assert len(errors) == 1 and "\n" not in errors[0]
    assert errors[0].startswith("json_checks[0].jmespath: 'items[0' is not a valid JMESPath expression (")
    assert json_assertion_errors([
        {"jmespath": "items[0", "equals": 1},
        {"jmespath": "a"},
        {"jmespath": "a", "min": "one", "exists": "yes", "matches": "("},
        {"equals": 1, "bogus": 2},
    ])[1:] == [
        "json_checks[1]: give at least one of equals, not_equals, min, max, contains, matches, exists",
        "json_checks[2].min: expected a number, got 'one'",
        "json_checks[2].matches: '(' is not a valid regular expression (missing ), unterminated subpattern at position 0)",
        "json_checks[2].exists: expected true or false, got 'yes'",
        "json_checks[3].jmespath: a JMESPath expression is required",
        "json_checks[3]: unknown keys ['bogus']; tests are equals, not_equals, min, max, contains, matches, exists",
    ]


HEADERS = {"Content-Type": "application/json; charset=utf-8", "Cache-Control": "no-cache", "Set-Cookie": "sid=s3cret"}


@pytest.mark.parametrize(("item", "failures"), [
    ({"name": "content-type", "contains": "JSON"}, []),
    ({"name": "Content-Type", "equals": "application/json"},
     ["header Content-Type is 'application/json; charset=utf-8', expected 'application/json'"]),
    ({"name": "cache-control", "matches": "no-(cache|store)"}, []),
    ({"name": "X-Missing", "present": False}, []),
    ({"name": "X-Missing", "present": True}, ["header X-Missing is absent, expected it present"]),
    ({"name": "X-Missing", "contains": "a"}, ["header X-Missing is None, expected it to contain 'a'"]),
    ({"name": "Set-Cookie", "equals": "x"}, ["header Set-Cookie is (hidden), expected 'x'"]),
])
def test_check_headers(item: dict[str, Any], failures: list[str]) -> None:
    assert header_assertion_errors([item]) == []
    assert check_headers(HEADERS, [item]) == failures


def test_header_assertion_errors() -> None:
    assert header_assertion_errors([{"name": "X"}, {"contains": "a", "present": "no"}]) == [
        "header_checks[0]: give one of equals, contains, matches, present",
        "header_checks[1].name: a header name is required",
        "header_checks[1].present: expected true or false, got 'no'",
    ]


def test_judge_runs_json_and_header_checks() -> None:
    body = '{"items": [{"id": 1}]}'
    response = Response(200, 3.0, body, None, {"Content-Type": "application/json"})
    assert judge(response, [200], [], {}, None, json_checks=[{"jmespath": "length(items)", "min": 1}],
                 header_checks=[{"name": "content-type", "contains": "json"}]) == []
    assert judge(response, [200], [], {}, None, json_checks=[{"jmespath": "items[0].id", "equals": 2}],
                 header_checks=[{"name": "X-Version", "present": True}]) == [
        "header X-Version is absent, expected it present", "JSON items[0].id is 1, expected 2"]
    html = Response(200, 3.0, "<html>", None, {})
    assert judge(html, [200], [], {}, None, json_checks=[{"jmespath": "a", "exists": True}]) == ["body is not JSON"]


def test_redact_body_masks_secret_keys_and_known_values() -> None:
    body = '{"token": "abcdef0123456789", "expires_in": 60, "note": "sent by s3cr3t-value"}'
    assert redact_body(body, {"s3cr3t-value"}) == '{"token": "***", "expires_in": 60, "note": "sent by ***"}'
    assert redact_body("plain s3cr3t-value and token=abc", {"s3cr3t-value"}) == "plain *** and token=***"
