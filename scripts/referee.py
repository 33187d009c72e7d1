#!/usr/bin/env python
"""The collection's referees: the Ansible project's own tools, run on this checkout.

    referee.py sanity            ansible-test sanity (every test, the venv's Python, no ignore files)
    referee.py units [-n N]      ansible-test units: tests/unit with N pytest-xdist workers
    referee.py galaxy-importer   ansible-galaxy collection build, then galaxy-importer on the artifact
    referee.py ansible-doc       ansible-doc for every plugin in plugins/ and every role in roles/
    referee.py changelog         antsibull-changelog lint, and CHANGELOG.md is what `generate` writes

ansible-test needs the collection to really sit under ``ansible_collections/liftoff/release``
(it resolves symlinks), so sanity and units run on a copy: the files git tracks plus the
untracked ones it does not ignore, synced into a private directory that is kept between runs
(ansible-test's virtual environments live in its tests/output/). A lock keeps two runs from
syncing the same copy at once.

Every virtual environment ansible-test creates first fetches a get-pip script from a host these
machines cannot reach; a stand-in that installs a pip wheel downloaded from PyPI is put in
ansible-test's cache first (ansible-test does not check the script's hash).
"""
from __future__ import annotations

import argparse
import configparser
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PYTHON_VERSION = f"{sys.version_info.major}.{sys.version_info.minor}"
NAMESPACE, NAME = "liftoff", "release"
FQCN = f"{NAMESPACE}.{NAME}"
# ansible-test's own results and virtual environments: kept in the copy, never synced over.
KEEP = "tests/output"
# pip version ansible-test bootstraps into its virtual environments (ansible_test/_internal/python_requirements.py).
PIP_VERSION = "25.2"
GET_PIP_STANDIN = '''\
"""Stand-in for ansible-test's get-pip script (written by liftoff.release scripts/referee.py).

Installs the pip wheel that lies beside this file, without a network.
"""
import glob
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
WHEEL = glob.glob(os.path.join(HERE, "pip-{version}-py3-none-any.whl"))[0]
sys.path.insert(0, WHEEL)
from pip._internal.cli.main import main  # noqa: E402

ARGS = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
sys.exit(main(["install", "--no-index", "--find-links", HERE, *ARGS]))
'''


def log(msg: str) -> None:
    print(f"referee: {msg}", file=sys.stderr, flush=True)


def tool(name: str) -> str:
    path = BIN / name
    if not path.exists():
        sys.exit(f"referee: {path} is missing: run scripts/bootstrap.sh (requirements-test.txt installs it)")
    return str(path)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without the checkout's ansible.cfg (its collections_path is relative to the checkout)."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("ANSIBLE_CONFIG", "ANSIBLE_COLLECTIONS_PATH", "ANSIBLE_COLLECTIONS_PATHS")}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    env["ANSIBLE_NOCOLOR"] = "1"
    env.update(extra)
    return env


def collection_files() -> list[str]:
    """The checkout's files as git sees them: tracked (and still present) plus untracked, not ignored."""
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, check=True, capture_output=True,
    ).stdout.decode()
    return sorted({f for f in out.split("\0") if f and (REPO / f).is_file()})


def sync_tree(dest: Path) -> None:
    """Make ``dest`` hold exactly the checkout's files (``tests/output`` excepted), copying only changes."""
    wanted = set(collection_files())
    for rel in wanted:
        src, dst = REPO / rel, dest / rel
        st = src.stat()
        if dst.is_file() and not dst.is_symlink():
            dt = dst.stat()
            if dt.st_size == st.st_size and int(dt.st_mtime) == int(st.st_mtime):
                continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        if dst.is_symlink() or dst.exists():
            dst.unlink()
        shutil.copy2(src, dst)
    for path in sorted(dest.rglob("*"), reverse=True):
        rel = path.relative_to(dest).as_posix()
        if rel == KEEP or rel.startswith(KEEP + "/"):
            continue
        if path.is_dir() and not path.is_symlink():
            if not any(path.iterdir()):
                path.rmdir()
        elif rel not in wanted:
            path.unlink()


