"""Servers the integration tests start on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


def free_port() -> int:
    """A TCP port nothing listens on right now (on the loopback interface)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class S3Endpoint:
    """An S3-compatible endpoint with credentials and a bucket for this test session."""

    url: str
    access_key: str
    secret_key: str
    bucket: str


@contextmanager
def s3_endpoint() -> Iterator[S3Endpoint]:
    """MinIO (or any S3) from LAKEHOUSE_TEST_S3_ENDPOINT when set, else moto's server on loopback."""
    import boto3

    external = os.environ.get("LAKEHOUSE_TEST_S3_ENDPOINT")
    server = None
    if external:
        endpoint = S3Endpoint(
            url=external,
            access_key=os.environ.get("LAKEHOUSE_TEST_S3_ACCESS_KEY", "minioadmin"),
            secret_key=os.environ.get("LAKEHOUSE_TEST_S3_SECRET_KEY", "minioadmin"),
            bucket=f"lakehouse-test-{uuid.uuid4().hex[:8]}",
        )
    else:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise

        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        endpoint = S3Endpoint(f"http://127.0.0.1:{port}", "testing", "testing", "lakehouse-test")
    client = boto3.client("s3", endpoint_url=endpoint.url, region_name="us-east-1",
                          aws_access_key_id=endpoint.access_key, aws_secret_access_key=endpoint.secret_key)
    client.create_bucket(Bucket=endpoint.bucket)
    try:
        yield endpoint
    finally:
        if server is not None:
            server.stop()
        else:  # leave an external endpoint as we found it
            paginator = client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=endpoint.bucket):
                for obj in page.get("Contents", []):
                    client.delete_object(Bucket=endpoint.bucket, Key=obj["Key"])
            client.delete_bucket(Bucket=endpoint.bucket)
