#!/usr/bin/env python3
"""Small checks of this example that no generic check kind covers, each printing one line (a number for
the gate's ``command`` provider) and exiting non-zero when it fails.

    checks.py env-template --template env.production.template --env .env.production
        every key of the template is set in the file (the file was made from the template)
    checks.py bucket-policy --endpoint URL --bucket B --principal ARN --action s3:PutObject ...
        the bucket policy lets the application's role do those actions
    checks.py latency --url URL [--method POST] [--requests N] [--stat p95|median]
        seconds: the p95 (or median) response time of N requests (an error counts as the timeout)
    checks.py errors --url URL ... [--requests N]
        ratio: the share of N requests (spread over the URLs) that failed or answered >= 400
    checks.py container --docker BIN --host DOCKER_HOST --project P --service S cpu|memory
        ratio: the service container's CPU use of its CPU limit (else of the host's CPUs), or its
        memory use of its memory limit, from `docker stats`
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path


def read_env(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _sep, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


def env_template(args: argparse.Namespace) -> int:
    template, env = read_env(args.template), read_env(args.env)
    missing = [k for k in template if not env.get(k)]
    extra = [k for k in env if k not in template]
    if missing:
        print(f"missing: {', '.join(missing)}")
    if extra:
        print(f"not in the template: {', '.join(extra)}")
    print(f"{len(template) - len(missing)}/{len(template)} keys of the template set")
    return 1 if missing or extra else 0


def bucket_policy(args: argparse.Namespace) -> int:
    import boto3

    region = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
    s3 = boto3.client("s3", endpoint_url=args.endpoint or None, region_name=region)
    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=args.bucket)["Policy"])
    except Exception as exc:  # no policy, no bucket, no store: all a failed check
        print(f"no policy on {args.bucket}: {exc}")
        return 1
    allowed: set[str] = set()
    for statement in policy.get("Statement", []):
        principals = (statement.get("Principal") or {}).get("AWS", [])
        principals = [principals] if isinstance(principals, str) else principals
        if statement.get("Effect") == "Allow" and args.principal in principals:
            actions = statement.get("Action", [])
            allowed |= {actions} if isinstance(actions, str) else set(actions)
    missing = [a for a in args.action if a not in allowed and "s3:*" not in allowed]
    print(f"{args.principal} may {', '.join(sorted(allowed)) or 'nothing'} on {args.bucket}"
          + (f"; missing {', '.join(missing)}" if missing else ""))
    return 1 if missing else 0


def _request(url: str, method: str, timeout: float) -> tuple[bool, float]:
    if not url.startswith(("http://", "https://")):
        raise SystemExit(f"not an http(s) URL: {url!r}")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, data=b"{}" if method == "POST" else None, method=method,  # noqa: S310
                                     headers={"Content-Type": "application/json"})
    started = time.perf_counter()
    try:
        with opener.open(request, timeout=timeout) as reply:
            reply.read()
            ok = int(reply.status) < 400
    except urllib.error.HTTPError:
        ok = False
    except OSError:
        return False, timeout
    return ok, time.perf_counter() - started


def latency(args: argparse.Namespace) -> int:
    times = [_request(args.url[i % len(args.url)], args.method, args.timeout)[1] for i in range(args.requests)]
    if args.stat == "median":
        value = statistics.median(times)
    else:
        value = sorted(times)[max(0, -(-95 * len(times) // 100) - 1)]  # nearest rank
    print(f"{value:.4f}")
    return 0


def errors(args: argparse.Namespace) -> int:
    failed = sum(not _request(args.url[i % len(args.url)], args.method, args.timeout)[0] for i in range(args.requests))
    print(f"{failed / args.requests:.4f}")
    return 0


def container(args: argparse.Namespace) -> int:
    env = dict(os.environ, DOCKER_HOST=args.host)

    def docker(*argv: str) -> str:
        return subprocess.run([args.docker, *argv], env=env, capture_output=True, text=True, check=True,
                              timeout=60).stdout.strip()

    ids = docker("ps", "-q", "--filter", f"label=com.docker.compose.project={args.project}",
                 "--filter", f"label=com.docker.compose.service={args.service}").split()
    if len(ids) != 1:
        print(f"expected one running container of {args.project}/{args.service}, found {len(ids)}", file=sys.stderr)
        return 1
    cpu, mem = docker("stats", "--no-stream", "--format", "{{.CPUPerc}} {{.MemPerc}}", ids[0]).replace("%", "").split()
    if args.measure == "memory":
        print(f"{float(mem) / 100:.4f}")
        return 0
    nano = int(docker("inspect", "--format", "{{.HostConfig.NanoCpus}}", ids[0]) or 0)
    cpus = nano / 1e9 if nano else float(os.cpu_count() or 1)
    print(f"{float(cpu) / 100 / cpus:.4f}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("env-template")
    p.add_argument("--template", type=Path, required=True)
    p.add_argument("--env", type=Path, required=True)
    p.set_defaults(func=env_template)
    p = sub.add_parser("bucket-policy")
    p.add_argument("--endpoint", default=os.environ.get("AWS_ENDPOINT_URL", ""))
    p.add_argument("--bucket", required=True)
    p.add_argument("--principal", required=True)
    p.add_argument("--action", action="append", required=True)
    p.set_defaults(func=bucket_policy)
    for name, func in (("latency", latency), ("errors", errors)):
        p = sub.add_parser(name)
        p.add_argument("--url", action="append", required=True)
        p.add_argument("--method", default="GET", choices=["GET", "POST"])
        p.add_argument("--requests", type=int, default=10)
        p.add_argument("--timeout", type=float, default=5.0)
        if name == "latency":
            p.add_argument("--stat", default="p95", choices=["p95", "median"])
        p.set_defaults(func=func)
    p = sub.add_parser("container")
    p.add_argument("--docker", default="docker")
    p.add_argument("--host", required=True)
    p.add_argument("--project", required=True)
    p.add_argument("--service", required=True)
    p.add_argument("measure", choices=["cpu", "memory"])
    p.set_defaults(func=container)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
