# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin: the deploy lock (file on the controller or a designated host, or Redis), owner, run id,
TTL, heartbeat while the run lives, explicit break of a stale lock."""
from __future__ import annotations

from typing import Any

from ansible.errors import AnsibleActionFail
from ansible.plugins.action import ActionBase

from ansible_collections.liftoff.release.plugins.plugin_utils import lock

STATES = ["acquired", "released", "heartbeat", "query"]


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    ARGUMENT_SPEC = {
        "path": {"type": "path"},
        "state": {"type": "str", "choices": STATES, "default": "acquired"},
        "owner": {"type": "str", "default": "unknown"},
        "run_id": {"type": "str", "required": True},
        "environment": {"type": "str", "default": ""},
        "ttl": {"type": "int", "default": 1800},
        "break_stale": {"type": "bool", "default": False},
        "backend": {"type": "str", "choices": ["file", "redis"], "default": "file"},
        "host": {"type": "str", "default": ""},
        "redis_url": {"type": "str", "no_log": True},
        "redis_key": {"type": "str"},
        "redis_retain": {"type": "int", "default": lock.DEFAULT_RETAIN},
        "renew": {"type": "bool", "default": True},
    }

    def run(self, tmp: str | None = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        result = super().run(tmp, task_vars)
        _unused, args = self.validate_argument_spec(
            argument_spec=self.ARGUMENT_SPEC,
            required_if=[("backend", "file", ("path",)), ("backend", "redis", ("redis_url",))])
        problem = _bad_args(args, self._task.delegate_to)
        if problem:
            raise AnsibleActionFail(f"liftoff.release.lock: {problem}")
        if args["host"]:
            return self._on_host(args, task_vars or {}, result)
        try:
            store = _open(args)
            result.update(backend=args["backend"], where=store.where)
            result.update(self._local(store, args))
        except (lock.LockBackendError, OSError) as exc:
            return {"failed": True, "acquired": False, "changed": False, "msg": str(exc)}
        return result

    def _local(self, store: lock.Store, args: dict[str, Any]) -> dict[str, Any]:
        outcome = lock.perform(store, args["state"], args["run_id"], args["owner"], args["environment"],
                               args["ttl"], args["break_stale"], bool(self._task.check_mode))
        token = outcome.pop("token", "")
        if token and not outcome.get("failed"):
            outcome["renewer"] = self._renewer(store, args, token)
        return outcome

    def _renewer(self, store: lock.Store, args: dict[str, Any], token: str) -> dict[str, Any]:
        """Make sure a renewer keeps this acquisition alive while ansible-playbook lives (started once per run)."""
        if not args["renew"] or not token:
            return {"running": False, "pid": None, "watching": None}
        try:
            watched = lock.playbook_process()
            pidfile = lock.renewer_pidfile(store.where, args["run_id"], watched)
            pid = lock.renewer_running(pidfile)
            if pid is None:
                spec = {"backend": args["backend"], "path": args["path"], "redis_url": args["redis_url"],
                        "redis_key": _key(args), "redis_retain": args["redis_retain"], "run_id": args["run_id"],
                        "token": token, "ttl": args["ttl"]}
                pid = lock.start_renewer(spec, watched, pidfile)
        except (lock.LockBackendError, OSError) as exc:
            # The lock is held; only the renewal between phases is missing. Say so, do not fail the run.
            self._display.warning(f"liftoff.release.lock: no renewer for the deploy lock: {exc}")
            return {"running": False, "pid": None, "watching": None, "error": str(exc)}
        return {"running": True, "pid": pid, "watching": watched.pid, "period": lock.renew_period(args["ttl"])}

    def _on_host(self, args: dict[str, Any], task_vars: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
        """The lock file on a designated host: the lock_file module runs there (the task is delegated to it)."""
        module_args = {name: args[name] for name in ("path", "state", "owner", "run_id", "environment", "ttl",
                                                     "break_stale")}
        outcome = self._execute_module(module_name="liftoff.release.lock_file", module_args=module_args,
                                       task_vars=task_vars)
        outcome.pop("invocation", None)
        outcome.pop("token", None)
        result.update(outcome)
        result.update(backend="file", where=f"lock file {args['path']} on {args['host']}")
        if outcome.get("failed"):
            result.setdefault("acquired", False)
        return result


def _key(args: dict[str, Any]) -> str:
    return lock.redis_key(args["environment"], args["redis_key"])


def _open(args: dict[str, Any]) -> lock.Store:
    if args["backend"] == "redis":
        return lock.RedisStore(args["redis_url"], _key(args), args["redis_retain"])
    return lock.FileStore(args["path"])


def _bad_args(args: dict[str, Any], delegate_to: str | None) -> str | None:
    """Why these arguments cannot be used together (None: they can)."""
    if args["ttl"] < 1:
        return f"ttl must be a positive number of seconds, got {args['ttl']}"
    if args["redis_retain"] < 0:
        return f"redis_retain must be zero or more seconds, got {args['redis_retain']}"
    if args["host"] and args["backend"] != "file":
        return f"host={args['host']!r} is for the file backend only (backend={args['backend']!r})"
    if args["host"] and delegate_to != args["host"]:
        return (f"host={args['host']!r} takes the lock file on that host: the task must be delegated to it "
                f"(delegate_to: {args['host']}), not to {delegate_to!r}")
    return None
