"""The evidence journal: validation, sequence numbers, redaction, concurrent writers, torn lines."""
from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from ansible_collections.liftoff.release.plugins.plugin_utils.evidence import (
    JOURNAL,
    Evidence,
    EvidenceError,
    EvidenceJournal,
    iter_journal,
    utc_now,
)


def item(ident: str = "backup.verify", **kw: Any) -> Evidence:
    base: dict[str, Any] = {"id": ident, "phase": ident.split(".")[0], "title": "Backup is readable", "status": "pass"}
    base.update(kw)
    return Evidence(**base)


@pytest.mark.parametrize(("kw", "match"), [
    ({"id": ""}, r"evidence 'id' must be a non-empty string such as 'backup\.verify'"),
    ({"phase": "deploy"}, r"evidence 'backup\.verify': 'phase' must be one of run, preflight, .*, got 'deploy'"),
    ({"status": "ok"}, r"evidence 'backup\.verify': 'status' must be one of pass, fail, skip, info, got 'ok'"),
    ({"details": ["not", "a", "dict"]}, r"evidence 'backup\.verify': 'details' must be a mapping"),
])
def test_validation_errors(tmp_path: Path, kw: dict[str, Any], match: str) -> None:
    evidence = item(**{"phase": "backup", **kw})
    with pytest.raises(EvidenceError, match=match):
        EvidenceJournal(tmp_path).append(evidence)
    assert not (tmp_path / JOURNAL).exists(), "an invalid item must not be written"


def test_utc_now_format() -> None:
    assert utc_now().endswith("Z") and len(utc_now()) == len("2026-11-23T06:40:00.123Z")


def test_append_assigns_seq_and_defaults(tmp_path: Path) -> None:
    journal = EvidenceJournal(tmp_path / "run")
    stored = [journal.append(item(f"backup.check{n}")) for n in range(5)]
    assert [s["seq"] for s in stored] == [1, 2, 3, 4, 5]
    read = journal.read()
    assert read == stored
    first = read[0]
    assert first["host"] == "controller" and first["details"] == {}
    assert first["started"].endswith("Z") and first["ended"].endswith("Z")
    assert set(first) == {"id", "phase", "title", "target", "actual", "status", "started", "ended", "host",
                          "details", "seq"}


def test_redaction_on_write(tmp_path: Path) -> None:
    journal = EvidenceJournal(tmp_path)
    stored = journal.append(
        item("migrate.apply", title="ran as hunter22-pw", actual="dsn postgresql://app:pgpass99@db/app",
             details={"db_password": "other-secret-1", "out": "hunter22-pw leaked", "token": 12345678}),
        secrets=["hunter22-pw"],
    )
    raw = (tmp_path / JOURNAL).read_bytes()
    for planted in (b"hunter22-pw", b"pgpass99", b"other-secret-1", b"12345678"):
        assert planted not in raw
    assert stored["details"] == {"db_password": "***", "out": "*** leaked", "token": "***"}
    assert stored["actual"] == "dsn postgresql://app:***@db/app"


def _writer(run_dir: str, worker: int, count: int) -> None:
    journal = EvidenceJournal(run_dir)
    for n in range(count):
        journal.append(item(f"smoke.w{worker}", title=f"worker {worker} item {n}", details={"n": n}))


def test_concurrent_appends_from_processes(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, 50)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    lines = (tmp_path / JOURNAL).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 200
    parsed = [json.loads(line) for line in lines]
    assert sorted(p["seq"] for p in parsed) == list(range(1, 201))
    assert [p["seq"] for p in parsed] == list(range(1, 201)), "seq is the line's position"
    for worker in range(4):
        ns = [p["details"]["n"] for p in parsed if p["id"] == f"smoke.w{worker}"]
        assert ns == list(range(50)), "each writer's items stay in its own order"


def test_torn_last_line_is_skipped(tmp_path: Path) -> None:
    journal = EvidenceJournal(tmp_path)
    journal.append(item("backup.one"))
    with (tmp_path / JOURNAL).open("ab") as handle:
        handle.write(b'{"id": "backup.torn", "phase": "bac')
    assert [i["id"] for i in iter_journal(tmp_path / JOURNAL)] == ["backup.one"]


def test_append_after_torn_line_is_not_lost(tmp_path: Path) -> None:
    journal = EvidenceJournal(tmp_path)
    journal.append(item("backup.one"))
    with (tmp_path / JOURNAL).open("ab") as handle:
        handle.write(b'{"id": "backup.torn", "phase": "bac')
    stored = journal.append(item("backup.two"))
    assert stored["seq"] == 3
    assert [(i["id"], i["seq"]) for i in journal.read()] == [("backup.one", 1), ("backup.two", 3)]


def test_iter_journal_skips_blank_garbage_and_non_objects(tmp_path: Path) -> None:
    path = tmp_path / JOURNAL
    path.write_bytes(b'{"id": "a"}\n\n[1, 2]\nnot json\n{"id": "b"}\n{"id": "\xc3')
    assert [i["id"] for i in iter_journal(path)] == ["a", "b"]


def test_iter_journal_missing_file(tmp_path: Path) -> None:
    assert list(iter_journal(tmp_path / "nope.jsonl")) == []
