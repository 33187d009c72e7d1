#!/usr/bin/python
# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: pm2_release
short_description: Switch a pm2 app to a release and prove it runs, in one module run
version_added: 1.0.0
description:
  - The pm2 role's switch, deploy and rollback alike, as one module run on the host. In order, each
    step only when asked - unpack the release archive into C(base_dir/releases/<version>), write the
    ecosystem file, point C(current) at the release atomically (a new link renamed over the old one),
    write the release history C(base_dir/releases.json) (renamed into place), C(pm2 startOrReload)
    the ecosystem file, wait until every process of the release is online for O(min_uptime) seconds
    (pm2 reload exits 0 even when the new workers crash), wait until O(health_url) reports the
    version, and remove releases beyond O(keep_releases).
  - The history is written as soon as C(current) points at the release, so it says what is switched
    in also when the release then fails to start (the rollback marks it rolled back).
  - pm2 runs with a clean environment, C(PATH) and C(HOME) only - it hands its caller's environment to
    the workers (C(--update-env)) and its daemon keeps it; the app gets its environment from the
    ecosystem file.
  - Why a module - no collection manages pm2 (community.general has no pm2 module), and this was ten
    module runs per host (C(file), C(unarchive), C(template), C(command) three times, C(uri), C(find)),
    the most of any phase, repeated on every host of every canary step.
  - The action plugin of the same name copies O(archive) from the controller first.
author:
  - liftoff.release contributors (@liftoff-release)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details:
      - Nothing is changed; the result says what would be.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  base_dir:
    description: Directory holding C(releases/), C(current), C(releases.json) and the ecosystem file.
    type: path
    required: true
  version:
    description: The release to make current.
    type: str
    required: true
  action:
    description: What the switch is, for the release history.
    type: str
    choices: [deploy, rollback]
    default: deploy
  run_id:
    description: The run's id, kept in the release history.
    type: str
    default: ""
  archive:
    description:
      - A C(.tar.gz) of the release on the B(controller), unpacked into C(base_dir/releases/<version>)
        (the action plugin copies it over). Not given, the release must already be on the host.
    type: path
  ecosystem:
    description: Content of C(base_dir/ecosystem.config.js) (mode 0600), written when it differs.
    type: str
  pm2_bin:
    description: pm2 executable on the host.
    type: str
    default: pm2
  pm2_home:
    description: C(PM2_HOME) of the app's pm2 daemon.
    type: path
    required: true
  names:
    description: The pm2 process names of the release (the app and its workers).
    type: list
    elements: str
    required: true
  expected:
    description: How many processes of O(names) must be up.
    type: int
    required: true
  min_uptime:
    description: Seconds a process must have been online to count as up, read with the host's clock.
    type: float
    default: 1
  retries:
    description: Checks of the workers, and then of the health URL, before giving up.
    type: int
    default: 60
  delay:
    description: Seconds between checks.
    type: float
    default: 0.5
  health_url:
    description: URL answering JSON with C(version); waited for after the reload. Empty skips it.
    type: str
    default: ""
  keep_releases:
    description: Releases kept on disk (current, previous and O(version) always); 0 keeps every one.
    type: int
    default: 0
"""

EXAMPLES = r"""
- name: Switch to v2 and prove it serves
  liftoff.release.pm2_release:
    base_dir: /srv/app
    version: v2
    archive: /tmp/app-v2.tar.gz
    ecosystem: "{{ lookup('ansible.builtin.template', 'ecosystem.config.js.j2') }}"
    pm2_home: /srv/app/.pm2
    names: [app]
    expected: 2
    health_url: http://127.0.0.1:3000/health
    keep_releases: 5
"""

RETURN = r"""
state:
  description: The release history after the switch (current, previous, history, rolled_back).
  returned: always
  type: dict
  sample: {"current": "v2", "previous": "v1", "rolled_back": [],
           "history": [{"version": "v2", "action": "deploy", "from": "v1", "run_id": "20261207T101500Z-1a2b3c",
                        "at": "2026-12-07T10:15:09Z"}]}
on_disk:
  description: The releases on disk afterwards.
  returned: always
  type: list
  elements: str
  sample: ["v1", "v2"]
pruned:
  description: Releases removed by O(keep_releases).
  returned: always
  type: list
  elements: str
  sample: ["v0"]
online:
  description: Processes of O(names) online after the wait.
  returned: always
  type: int
  sample: 2
