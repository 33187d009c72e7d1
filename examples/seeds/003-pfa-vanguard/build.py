#!/usr/bin/env python3
"""Build the seed 003 example's releases and its stand-in source repository.

    build.py ROOT        ROOT/artifacts/<v1|v2|v3>, ROOT/source (a git repository) and ROOT/origin.git

A release is the demo backend (examples/app, build_release) plus this example's sync worker
(app/worker.js), the PFA migrations (app/migrations, numbered 010 and 020 after the demo's 001, its items table)
and the frontend build (dist/: index.html and a versioned bundle) the cdn phase uploads. v1 is the
production release before Phase 4, v2 the Phase 4 release the seed deploys, v3 a bad release (the
demo's v3: 30% of requests fail). The source repository carries a tag per version, pushed to
origin.git, for the "Git Tag Created" readiness checks.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO / "examples" / "app"))

from build_release import build_release  # noqa: E402

# The newest PFA migration each version carries.
MIGRATIONS_UPTO = {"v1": 10, "v2": 20, "v3": 20}
BUNDLE = "// PFA Vanguard frontend {version}\nwindow.PFA_VERSION = {version!r};\nconsole.log('sync button ready');\n"
INDEX = ('<!doctype html>\n<html><head><title>PFA Vanguard</title></head>\n'
         '<body><button id="sync">Sync</button><script src="/assets/app.{version}.js"></script></body></html>\n')


def build(version: str, out: Path) -> Path:
    """One release directory: the demo backend, the worker, the migrations and the frontend build."""
    build_release(version, out)
    shutil.copy2(HERE / "app" / "worker.js", out / "worker.js")
    # The demo's own migrations after 001 (its items table) are not this application's: numbered
    # 002 and 003, they would be older than 010 and the migrate role rightly refuses that drift.
    for path in (out / "migrations").glob("*.sql"):
        if not path.name.startswith("001_"):
            path.unlink()
    for path in sorted((HERE / "app" / "migrations").glob("*.sql")):
        if int(path.name[:3]) <= MIGRATIONS_UPTO[version]:
            shutil.copy2(path, out / "migrations" / path.name)
    dist = out / "dist"
    (dist / "assets").mkdir(parents=True, exist_ok=True)
    (dist / "index.html").write_text(INDEX.format(version=version), encoding="utf-8")
    (dist / "assets" / f"app.{version}.js").write_text(BUNDLE.format(version=version), encoding="utf-8")
    return out


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.name=liftoff", "-c", "user.email=liftoff@example.invalid", *args],
                   cwd=cwd, check=True, capture_output=True)


def source_repository(root: Path, versions: list[str]) -> None:
    """ROOT/source with one commit and tag per version, the tags pushed to ROOT/origin.git."""
    source, origin = root / "source", root / "origin.git"
    for path in (source, origin):
        if path.exists():
            shutil.rmtree(path)
    origin.mkdir(parents=True)
    git("init", "-q", "--bare", cwd=origin)
    source.mkdir()
    git("init", "-q", cwd=source)
    for version in versions:
        (source / "VERSION").write_text(version + "\n", encoding="utf-8")
        git("add", "VERSION", cwd=source)
        git("commit", "-q", "-m", f"release {version}", cwd=source)
        git("tag", "-a", version, "-m", f"ADR-008 {version}", cwd=source)
    git("push", "-q", str(origin), "--tags", cwd=source)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    root = Path(argv[0]).resolve()
    for version in MIGRATIONS_UPTO:
        build(version, root / "artifacts" / version)
    source_repository(root, list(MIGRATIONS_UPTO))
    print(root)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
