"""A throwaway PostgreSQL cluster for tests and the demo.

It binds 127.0.0.1 on a free port chosen at run time, keeps its socket in the cluster
directory, and is stopped by its own postmaster pid. When the caller is root, the
server runs as the ``postgres`` user (PostgreSQL refuses to run as root).
"""
from __future__ import annotations

import fcntl
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PG_BIN_DIRS = tuple(
    sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: p.parent.name, reverse=True)
)
MISSING_MSG = (
    "PostgreSQL server binaries ({tool}) not found; install the Debian package "
    "`postgresql` (apt-get install -y postgresql) or put its bin directory on PATH"
)


class PgClusterError(RuntimeError):
    """A throwaway cluster could not be started, queried or stopped."""


def find_tool(tool: str) -> str:
    """Return the path of a PostgreSQL binary, preferring the newest server version."""
    for bin_dir in PG_BIN_DIRS:
        candidate = bin_dir / tool
        if candidate.is_file():
            return str(candidate)
    found = shutil.which(tool)
    if found:
        return found
    raise PgClusterError(MISSING_MSG.format(tool=tool))


# ---- free ports ------------------------------------------------------------------------
# A port is chosen long before it is bound (the app's port when the environment starts, bound
# by pm2 minutes later), and several test processes (pytest-xdist workers, other checkouts'
# runs) choose ports at once. So ports are taken from below the kernel's ephemeral range (bind
# to port 0 and outgoing connections never use them), at random, and each one is reserved: an
# exclusive flock on a file named after it, held open until this process exits (the kernel
# drops it then, so nothing stale is ever left). Every process that chooses ports here skips
# one another process holds, and this process never hands out the same port twice.
PORT_LOW = 20000  # the lowest port chosen; the highest is just below the ephemeral range
_PORT_DIR = Path(os.environ.get("LIFTOFF_TEST_PORT_DIR") or Path(tempfile.gettempdir()) / "liftoff-test-ports")
_reserved: dict[int, int] = {}  # port -> the fd holding its reservation (or -1: none possible)
_reserve_lock = threading.Lock()


def _port_range() -> tuple[int, int]:
    """[low, high] below net.ipv4.ip_local_port_range; (0, 0) when there is no room below it."""
    try:
        ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768
    high = ephemeral_low - 1
    return (PORT_LOW, high) if high - PORT_LOW >= 2000 else (0, 0)


