#!/usr/bin/env python3
"""Build a release directory of the liftoff demo app.

    build_release.py VERSION OUTDIR [--broken-migration]

OUTDIR receives server.js, release.json (versions/VERSION.json without
``migrations_upto``), package.json and ``migrations/`` with the migration files numbered
up to ``migrations_upto`` (plus ``migrations_broken/004_broken.sql`` with
``--broken-migration``). Also importable: ``build_release(version, outdir)``.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

APP_DIR = Path(__file__).resolve().parent
VERSIONS_DIR = APP_DIR / "versions"
MIGRATIONS_DIR = APP_DIR / "migrations"
BROKEN_DIR = APP_DIR / "migrations_broken"
PACKAGE_NAME = "liftoff-demo-app"
_MIGRATION_RE = re.compile(r"^(\d{3})_[A-Za-z0-9_]+\.sql$")


class UnknownVersionError(ValueError):
    """The requested version has no versions/<VERSION>.json."""


def known_versions() -> list[str]:
    """Versions that have a definition file, sorted."""
    return sorted(p.stem for p in VERSIONS_DIR.glob("*.json"))


def load_version(version: str) -> dict[str, Any]:
    """Read versions/<version>.json; raise UnknownVersionError when it does not exist."""
    if not re.fullmatch(r"[A-Za-z0-9._-]+", version) or version.startswith("."):
        raise UnknownVersionError(f"invalid version name {version!r}")
    path = VERSIONS_DIR / f"{version}.json"
    if not path.is_file():
        raise UnknownVersionError(
            f"unknown version {version!r}; known versions: {', '.join(known_versions())}"
        )
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def _migrations(directory: Path, upto: int) -> list[Path]:
    found: list[Path] = []
    for path in sorted(directory.glob("*.sql")):
        match = _MIGRATION_RE.match(path.name)
        if match and int(match.group(1)) <= upto:
            found.append(path)
    return found


def build_release(version: str, outdir: Path, broken_migration: bool = False) -> Path:
    """Create the release directory ``outdir`` for ``version`` and return its path."""
    spec = load_version(version)
    upto = int(spec.get("migrations_upto", 0))
    release = {k: v for k, v in spec.items() if k != "migrations_upto"}

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    shutil.copy2(APP_DIR / "server.js", outdir / "server.js")
    (outdir / "release.json").write_text(json.dumps(release, indent=2) + "\n", encoding="utf-8")
    package = {
        "name": PACKAGE_NAME,
        "version": _semver(str(release.get("version", version))),
        "private": True,
        "description": "liftoff demo app (Node standard library only)",
        "main": "server.js",
        "scripts": {"start": "node server.js"},
        "liftoff": {"release": release.get("version", version)},
    }
    (outdir / "package.json").write_text(json.dumps(package, indent=2) + "\n", encoding="utf-8")

    mig_out = outdir / "migrations"
    if mig_out.exists():
        shutil.rmtree(mig_out)
    mig_out.mkdir()
    files = _migrations(MIGRATIONS_DIR, upto)
    if broken_migration:
        files += _migrations(BROKEN_DIR, 999)
    for path in files:
        shutil.copy2(path, mig_out / path.name)
    return outdir


def _semver(version: str) -> str:
    """npm wants semver: "v2" -> "2.0.0"; anything else already semver-like is kept."""
    m = re.fullmatch(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", version)
    if m:
        return ".".join(g or "0" for g in m.groups())
    return version


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build a liftoff demo app release directory.")
    parser.add_argument("version", help=f"one of: {', '.join(known_versions())}")
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--broken-migration", action="store_true",
                        help="add migrations_broken/004_broken.sql to the release")
    args = parser.parse_args(argv)
    try:
        out = build_release(args.version, args.outdir, args.broken_migration)
    except UnknownVersionError as exc:
        print(f"build_release: error: {exc}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