checks:
  description: How many times the workers were checked.
  returned: always
  type: int
  sample: 3
"""

import datetime
import json
import os
import time
import urllib.error

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url

from ansible_collections.liftoff.release.plugins.module_utils import _pm2, _releases

ARGUMENT_SPEC = _pm2.ARGUMENT_SPEC


def wait_for_workers(pm2: _pm2.Pm2, args: dict) -> tuple[int, int]:
    """Check the workers until they are all up (or all errored); returns (online, checks) or raises."""
    checks, procs, up = 0, [], []
    while True:
        checks += 1
        procs = _pm2.processes(pm2.jlist(), args["names"])
        up = _pm2.up(procs, time.time() * 1000, args["min_uptime"])
        if _pm2.settled(procs, len(up), args["expected"]) or checks >= max(args["retries"], 1):
            break
        time.sleep(args["delay"])
    if len(up) != args["expected"]:
        raise _pm2.Pm2Error(_pm2.start_failure(
            args["version"], args["names"], len(up), args["expected"], args["min_uptime"], checks, procs,
            _pm2.last_lines(_pm2.error_logs(procs))))
    return _pm2.online_count(procs), checks


def wait_for_health(args: dict) -> None:
    last = "no answer"
    for check in range(1, max(args["retries"], 1) + 1):
        try:
            reply = open_url(args["health_url"], timeout=10, validate_certs=True)
            code, body = reply.getcode(), reply.read()
        except urllib.error.HTTPError as exc:
            code, body = exc.code, b""
        except (urllib.error.URLError, OSError, ValueError) as exc:
            code, body = None, b""
            last = str(getattr(exc, "reason", exc))
        if _pm2.reports_version(code, body, args["version"]):
            return
        if code is not None:
            last = f"HTTP {code}: {body[:200].decode('utf-8', 'replace')}"
        if check < args["retries"]:
            time.sleep(args["delay"])
    raise _pm2.Pm2Error(_pm2.health_failure(args["version"], args["health_url"], args["retries"], last))


def switch(module: AnsibleModule, args: dict) -> dict:
    layout = _pm2.Layout(args["base_dir"])
    pm2 = _pm2.Pm2(args["pm2_bin"], args["pm2_home"], run=module.run_command)
    state = _pm2.read_history(layout)
    at = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    new_state = _releases.advance(state, args["version"], args["action"], args["run_id"], at)
    if module.check_mode:
        return {"changed": True, "state": new_state, "on_disk": _pm2.on_disk(layout), "pruned": [], "online": 0,
                "checks": 0, "msg": f"check mode: would switch {state['current'] or 'nothing'} -> {args['version']}"}
    if args["archive"]:
        _pm2.unpack(layout, args["version"], args["archive"], module.run_command)
    elif not os.path.isdir(layout.release(args["version"])):
        raise _pm2.Pm2Error(f"release {args['version']} is not in {layout.releases} (pruned or never deployed)")
    if args["ecosystem"] is not None:
        _pm2.write_atomically(layout.ecosystem, args["ecosystem"], 0o600)
    _pm2.point_current(layout, args["version"])
    _pm2.write_atomically(layout.history, json.dumps(new_state, indent=4, sort_keys=True) + "\n", 0o644)
    pm2.start_or_reload(layout.ecosystem)
    online, checks = wait_for_workers(pm2, args)
    if args["health_url"]:
        wait_for_health(args)
    disk = _pm2.on_disk(layout)
    pruned: list[str] = []
    if args["keep_releases"] > 0:
        pruned = _pm2.prune_list(new_state, disk, args["keep_releases"], [args["version"]])
        _pm2.remove_releases(layout, pruned)
    return {"changed": True, "state": new_state, "on_disk": [name for name in disk if name not in pruned],
            "pruned": pruned, "online": online, "checks": checks}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    args = module.params
    if args["expected"] < 1:
        module.fail_json(msg=f"expected: the processes that must be up, at least 1, got {args['expected']}")
    if args["keep_releases"] < 0:
        module.fail_json(msg=f"keep_releases: 0 (keep all) or more, got {args['keep_releases']}")
    try:
        module.exit_json(**switch(module, args))
    except (_pm2.Pm2Error, _releases.ReleaseHistoryError, OSError) as exc:
        module.fail_json(msg=str(exc))


if __name__ == "__main__":
    main()