@contextmanager
def collection_tree() -> Iterator[Path]:
    """The checkout copied to ``<private dir>/ansible_collections/liftoff/release``, locked while in use."""
    base = Path(os.environ.get("LIFTOFF_REFEREE_DIR")
                or Path(tempfile.gettempdir()) / f"liftoff-referee-{os.getuid()}")
    tree = base / "ansible_collections" / NAMESPACE / NAME
    tree.mkdir(parents=True, exist_ok=True)
    with open(base / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        sync_tree(tree)
        link_dependencies(base / "ansible_collections")
        yield tree


def link_dependencies(root: Path) -> None:
    """galaxy.yml's dependencies beside the collection (ansible-test finds them there), from the venv's ``ansible``."""
    import ansible_collections  # the ansible package's collections (namespace package)

    found = [Path(p) for p in ansible_collections.__path__ if Path(p).resolve() != root.resolve()]
    galaxy = yaml.safe_load((REPO / "galaxy.yml").read_text())
    for fqcn in galaxy.get("dependencies") or {}:
        namespace, name = fqcn.split(".")
        src = next((d / namespace / name for d in found if (d / namespace / name / "MANIFEST.json").exists()), None)
        if src is None:
            sys.exit(f"referee: dependency {fqcn} is not installed (the ansible package ships it): "
                     "run scripts/bootstrap.sh")
        link = root / namespace / name
        if link.is_symlink() and link.resolve() == src.resolve():
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(src)


def seed_get_pip() -> None:
    """Put the get-pip stand-in and the pip wheel it installs into ansible-test's cache."""
    cache = Path.home() / ".ansible" / "test" / "cache"
    cache.mkdir(parents=True, exist_ok=True)
    wheel = cache / f"pip-{PIP_VERSION}-py3-none-any.whl"
    if not wheel.exists():
        log(f"downloading pip {PIP_VERSION} for ansible-test's virtual environments")
        subprocess.run([tool("pip"), "download", "-q", "--disable-pip-version-check", "--no-deps",
                        f"pip=={PIP_VERSION}", "-d", str(cache)], check=True)
    script = cache / f"get_pip_{PIP_VERSION.replace('.', '_')}.py"
    text = GET_PIP_STANDIN.replace("{version}", PIP_VERSION)
    if not script.exists() or script.read_text() != text:
        script.write_text(text)


def ansible_test(*args: str) -> int:
    seed_get_pip()
    with collection_tree() as tree:
        cmd = [tool("ansible-test"), *args]
        log(f"{' '.join(cmd)} (in {tree})")
        return subprocess.run(cmd, cwd=tree, env=clean_env(), check=False).returncode


def sanity(args: argparse.Namespace) -> int:
    if list(REPO.glob("tests/sanity/ignore-*.txt")):
        log("tests/sanity/ignore-*.txt exist: fix the code instead")
        return 1
    return ansible_test("sanity", "--venv", "--python", PYTHON_VERSION, "--color", "no", *args.extra)


def units(args: argparse.Namespace) -> int:
    """ansible-test units, with the copy standing where the checkout stands.

    Some unit tests drive the checkout's tools as a checkout has them: ``.venv/bin``, ``ansible.cfg``'s
    ``.collections`` link (scripts/bootstrap.sh makes it) and the shared seed catalogue beside the
    checkout. Those links exist in the copy only while the unit tests run (sanity must not see them).
    """
    # --local: the checkout's venv already holds what the unit tests import (requirements-test.txt).
    # ansible-test's own default is a worker per CPU; 0 (serially) is one worker here.
    cmd = ["units", "--local", "--python", PYTHON_VERSION, "--color", "no",
           "--num-workers", str(max(1, args.workers)), *args.extra]
    seed_get_pip()
    with collection_tree() as tree:
        links = {tree / ".venv": REPO / ".venv",
                 tree / ".collections" / "ansible_collections" / NAMESPACE / NAME: Path("../../.."),
                 tree.parent / "shared": REPO.parent / "shared"}
        made: list[Path] = []
        try:
            for link, target in links.items():
                link.parent.mkdir(parents=True, exist_ok=True)
                if not link.is_symlink() and not link.exists() and (link.parent / target).exists():
                    link.symlink_to(target)
                    made.append(link)
            log(f"ansible-test {' '.join(cmd)} (in {tree})")
            return subprocess.run([tool("ansible-test"), *cmd], cwd=tree, env=clean_env(), check=False).returncode
        finally:
            for link in made:
                link.unlink()
            shutil.rmtree(tree / ".collections", ignore_errors=True)


def galaxy_importer(_unused: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="liftoff-galaxy-") as tmp:
        out = Path(tmp)
        subprocess.run([tool("ansible-galaxy"), "collection", "build", "--output-path", str(out), str(REPO)],
                       check=True, env=clean_env(), stdout=subprocess.DEVNULL)
        (artifact,) = out.glob(f"{NAMESPACE}-{NAME}-*.tar.gz")
        cfg = configparser.ConfigParser()
        cfg["galaxy-importer"] = {
            # ansible-test sanity and ansible-lint run as referees of their own (test.sh lint), without containers.
            "run_ansible_test": "False",
            "run_ansible_lint": "False",
            "check_required_tags": "True",
            "require_v1_or_greater": "True",
            "log_level_main": "INFO",
        }
        cfg_path = out / "galaxy-importer.cfg"
        with cfg_path.open("w") as f:
            cfg.write(f)
        proc = subprocess.run([str(BIN / "python"), "-m", "galaxy_importer.main", str(artifact)], cwd=out,
                              env=clean_env(GALAXY_IMPORTER_CONFIG=str(cfg_path)), capture_output=True, text=True,
                              check=False)
        output = proc.stdout + proc.stderr
        errors = [line for line in output.splitlines() if line.startswith(("ERROR", "CRITICAL", "Traceback"))]
        warnings = [line for line in output.splitlines() if line.startswith("WARNING")]
        for line in errors + warnings:
            log(line)
        passed = proc.returncode == 0 and "Importer processing completed successfully" in output and not errors
        if not passed:
            print(output, end="")
        log(f"galaxy-importer {'passed' if passed else 'FAILED'} on {artifact.name}: "
            f"{len(errors)} error(s), {len(warnings)} warning(s)")
        return 0 if passed else 1


# Plugin directories that hold no plugins ansible-doc lists: code and doc pieces shared by plugins.
NOT_PLUGINS = {"module_utils", "plugin_utils", "doc_fragments", "__pycache__"}
# ansible-doc's name for a plugins/ directory, where it differs.
DOC_TYPE = {"modules": "module"}
# ansible-core's own internal collection, which ansible-doc -t role warns about: not this collection's.
FOREIGN_WARNING = re.compile(r"^\[WARNING\]: Collection at '[^']*/ansible/_internal/ansible_collections/[^']*' "
                             r"does not have a MANIFEST\.json file")


def _stems(directory: Path, suffix: str = ".py") -> list[str]:
    return sorted(p.name[: -len(suffix)] for p in directory.glob(f"*{suffix}")
                  if not p.name.startswith("_") and p.name != "__init__.py")


def documented_plugins() -> dict[str, list[str]]:
    """ansible-doc type -> names, for every plugin in plugins/ (directories enumerated) and every role.

    An action plugin is documented by the module of its name; a filter or test file holds several
    plugins, each documented by its sidecar ``<name>.yml``.
    """
    found: dict[str, set[str]] = {}
    for directory in sorted(p for p in (REPO / "plugins").iterdir() if p.is_dir() and p.name not in NOT_PLUGINS):
        kind = DOC_TYPE.get(directory.name, directory.name)
        if kind == "action":
            found.setdefault("module", set()).update(_stems(directory))
        elif kind in ("filter", "test"):
            found.setdefault(kind, set()).update(_stems(directory, ".yml"))
        else:
            found.setdefault(kind, set()).update(_stems(directory))
    found["role"] = {p.name for p in (REPO / "roles").iterdir() if p.is_dir()}
    return {kind: sorted(names) for kind, names in sorted(found.items()) if names}


def ansible_doc(_unused: argparse.Namespace) -> int:
    """ansible-doc renders every plugin and every role of the collection; one call per type."""
    # cryptography 47+ deprecates DSA, which ansible-core's own ssh-agent module imports: a warning of
    # ansible-core's, not of this collection's documentation.
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               PYTHONWARNINGS="ignore:DSA is deprecated:UserWarning")
    problems: list[str] = []
    count = 0
    for kind, names in documented_plugins().items():
        fqcns = [f"{FQCN}.{n}" for n in names]
        proc = subprocess.run([tool("ansible-doc"), "-t", kind, "--json", *fqcns], cwd=REPO, env=env,
                              capture_output=True, text=True, check=False)
        warnings = [line for line in proc.stderr.splitlines() if line.strip() and not FOREIGN_WARNING.match(line)]
        problems += [f"ansible-doc -t {kind}: {line}" for line in warnings]
        if proc.returncode != 0:
            problems.append(f"ansible-doc -t {kind} exited {proc.returncode}")
            continue
        docs = json.loads(proc.stdout)
        for fqcn in fqcns:
            problem = _doc_problem(kind, fqcn, docs.get(fqcn) or {})
            if problem:
                problems.append(f"{kind} {fqcn}: {problem}")
            else:
                count += 1
    for line in problems:
        log(line)
    log(f"ansible-doc: {count} plugins and roles documented, {len(problems)} problem(s)")
    return 1 if problems else 0


