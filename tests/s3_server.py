"""A real S3-compatible server for tests: moto's standalone server (``moto_server``, from the
``moto[server]`` dev dependency), started as its own process on a free loopback port. It speaks the
S3 REST protocol over HTTP (multipart uploads, presigned URLs), keeping objects in memory."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx

# moto accepts any credentials; set them so boto3 never looks for real ones.
TEST_ENV = {"AWS_ACCESS_KEY_ID": "candor-test", "AWS_SECRET_ACCESS_KEY": "candor-test-secret",
            "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    def __init__(self) -> None:
        self.port = _free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def start(self) -> str:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **TEST_ENV},
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{self.endpoint}/moto-api/", timeout=1.0)
                return self.endpoint
            except httpx.HTTPError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def client(self):  # -> a boto3 S3 client
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=TEST_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=TEST_ENV["AWS_SECRET_ACCESS_KEY"],
            region_name=TEST_ENV["AWS_DEFAULT_REGION"],
            config=Config(s3={"addressing_style": "path"}),
        )

    def new_bucket(self, prefix: str = "candor") -> str:
        import uuid

        name = f"{prefix}-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name