def _bindable(port: int) -> bool:
    """Nothing (listening, connected or in TIME_WAIT) uses ``port`` on any IPv4 address."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def _reserve(port: int) -> bool:
    """Reserve ``port`` for this process (False: reserved here already or by another process)."""
    if port in _reserved:
        return False
    try:
        if not _PORT_DIR.is_dir():
            _PORT_DIR.mkdir(exist_ok=True)
            os.chmod(_PORT_DIR, 0o1777)  # shared by every user's test runs, like /tmp
        fd = os.open(_PORT_DIR / str(port), os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        _reserved[port] = -1  # no shared directory: still never handed out twice by this process
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return False
    _reserved[port] = fd
    return True


def _release(port: int) -> None:
    fd = _reserved.pop(port, -1)
    if fd >= 0:
        os.close(fd)


def free_ports(count: int = 1) -> int:
    """The first of ``count`` consecutive free loopback ports, reserved for this process."""
    low, high = _port_range()
    with _reserve_lock:
        for _unused in range(200):
            if low:
                first = low + secrets.randbelow(high - low + 2 - count)
            else:  # no room below the ephemeral range: ask the kernel, still reserve
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                    sock.bind(("127.0.0.1", 0))
                    first = int(sock.getsockname()[1])
                if first + count - 1 > 65535:
                    continue
            taken: list[int] = []
            for port in range(first, first + count):
                if not _reserve(port):
                    break
                taken.append(port)
                if not _bindable(port):
                    break
            else:
                return first
            for port in taken:
                _release(port)
    raise RuntimeError(f"no {count} consecutive free ports found on 127.0.0.1")


def free_port() -> int:
    """A free loopback port, reserved for this process (see above): safe to bind much later."""
    return free_ports(1)


def _as_root() -> bool:
    return os.geteuid() == 0


@dataclass
class PgCluster:
    """One running cluster; create it with :meth:`PgCluster.start`."""

    data_dir: Path
    port: int
    host: str = "127.0.0.1"
    user: str = "postgres"
    _stopped: bool = field(default=False, repr=False)

    # ---- lifecycle -----------------------------------------------------------------
    @classmethod
    def start(cls, base_dir: Path) -> PgCluster:
        """initdb + pg_ctl start in ``base_dir/pgdata`` on a free port; returns when ready."""
        initdb = find_tool("initdb")
        base_dir = Path(base_dir)
        base_dir.mkdir(parents=True, exist_ok=True)
        data_dir = base_dir / "pgdata"
        data_dir.mkdir(mode=0o700)
        if _as_root():
            # the server user must own the cluster and reach it through every parent dir
            shutil.chown(data_dir, "postgres", "postgres")
            for parent in [base_dir, *base_dir.parents]:
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)
                if parent == Path("/"):
                    break
        _run(
            [initdb, "-D", str(data_dir), "-U", "postgres", "--auth=trust", "-E", "UTF8",
             "--no-instructions" if _initdb_has_no_instructions(initdb) else "-N"],
            "initdb",
        )
        last_error = ""
        for _attempt in range(3):  # a chosen port can be taken between pick and bind
            port = free_port()
            cluster = cls(data_dir=data_dir, port=port)
            try:
                cluster._pg_ctl_start()
            except PgClusterError as exc:
                last_error = str(exc)
                continue
            return cluster
        raise PgClusterError(f"could not start PostgreSQL in {data_dir}: {last_error}")

    def _pg_ctl_start(self) -> None:
        opts = (
            f"-p {self.port} -k {self.data_dir} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        _run(
            [find_tool("pg_ctl"), "-D", str(self.data_dir), "-o", opts, "-w", "-t", "30",
             "-l", str(self.data_dir / "server.log"), "start"],
            "pg_ctl start",
        )

    def stop(self) -> None:
        """pg_ctl stop -m fast; if that fails, kill the postmaster by its own pid."""
        if self._stopped:
            return
        try:
            _run([find_tool("pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"],
                 "pg_ctl stop")
        except PgClusterError:
            pid = self.postmaster_pid()
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGQUIT)
                except ProcessLookupError:
                    pass
                _wait_gone(pid)
        self._stopped = True

    def postmaster_pid(self) -> int | None:
        """The postmaster pid from postmaster.pid (None when the server is not running)."""
        pid_file = self.data_dir / "postmaster.pid"
        try:
            return int(pid_file.read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    # ---- use -----------------------------------------------------------------------
    def dsn(self, dbname: str = "postgres") -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname={dbname}"

    def psql(self, sql: str, db: str = "postgres") -> str:
        """Run ``sql`` with psql (unaligned, tuples only); raise with stderr on failure."""
        cmd = [find_tool("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
               "-h", self.host, "-p", str(self.port), "-U", self.user, "-d", db, "-c", sql]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False,
                              env={**os.environ, "PGCONNECT_TIMEOUT": "10"})
        if proc.returncode != 0:
            raise PgClusterError(f"psql failed ({proc.returncode}) on {db}: {proc.stderr.strip()}")
        return proc.stdout.strip()

    def create_db(self, name: str) -> str:
        self.psql(f'CREATE DATABASE "{name}"')
        return name


def _initdb_has_no_instructions(initdb: str) -> bool:
    proc = subprocess.run([initdb, "--help"], capture_output=True, text=True, check=False)
    return "--no-instructions" in proc.stdout


def _run(cmd: list[str], what: str) -> None:
    if _as_root():
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd="/")
    if proc.returncode != 0:
        raise PgClusterError(
            f"{what} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}"
        )


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie left to a non-reaping pid 1 counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# ---- pytest fixtures (import them from conftest.py or a test module) ------------------
@pytest.fixture(scope="session")
def pg_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PgCluster]:
    """One throwaway cluster for the whole session, stopped by its pid at the end."""
    cluster = PgCluster.start(tmp_path_factory.mktemp("pg"))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def fresh_db(pg_cluster: PgCluster) -> str:
    """A new, uniquely named, empty database in the session cluster."""
    return pg_cluster.create_db(f"t_{uuid.uuid4().hex[:12]}")
