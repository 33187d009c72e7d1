"""What the redact and progress stdout callbacks mask, and how the progress callback names and reports phases."""
from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from ansible_collections.liftoff.release.plugins.plugin_utils.redact import (
    MASK,
    is_secret_name,
    redact_text,
    secret_values_in_text,
)
from ansible_collections.liftoff.release.plugins.plugin_utils.redact_display import (
    MaskingLogFilter,
    Phase,
    SecretMask,
    environment_secrets,
    format_seconds,
    install,
    outcome_line,
    phase_evidence,
    phase_of_play,
    printed_forms,
    record_outcome,
    result_secrets,
    status_line,
    usable_secrets,
    variable_secrets,
)


class FakeTemplar:
    """Templates "{{ name }}" from a dict; raises for an undefined name, as Ansible's Templar does."""

    def __init__(self, variables: dict[str, Any]) -> None:
        self.variables = variables

    def template(self, value: Any) -> Any:
        if isinstance(value, str) and value.startswith("{{"):
            name = value.strip("{} ")
            if name not in self.variables:
                raise KeyError(name)
            return self.template(self.variables[name])
        return value


# --- redact.py: text forms ---------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ('{"access_token": "abc123xyz", "expires_in": 3600}', '{"access_token": "***", "expires_in": 3600}'),
    ("db_password: hunter22", "db_password: ***"),
    ("'client_secret': 'two words'", "'client_secret': '***'"),
    ('{"password": "a \\"quoted\\" one"}', '{"password": "***"}'),
    ("x-api-token: zzzzzz", "x-api-token: ***"),
    ("--password=abc123 --verbose", "--password=*** --verbose"),
    ("curl -H 'Authorization: Bearer abcdefgh123'", "curl -H 'Authorization: Bearer ***'"),
    ("sent Bearer eyJhbGciOiJIUzI1 along", "sent Bearer *** along"),
    # Not secrets: flags, a role's "name : task" banner, words that merely start with "pass".
    ("token_flow: true", "token_flow: true"),
    ("TASK [liftoff.release.token_flow : Run check]", "TASK [liftoff.release.token_flow : Run check]"),
    ("passed: 5", "passed: 5"),
    ("api_token: ***", "api_token: ***"),
])
def test_redact_text_key_value_forms(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize("name", ["passed", "passes", "passing", "bypassed_checks"])
def test_words_starting_with_pass_are_not_secret_names(name: str) -> None:
    assert not is_secret_name(name)


@pytest.mark.parametrize("name", ["PGPASSWORD", "db_pass", "SSH_ASKPASS", "passwd", "passphrase_file"])
def test_password_names_still_are(name: str) -> None:
    assert is_secret_name(name)


def test_secret_values_in_text_finds_every_shape() -> None:
    text = ('GET /x?token=QUERY-1111 Authorization: Bearer HEADER-2222 {"access_token": "JSON-3333"} '
            "postgresql://app:URLPW-4444@db/app db_password: YAML-5555 token_flow: true api_key=***")
    assert secret_values_in_text(text) == {"QUERY-1111", "HEADER-2222", "JSON-3333", "URLPW-4444", "YAML-5555"}


# --- which values are secret -------------------------------------------------------------------------

def test_usable_secrets_drops_flags_short_values_and_masks_and_splits_auth_schemes() -> None:
    values = ["true", "None", "abc", "", None, True, 12, "***masked", "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER",
              "Bearer tok-12345678", " padded-secret "]
    assert usable_secrets(values) == {"Bearer tok-12345678", "tok-12345678", "padded-secret"}


def test_environment_secrets_reads_secret_names_but_not_paths() -> None:
    environ = {"PGPASSWORD": "pg-secret-1", "AWS_SECRET_ACCESS_KEY": "aws-secret-2", "GITHUB_TOKEN": "ghp_3333",
               "ANSIBLE_VAULT_PASSWORD_FILE": "/etc/vault-pass", "SSH_ASKPASS": "/usr/bin/ssh-askpass",
               "HOME": "/root", "LIFTOFF_TOKEN_FLOW": "true"}
    assert environment_secrets(environ) == {"pg-secret-1", "aws-secret-2", "ghp_3333"}


def test_variable_secrets_templates_secret_names_and_skips_what_does_not_template() -> None:
    variables = {
        "__demo": {"db_password": "templated-pw"},
        "__pw": "templated-pw",
        "liftoff_db_password": "{{ __pw }}",
        "broken_token": "{{ undefined_thing }}",
        "liftoff_secret_values": ["listed-value", "no"],
        "liftoff_app_url": "http://127.0.0.1:3000",
        "feature_token_enabled": "true",
    }
    assert variable_secrets(variables, FakeTemplar(variables)) == {"templated-pw", "listed-value"}


def test_result_secrets_reads_keys_and_text() -> None:
    result = {
        "changed": False,
        "json": {"access_token": "fetched-1111", "expires_in": 60},
        "stdout": '{"token": "printed-2222"}',
        "stdout_lines": ['{"token": "printed-2222"}'],
        "invocation": {"module_args": {"url_password": "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER",
                                       "url": "http://h/?token=query-3333"}},
        "passed": 12,
        "msg": "all good",
    }
    assert result_secrets(result) == {"fetched-1111", "printed-2222", "query-3333"}


def test_printed_forms_cover_json_and_yaml_escaping() -> None:
    assert printed_forms('pa"ss\\wo\'rd') == {'pa"ss\\wo\'rd', 'pa\\"ss\\\\wo\'rd', "pa\"ss\\wo''rd",
                                              "pa\"ss\\\\wo'rd"}


# --- SecretMask ---------------------------------------------------------------------------------------

def test_secret_mask_learns_and_masks_text_and_data() -> None:
    mask = SecretMask()
    assert mask.add({"hunter22-pw"}) == 1
    assert mask.add({"hunter22-pw"}) == 0
    assert mask.add({"tok-abcdef12", "hunter22-pw-longer"}) == 2
    assert mask.values == {"hunter22-pw", "tok-abcdef12", "hunter22-pw-longer"}
    assert mask.text("a hunter22-pw-longer b hunter22-pw c tok-abcdef12") == "a *** b *** c ***"
    assert mask.text('{"x": "quo\\"te"}') == '{"x": "quo\\"te"}'
    data = {"msg": "used tok-abcdef12", "nested": [{"api_token": "anything"}], "count": 3}
    assert mask.data(data) == {"msg": f"used {MASK}", "nested": [{"api_token": MASK}], "count": 3}
    assert data["msg"] == "used tok-abcdef12", "masking must not change its input"


def test_secret_mask_masks_json_escaped_form() -> None:
    mask = SecretMask()
    mask.add({'se"cret-1'})
    assert mask.text('{"v": "se\\"cret-1"}') == '{"v": "***"}'


class FakeDisplay:
    def __init__(self) -> None:
        self.lines: list[tuple[str, dict[str, Any]]] = []
        self._final_q = None

    def display(self, msg: str, color: str | None = None, stderr: bool = False, **kwargs: Any) -> None:
        self.lines.append((msg, {"stderr": stderr, **kwargs}))


def test_install_masks_every_display_line_once_and_runs_before_hook() -> None:
    mask = SecretMask()
    display = FakeDisplay()
    seen: list[tuple[str, bool]] = []
    assert install(display, mask, before=lambda text, stderr: seen.append((text, stderr)))
    assert not install(display, mask), "a second install must not wrap twice"
    mask.add({"late-secret-1"})  # learned after install: still masked
    display.display("[WARNING]: late-secret-1 and ?token=abc123", None, True)
    display.display("to the log only late-secret-1", log_only=True)
    assert [line for line, _unused in display.lines] == ["[WARNING]: *** and ?token=***", "to the log only ***"]
    assert seen == [("[WARNING]: *** and ?token=***", True)], "the before hook skips log-only lines"


def test_masking_log_filter_masks_formatted_records() -> None:
    mask = SecretMask()
    mask.add({"logged-secret"})
    record = logging.LogRecord("ansible", logging.INFO, __file__, 1, "value %s in %s", ("logged-secret", "x"), None)
    assert MaskingLogFilter(mask).filter(record)
    assert record.getMessage() == "value *** in x"


# --- progress -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("name", "run_phase", "expected"), [
    ("Start the deployment run", None, "run_start"),
    ("Preflight: lock, inputs, health of what runs now, database", None, "preflight"),
    ("Backup: dump the database and verify it", None, "backup"),
    ("CDN: upload the static assets and invalidate what changed", None, "cdn"),
    ("Readmit hosts that failed outside a phase", None, "readmit"),
    ("Rollback: undo what the run changed", None, "rollback"),
    ("Record: write the deployment record and end the run", None, "record"),
    ("Anything at all", "verify", "verify"),
    ("Answer a gate HOLD: proceed or rollback", None, "Answer a gate HOLD: proceed or rollback"),
    ("", None, "play"),
])
def test_phase_of_play(name: str, run_phase: str | None, expected: str) -> None:
    assert phase_of_play(name, run_phase) == expected


