"""A throwaway moto server (the AWS API emulator over HTTP) for S3 tests and the demo.

It binds 127.0.0.1 on a free port chosen at run time and is stopped by its own pid. Tests
that need the S3 endpoint to go away mid-run (an upload failure) call :meth:`stop`.

    with MotoServer(base_dir) as moto:
        moto.s3().create_bucket(Bucket="backups")
        env = moto.aws_environ()   # AWS_* variables for ansible-playbook
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.support.pg import free_port, pid_alive

MISSING_MSG = "moto_server not found next to the venv's python: pip install 'moto[server]' (requirements-test.txt)"


class MotoServer:
    def __init__(self, base_dir: Path) -> None:
        self.base_dir = Path(base_dir)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MotoServer:
        binary = Path(sys.executable).with_name("moto_server")
        if not binary.exists():
            raise RuntimeError(MISSING_MSG)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.base_dir / "moto.log", "ab")
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        self.proc = subprocess.Popen([str(binary), "-H", "127.0.0.1", "-p", str(self.port)], stdout=log,
                                     stderr=subprocess.STDOUT, env=env, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.url + "/moto-api/", timeout=1):
                    return self
            except OSError:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"moto_server exited with {self.proc.returncode}; see {log.name}") from None
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"moto_server did not answer on {self.url} within 20 s")

    def stop(self) -> None:
        if self.proc is None:
            return
        pid = self.proc.pid
        if self.proc.poll() is None:
            os.killpg(pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        assert not pid_alive(pid) or self.proc.returncode is not None
        self.proc = None

    def aws_environ(self) -> dict[str, str]:
        return {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/dev/null",
                "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"}

    def s3(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="testing",
                            aws_secret_access_key="testing")

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
