# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""What the redact and progress stdout callbacks share: which values are secret, and masking every line.

The callbacks only gather inputs (a play's variables, the controller's environment, task results)
and hand them to the pure functions here; ``SecretMask`` holds what is known so far.
"""
from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ansible_collections.liftoff.release.plugins.plugin_utils.action_support import task_secrets
from ansible_collections.liftoff.release.plugins.plugin_utils.redact import (
    MIN_SECRET_LEN,
    is_secret_name,
    redact,
    redact_text,
    secret_values_from,
    secret_values_in_text,
)

# Values never treated as secrets even when a secret-named variable holds them: masking every
# "true" or "none" in the output would hide nothing and garble everything.
_NOT_SECRETS = frozenset({"true", "false", "yes", "no", "none", "null", "undefined", "changed", "omit",
                          "value_specified_in_no_log_parameter", "********"})
# Environment variables whose secret-looking names hold a path or a program, not a secret.
_ENV_NOT_SECRET = re.compile(r"(_FILE|_PATH|_DIR|_SOCK|_SOCKET|_CMD|_COMMAND|ASKPASS|_URL_PATH)$", re.IGNORECASE)
_AUTH_SCHEME = re.compile(r"^(?:bearer|basic|token)\s+(?P<credential>\S+)$", re.IGNORECASE)

# The phases of playbooks/deploy.yml, in order, and the first word of each play's name.
PHASES = ("run_start", "preflight", "backup", "migrate", "rollout", "cdn", "smoke", "verify", "readmit",
          "rollback", "record")
_PLAY_WORD = {"start": "run_start", "record": "record", "readmit": "readmit"}


def usable_secrets(values: Iterable[Any]) -> set[str]:
    """The values worth masking by value: strings of MIN_SECRET_LEN or more that are not flags or placeholders.

    A credential behind an auth scheme (``Bearer abc...``) is added on its own too, as it is
    often printed without the scheme.
    """
    found: set[str] = set()
    for value in values:
        if value is None or isinstance(value, bool):
            continue
        text = str(value).strip()
        if len(text) < MIN_SECRET_LEN or text.lower() in _NOT_SECRETS or text.startswith("***"):
            continue
        found.add(text)
        scheme = _AUTH_SCHEME.match(text)
        if scheme and len(scheme.group("credential")) >= MIN_SECRET_LEN:
            found.add(scheme.group("credential"))
    return found


def environment_secrets(environ: Mapping[str, str]) -> set[str]:
    """Values of controller environment variables with secret-like names (PGPASSWORD, *_TOKEN...)."""
    return usable_secrets(value for name, value in environ.items()
                          if is_secret_name(name) and not _ENV_NOT_SECRET.search(name))


def variable_secrets(variables: Mapping[str, Any], templar: Any) -> set[str]:
    """Secret-named variables (templated with ``templar``) and ``liftoff_secret_values``, as actions collect them."""
    return usable_secrets(task_secrets(variables, templar))


def result_secrets(result: Mapping[str, Any]) -> set[str]:
    """Values a task returned under secret-named keys (a token a module fetched, a registered password),
    and the values its text shows in secret-shaped places (``{"access_token": "..."}`` in a command's stdout).
    """
    found = secret_values_from(result)
    for text in _strings(result, 0):
        found |= secret_values_in_text(text)
    return usable_secrets(found)


def _strings(value: Any, depth: int) -> Iterable[str]:
    if depth > 8:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for sub in value.values():
            yield from _strings(sub, depth + 1)
    elif isinstance(value, (list, tuple)):
        for sub in value:
            yield from _strings(sub, depth + 1)


def printed_forms(secret: str) -> set[str]:
    """The ways a value can be printed: as is, JSON-escaped, and YAML/Python-repr single-quoted."""
    forms = {secret, json.dumps(secret)[1:-1], secret.replace("'", "''"), secret.encode("unicode_escape").decode()}
    return {form for form in forms if len(form) >= MIN_SECRET_LEN}


@dataclass
class SecretMask:
    """The secret values known so far, and masking with them. Values only ever get added."""

    _values: set[str] = field(default_factory=set)
    _forms: tuple[str, ...] = ()

    def add(self, values: Iterable[str]) -> int:
        """Learn ``values`` (already filtered by usable_secrets); return how many were new."""
        new = set(values) - self._values
        if new:
            self._values |= new
            forms: set[str] = set()
            for value in self._values:
                forms |= printed_forms(value)
            self._forms = tuple(sorted(forms, key=len, reverse=True))
        return len(new)

    @property
    def values(self) -> frozenset[str]:
        return frozenset(self._values)

    def text(self, text: str) -> str:
        """``text`` with known values and secret-shaped fragments (token=, Authorization:, key: value) masked."""
        return redact_text(text, self._forms)

    def data(self, value: Any) -> Any:
        """A copy of ``value`` with values under secret-named keys and known values masked."""
        return redact(value, self._forms)


class MaskingLogFilter(logging.Filter):
    """Masks every record written to the log file (ANSIBLE_LOG_PATH), whichever path it took."""

    def __init__(self, mask: SecretMask) -> None:
        super().__init__()
        self.mask = mask

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record that cannot format itself is dropped rather than written unmasked
            return False
        record.msg = self.mask.text(message)
        record.args = None
        return True


_INSTALLED = "_liftoff_redact_installed"


def install(display: Any, mask: SecretMask, before: Callable[[str, bool], None] | None = None) -> bool:
    """Mask every message ``display`` prints or logs, and every record of the root logger's handlers.

    ``Display`` is a process-wide singleton: wrapping the instance's ``display`` catches the
    callbacks' lines and Ansible's own (warnings, errors, deprecations, -v output, messages workers
    proxy to the controller). ``before(message, stderr)`` runs first (the progress callback clears
    its status line). Installs once per process; returns False when it was already installed.
    """
    if getattr(display, _INSTALLED, False):
        return False
    original = display.display

    def masked_display(msg: str, *args: Any, **kwargs: Any) -> None:
        text = mask.text(msg) if isinstance(msg, str) else msg
        # Workers proxy their lines to the controller process, which runs `before` for them.
        if before is not None and not kwargs.get("log_only") and getattr(display, "_final_q", None) is None:
            before(text, bool(kwargs.get("stderr") or (len(args) > 1 and args[1])))
        original(text, *args, **kwargs)

    display.display = masked_display
    setattr(display, _INSTALLED, True)
    log_filter = MaskingLogFilter(mask)
    for handler in logging.root.handlers:
        handler.addFilter(log_filter)
    return True


def phase_of_play(name: str, run_phase: Any = None) -> str:
    """The deploy phase a play runs: its ``run_phase`` variable, else the first word of its name.

    ``"Preflight: lock, inputs ..."`` is ``preflight``, ``"Start the deployment run"`` is
    ``run_start``, ``"Record: write ..."`` is ``record``. A play outside deploy.yml keeps its name.
    """
    if isinstance(run_phase, str) and run_phase in PHASES:
        return run_phase
    words = re.findall(r"[a-z_]+", name.lower())
    first = words[0] if words else ""
    if first in _PLAY_WORD:
        return _PLAY_WORD[first]
    if first in PHASES:
        return first
    return name.strip() or "play"


def format_seconds(seconds: float) -> str:
    """``0.4 s``, ``12 s``, ``2 min 05 s``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


# What the phase's `<phase>.phase` evidence status says, as the progress line shows it.
_STATUS_WORDS = {"pass": "passed", "fail": "FAILED", "skip": "skipped"}


@dataclass
class Phase:
    """One phase as the progress callback follows it."""

    name: str
    started: float = field(default_factory=time.monotonic)
    status: str | None = None  # pass, fail or skip, from the phase's evidence
    detail: str = ""
    failures: int = 0
    task: str = ""

    def outcome(self) -> str:
        if self.status in _STATUS_WORDS:
            return _STATUS_WORDS[self.status]
        return "FAILED" if self.failures else "done"

    def end_line(self, now: float) -> str:
        line = f"{self.name}: {self.outcome()} in {format_seconds(now - self.started)}"
        if self.detail and self.status in ("fail", "skip"):
            line += f" ({self.detail})"
        return line


def phase_evidence(result: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """(phase, status, actual) when ``result`` is the evidence action's result for a ``<phase>.phase`` item."""
    item = result.get("evidence")
    if not isinstance(item, Mapping):
        return None
    ident = str(item.get("id", ""))
    if not ident.endswith(".phase"):
        return None
    return ident[: -len(".phase")], str(item.get("status", "")), str(item.get("actual", "") or "")


def record_outcome(result: Mapping[str, Any]) -> tuple[str, str] | None:
    """(outcome, path) when ``result`` is the ``liftoff.release.record`` result (the record it wrote)."""
    paths = result.get("paths")
    outcome = result.get("outcome")
    if not isinstance(paths, Mapping) or not outcome:
        return None
    path = paths.get("markdown") or paths.get("json") or next(iter(paths.values()), "")
    return str(outcome), str(path)


def outcome_line(outcome: str | None, record: str | None, failed_hosts: Iterable[str]) -> str:
    """The last line of a run: its outcome and where the record is."""
    failed = sorted(failed_hosts)
    if outcome:
        line = f"Outcome: {outcome}"
    else:
        line = "Outcome: " + ("failed" if failed else "finished") + " (no deployment record was written)"
    if record:
        line += f". Record: {record}"
    if failed:
        line += f". Hosts with failures: {', '.join(failed)}"
    return line


def status_line(phase: str, task: str, width: int) -> str:
    """The one line a terminal shows while a phase runs: the phase and its current step, cut to ``width``."""
    line = f"{phase}: {task}" if task else f"{phase}: started"
    line = " ".join(line.split())  # a multi-line task name stays on one line
    return line if len(line) <= width else line[: max(width - 3, 1)] + "..."
