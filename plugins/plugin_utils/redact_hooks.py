# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""The callback hooks that feed a SecretMask: shared by the redact and progress stdout callbacks.

A mixin placed before the callback base class: each hook learns the secrets its event reveals,
then hands the event on. The class using it sets ``self._mask`` (a SecretMask).
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar
from ansible.utils.vars import load_extra_vars

from ansible_collections.liftoff.release.plugins.plugin_utils.redact_display import (
    SecretMask,
    environment_secrets,
    result_secrets,
    variable_secrets,
)


def _learn_result(mask: SecretMask, result: Any) -> None:
    data = getattr(result, "result", None)
    if isinstance(data, Mapping):
        mask.add(result_secrets(data))


def play_secrets(play: Any) -> set[str]:
    """Secret values of every host of ``play``, templated with the play's variable manager.

    A variable that does not template (undefined, a lookup that fails) holds nothing to mask yet;
    ``task_secrets`` skips it, and the task results seen later still teach what they return.
    """
    manager = play.get_variable_manager()
    inventory = getattr(manager, "_inventory", None)
    if manager is None or inventory is None:
        return set()
    found: set[str] = set()
    for host in inventory.get_hosts(play.hosts):
        variables = manager.get_vars(play=play, host=host, include_hostvars=False)
        found |= variable_secrets(variables, Templar(loader=play._loader, variables=variables))
    return found


def extra_var_secrets(loader: Any) -> set[str]:
    """Secret-named extra vars (``-e``, ``-e @file``), read the way ansible-playbook read them."""
    extra = load_extra_vars(loader)
    return variable_secrets(extra, Templar(loader=loader, variables=extra))


class MaskingHooks:
    """Learn secrets from the playbook, each play and each task result; mask results before display."""

    _mask: SecretMask
    _display: Any

    def _learn(self, what: str, collect: Any, *args: Any) -> None:
        try:
            self._mask.add(collect(*args))
        except Exception as exc:  # never stop the run over it; say so (masked) at -vvv
            self._display.vvv(f"liftoff.release: could not read the secrets of {what}: {type(exc).__name__}")

    def _learn_early(self) -> None:
        """What is known before the playbook loads (a playbook's syntax error shows its source lines)."""
        self._learn("the environment", environment_secrets, dict(os.environ))
        self._learn("the extra vars", extra_var_secrets, DataLoader())

    def v2_playbook_on_start(self, playbook: Any) -> None:
        self._learn("the extra vars", extra_var_secrets, playbook._loader)
        super().v2_playbook_on_start(playbook)  # type: ignore[misc]

    def v2_playbook_on_play_start(self, play: Any) -> None:
        self._learn(f"play {play.get_name()!r}", play_secrets, play)
        super().v2_playbook_on_play_start(play)  # type: ignore[misc]

    def _dump_results(self, result: Mapping[str, Any], *args: Any, **kwargs: Any) -> Any:
        return super()._dump_results(self._mask.data(result), *args, **kwargs)  # type: ignore[misc]

    def _get_item_label(self, result: Mapping[str, Any]) -> Any:
        return self._mask.data(super()._get_item_label(result))  # type: ignore[misc]

    def _get_diff(self, difflist: Any) -> Any:
        return self._mask.text(super()._get_diff(difflist))  # type: ignore[misc]

    # Every event that carries a task result: learn its secrets before anything of it is shown.
    def v2_runner_on_ok(self, result: Any) -> None:
        _learn_result(self._mask, result)
        super().v2_runner_on_ok(result)  # type: ignore[misc]

    def v2_runner_on_failed(self, result: Any, ignore_errors: bool = False) -> None:
        _learn_result(self._mask, result)
        super().v2_runner_on_failed(result, ignore_errors=ignore_errors)  # type: ignore[misc]

    def v2_runner_on_skipped(self, result: Any) -> None:
        _learn_result(self._mask, result)
        super().v2_runner_on_skipped(result)  # type: ignore[misc]

    def v2_runner_on_unreachable(self, result: Any) -> None:
        _learn_result(self._mask, result)
        super().v2_runner_on_unreachable(result)  # type: ignore[misc]

    def v2_runner_item_on_ok(self, result: Any) -> None:
        _learn_result(self._mask, result)
        super().v2_runner_item_on_ok(result)  # type: ignore[misc]

    def v2_runner_item_on_failed(self, result: Any) -> None:
        _learn_result(self._mask, result)
        super().v2_runner_item_on_failed(result)  # type: ignore[misc]

    def v2_runner_item_on_skipped(self, result: Any) -> None:
        _learn_result(self._mask, result)
        super().v2_runner_item_on_skipped(result)  # type: ignore[misc]

    def v2_runner_retry(self, result: Any) -> None:
        _learn_result(self._mask, result)
        super().v2_runner_retry(result)  # type: ignore[misc]

    def v2_runner_on_async_ok(self, result: Any) -> None:
        _learn_result(self._mask, result)
        super().v2_runner_on_async_ok(result)  # type: ignore[misc]

    def v2_runner_on_async_failed(self, result: Any) -> None:
        _learn_result(self._mask, result)
        super().v2_runner_on_async_failed(result)  # type: ignore[misc]
