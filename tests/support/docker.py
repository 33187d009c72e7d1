"""A throwaway Docker engine for tests and the molecule scenario, and the demo app's images.

Debian's ``docker.io`` dockerd runs with everything under one short directory (unix
socket paths are limited to 108 bytes)::

    DIR/docker.sock   the API socket (DOCKER_HOST=unix://DIR/docker.sock)
    DIR/data          --data-root (images, containers)
    DIR/exec          --exec-root (its own managed containerd lives under exec/containerd)
    DIR/pid           --pidfile
    DIR/dockerd.log   the daemon's output

It runs with ``--bridge=none --iptables=false --ip-masq=false``: no bridge, no NAT rules,
so containers use host networking and bind 127.0.0.1 ports chosen at run time; nothing
leaves loopback. No image can be pulled here: the demo app is built locally ``FROM
scratch`` with a statically linked busybox (Debian ``busybox-static``), see
``examples/compose/app``. It is stopped by its own pid (containers removed first), its
mounts under DIR are unmounted and DIR is removed.

    with DockerDaemon() as docker:
        docker.build_app("liftoff-demo:v1", "v1")
        docker.build_app("liftoff-demo:v3", "v3", healthy=False)

From a shell (the molecule scenario's prepare and cleanup)::

    python tests/support/docker.py start DIR --app v1 --app v2 --unhealthy v3
    python tests/support/docker.py stop DIR
"""
from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

REPO = Path(__file__).resolve().parents[2]
APP_CONTEXT = REPO / "examples" / "compose" / "app"
IMAGE = "liftoff-demo"

MISSING_DOCKERD = (
    "dockerd was not found: install the Debian package `docker.io` (apt-get install -y --no-install-recommends "
    "docker.io docker-compose busybox-static, or run scripts/bootstrap.sh as root)"
)
MISSING_BUSYBOX = (
    "no statically linked busybox found (/bin/busybox): install the Debian package `busybox-static`; "
    "the demo images are built FROM scratch and need a static binary"
)


class DockerDaemonError(RuntimeError):
    """The throwaway engine could not be started, used or stopped."""


def find_dockerd() -> str:
    """The dockerd binary, or an error naming the Debian package."""
    found = shutil.which("dockerd") or ("/usr/sbin/dockerd" if Path("/usr/sbin/dockerd").is_file() else None)
    if not found:
        raise DockerDaemonError(MISSING_DOCKERD)
    return found


def find_docker_client() -> str:
    """The docker.io client that matches its dockerd (/usr/bin/docker), chosen deliberately.

    Another client may sit earlier on PATH (a 28.x in /usr/local/bin here); it would work
    through API version negotiation, but the tests use the one shipped with the engine.
    """
    if Path("/usr/bin/docker").is_file():
        return "/usr/bin/docker"
    found = shutil.which("docker")
    if not found:
        raise DockerDaemonError(MISSING_DOCKERD.replace("dockerd was", "the docker client was"))
    return found


def find_compose() -> str:
    """The Compose v1 CLI (Debian ``docker-compose``)."""
    found = shutil.which("docker-compose")
    if not found:
        raise DockerDaemonError("docker-compose was not found: install the Debian package `docker-compose`")
    return found


def is_static_elf(path: Path) -> bool:
    """True for an ELF executable without a program interpreter (PT_INTERP): statically linked."""
    with path.open("rb") as handle:
        head = handle.read(64)
        if head[:4] != b"\x7fELF":
            return False
        is64 = head[4] == 2
        endian = "<" if head[5] == 1 else ">"
        if is64:
            phoff, = struct.unpack_from(endian + "Q", head, 32)
            phentsize, phnum = struct.unpack_from(endian + "HH", head, 54)
        else:
            phoff, = struct.unpack_from(endian + "I", head, 28)
            phentsize, phnum = struct.unpack_from(endian + "HH", head, 42)
        for index in range(phnum):
            handle.seek(phoff + index * phentsize)
            p_type, = struct.unpack(endian + "I", handle.read(4))
            if p_type == 3:  # PT_INTERP
                return False
    return True


def find_static_busybox() -> Path:
    for candidate in (Path("/bin/busybox"), Path("/usr/bin/busybox"), Path(shutil.which("busybox") or "/nonexistent")):
        if candidate.is_file() and is_static_elf(candidate):
            return candidate
    raise DockerDaemonError(MISSING_BUSYBOX)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except (ProcessLookupError, OSError):
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text(encoding="utf-8").strip()
    except OSError:
        return ""


