#!/usr/bin/python
# Copyright: (c) 2026, liftoff.release maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

DOCUMENTATION = r"""
---
module: cdn_assets
short_description: Plan, back up, upload and restore a static site's assets in S3 with cache headers per path
version_added: 1.1.0
description:
  - O(state=plan) walks O(src), computes each file's md5, its C(Cache-Control) (the first of O(cache_rules) whose
    glob C(pattern) matches the path relative to O(src); C(*) spans directories, so C(assets/*) takes everything
    under C(assets/)) and its C(Content-Type), lists the keys under O(prefix) in O(bucket), and returns what an
    upload would do - new, changed (md5 differs from the ETag, and the object's C(liftoff-md5) metadata does not
    vouch for it), unchanged, deleted (with O(delete)) or kept. It changes nothing and runs in check mode.
  - O(state=backup) copies O(keys) (the objects the upload will overwrite or delete) to
    C(<backup_prefix>/<key>) in O(backup_bucket) with their headers and metadata, so they can be put back.
  - O(state=upload) puts O(files) (the plan's C(upload) list) with their headers, C(Content-MD5) (S3 refuses a
    file that changed since the plan) and C(liftoff-md5) metadata, then deletes O(keys).
  - O(state=restore) copies every object under O(backup_prefix) in O(backup_bucket) back to its key in O(bucket)
    and deletes O(keys) (the objects the deploy added).
  - Why not M(community.aws.s3_sync)? Its O(community.aws.s3_sync#module:include) and
    O(community.aws.s3_sync#module:exclude) globs match the file name only, so a rule for C(assets/*) can never
    match; it takes one O(community.aws.s3_sync#module:cache_control) for all files, so per-path headers need one
    sync per rule, and O(community.aws.s3_sync#module:delete) in any of those syncs deletes the other rules' files;
    it has no check mode, so it cannot say what it is about to overwrite before it does, which a rollback needs.
    M(amazon.aws.s3_object) sets headers and has a check mode, but one task per file (list, compare, copy, put)
    is thousands of tasks for a build.
author:
  - liftoff.release contributors (@liftoff-release)
options:
  state:
    description: What to do.
    type: str
    choices: [plan, backup, upload, restore]
    default: plan
  bucket:
    description: The bucket the site is served from.
    type: str
    required: true
  prefix:
    description: Key prefix of the site in O(bucket) (the distribution's origin path); empty for the whole bucket.
    type: str
    default: ''
  src:
    description: The build directory on the host the module runs on (O(state=plan) and O(state=upload)).
    type: path
  cache_rules:
    description: Cache-Control per path; the first rule whose C(pattern) matches wins.
    type: list
    elements: dict
    default: []
    suboptions:
      pattern:
        description: Glob on the path relative to O(src), such as C(*.html) or C(assets/*).
        type: str
        required: true
      value:
        description: The C(Cache-Control) header value.
        type: str
        required: true
  cache_default:
    description: Cache-Control for the files no rule matches.
    type: str
    default: public, max-age=300
  delete:
    description: With O(state=plan), plan to delete the keys under O(prefix) that are not in O(src).
    type: bool
    default: false
  exclude_prefixes:
    description: Keys under these prefixes are never part of the site (the backups when they share the bucket).
    type: list
    elements: str
    default: []
  files:
    description: With O(state=upload), the C(upload) list of a plan.
    type: list
    elements: dict
    default: []
  keys:
    description:
      - With O(state=backup), the keys to copy; with O(state=upload), the keys to delete after uploading; with
        O(state=restore), the keys the deploy added, deleted before the backups are copied back.
    type: list
    elements: str
    default: []
  backup_bucket:
    description: Bucket of the backups (O(state=backup) and O(state=restore)); O(bucket) when empty.
    type: str
    default: ''
  backup_prefix:
    description: Where the backups of this deploy go, such as C(_liftoff/cdn-backups/<run id>).
    type: str
    default: ''
extends_documentation_fragment:
  - amazon.aws.common.modules
  - amazon.aws.region.modules
  - amazon.aws.boto3
notes:
  - Supports check mode for O(state=plan) only; the other states report what they would do and change nothing.
"""

