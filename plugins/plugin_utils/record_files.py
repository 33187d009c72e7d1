# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""Write a run's record files (record.json, record.md, record.html) from its evidence journal."""
from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ansible_collections.liftoff.release.plugins.plugin_utils import record, run_state
from ansible_collections.liftoff.release.plugins.plugin_utils.evidence import JOURNAL, iter_journal
from ansible_collections.liftoff.release.plugins.plugin_utils.redact import redact, redact_text

FILES = {"json": "record.json", "markdown": "record.md", "html": "record.html"}


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _html(document: dict[str, Any]) -> str | None:
    try:
        module = importlib.import_module("ansible_collections.liftoff.release.plugins.plugin_utils.record_html")
    except ImportError:
        return None
    return str(module.render(document))


def write_record(directory: Path, formats: Iterable[str] = tuple(FILES), secrets: Iterable[str] = (),
                 targets: Mapping[str, Any] | None = None) -> tuple[dict[str, str], run_state.RunState]:
    """Render the record of the run in ``directory`` in each of ``formats``, masked; return the paths and state."""
    items = list(iter_journal(directory / JOURNAL))
    state = run_state.fold(items)
    secret_set = set(secrets)
    document = redact(record.build(items, state, dict(targets or {})), secret_set)
    paths: dict[str, str] = {}
    for fmt in formats:
        if fmt == "json":
            text: str | None = json.dumps(document, indent=2, sort_keys=False, default=str) + "\n"
        elif fmt == "markdown":
            text = record.markdown(document)
        else:
            text = _html(document)
        if text is None:
            continue
        path = directory / FILES[fmt]
        _write(path, redact_text(text, secret_set) if fmt != "json" else text)
        paths[fmt] = str(path)
    return paths, state