def _stop_pid(pid: int, name: str, timeout: float = 30.0) -> None:
    """SIGTERM (then SIGKILL) ``pid`` if it still is the program ``name``."""
    if not pid or not _alive(pid) or _comm(pid) != name:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    for _unused in range(50):
        if not _alive(pid):
            return
        time.sleep(0.1)


def _read_pid(path: Path) -> int:
    try:
        return int(path.read_text(encoding="utf-8").strip() or 0)
    except (OSError, ValueError):
        return 0


class DockerDaemon:
    """One throwaway dockerd; a context manager, or call :meth:`start` / :meth:`stop`."""

    def __init__(self, base_dir: Path | str | None = None, *, ready_timeout: float = 30.0,
                 netns: str | None = None) -> None:
        # netns: run the daemon inside that network namespace (nsenter --net), as on a test host of
        # tests/support/netns.py: its host-network containers then serve on that host's address.
        self.netns = netns
        self._own_dir = base_dir is None
        self.base_dir = Path(base_dir) if base_dir is not None else None
        self.ready_timeout = ready_timeout
        self.client = find_docker_client()
        self._proc: subprocess.Popen[bytes] | None = None

    # ---- paths ----------------------------------------------------------------------
    @property
    def root(self) -> Path:
        if self.base_dir is None:
            raise DockerDaemonError("the daemon was not started")
        return self.base_dir

    @property
    def socket_path(self) -> Path:
        return self.root / "docker.sock"

    @property
    def host(self) -> str:
        """The value for DOCKER_HOST / docker_host: unix://DIR/docker.sock."""
        return f"unix://{self.socket_path}"

    @property
    def pid(self) -> int:
        return _read_pid(self.root / "pid") or (self._proc.pid if self._proc else 0)

    # ---- lifecycle ------------------------------------------------------------------
    def start(self) -> DockerDaemon:
        if os.geteuid() != 0:
            raise DockerDaemonError("the throwaway dockerd needs root (it mounts overlays and runs runc)")
        dockerd = find_dockerd()
        if self.base_dir is None:
            self.base_dir = Path(tempfile.mkdtemp(prefix="lfd-", dir="/tmp"))
        self.base_dir.mkdir(parents=True, exist_ok=True)
        if len(str(self.socket_path)) > 90:
            raise DockerDaemonError(f"{self.socket_path} is too long for a unix socket; use a shorter directory")
        (self.root / "daemon.json").write_text("{}\n", encoding="utf-8")
        argv = [
            # nsenter enters only the network namespace: `ip netns exec` would also remount /sys, and
            # dockerd needs the cgroup mounts under it.
            *(["nsenter", f"--net=/run/netns/{self.netns}"] if self.netns else []),
            dockerd,
            "--host", self.host,
            "--data-root", str(self.root / "data"),
            "--exec-root", str(self.root / "exec"),
            "--pidfile", str(self.root / "pid"),
            "--config-file", str(self.root / "daemon.json"),  # never the machine's /etc/docker/daemon.json
            "--bridge=none", "--iptables=false", "--ip-masq=false", "--ip6tables=false",
        ]
        env = {k: v for k, v in os.environ.items() if k.lower() not in {"http_proxy", "https_proxy", "no_proxy"}}
        env.pop("DOCKER_HOST", None)
        log = (self.root / "dockerd.log").open("ab")
        try:
            # its own session: it outlives `docker.py start` (molecule) and no terminal signal reaches it
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                          env=env, start_new_session=True)
        finally:
            log.close()
        atexit.register(self.stop)
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _ping(self) -> bool:
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(2)
                sock.connect(str(self.socket_path))
                sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
                reply = sock.recv(1024)
        except OSError:
            return False
        return reply.startswith(b"HTTP/1.") and b" 200 " in reply.split(b"\r\n", 1)[0] + b" "

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self._proc is not None and self._proc.poll() is not None:
                raise DockerDaemonError(f"dockerd exited with {self._proc.returncode}:\n{self.log_tail()}")
            if self._ping():
                return
            time.sleep(0.1)
        raise DockerDaemonError(f"dockerd did not answer on {self.socket_path} within {self.ready_timeout} s:\n"
                                f"{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join((self.root / "dockerd.log").read_text(encoding="utf-8", errors="replace")
                             .splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Remove every container, stop dockerd (and its containerd) by pid, unmount and remove DIR."""
        if self.base_dir is None:
            return
        atexit.unregister(self.stop)
        stop_dir(self.root, self.client, remove=self._own_dir)
        if self._proc is not None:
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            self._proc = None

    def __enter__(self) -> DockerDaemon:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # ---- use ------------------------------------------------------------------------
    def docker(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, DOCKER_HOST=self.host, DOCKER_BUILDKIT="0")
        proc = subprocess.run([self.client, *args], capture_output=True, text=True, env=env, timeout=timeout,
                              check=False)
        if check and proc.returncode != 0:
            raise DockerDaemonError(f"docker {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def build_app(self, tag: str, version: str, *, healthy: bool = True, unhealthy_if: str = "") -> str:
        """Build the demo app image ``tag`` answering ``version``; ``healthy=False`` fails its HEALTHCHECK,
        ``unhealthy_if=NAME`` fails it only in a container where the environment variable NAME is set."""
        health = unhealthy_if or ("1" if healthy else "0")
        busybox = find_static_busybox()
        with tempfile.TemporaryDirectory(prefix="ctx-", dir=self.root) as ctx:
            for name in ("Dockerfile", "app.sh"):
                shutil.copy2(APP_CONTEXT / name, Path(ctx) / name)
            shutil.copy2(busybox, Path(ctx) / "busybox")
            self.docker("build", "-q", "--build-arg", f"VERSION={version}",
                        "--build-arg", f"HEALTHY={health}", "-t", tag, ctx)
        return tag

    def image_id(self, ref: str) -> str:
        return self.docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()

    def containers(self, project: str) -> list[dict[str, object]]:
        """``docker inspect`` of the containers of a compose project (running or not)."""
        ids = self.docker("ps", "-aq", "--filter", f"label=com.docker.compose.project={project}").stdout.split()
        if not ids:
            return []
        return list(json.loads(self.docker("inspect", *ids).stdout))


def _unmount_under(root: Path) -> None:
    """Lazily unmount whatever is still mounted under root (overlays, netns, shm), deepest first."""
    try:
        mounts = Path("/proc/self/mounts").read_text(encoding="utf-8").splitlines()
    except OSError:
        return
    prefix = str(root.resolve()) + "/"
    points = [line.split()[1].replace("\\040", " ") for line in mounts if len(line.split()) > 1]
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


def stop_dir(root: Path, client: str | None = None, *, remove: bool = True) -> None:
    """Stop the daemon that runs from ``root`` (by the pids it wrote), then clean ``root`` up."""
    root = Path(root)
    dockerd_pid = _read_pid(root / "pid")
    containerd_pid = _read_pid(root / "exec" / "containerd" / "containerd.pid")
    sock = root / "docker.sock"
    if dockerd_pid and _alive(dockerd_pid) and sock.exists():
        env = dict(os.environ, DOCKER_HOST=f"unix://{sock}")
        docker = client or find_docker_client()
        ids = subprocess.run([docker, "ps", "-aq"], capture_output=True, text=True, env=env, timeout=60,
                             check=False).stdout.split()
        if ids:
            subprocess.run([docker, "rm", "-f", *ids], capture_output=True, text=True, env=env, timeout=120,
                           check=False)
    _stop_pid(dockerd_pid, "dockerd")
    _stop_pid(containerd_pid, "containerd", timeout=10)
    _unmount_under(root)
    if remove:
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["start", "stop"])
    parser.add_argument("dir", type=Path, help="the daemon's directory (keep it short: unix socket paths)")
    parser.add_argument("--app", action="append", default=[], metavar="VERSION",
                        help=f"build {IMAGE}:VERSION (healthy); repeatable")
    parser.add_argument("--unhealthy", action="append", default=[], metavar="VERSION",
                        help=f"build {IMAGE}:VERSION whose HEALTHCHECK fails; repeatable")
    args = parser.parse_args()
    if args.action == "stop":
        stop_dir(args.dir)
        print(json.dumps({"stopped": str(args.dir)}))
        return 0
    stop_dir(args.dir)  # leftovers of an aborted run
    daemon = DockerDaemon(args.dir).start()
    try:
        for version in args.app:
            daemon.build_app(f"{IMAGE}:{version}", version)
        for version in args.unhealthy:
            daemon.build_app(f"{IMAGE}:{version}", version, healthy=False)
    except BaseException:
        daemon.stop()
        raise
    atexit.unregister(daemon.stop)  # it outlives this command; `stop DIR` ends it by its pid
    print(json.dumps({"docker_host": daemon.host, "pid": daemon.pid, "client": daemon.client}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
