# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is wrong with a list of preflight readiness checks (preflight_checks), before any runs."""
from __future__ import annotations

import re
from typing import Any

KINDS = ("http", "tcp", "redis", "tls", "dns", "disk", "secret", "config", "command", "s3")
NEEDS: dict[str, tuple[str, ...]] = {
    "http": ("url",),
    "tcp": ("host", "port"),
    "redis": ("host", "port"),
    "tls": ("host", "port"),
    "dns": ("host",),
    "disk": ("path",),
    "config": ("path",),
    "command": ("argv",),
    "s3": ("bucket",),
}
NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")
# Options that would hold a secret's value: a check names the variable that holds it instead.
SECRET_OPTIONS = ("password", "value", "token", "secret")


def check_errors(checks: Any, name: str = "preflight_checks") -> list[str]:
    """One message per problem, naming the item and the expected form; empty when every check is usable."""
    if not isinstance(checks, list):
        return [f"{name} must be a list of checks, got {type(checks).__name__}"]
    errors: list[str] = []
    seen: set[str] = set()
    for index, check in enumerate(checks):
        where = f"{name}[{index}]"
        if not isinstance(check, dict):
            errors.append(f"{where} must be a mapping with name and kind")
            continue
        label = str(check.get("name", ""))
        if not NAME.match(label):
            errors.append(f"{where}.name must be lowercase letters, digits and _ (it names the evidence "
                          f"preflight.<name>), got {label!r}")
        elif label in seen:
            errors.append(f"{where}.name {label!r} is used twice")
        seen.add(label)
        kind = check.get("kind")
        if kind not in KINDS:
            errors.append(f"{where}.kind must be one of {', '.join(KINDS)}, got {kind!r}")
            continue
        missing = [key for key in NEEDS.get(str(kind), ()) if check.get(key) in (None, "", [])]
        if missing:
            errors.append(f"{where} ({kind}) needs {' and '.join(missing)}")
        if kind == "secret" and not check.get("var") and not (check.get("key") and check.get("path")):
            errors.append(f"{where} (secret) needs var (the variable holding the secret) or key and path (an env file)")
        for option in SECRET_OPTIONS:
            if option in check:
                errors.append(f"{where}.{option}: a check never holds a secret; name the variable that holds it "
                              f"({'password_var' if option == 'password' else 'var'})")
        if check.get("on", "target") not in ("target", "controller"):
            errors.append(f"{where}.on must be target or controller, got {check.get('on')!r}")
    return errors