@pytest.mark.parametrize(("seconds", "text"), [(0.42, "0.4 s"), (12.4, "12 s"), (125, "2 min 05 s")])
def test_format_seconds(seconds: float, text: str) -> None:
    assert format_seconds(seconds) == text


def test_phase_end_lines() -> None:
    phase = Phase("migrate", started=100.0)
    assert phase.end_line(103.0) == "migrate: done in 3.0 s"
    phase.failures = 1
    assert phase.end_line(103.0) == "migrate: FAILED in 3.0 s"
    phase.status, phase.detail = "fail", "failed at: Apply migrations"
    assert phase.end_line(103.0) == "migrate: FAILED in 3.0 s (failed at: Apply migrations)"
    skipped = Phase("cdn", started=0.0, status="skip", detail="skipped: the run failed in migrate")
    assert skipped.end_line(0.5) == "cdn: skipped in 0.5 s (skipped: the run failed in migrate)"
    assert Phase("smoke", started=0.0, status="pass", detail="completed").end_line(12.0) == "smoke: passed in 12 s"


def test_phase_evidence_and_record_outcome() -> None:
    assert phase_evidence({"evidence": {"id": "smoke.phase", "status": "pass", "actual": "completed"}}) == (
        "smoke", "pass", "completed")
    assert phase_evidence({"evidence": {"id": "smoke.health", "status": "pass"}}) is None
    assert phase_evidence({"changed": False}) is None
    assert record_outcome({"paths": {"json": "/r/record.json", "markdown": "/r/record.md"},
                           "outcome": "rolled_back"}) == ("rolled_back", "/r/record.md")
    assert record_outcome({"paths": {"json": "/r/record.json"}, "outcome": "success"}) == ("success", "/r/record.json")
    assert record_outcome({"msg": "hi"}) is None


