"""Shared pytest setup: make the checkout importable as ansible_collections.liftoff.release."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS = ROOT / ".collections"
if str(COLLECTIONS) not in sys.path:
    sys.path.insert(0, str(COLLECTIONS))


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    """Under ``ansible-test units`` (which passes no pytest options), a private base temp dir.

    Concurrent pytest sessions on one machine share /tmp/pytest-of-$USER and prune each other's
    dirs; ansible-test's copy of the checkout (scripts/referee.py) is private to one run, so its
    tests/output/ holds the base temp dir, as ``--basetemp`` would.
    """
    if config.option.basetemp is None and "ansible_pytest_collections" in os.environ.get("PYTEST_PLUGINS", ""):
        config.option.basetemp = str(ROOT / "tests" / "output" / ".tmp" / "pytest")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Stop the throwaway redis-servers a test process could not stop itself.

    ``ansible-test units`` runs each test in a forked child that exits without tearing down the
    module's fixtures, so a redis-server started there (tests/support/redis.py) would outlive the
    run. Every one works in a directory under this session's base temp dir: stop those."""
    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None:
        return
    if str(ROOT) not in sys.path:  # tests.support, as the test modules import it
        sys.path.insert(0, str(ROOT))
    from tests.support.redis import stop_strays

    stop_strays(factory.getbasetemp().resolve())
