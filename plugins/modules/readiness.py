#!/usr/bin/python
# Copyright: (c) 2026, liftoff.release maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: readiness
short_description: One preflight readiness check, from the host it runs on, with a verdict and never a secret
version_added: 1.0.0
description:
  - Runs one check of the kinds the seed checklists ask for before a deploy and returns its verdict
    (C(status) pass or fail, C(target), C(actual), C(details)); the preflight role records it as evidence.
    It changes nothing, and a failed check is a verdict, not a module failure (bad options are).
  - O(kind=tcp) - a TCP connection to O(host):O(port) opens within O(timeout).
  - O(kind=redis) - C(PING) answers C(PONG) (after C(AUTH) with O(password)); with O(redis_persistence) also
    C(INFO persistence) and C(CONFIG GET save) for AOF and RDB (seed 002 "Persistence configured (RDB + AOF)").
  - O(kind=tls) - the certificate served on O(host):O(port) is valid (chain and name, against O(ca_file) or
    the system CAs, unless O(verify=false)) and expires in O(min_days) days or more.
  - O(kind=dns) - O(host) resolves (from this host's resolver), to every address of O(expect_addresses) if given.
  - O(kind=disk) - the file system of O(path) has O(min_free) bytes and O(min_free_percent) percent free.
  - O(kind=secret) - a secret is set, is not a placeholder (C(changeme), C(<your-key>), C(${VAR}), ...) and has
    O(min_length) characters; the secret is O(value) (from a variable, passed with no_log) or the key O(key) of
    the env file O(path) on this host. The value is never returned.
  - O(kind=config) - the file O(path) (O(format) env or json) holds O(expect) (seed 004 C(DEBUG=false),
    C(DRY_RUN=false)), and each of O(secret_keys) is set and not a placeholder.
  - O(kind=s3) - the bucket O(bucket) answers (HEAD bucket, with this host's AWS credentials; O(endpoint_url) for
    S3-compatible stores), and has each of O(s3_require) (versioning, default encryption, lifecycle rules; seed 004
    "Storage Setup"). Needs boto3 on the checking host.
  - O(kind=command) - O(argv) exits O(expect_rc) and its output matches O(stdout_regex) (a version tag exists,
    an external validation script passes).
  - Why a module of its own - ansible.builtin.wait_for, uri, stat and command each cover one of these but fail
    the task instead of returning a verdict, print what they read (a secret's value included) and do not check
    certificate expiry, placeholders or Redis persistence; community.general.redis_info needs the redis Python
    library on every target; community.crypto.get_certificate needs the community.crypto collection and
    cryptography on the target. This module needs only Python's standard library on the target.
author:
  - liftoff.release contributors (@liftoff-release)
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Only reads; runs the same in check mode.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  kind:
    description: The check.
    type: str
    required: true
    choices: [tcp, redis, tls, dns, disk, secret, config, command, s3]
  label:
    description: What the check is about, for the target text (a secret's name, say).
    type: str
    default: ""
  host:
    description: Host to connect to (tcp, redis, tls) or name to resolve (dns).
    type: str
  port:
    description: Port (tcp, redis, tls).
    type: int
  timeout:
    description: Seconds for a connection or a command.
    type: float
    default: 5.0
  password:
    description: Redis password (AUTH); never returned.
    type: str
  redis_persistence:
    description: Persistence the Redis server must have.
    type: list
    elements: str
    choices: [aof, rdb]
    default: []
  server_name:
    description: TLS server name (SNI and the name checked); O(host) when empty.
    type: str
    default: ""
  ca_file:
    description: CA bundle the certificate must chain to (a private CA); the system CAs when empty.
    type: str
    default: ""
  verify:
    description: Check the chain and the name; with false only the expiry is checked.
    type: bool
    default: true
  min_days:
    description: Days the certificate must still be valid.
    type: int
    default: 14
  expect_addresses:
    description: Addresses the name must resolve to (all of them).
    type: list
    elements: str
    default: []
  path:
    description: Directory (disk), env file (secret with O(key)) or config file (config).
    type: str
  min_free:
    description: Free bytes required (disk), a number or a size such as C(2G).
    type: str
    default: "0"
  min_free_percent:
    description: Free share required, in percent (disk).
    type: float
    default: 0
  value:
    description: The secret's value (secret, from a variable); never returned.
    type: str
  key:
    description: The secret's key in the env file O(path) (secret).
    type: str
  min_length:
    description: Characters the secret (or each of O(secret_keys)) must have at least.
    type: int
    default: 0
  format:
    description: Format of O(path) for config.
    type: str
    choices: [env, json]
    default: env
  expect:
    description: Keys (dotted for nested JSON) and the values they must have (config).
    type: dict
    default: {}
  secret_keys:
    description: Keys of the config file that hold secrets - set, not placeholders, never returned (config).
    type: list
    elements: str
    default: []
  argv:
    description: The command (command).
    type: list
    elements: str
  expect_rc:
    description: Exit code expected (command).
    type: int
    default: 0
  stdout_regex:
    description: Pattern the output must match (command).
    type: str
    default: ""
  bucket:
    description: Bucket name (s3).
    type: str
  endpoint_url:
    description: S3 endpoint (an S3-compatible store); AWS when empty.
    type: str
    default: ""
  region:
    description: AWS region (s3); the environment's when empty.
    type: str
    default: ""
  s3_require:
    description: What the bucket must have (s3).
    type: list
    elements: str
    choices: [versioning, encryption, lifecycle]
    default: []
"""

EXAMPLES = r"""
- name: Check the JWT secret of .env.production
  liftoff.release.readiness:
    kind: secret
    label: JWT secret
    path: /srv/app/.env.production
    key: JWT_SECRET
    min_length: 32
  register: jwt

- name: Check the certificate of the public endpoint
  liftoff.release.readiness:
    kind: tls
    host: shop.example.com
    port: 443
    min_days: 21
"""

RETURN = r"""
status:
  description: C(pass) or C(fail).
  returned: always
  type: str
target:
  description: What the check expects, in words.
  returned: always
  type: str
actual:
  description: What it found, in words (never a secret's value).
  returned: always
  type: str
details:
  description: What was measured (days left, free bytes, addresses, exit code, ...).
  returned: always
  type: dict
"""

import datetime as dt
import os
import socket
import subprocess
import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.liftoff.release.plugins.module_utils._readiness import (
    Verdict,
    cert_time,
    command_verdict,
    config_verdict,
    der_not_after,
    disk_verdict,
    dns_verdict,
    parse_config,
    parse_env,
    parse_size,
    read_certificate,
    redis_command,
    redis_persistence,
    redis_verdict,
    resolve,
    s3_verdict,
    secret_verdict,
    tls_verdict,
    verdict,
)

ARGUMENT_SPEC: dict[str, Any] = {
    "kind": {"type": "str", "required": True,
             "choices": ["tcp", "redis", "tls", "dns", "disk", "secret", "config", "command", "s3"]},
    "label": {"type": "str", "default": ""},
    "host": {"type": "str"},
    "port": {"type": "int"},
    "timeout": {"type": "float", "default": 5.0},
    "password": {"type": "str", "no_log": True},
    "redis_persistence": {"type": "list", "elements": "str", "choices": ["aof", "rdb"], "default": []},
    "server_name": {"type": "str", "default": ""},
    "ca_file": {"type": "str", "default": ""},
    "verify": {"type": "bool", "default": True},
    "min_days": {"type": "int", "default": 14},
    "expect_addresses": {"type": "list", "elements": "str", "default": []},
    "path": {"type": "str"},
    "min_free": {"type": "str", "default": "0"},
    "min_free_percent": {"type": "float", "default": 0},
    "value": {"type": "str", "no_log": True},
    "key": {"type": "str", "no_log": False},
    "min_length": {"type": "int", "default": 0},
    "format": {"type": "str", "choices": ["env", "json"], "default": "env"},
    "expect": {"type": "dict", "default": {}},
    "secret_keys": {"type": "list", "elements": "str", "default": [], "no_log": False},
    "argv": {"type": "list", "elements": "str"},
    "expect_rc": {"type": "int", "default": 0},
    "stdout_regex": {"type": "str", "default": ""},
    "bucket": {"type": "str"},
    "endpoint_url": {"type": "str", "default": ""},
    "region": {"type": "str", "default": ""},
    "s3_require": {"type": "list", "elements": "str", "choices": ["versioning", "encryption", "lifecycle"],
                   "default": []},
}
REQUIRED_IF = [
    ("kind", "tcp", ("host", "port")),
    ("kind", "redis", ("host", "port")),
    ("kind", "tls", ("host", "port")),
    ("kind", "dns", ("host",)),
    ("kind", "disk", ("path",)),
    ("kind", "config", ("path",)),
    ("kind", "command", ("argv",)),
    ("kind", "s3", ("bucket",)),
]


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def check_tcp(p: dict[str, Any]) -> Verdict:
    endpoint = f"{p['host']}:{p['port']}"
    started = time.monotonic()
    try:
        with socket.create_connection((p["host"], p["port"]), timeout=p["timeout"]):
            pass
    except OSError as exc:
        return verdict(False, f"{endpoint} accepts connections", f"refused or unreachable: {exc}")
    ms = (time.monotonic() - started) * 1000
    return verdict(True, f"{endpoint} accepts connections", f"connected in {ms:.1f} ms", connect_ms=round(ms, 1))


def _redis_reply(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    if data.startswith(b"$"):  # bulk string: read its length
        length = int(data[1:data.index(b"\r\n")])
        body = data[data.index(b"\r\n") + 2:]
        while length >= 0 and len(body) < length + 2:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        return body[:length] if length >= 0 else b""
    if data.startswith(b"*"):  # array (CONFIG GET): keep reading until quiet
        sock.settimeout(0.3)
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
    return data


def check_redis(p: dict[str, Any]) -> Verdict:
    endpoint = f"{p['host']}:{p['port']}"
    try:
        with socket.create_connection((p["host"], p["port"]), timeout=p["timeout"]) as sock:
            if p.get("password"):
                sock.sendall(redis_command("AUTH", p["password"]))
                auth = _redis_reply(sock).decode(errors="replace").strip()
                if not auth.startswith("+OK"):
                    return verdict(False, f"{endpoint}: PING answers PONG", "AUTH refused: "
                                   + auth.split("\r\n")[0][:200])
            sock.sendall(redis_command("PING"))
            reply = _redis_reply(sock).decode(errors="replace").strip()
            persistence = None
            rdb = False
            if p["redis_persistence"] and reply == "+PONG":
                sock.sendall(redis_command("INFO", "persistence"))
                persistence = redis_persistence(_redis_reply(sock).decode(errors="replace"))
                sock.sendall(redis_command("CONFIG", "GET", "save"))
                lines = _redis_reply(sock).decode(errors="replace").split("\r\n")
                values = [line for line in lines if line and line[0] not in "*$"]
                rdb = len(values) >= 2 and bool(values[1].strip())
    except OSError as exc:
        return verdict(False, f"{endpoint}: PING answers PONG", f"unreachable: {exc}")
    return redis_verdict(endpoint, reply.split("\r\n")[0], persistence, p["redis_persistence"], rdb)


def check_tls(p: dict[str, Any]) -> Verdict:
    endpoint = f"{p['host']}:{p['port']}"
    now = dt.datetime.now(dt.timezone.utc)
    try:
        cert = read_certificate(p["host"], p["port"], p["server_name"], p["ca_file"] or None, p["verify"],
                                p["timeout"])
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError: an untrusted or wrong-name certificate
        return verdict(False, f"{endpoint}: certificate valid for {p['min_days']}+ days", f"TLS failed: {exc}")
    if "der" in cert:  # not verified: only the expiry is read, from the certificate itself
        not_after = der_not_after(cert["der"])
        return tls_verdict(endpoint, not_after, now, p["min_days"])
    return tls_verdict(endpoint, cert_time(str(cert["not_after"])), now, p["min_days"],
                       str(cert.get("subject", "")), str(cert.get("issuer", "")))


def check_disk(p: dict[str, Any]) -> Verdict:
    try:
        stat = os.statvfs(p["path"])
    except OSError as exc:
        return verdict(False, f"{p['path']}: free space", f"cannot read: {exc}")
    return disk_verdict(p["path"], stat.f_bavail * stat.f_frsize, stat.f_blocks * stat.f_frsize,
                        parse_size(p["min_free"]), p["min_free_percent"])


def check_secret(p: dict[str, Any]) -> Verdict:
    label = p["label"] or p.get("key") or "secret"
    if p.get("key"):
        if not p.get("path"):
            raise ValueError("a secret read from a file needs path (the env file) with key")
        try:
            value = parse_env(_read(p["path"])).get(p["key"])
        except OSError as exc:
            return verdict(False, f"{label} set in {p['path']}", f"cannot read {p['path']}: {exc.strerror}")
        return secret_verdict(f"{label} ({p['key']} in {p['path']})", value, p["min_length"])
    return secret_verdict(label, p.get("value"), p["min_length"])


def check_config(p: dict[str, Any]) -> Verdict:
    try:
        config = parse_config(_read(p["path"]), p["format"])
    except OSError as exc:
        return verdict(False, f"{p['path']} holds the production settings", f"cannot read: {exc.strerror}")
    except ValueError as exc:
        return verdict(False, f"{p['path']} holds the production settings", f"cannot parse: {exc}")
    return config_verdict(p["path"], config, p["expect"], p["secret_keys"], p["min_length"])


def check_command(p: dict[str, Any]) -> Verdict:
    try:
        # Not run_command: it has no timeout, and a readiness check is bounded by O(timeout).
        proc = subprocess.run(p["argv"], capture_output=True, text=True,  # pylint: disable=ansible-bad-function
                              timeout=p["timeout"], check=False)
    except FileNotFoundError:
        return verdict(False, f"`{' '.join(p['argv'])}` runs", f"{p['argv'][0]} not found")
    except subprocess.TimeoutExpired:
        return verdict(False, f"`{' '.join(p['argv'])}` finishes", f"still running after {p['timeout']} s")
    return command_verdict(p["argv"], proc.returncode, proc.stdout + proc.stderr, p["expect_rc"], p["stdout_regex"])


def _s3_feature(call: Any, ok: Any) -> bool:
    try:
        return bool(ok(call()))
    except Exception:  # "not configured" answers as an error (NoSuchLifecycleConfiguration, ...)
        return False


def check_s3(p: dict[str, Any]) -> Verdict:
    try:
        import boto3  # only here: the other checks need nothing beyond the standard library
    except ImportError:
        return verdict(False, f"bucket {p['bucket']} reachable", "boto3 is not installed on the checking host")
    client = boto3.client("s3", endpoint_url=p["endpoint_url"] or None, region_name=p["region"] or None)
    try:
        client.head_bucket(Bucket=p["bucket"])
    except Exception as exc:  # botocore errors: no credentials, 403, 404, endpoint down
        return s3_verdict(p["bucket"], False, str(exc)[:300], {}, p["s3_require"])
    bucket = p["bucket"]
    features = {
        "versioning": _s3_feature(lambda: client.get_bucket_versioning(Bucket=bucket),
                                  lambda r: r.get("Status") == "Enabled"),
        "encryption": _s3_feature(lambda: client.get_bucket_encryption(Bucket=bucket),
                                  lambda r: r.get("ServerSideEncryptionConfiguration", {}).get("Rules")),
        "lifecycle": _s3_feature(lambda: client.get_bucket_lifecycle_configuration(Bucket=bucket),
                                 lambda r: r.get("Rules")),
    }
    return s3_verdict(bucket, True, "", features, p["s3_require"])


CHECKS = {
    "tcp": check_tcp,
    "redis": check_redis,
    "tls": check_tls,
    "dns": lambda p: dns_verdict(p["host"], resolve(p["host"]), p["expect_addresses"]),
    "disk": check_disk,
    "secret": check_secret,
    "config": check_config,
    "command": check_command,
    "s3": check_s3,
}


def main() -> None:
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, required_if=REQUIRED_IF, supports_check_mode=True)
    started = time.monotonic()
    try:
        result = CHECKS[module.params["kind"]](module.params)
    except ValueError as exc:
        module.fail_json(msg=f"readiness check {module.params['kind']}: {exc}")
    module.exit_json(changed=False, duration_ms=round((time.monotonic() - started) * 1000, 1), **result.as_dict())


if __name__ == "__main__":
    main()
