#!/usr/bin/env python3
"""Build a VX11 release of the seed 001 example: its source tree and its three images.

    build.py OUT VERSION --revision SHA [--log-tokens-raw] [--docker DOCKER] [--host DOCKER_HOST]

OUT/VERSION/ receives the release as CI would check it out - operator/ (the liftoff demo app's
server.js, the operator-backend stand-in), gateway/ (services/gateway/gateway.js, tentaculo_link),
frontend/www/ (index.html and the EventsPanel bundle) and a release.json per service - and the
images vx11-operator:VERSION, vx11-tentaculo-link:VERSION and vx11-operator-frontend:VERSION are
built from it on the Docker engine at DOCKER_HOST, labelled with the commit
(org.opencontainers.image.revision). They are FROM vx11-runtime:node20, built first when missing:
FROM scratch, with this machine's node, the libraries it links and a static busybox (no registry is
reachable here). --log-tokens-raw builds a bad release whose backend logs tokens unmasked.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
SERVICES = HERE / "services"
RUNTIME = "vx11-runtime:node20"
IMAGES = {"operator": "vx11-operator", "gateway": "vx11-tentaculo-link", "frontend": "vx11-operator-frontend"}


def docker(args: argparse.Namespace, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, DOCKER_HOST=args.host, DOCKER_BUILDKIT="0")
    proc = subprocess.run([args.docker, *argv], env=env, text=True, capture_output=True, check=False)
    if check and proc.returncode != 0:
        raise SystemExit(f"docker {' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


def static_busybox() -> Path:
    for candidate in (Path("/bin/busybox"), Path("/usr/bin/busybox")):
        if candidate.is_file():
            return candidate
    raise SystemExit("no busybox: install the Debian package busybox-static")


def build_runtime(args: argparse.Namespace) -> None:
    """vx11-runtime:node20 FROM scratch: node, every library ldd lists for it, busybox."""
    if docker(args, "image", "inspect", RUNTIME, check=False).returncode == 0:
        return
    node = Path(shutil.which("node") or "/usr/bin/node").resolve()
    linked = subprocess.run(["ldd", str(node)], text=True, capture_output=True, check=True).stdout
    libs = re.findall(r"(/\S+) \(0x", linked)
    with tempfile.TemporaryDirectory(prefix="vx11-runtime-") as ctx:
        root = Path(ctx) / "rootfs"
        for source, target in [(node, "/usr/bin/node"), (static_busybox(), "/bin/busybox"),
                               *((Path(lib).resolve(), lib) for lib in libs)]:
            dest = root / target.lstrip("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest)
        shutil.copy2(SERVICES / "runtime" / "Dockerfile", Path(ctx) / "Dockerfile")
        docker(args, "build", "-q", "-t", RUNTIME, ctx)


def write_release(out: Path, version: str, log_tokens_raw: bool) -> Path:
    """The release's source tree, as the images are built from it (and preflight checks it)."""
    release = out / version
    if release.exists():
        shutil.rmtree(release)
    (release / "operator").mkdir(parents=True)
    shutil.copy2(REPO / "examples" / "app" / "server.js", release / "operator" / "server.js")
    shutil.copytree(SERVICES / "gateway", release / "gateway")
    shutil.copytree(SERVICES / "frontend", release / "frontend")
    shutil.copy2(SERVICES / "operator" / "Dockerfile", release / "operator" / "Dockerfile")
    spec = {"version": version, "log_tokens_raw": log_tokens_raw, "sse_interval_ms": 250}
    for service in ("operator", "gateway"):
        (release / service / "release.json").write_text(json.dumps(spec) + "\n", encoding="utf-8")
    www = release / "frontend" / "www"
    (www / "events-panel.js").rename(www / f"events-panel.{version}.js")
    index = www / "index.html"
    index.write_text(index.read_text(encoding="utf-8").replace("@VERSION@", version), encoding="utf-8")
    return release


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("version")
    parser.add_argument("--revision", required=True, help="the commit the release is built from")
    parser.add_argument("--log-tokens-raw", action="store_true", help="a bad release: raw tokens in the access log")
    parser.add_argument("--docker", default="docker")
    parser.add_argument("--host", default=os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"))
    args = parser.parse_args()
    build_runtime(args)
    release = write_release(args.out, args.version, args.log_tokens_raw)
    for service, image in IMAGES.items():
        docker(args, "build", "-q", "--build-arg", f"REVISION={args.revision}", "-t", f"{image}:{args.version}",
               str(release / service))
    print(json.dumps({"release": str(release), "images": {s: f"{i}:{args.version}" for s, i in IMAGES.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
