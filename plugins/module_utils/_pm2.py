# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""A pm2 release switch on its host: the decisions, pure, and the few reads and writes they need.

Used by the liftoff.release.pm2_release module: one module run unpacks a release, writes the
ecosystem file, points ``current`` at the release, writes the release history, reloads pm2, waits
until every worker is up and the health URL reports the version, and prunes old releases.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ansible_collections.liftoff.release.plugins.module_utils import _releases

# AnsibleModule.run_command's shape: argv in, (exit code, stdout, stderr) out.
Runner = Callable[[list[str]], tuple[int, str, str]]

# The options of liftoff.release.pm2_release: the module and its action plugin validate with it.
ARGUMENT_SPEC: dict[str, Any] = {
    "base_dir": {"type": "path", "required": True},
    "version": {"type": "str", "required": True},
    "action": {"type": "str", "choices": ["deploy", "rollback"], "default": "deploy"},
    "run_id": {"type": "str", "default": ""},
    "archive": {"type": "path"},
    "ecosystem": {"type": "str"},
    "pm2_bin": {"type": "str", "default": "pm2"},
    "pm2_home": {"type": "path", "required": True},
    "names": {"type": "list", "elements": "str", "required": True},
    "expected": {"type": "int", "required": True},
    "min_uptime": {"type": "float", "default": 1},
    "retries": {"type": "int", "default": 60},
    "delay": {"type": "float", "default": 0.5},
    "health_url": {"type": "str", "default": ""},
    "keep_releases": {"type": "int", "default": 0},
}

HISTORY_FILE = "releases.json"
ECOSYSTEM_FILE = "ecosystem.config.js"


class Pm2Error(RuntimeError):
    """A step of the switch that failed; the message says which and why."""


# --- decisions (pure) -------------------------------------------------------------------------

def processes(jlist: str, names: Sequence[str]) -> list[dict[str, Any]]:
    """The release's processes in ``pm2 jlist`` output (its last JSON array line; pm2 may print notices first)."""
    lines = [line for line in jlist.splitlines() if line.startswith("[")]
    if not lines:
        return []
    try:
        listed = json.loads(lines[-1])
    except ValueError:
        return []
    return [p for p in listed if isinstance(p, dict) and p.get("name") in names]


def _env(proc: Mapping[str, Any]) -> Mapping[str, Any]:
    env = proc.get("pm2_env")
    return env if isinstance(env, Mapping) else {}


def status(proc: Mapping[str, Any]) -> str:
    return str(_env(proc).get("status") or "unknown")


def up(procs: Sequence[Mapping[str, Any]], now_ms: float, min_uptime_s: float) -> list[Mapping[str, Any]]:
    """The processes online for ``min_uptime_s`` at least (a crashing worker is online for moments)."""
    return [p for p in procs if status(p) == "online"
            and float(_env(p).get("pm_uptime") or now_ms) <= now_ms - min_uptime_s * 1000]


def settled(procs: Sequence[Mapping[str, Any]], up_count: int, expected: int) -> bool:
    """Stop waiting: every process is up, or pm2 gave up restarting them all (errored)."""
    return up_count == expected or (bool(procs) and all(status(p) == "errored" for p in procs))


def online_count(procs: Sequence[Mapping[str, Any]]) -> int:
    return sum(1 for p in procs if status(p) == "online")


def error_logs(procs: Sequence[Mapping[str, Any]]) -> list[str]:
    seen: list[str] = []
    for proc in procs:
        path = _env(proc).get("pm_err_log_path")
        if path and path not in seen:
            seen.append(str(path))
    return seen


def start_failure(version: str, names: Sequence[str], up_count: int, expected: int, min_uptime_s: float,
                  checks: int, procs: Sequence[Mapping[str, Any]], last_errors: Sequence[str]) -> str:
    """Why the release does not start: how many workers are up, their states, the last lines of their error logs."""
    states = ", ".join(status(p) for p in procs) or "none"
    errors = " | ".join(dict.fromkeys(line for line in last_errors if line.strip())) or "none logged"
    return (f"release {version} does not start: {up_count} of {expected} process(es) of {', '.join(names)} up "
            f"(online {min_uptime_s:g} s) after {checks} check(s) (states: {states}); last errors: {errors}")


def reports_version(status_code: int | None, body: bytes | str, version: str) -> bool:
    """The health URL answers 200 with JSON whose ``version`` is the release."""
    if status_code != 200:
        return False
    try:
        data = json.loads(body)
    except ValueError:
        return False
    return isinstance(data, dict) and str(data.get("version", "")) == version


def health_failure(version: str, url: str, checks: int, last: str) -> str:
    return f"release {version}: {url} did not report version {version} after {checks} check(s) (last: {last})"


def prune_list(state: Mapping[str, Any], on_disk: Sequence[str], keep: int, also: Sequence[str]) -> list[str]:
    """Releases on disk beyond the last ``keep`` ones of the history (current and previous are always kept)."""
    kept = _releases.kept(state, keep, list(also))
    return [name for name in on_disk if name not in kept]