def test_outcome_line() -> None:
    assert outcome_line("success", "/r/record.md", []) == "Outcome: success. Record: /r/record.md"
    assert outcome_line("rolled_back", "/r/record.md", ["app1"]) == (
        "Outcome: rolled_back. Record: /r/record.md. Hosts with failures: app1")
    assert outcome_line(None, None, ["b", "a"]) == (
        "Outcome: failed (no deployment record was written). Hosts with failures: a, b")
    assert outcome_line(None, None, []) == "Outcome: finished (no deployment record was written)"


def test_status_line_fits_the_terminal() -> None:
    assert status_line("smoke", "", 79) == "smoke: started"
    assert status_line("smoke", "Run the\n checks", 79) == "smoke: Run the checks"
    line = status_line("migrate", "x" * 200, 40)
    assert len(line) == 40 and line.endswith("...")


@pytest.mark.parametrize("line", ["x" * 20000, "a-" * 10000, "https://" + "a" * 20000, "--" * 10000])
def test_long_lines_without_spaces_take_linear_time(line: str) -> None:
    # An unbounded URL scheme or key name made these quadratic: 20-45 s each on a 2-core machine.
    started = time.perf_counter()
    assert redact_text(line) == line
    assert secret_values_in_text(line) == set()
    assert time.perf_counter() - started < 3, "masking a 20 kB line must not take seconds"
