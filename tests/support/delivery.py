"""Deliver and inspect files the way an outside party would: plain file writes on local disk, boto3 on
S3. Tests that check byte-for-byte storage must not use the code under test to place or read bytes."""

from __future__ import annotations

from pathlib import Path

from lakehouse import storage
from lakehouse.settings import LakehouseSettings


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key


def deliver(settings: LakehouseSettings, folder_uri: str, files: dict[str, bytes], *, clear: bool = True) -> None:
    """Place ``files`` (relative name -> bytes) under ``folder_uri`` exactly, replacing the folder."""
    folder_uri = storage.to_uri(folder_uri).rstrip("/")
    if folder_uri.startswith("s3://"):
        client = storage.s3_client(settings)
        bucket, prefix = _split(folder_uri)
        if clear:
            listed = client.list_objects_v2(Bucket=bucket, Prefix=prefix + "/").get("Contents", [])
            for item in listed:
                client.delete_object(Bucket=bucket, Key=item["Key"])
        for name, data in files.items():
            client.put_object(Bucket=bucket, Key=f"{prefix}/{name}", Body=data)
        return
    root = Path(folder_uri[len("file://"):])
    if clear and root.exists():
        for path in sorted(root.rglob("*"), reverse=True):
            if path.is_dir() and not path.is_symlink():
                path.rmdir()
            else:
                path.unlink()
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)


def stored(settings: LakehouseSettings, uri: str) -> bytes | None:
    """The bytes stored at ``uri``, read without the code under test; None when absent."""
    uri = storage.to_uri(uri)
    if uri.startswith("s3://"):
        client = storage.s3_client(settings)
        bucket, key = _split(uri)
        try:
            return bytes(client.get_object(Bucket=bucket, Key=key)["Body"].read())
        except client.exceptions.NoSuchKey:
            return None
    path = Path(uri[len("file://"):])
    return path.read_bytes() if path.is_file() else None


def listed(settings: LakehouseSettings, folder_uri: str) -> list[str]:
    """Relative names of every object under ``folder_uri`` (without the code under test)."""
    folder_uri = storage.to_uri(folder_uri).rstrip("/")
    if folder_uri.startswith("s3://"):
        bucket, prefix = _split(folder_uri)
        items = storage.s3_client(settings).list_objects_v2(Bucket=bucket, Prefix=prefix + "/").get("Contents", [])
        # keys ending in "/" are directory markers, not files
        return sorted(item["Key"][len(prefix) + 1:] for item in items if not item["Key"].endswith("/"))
    root = Path(folder_uri[len("file://"):])
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) if root.exists() else []
