# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filter: the checklist a run executes, validated, with the items' texts from the seed catalogue."""
from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleFilterError

from ansible_collections.liftoff.release.plugins.plugin_utils import checklist


def checklist_details(value: Any, catalogue: Any = None, var: str = "liftoff_checklist") -> dict[str, Any]:
    """What the run journals as ``run.start``'s details (``checklist``) (empty when the checklist is empty)."""
    try:
        parsed = checklist.parse(value, var)
        if parsed is None:
            return {}
        items = checklist.catalogue_items(catalogue, f"{var}.catalogue") if catalogue else {}
        return checklist.journal_details(parsed, items, var)
    except checklist.ChecklistError as exc:
        raise AnsibleFilterError(str(exc)) from exc


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"checklist_details": checklist_details}
