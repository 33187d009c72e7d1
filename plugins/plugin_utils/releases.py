# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""Release history kept by every strategy: the rules live in module_utils._releases, shared with
the modules that switch a release on its host."""
from __future__ import annotations

from ansible_collections.liftoff.release.plugins.module_utils._releases import (
    ACTIONS,
    ReleaseHistoryError,
    advance,
    empty,
    kept,
)

__all__ = ["ACTIONS", "ReleaseHistoryError", "advance", "empty", "kept"]
