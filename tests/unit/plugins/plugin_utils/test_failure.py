"""failure.message: a failed task's own words."""
from __future__ import annotations

from ansible_collections.liftoff.release.plugins.plugin_utils.failure import message


def test_plain_msg() -> None:
    assert message({"failed": True, "msg": "dest must be an existing dir"}) == "dest must be an existing dir"


def test_stderr_when_no_msg() -> None:
    assert message({"failed": True, "msg": "", "stderr": "tar: boom\n"}) == "tar: boom"


def test_a_loop_gives_each_failed_item_with_its_item() -> None:
    result = {"failed": True, "msg": "One or more items failed", "results": [
        {"failed": False, "item": "/srv/app", "changed": False},
        {"failed": True, "item": "/srv/app/releases/v2b", "ansible_loop_var": "item",
         "msg": "there was an issue creating the directory: File exists"},
        {"failed": True, "path_var": "/x", "ansible_loop_var": "path_var", "msg": "'/x' is a file"},
    ]}
    assert message(result) == ("/srv/app/releases/v2b: there was an issue creating the directory: File exists; "
                               "'/x' is a file")


def test_nothing_said_and_not_a_result() -> None:
    assert message({"failed": True}) == "unknown error"
    assert message(None) == "unknown error"
    assert message("oops") == "unknown error"


def test_cut_to_the_limit() -> None:
    text = message({"msg": "x" * 1000}, limit=50)
    assert len(text) == 50 and text.endswith("...")