EXAMPLES = r"""
- name: Plan the upload
  liftoff.release.cdn_assets:
    state: plan
    bucket: www-example
    src: /srv/build/dist
    cache_rules:
      - {pattern: '*.html', value: no-cache}
      - {pattern: 'assets/*', value: 'public, max-age=31536000, immutable'}
    delete: true
    exclude_prefixes: [_liftoff/cdn-backups]
  register: plan
"""

RETURN = r"""
plan:
  description: With O(state=plan), what an upload would do.
  returned: state=plan
  type: dict
  contains:
    upload:
      description: Files to put, each with key, rel, md5, bytes, cache_control, content_type and existed.
      type: list
      elements: dict
    new:
      description: Keys not yet in the bucket.
      type: list
      elements: str
    changed:
      description: Keys whose content differs.
      type: list
      elements: str
    unchanged:
      description: Keys already holding the file.
      type: list
      elements: str
    delete:
      description: Keys to delete (O(delete)).
      type: list
      elements: str
    kept:
      description: Keys not in the build that stay in the bucket.
      type: list
      elements: str
    previous:
      description: Keys the upload overwrites or deletes, that is what a rollback must put back.
      type: list
      elements: str
    upload_bytes:
      description: Bytes to upload.
      type: int
    site_keys:
      description: Every key of the site before the deploy.
      type: list
      elements: str
copied:
  description: Keys copied (O(state=backup), O(state=restore)).
  returned: state=backup or state=restore
  type: list
  elements: str
uploaded:
  description: Keys put (O(state=upload)).
  returned: state=upload
  type: list
  elements: str
uploaded_bytes:
  description: Bytes put (O(state=upload)).
  returned: state=upload
  type: int
deleted:
  description: Keys deleted (O(state=upload), O(state=restore)).
  returned: state=upload or state=restore
  type: list
  elements: str
"""

import base64
import hashlib
import os
import time
from typing import Any

try:
    import botocore
except ImportError:
    pass  # AnsibleAWSModule reports the missing library

from ansible_collections.amazon.aws.plugins.module_utils.modules import AnsibleAWSModule
from ansible_collections.liftoff.release.plugins.module_utils._cdn import (
    LocalFile,
    RemoteObject,
    cache_control_for,
    content_type_for,
    join_key,
    plan,
    same_after_head,
    suspects,
    under,
)

ARGUMENT_SPEC: dict[str, Any] = {
    "state": {"type": "str", "choices": ["plan", "backup", "upload", "restore"], "default": "plan"},
    "bucket": {"type": "str", "required": True},
    "prefix": {"type": "str", "default": ""},
    "src": {"type": "path"},
    "cache_rules": {"type": "list", "elements": "dict", "default": [],
                    "options": {"pattern": {"type": "str", "required": True},
                                "value": {"type": "str", "required": True}}},
    "cache_default": {"type": "str", "default": "public, max-age=300"},
    "delete": {"type": "bool", "default": False},
    "exclude_prefixes": {"type": "list", "elements": "str", "default": []},
    "files": {"type": "list", "elements": "dict", "default": []},
    "keys": {"type": "list", "elements": "str", "default": [], "no_log": False},
    "backup_bucket": {"type": "str", "default": ""},
    "backup_prefix": {"type": "str", "default": ""},
}


def md5_of(path: str) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def local_files(src: str, prefix: str, rules: list[dict[str, Any]], default: str) -> list[LocalFile]:
    found = []
    for root, dirs, names in os.walk(src):
        dirs.sort()
        for name in sorted(names):
            full = os.path.join(root, name)
            rel = os.path.relpath(full, src).replace(os.sep, "/")
            found.append(LocalFile(rel=rel, key=join_key(prefix, rel), md5=md5_of(full), bytes=os.path.getsize(full),
                                   cache_control=cache_control_for(rel, rules, default),
                                   content_type=content_type_for(rel)))
    return found


def list_objects(s3: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    prefix = prefix.strip("/")
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix + "/" if prefix else "")
    return [obj for page in pages for obj in page.get("Contents", [])]


