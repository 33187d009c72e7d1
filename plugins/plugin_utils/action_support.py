# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""What the collection's action plugins share: the run directory and the secrets to mask."""
from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ansible.errors import AnsibleActionFail

from ansible_collections.liftoff.release.plugins.plugin_utils.evidence import PHASES, Evidence, EvidenceJournal
from ansible_collections.liftoff.release.plugins.plugin_utils.redact import is_secret_name, secret_values_from

# The `evidence` option of the check actions (http_check, sse_check, token_flow, test_command):
# record the check in the run's journal under this id, phase and title.
EVIDENCE_OPTION: dict[str, Any] = {"type": "dict", "options": {
    "id": {"type": "str", "required": True},
    "phase": {"type": "str", "required": True, "choices": list(PHASES)},
    "title": {"type": "str", "required": True},
}}

# The registered result of liftoff.release.secret_cache, run once per host as it joins the run: under
# "secrets", the host's secret variables as {name: {"source": fingerprint of the definition, "value": templated}}.
SECRET_CACHE_VAR = "__liftoff_secret_cache"  # noqa: S105 - a variable's name, not a password

_SKIP_VARS = frozenset({SECRET_CACHE_VAR, "hostvars", "vars", "groups", "group_names", "ansible_facts", "omit",
                        "environment", "playbook_dir", "inventory_dir", "role_path", "ansible_play_hosts",
                        "ansible_play_batch", "ansible_play_hosts_all", "play_hosts",
                        # approval name -> who approved: an approval named "token_rotation" must not make
                        # the approver's name a secret, masked everywhere in the record
                        "approval_given", "approval_attested"})


def _holds_secret_name(value: Any, depth: int = 0) -> bool:
    if depth > 6:
        return False
    if isinstance(value, Mapping):
        return any(is_secret_name(str(k)) or _holds_secret_name(v, depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_holds_secret_name(v, depth + 1) for v in value)
    return False


def source_fingerprint(raw: Any) -> str:
    """What a variable is defined as (its template, not its value), to tell whether a cached value still holds."""
    return hashlib.sha256(repr(raw).encode("utf-8", "backslashreplace")).hexdigest()


def secret_variables(task_vars: Mapping[str, Any]) -> dict[str, Any]:
    """The variables whose values are secrets: secret-named, holding secret-named keys, or liftoff_secret_values."""
    chosen = {}
    for name, raw in task_vars.items():
        if name in _SKIP_VARS or (name.startswith("ansible_") and not is_secret_name(name)):
            continue
        if is_secret_name(name) or _holds_secret_name(raw) or name == "liftoff_secret_values":
            chosen[name] = raw
    return chosen


def _templated(variables: Mapping[str, Any], templar: Any) -> dict[str, Any]:
    """Each variable's value; an undefined or broken one is left out."""
    values = {}
    for name, raw in variables.items():
        try:
            values[name] = templar.template(raw)
        except Exception:  # noqa: S112 - an undefined or broken template holds no value to leak
            continue
    return values


def template_secrets(task_vars: Mapping[str, Any], templar: Any) -> dict[str, dict[str, Any]]:
    """Each secret variable templated, as the secret cache keeps them (an undefined or broken one is left out)."""
    variables = secret_variables(task_vars)
    return {name: {"source": source_fingerprint(variables[name]), "value": value}
            for name, value in _templated(variables, templar).items()}


def task_secrets(task_vars: Mapping[str, Any], templar: Any) -> set[str]:
    """Secret values visible to this task: secret-named variables (templated) and liftoff_secret_values.

    A variable still defined as when the host joined the run takes its value from the secret cache
    (``SECRET_CACHE_VAR``): templating it again would run its lookups again - an AWS Secrets Manager
    or Vault call per variable for every evidence item. One defined since (a set_fact, a loop
    variable, a play's vars) is templated here.
    """
    registered = task_vars.get(SECRET_CACHE_VAR)
    cache = (registered.get("secrets") if isinstance(registered, Mapping) else None) or {}
    chosen: dict[str, Any] = {}
    changed: dict[str, Any] = {}
    for name, raw in secret_variables(task_vars).items():
        cached = cache.get(name)
        if isinstance(cached, Mapping) and cached.get("source") == source_fingerprint(raw):
            chosen[name] = cached.get("value")
        else:
            changed[name] = raw
    chosen.update(_templated(changed, templar))
    extra = chosen.pop("liftoff_secret_values", None) or []
    if isinstance(extra, str):
        extra = [extra]
    return secret_values_from(chosen, extra)


def run_dir(task_vars: Mapping[str, Any], templar: Any) -> Path:
    raw = task_vars.get("run_dir")
    if not raw:
        raise AnsibleActionFail(
            "run_dir is not set: a run has not been started in this play "
            "(include role liftoff.release.run with tasks_from: start first)")
    return Path(str(templar.template(raw)))


def inventory_host(task_vars: Mapping[str, Any]) -> str:
    return str(task_vars.get("inventory_hostname", "controller"))


def record(task_vars: Mapping[str, Any], templar: Any, item: Evidence,
           secrets: set[str] | None = None) -> dict[str, Any]:
    """Append ``item`` to this run's journal with secrets masked; return what was stored.

    Pass ``secrets`` when the caller already collected them (collecting templates every secret-named variable).
    """
    found = task_secrets(task_vars, templar) if secrets is None else secrets
    return EvidenceJournal(run_dir(task_vars, templar)).append(item, found)


def copy_into_task_tmp(action: Any, files: Sequence[tuple[str, str]]) -> list[str]:
    """Copy controller files, as (local path, name), into the task's temporary directory on the host.

    The action plugin must set TRANSFERS_FILES (so the directory exists) and remove the directory with
    ``_remove_tmp_path`` when its module has run. Returns the remote paths, in the order given.
    """
    shell = action._connection._shell
    remote = [shell.join_path(shell.tmpdir, name) for _local, name in files]
    for (local, _name), target in zip(files, remote, strict=True):
        action._transfer_file(local, target)
    action._fixup_perms2([shell.tmpdir, *remote])
    return remote