def _doc_problem(kind: str, fqcn: str, entry: dict[str, Any]) -> str | None:
    """What is missing from ansible-doc's JSON for one plugin or role; None when it is complete."""
    if kind == "role":
        points = entry.get("entry_points") or {}
        spec = yaml.safe_load((REPO / "roles" / fqcn.rsplit(".", 1)[1] / "meta" / "argument_specs.yml").read_text())
        if sorted(points) != sorted(spec["argument_specs"]):
            return f"entry points {sorted(points)}, meta/argument_specs.yml has {sorted(spec['argument_specs'])}"
        short = [name for name, point in points.items() if not point.get("short_description")]
        return f"entry points without a short_description: {short}" if short else None
    doc = entry.get("doc") or {}
    if not doc.get("short_description"):
        return "no documentation (short_description)"
    if kind in ("module", "filter", "test", "lookup") and not entry.get("examples"):
        return "no EXAMPLES"
    if kind in ("module", "filter", "test", "lookup") and not entry.get("return"):
        return "no RETURN"
    return None


def changelog(_unused: argparse.Namespace) -> int:
    antsibull = tool("antsibull-changelog")
    for check in (["lint"], ["lint-changelog-yaml", "changelogs/changelog.yaml"]):
        if subprocess.run([antsibull, *check], cwd=REPO, check=False).returncode != 0:
            log(f"antsibull-changelog {' '.join(check)} failed")
            return 1
    with tempfile.TemporaryDirectory(prefix="liftoff-changelog-") as tmp:
        copy = Path(tmp) / "release"
        copy.mkdir()
        for rel in ("galaxy.yml", "changelogs", "CHANGELOG.md"):
            src = REPO / rel
            if src.is_dir():
                shutil.copytree(src, copy / rel)
            elif src.exists():
                shutil.copy2(src, copy / rel)
        proc = subprocess.run([antsibull, "generate"], cwd=copy, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            print(proc.stdout + proc.stderr, end="")
            return 1
        want = (copy / "CHANGELOG.md").read_text()
        have = (REPO / "CHANGELOG.md").read_text() if (REPO / "CHANGELOG.md").exists() else ""
        if want != have:
            log("CHANGELOG.md is not what `antsibull-changelog generate` writes from changelogs/: run it")
            return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="referee", required=True)
    p = sub.add_parser("sanity")
    p.add_argument("extra", nargs="*", help="more ansible-test sanity arguments, e.g. --test pep8 (after --)")
    p.set_defaults(func=sanity)
    p = sub.add_parser("units")
    p.add_argument("-n", "--workers", type=int, default=2, help="pytest-xdist workers (0: one)")
    p.add_argument("extra", nargs="*", help="more ansible-test units arguments, e.g. test files (after --)")
    p.set_defaults(func=units)
    sub.add_parser("galaxy-importer").set_defaults(func=galaxy_importer)
    sub.add_parser("ansible-doc").set_defaults(func=ansible_doc)
    sub.add_parser("changelog").set_defaults(func=changelog)
    args = parser.parse_args()
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
