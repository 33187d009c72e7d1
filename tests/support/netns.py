"""Real SSH test hosts on this machine: one network namespace per host, each running sshd.

Each host gets its own namespace with a veth pair (the controller side 10.R.i.1/24, the host
side 10.R.i.2/24, R chosen at run time among subnets no interface uses), loopback up, and an
sshd bound to its address with a host key and an authorized key made for this fleet. Ansible
reaches it as root over real SSH. The namespaces share this machine's filesystem, so each host
keeps its own directories under ``root/hosts/<name>``; a unix socket (a PostgreSQL socket
directory, say) is reachable from every host.

Everything is stopped by what this fixture made: every process left in a namespace is killed
(sshd, pm2 daemons and their workers started over SSH), then the veth pairs and namespaces are
deleted. Only addresses inside the namespaces created here are ever targeted.
"""
from __future__ import annotations

import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SSHD = "/usr/sbin/sshd"
MISSING = ("{what} not found: install the Debian package {package} "
           "(apt-get install -y {package}); the multi-host tests run sshd in network namespaces")


class NetnsError(RuntimeError):
    """The test hosts could not be made."""


def _run(*cmd: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(cmd), capture_output=True, text=True, timeout=60, check=False)
    if check and result.returncode != 0:
        raise NetnsError(f"{' '.join(cmd)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


def require_tools() -> None:
    if os.geteuid() != 0:
        raise NetnsError("the multi-host tests need root (ip netns add); run them as root")
    if not Path(SSHD).is_file():
        raise NetnsError(MISSING.format(what=SSHD, package="openssh-server"))
    if not shutil.which("ip"):
        raise NetnsError(MISSING.format(what="ip", package="iproute2"))
    if not shutil.which("ssh-keygen") or not shutil.which("ssh"):
        raise NetnsError(MISSING.format(what="ssh / ssh-keygen", package="openssh-client"))


def _used_subnets() -> set[int]:
    """Second octets R of every 10.R.x.x address on this machine (to choose a free 10.R/16)."""
    out = _run("ip", "-4", "-o", "addr", "show").stdout
    used: set[int] = set()
    for token in out.split():
        if token.startswith("10.") and "/" in token:
            try:
                used.add(int(token.split(".")[1]))
            except ValueError:
                continue
    return used


@dataclass
class SshHost:
    name: str
    netns: str
    address: str
    gateway: str
    root: Path
    veth: str
    sshd_pid: int = 0

    def inventory(self, key: Path, known_hosts: Path, python: str) -> dict[str, object]:
        """Ansible connection variables for this host."""
        return {
            "ansible_host": self.address,
            "ansible_user": "root",
            "ansible_port": 22,
            "ansible_ssh_private_key_file": str(key),
            "ansible_ssh_common_args": f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes "
                                       "-o IdentitiesOnly=yes -o ConnectTimeout=10",
            "ansible_python_interpreter": python,
        }


@dataclass
class SshFleet:
    """``count`` SSH hosts in network namespaces, stopped by :meth:`stop`."""

    root: Path
    hosts: list[SshHost] = field(default_factory=list)
    tag: str = ""

    @property
    def key(self) -> Path:
        return self.root / "id_ed25519"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    @classmethod
    def start(cls, root: Path, count: int) -> SshFleet:
        require_tools()
        root = root.resolve()
        root.mkdir(parents=True, exist_ok=True)
        fleet = cls(root=root, tag=secrets.token_hex(2))
        try:
            fleet._start(count)
        except BaseException:
            fleet.stop()
            raise
        return fleet

    def _start(self, count: int) -> None:
        if not 1 <= count <= 250:
            raise NetnsError(f"count must be within [1, 250], got {count}")
        free = sorted(set(range(200, 251)) - _used_subnets())
        if not free:
            raise NetnsError("no free 10.R.0.0/16 subnet (R in 200..250) for the test hosts")
        octet = random.choice(free)
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"liftoff-fleet-{self.tag}", "-f", str(self.key))
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        known: list[str] = []
        for index in range(1, count + 1):
            host = SshHost(name=f"h{index}", netns=f"lf{self.tag}h{index}", address=f"10.{octet}.{index}.2",
                           gateway=f"10.{octet}.{index}.1", root=self.root / "hosts" / f"h{index}",
                           veth=f"lf{self.tag}h{index}a")
            self.hosts.append(host)
            self._make_host(host)
            known.append(f"{host.address} {(host.root / 'ssh' / 'host_key.pub').read_text().strip()}")
        self.known_hosts.write_text("\n".join(known) + "\n", encoding="utf-8")
        for host in self.hosts:
            self._wait_ssh(host)

    def _make_host(self, host: SshHost) -> None:
        ssh_dir = host.root / "ssh"
        ssh_dir.mkdir(parents=True, exist_ok=True)
        peer = host.veth[:-1] + "b"
        _run("ip", "netns", "add", host.netns)
        _run("ip", "link", "add", host.veth, "type", "veth", "peer", "name", peer)
        _run("ip", "link", "set", peer, "netns", host.netns)
        _run("ip", "addr", "add", f"{host.gateway}/24", "dev", host.veth)
        _run("ip", "link", "set", host.veth, "up")
        _run("ip", "netns", "exec", host.netns, "ip", "addr", "add", f"{host.address}/24", "dev", peer)
        _run("ip", "netns", "exec", host.netns, "ip", "link", "set", peer, "up")
        _run("ip", "netns", "exec", host.netns, "ip", "link", "set", "lo", "up")
        _run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ssh_dir / "host_key"))
        shutil.copy(str(self.key) + ".pub", ssh_dir / "authorized_keys")
        config = ssh_dir / "sshd_config"
        config.write_text("\n".join([
            "Port 22",
            f"ListenAddress {host.address}",
            f"HostKey {ssh_dir / 'host_key'}",
            f"PidFile {ssh_dir / 'sshd.pid'}",
            f"AuthorizedKeysFile {ssh_dir / 'authorized_keys'}",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "MaxStartups 100:30:200",
            "MaxSessions 50",
            "Subsystem sftp internal-sftp",
            "",
        ]), encoding="utf-8")
        log = open(ssh_dir / "sshd.log", "ab")
        proc = subprocess.Popen(["ip", "netns", "exec", host.netns, SSHD, "-D", "-e", "-f", str(config)],
                                stdout=log, stderr=log, start_new_session=True)
        log.close()
        host.sshd_pid = proc.pid

    def _wait_ssh(self, host: SshHost, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                probe.settimeout(1)
                if probe.connect_ex((host.address, 22)) == 0:
                    return
            time.sleep(0.1)
        log = (host.root / "ssh" / "sshd.log").read_text(errors="replace")
        raise NetnsError(f"sshd on {host.name} ({host.address}) did not start within {timeout:.0f} s: {log[-2000:]}")

    def ssh(self, host: SshHost, command: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run a shell command on ``host`` over SSH."""
        return subprocess.run(["ssh", "-i", str(self.key), "-o", f"UserKnownHostsFile={self.known_hosts}",
                               "-o", "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes",
                               "-o", "BatchMode=yes", f"root@{host.address}", command],
                              capture_output=True, text=True, timeout=timeout, check=False)

    def stop(self) -> None:
        """Kill every process in the namespaces, then delete the veth pairs and namespaces."""
        for host in self.hosts:
            self._kill_all(host)
            _run("ip", "link", "del", host.veth, check=False)
            _run("ip", "netns", "del", host.netns, check=False)

    @staticmethod
    def _kill_all(host: SshHost) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = [int(p) for p in _run("ip", "netns", "pids", host.netns, check=False).stdout.split() if p.isdigit()]
            if host.sshd_pid and host.sshd_pid not in pids:
                pids.append(host.sshd_pid)
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    continue
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                if not _run("ip", "netns", "pids", host.netns, check=False).stdout.split():
                    break
                time.sleep(0.1)
        if host.sshd_pid:
            try:
                os.waitpid(host.sshd_pid, os.WNOHANG)
            except ChildProcessError:
                pass
