# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Stdout callback: Ansible's default output with every secret masked."""
from __future__ import annotations

DOCUMENTATION = r"""
name: redact
type: stdout
short_description: Ansible's default output, with every secret masked
description:
  - The output of C(ansible.builtin.default), with secrets replaced by C(***) so the output and the log
    file can be shared (a CI log, an issue, a chat).
  - Task results are masked before they are shown - every value under a secret-named key (C(password),
    C(token), C(secret), C(api_key), C(private_key), C(access_key), C(credential), C(authorization),
    C(dsn), C(connection_string)) and every known secret value anywhere.
  - Every line Ansible prints or logs is masked too - task results, warnings, errors, deprecations,
    C(-v) output and the log file (C(ANSIBLE_LOG_PATH)) - for the known secret values and for
    secret-shaped text - C(token=...) query parameters, C(Authorization:) headers, C(Bearer ...)
    credentials, URL passwords, and the values of secret-named keys in JSON and YAML text.
  - Known secret values are the values (4 characters or more) of secret-named variables of every host of
    each play (inventory, group and host vars, play vars, extra vars; templated), the values listed in
    C(liftoff_secret_values), the values of controller environment variables with secret-like names
    (C(PGPASSWORD), C(AWS_SECRET_ACCESS_KEY), C(*_TOKEN)...) and the values task results hold under
    secret-named keys, from the moment they arrive (a token a module fetched is masked in every later line).
  - It is the default of this repository's C(ansible.cfg). C(liftoff.release.progress) is the concise
    alternative, with the same masking.
author: liftoff.release contributors (@liftoff-release)
extends_documentation_fragment:
  - default_callback
  - result_format_callback
requirements:
  - set as stdout callback in configuration (C(stdout_callback = liftoff.release.redact))
notes:
  - Only what passes through Ansible's display and log is masked. A process Ansible starts writes its own
    output (for example a C(pm2) log file); keep secrets out of it with C(no_log) and C(environment).
  - A secret that is neither secret-named nor listed in C(liftoff_secret_values), and has no secret shape,
    cannot be recognised; list it in C(liftoff_secret_values).
"""

from typing import Any

from ansible.plugins.callback.default import CallbackModule as DefaultCallback

from ansible_collections.liftoff.release.plugins.plugin_utils.redact_display import SecretMask, install
from ansible_collections.liftoff.release.plugins.plugin_utils.redact_hooks import MaskingHooks


class CallbackModule(MaskingHooks, DefaultCallback):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "stdout"
    CALLBACK_NAME = "liftoff.release.redact"

    def __init__(self, display: Any = None) -> None:
        super().__init__()
        self._mask = SecretMask()
        self._learn_early()
        install(self._display, self._mask)