# --- the host's files -------------------------------------------------------------------------

@dataclass
class Layout:
    base_dir: str

    @property
    def releases(self) -> str:
        return os.path.join(self.base_dir, "releases")

    @property
    def history(self) -> str:
        return os.path.join(self.base_dir, HISTORY_FILE)

    @property
    def ecosystem(self) -> str:
        return os.path.join(self.base_dir, ECOSYSTEM_FILE)

    @property
    def current(self) -> str:
        return os.path.join(self.base_dir, "current")

    def release(self, version: str) -> str:
        return os.path.join(self.releases, version)


def read_history(layout: Layout) -> dict[str, Any]:
    try:
        with open(layout.history, encoding="utf-8") as handle:
            text = handle.read().strip()
    except FileNotFoundError:
        return _releases.empty()
    if not text:
        return _releases.empty()
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise Pm2Error(f"{layout.history} is not JSON ({exc}): fix or remove it") from exc
    if not isinstance(data, dict):
        raise Pm2Error(f"{layout.history} holds no release history (a JSON object): fix or remove it")
    return {**_releases.empty(), **data}


def on_disk(layout: Layout) -> list[str]:
    try:
        return sorted(name for name in os.listdir(layout.releases) if os.path.isdir(layout.release(name)))
    except FileNotFoundError:
        return []


def write_atomically(path: str, content: str, mode: int) -> bool:
    """Write ``content`` to ``path`` through a file renamed into place; False when it already holds it."""
    try:
        with open(path, encoding="utf-8") as handle:
            if handle.read() == content and (os.stat(path).st_mode & 0o777) == mode:
                return False
    except FileNotFoundError:
        pass
    directory = os.path.dirname(path)
    handle_fd, scratch = tempfile.mkstemp(prefix=".liftoff-", dir=directory)
    try:
        with os.fdopen(handle_fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.chmod(scratch, mode)
        os.replace(scratch, path)
    except BaseException:
        if os.path.exists(scratch):
            os.unlink(scratch)
        raise
    return True


def unpack(layout: Layout, version: str, archive: str, run: Runner) -> None:
    """Unpack a tar.gz release into releases/<version> (made with its parents, mode 0755)."""
    target = layout.release(version)
    os.makedirs(target, mode=0o755, exist_ok=True)
    code, _out, err = run(["tar", "-xzf", archive, "-C", target])
    if code != 0:
        raise Pm2Error(f"cannot unpack release {version} into {target}: {err.strip() or f'exit {code}'}")


def point_current(layout: Layout, version: str) -> None:
    """Point ``current`` at the release atomically: a new link renamed over the old one."""
    scratch = layout.current + ".liftoff-next"
    if os.path.lexists(scratch):
        os.unlink(scratch)
    os.symlink(layout.release(version), scratch)
    os.replace(scratch, layout.current)


def remove_releases(layout: Layout, names: Sequence[str]) -> None:
    for name in names:
        shutil.rmtree(layout.release(name), ignore_errors=False)


@dataclass
class Pm2:
    """pm2 run with a clean environment: PATH and HOME only (the workers get their env from the ecosystem file).

    pm2 hands the workers the environment of the command that starts or reloads them (--update-env),
    and its daemon keeps the environment of the command that started it: on a local connection that
    would be the controller's whole environment (CI tokens, cloud keys). So every pm2 command runs
    through ``env -i``.
    """

    binary: str
    home: str
    run: Runner

    def env(self) -> dict[str, str]:
        return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/"),
                "PM2_HOME": self.home}

    def argv(self, *args: str) -> list[str]:
        return ["env", "-i", *(f"{key}={value}" for key, value in self.env().items()), self.binary, *args]

    def command(self, *args: str) -> tuple[int, str, str]:
        code, out, err = self.run(self.argv(*args))
        if code == 127:
            raise Pm2Error(f"pm2 executable not found: {self.binary} (set pm2_bin)")
        return code, out, err

    def start_or_reload(self, ecosystem: str) -> None:
        code, out, err = self.command("startOrReload", ecosystem, "--update-env")
        if code != 0:
            tail = " | ".join((err or out).strip().splitlines()[-5:])
            raise Pm2Error(f"pm2 startOrReload {ecosystem} failed (exit {code}): {tail}")

    def daemon_running(self) -> bool:
        """Whether this PM2_HOME's daemon runs (``pm2 jlist`` would start one)."""
        try:
            with open(os.path.join(self.home, "pm2.pid"), encoding="utf-8") as handle:
                pid = handle.read().strip()
        except OSError:
            return False
        return pid.isdigit() and os.path.isdir(f"/proc/{pid}")

    def jlist(self) -> str:
        if not self.daemon_running():
            return "[]"
        code, out, _err = self.command("jlist")
        return out if code == 0 else "[]"


def last_lines(paths: Sequence[str], count: int = 5) -> list[str]:
    lines: list[str] = []
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                lines.extend(line.rstrip("\n") for line in handle.readlines()[-count:])
        except OSError:
            continue
    return lines