def do_plan(module: Any, s3: Any) -> dict[str, Any]:
    p = module.params
    if not p["src"] or not os.path.isdir(p["src"]):
        module.fail_json(msg=f"the build directory {p['src']!r} does not exist (cdn_build_dir)")
    local = local_files(p["src"], p["prefix"], p["cache_rules"], p["cache_default"])
    excluded = [x.strip("/") for x in p["exclude_prefixes"] if x.strip("/")]
    remote = {o["Key"]: RemoteObject(o["Key"], o.get("ETag", ""), int(o.get("Size", 0)))
              for o in list_objects(s3, p["bucket"], p["prefix"])
              if not any(under(o["Key"], x) for x in excluded)}
    confirmed = [f.key for f in suspects(local, remote)
                 if same_after_head(f, s3.head_object(Bucket=p["bucket"], Key=f.key))]
    result = plan(local, remote, p["delete"], confirmed).to_dict()
    result["site_keys"] = sorted(remote)
    return {"changed": False, "plan": result}


def backup_key(backup_prefix: str, key: str) -> str:
    return join_key(backup_prefix, key)


def copy(s3: Any, from_bucket: str, from_key: str, to_bucket: str, to_key: str) -> None:
    s3.copy_object(Bucket=to_bucket, Key=to_key, CopySource={"Bucket": from_bucket, "Key": from_key},
                   MetadataDirective="COPY")


def do_backup(module: Any, s3: Any) -> dict[str, Any]:
    p = module.params
    target = p["backup_bucket"] or p["bucket"]
    keys = sorted(set(p["keys"]))
    if not module.check_mode:
        for key in keys:
            copy(s3, p["bucket"], key, target, backup_key(p["backup_prefix"], key))
    return {"changed": bool(keys), "copied": keys}


def do_upload(module: Any, s3: Any) -> dict[str, Any]:
    p = module.params
    uploaded, total = [], 0
    for item in p["files"]:
        path = os.path.join(p["src"], item["rel"])
        if not module.check_mode:
            with open(path, "rb") as body:
                s3.put_object(Bucket=p["bucket"], Key=item["key"], Body=body, CacheControl=item["cache_control"],
                              ContentType=item["content_type"], Metadata={"liftoff-md5": item["md5"]},
                              ContentMD5=base64.b64encode(bytes.fromhex(item["md5"])).decode())
        uploaded.append(item["key"])
        total += int(item["bytes"])
    deleted = delete_keys(module, s3, p["bucket"], p["keys"])
    return {"changed": bool(uploaded or deleted), "uploaded": uploaded, "uploaded_bytes": total, "deleted": deleted}


def delete_keys(module: Any, s3: Any, bucket: str, keys: list[str]) -> list[str]:
    keys = sorted(set(keys))
    if not module.check_mode:
        for start in range(0, len(keys), 1000):
            reply = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[start:start + 1000]]})
            if reply.get("Errors"):
                module.fail_json(msg=f"S3 refused to delete {len(reply['Errors'])} object(s)", errors=reply["Errors"])
    return keys


def do_restore(module: Any, s3: Any) -> dict[str, Any]:
    p = module.params
    source = p["backup_bucket"] or p["bucket"]
    prefix = p["backup_prefix"].strip("/")
    if not prefix:
        module.fail_json(msg="backup_prefix is required with state=restore")
    backups = [o["Key"] for o in list_objects(s3, source, prefix)]
    deleted = delete_keys(module, s3, p["bucket"], [k for k in p["keys"] if k not in
                                                    {b[len(prefix) + 1:] for b in backups}])
    copied = []
    for key in sorted(backups):
        original = key[len(prefix) + 1:]
        if not module.check_mode:
            copy(s3, source, key, p["bucket"], original)
        copied.append(original)
    return {"changed": bool(copied or deleted), "copied": copied, "deleted": deleted}


def main() -> None:
    module = AnsibleAWSModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True,
                              required_if=[("state", "plan", ["src"]), ("state", "upload", ["src"]),
                                           ("state", "backup", ["backup_prefix"])])
    s3 = module.client("s3")
    started = time.monotonic()
    actions = {"plan": do_plan, "backup": do_backup, "upload": do_upload, "restore": do_restore}
    try:
        result = actions[module.params["state"]](module, s3)
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        module.fail_json_aws(exc, msg=f"cdn_assets state={module.params['state']} on s3://{module.params['bucket']} failed")
    except OSError as exc:
        module.fail_json(msg=f"cdn_assets state={module.params['state']}: {exc}")
    result["duration_ms"] = int((time.monotonic() - started) * 1000)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
