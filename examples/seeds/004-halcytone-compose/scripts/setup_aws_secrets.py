#!/usr/bin/env python3
"""Seed 004's ``scripts/setup_aws_secrets.sh`` "(or equivalent)" for this example: store the secrets of
``.env.production`` in AWS Secrets Manager (one secret per key, ``<prefix><KEY>``), with automatic
rotation, and verify them.

    setup_aws_secrets.py store  --env .env.production --rotation-lambda ARN [--rotate-days 30]
    setup_aws_secrets.py verify --env .env.production [--rotation]

``verify`` lists the store (it answers), then checks every secret key of the file is stored with the
file's value (and, with --rotation, has rotation on); it prints ``N of M stored match .env.production``
and exits 1 when one does not. Values are compared, never printed. --endpoint (moto in the test) and
the usual AWS variables choose the store.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import boto3

# The keys of .env.production that hold secrets (the rest is configuration).
SECRET_KEYS = (
    "DATABASE_URL", "DB_PASSWORD", "REDIS_URL", "REDIS_PASSWORD", "JWT_SECRET_KEY", "API_KEY_ENCRYPTION_KEY",
    "CONTENT_GENERATOR_API_KEY", "WEBHOOK_SECRET_CRM", "WEBHOOK_SECRET_PLATFORM", "CRM_API_KEY", "PLATFORM_API_KEY",
    "OPENAI_API_KEY", "NOTION_API_KEY",
)


def read_env(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _sep, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def client(endpoint: str) -> Any:
    return boto3.client("secretsmanager", endpoint_url=endpoint or None,
                        region_name=os.environ.get("AWS_DEFAULT_REGION", "us-east-1"))


def store(env: dict[str, str], sm: Any, prefix: str, lambda_arn: str, days: int) -> int:
    for key in SECRET_KEYS:
        name = prefix + key
        try:
            sm.create_secret(Name=name, SecretString=env[key])
        except sm.exceptions.ResourceExistsException:
            sm.put_secret_value(SecretId=name, SecretString=env[key])
        if lambda_arn:
            sm.rotate_secret(SecretId=name, RotationLambdaARN=lambda_arn,
                             RotationRules={"AutomaticallyAfterDays": days}, RotateImmediately=False)
        print(f"stored {name}")
    return 0


def verify(env: dict[str, str], sm: Any, prefix: str, rotation: bool) -> int:
    listed = {s["Name"] for page in sm.get_paginator("list_secrets").paginate() for s in page["SecretList"]}
    good, problems = 0, []
    for key in SECRET_KEYS:
        name = prefix + key
        if name not in listed:
            problems.append(f"{name} missing")
            continue
        if sm.get_secret_value(SecretId=name)["SecretString"] != env.get(key):
            problems.append(f"{name} differs from .env.production")
            continue
        if rotation and not sm.describe_secret(SecretId=name).get("RotationEnabled"):
            problems.append(f"{name} has no rotation")
            continue
        good += 1
    for problem in problems:
        print(problem)
    # "N of M" and no "secrets:" (a key: value the record's redaction would mask as a secret).
    what = "match .env.production" + (", rotation on" if rotation else "")
    print(f"{good} of {len(SECRET_KEYS)} stored {what} ({len(listed)} in the store)")
    return 0 if good == len(SECRET_KEYS) else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["store", "verify"])
    parser.add_argument("--env", required=True, type=Path)
    parser.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL", ""),
                        help="Secrets Manager endpoint (moto in the test); AWS when empty")
    parser.add_argument("--prefix", default="halcytone/production/")
    parser.add_argument("--rotation-lambda", default="")
    parser.add_argument("--rotate-days", type=int, default=30)
    parser.add_argument("--rotation", action="store_true", help="verify: rotation is on for every secret")
    args = parser.parse_args(argv)
    env = read_env(args.env)
    if args.action == "store":
        return store(env, client(args.endpoint), args.prefix, args.rotation_lambda, args.rotate_days)
    return verify(env, client(args.endpoint), args.prefix, args.rotation)


if __name__ == "__main__":
    sys.exit(main())
