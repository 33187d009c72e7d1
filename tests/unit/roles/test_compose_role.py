"""The compose role's pure parts: the image reference rule, its docs, and the test fixture's ELF check."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

from ansible_collections.liftoff.release.tests.support.docker import (
    DockerDaemonError,
    find_static_busybox,
    is_static_elf,
)

ROLE = Path(__file__).resolve().parents[3] / "roles" / "compose"


def image_ref_rule() -> re.Pattern[str]:
    """The regex validate.yml applies to every value of compose_images."""
    tasks = yaml.safe_load((ROLE / "tasks" / "validate.yml").read_text(encoding="utf-8"))
    block = next(t for t in tasks if "block" in t)
    return re.compile(block["vars"]["__compose_ref"])


@pytest.mark.parametrize("ref", [
    "liftoff-demo:v1",
    "shop/web:2026.11.3",
    "registry.example.com:5000/shop/web:v2",
    "ghcr.io/acme/web@sha256:" + "a" * 64,
    "web:latest",
])
def test_tagged_references_are_accepted(ref: str) -> None:
    assert image_ref_rule().match(ref)


@pytest.mark.parametrize("ref", [
    "liftoff-demo",                       # no tag: which release is it?
    "registry.example.com:5000/shop/web",  # the port is not a tag
    "Shop/Web:v1",                        # repository names are lowercase
    "web: v1",
    "web:v1 ",
    "web@sha256:abc",
    "",
])
def test_untagged_or_malformed_references_are_refused(ref: str) -> None:
    assert not image_ref_rule().match(ref)


def test_every_entry_point_shares_the_options_and_the_readme_lists_them() -> None:
    specs = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text(encoding="utf-8"))["argument_specs"]
    assert set(specs) == {"main", "rollback", "status"}
    options = specs["main"]["options"]
    assert specs["rollback"]["options"] == options == specs["status"]["options"]
    readme = (ROLE / "README.md").read_text(encoding="utf-8")
    for name in options:
        assert f"| `{name}` |" in readme, f"{name} is not in the README's table"
    # The choice between Compose v1 and v2 is explained where users read it.
    description = " ".join(specs["main"]["description"])
    assert "docker_compose_v2" in description and "docker_compose_v2" in readme


def test_elf_check_tells_static_from_dynamic(tmp_path: Path) -> None:
    assert not is_static_elf(Path(sys.executable).resolve())  # CPython is dynamically linked
    text = tmp_path / "script.sh"
    text.write_text("#!/bin/sh\n", encoding="utf-8")
    assert not is_static_elf(text)
    try:
        busybox = find_static_busybox()
    except DockerDaemonError as exc:
        pytest.skip(str(exc))
    assert is_static_elf(busybox)
