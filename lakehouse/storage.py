"""Object storage access (local directory or S3-compatible) and fail-fast checks.

Everything that touches the warehouse or landing zone outside Spark goes through here, so
the S3 endpoint, credentials and timeouts are configured in exactly one place.

Bytes are bytes: every read and write of an object (``read_bytes``, ``write_bytes``, ``open_read``,
``open_write``, ``open_random_access``, ``sha256_of``) moves exactly the stored bytes. pyarrow's
filesystem streams would otherwise gunzip or gzip transparently whenever a name ends in ``.gz``, so a
"kept unchanged" copy of a delivered ``.gz`` would differ from the delivery and its hash would not be
the delivered file's. Nothing outside this module opens a pyarrow stream.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakehouse.errors import LakehouseError, note_context
from lakehouse.settings import LakehouseSettings

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.fs as pafs

_BLOCK = 1 << 20


class StorageError(LakehouseError, OSError):
    """An object could not be read or written; the message names its URI."""


class ObjectNotFoundError(StorageError, FileNotFoundError):
    """The object does not exist."""


def to_uri(location: str) -> str:
    """Normalise a storage location: bare paths become ``file://`` URIs, S3 stays ``s3://``."""
    if location.startswith("s3a://"):
        return "s3://" + location[len("s3a://") :]
    if "://" in location:
        return location
    return "file://" + str(Path(location).expanduser().resolve())


def join(base: str, *parts: str) -> str:
    """Join a storage URI with relative parts using '/'."""
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def safe_segment(name: str) -> str:
    """``name`` (a run id, a model version) as one path segment every store accepts: anything but letters,
    digits and ``_ . = -`` becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9_.=-]", "_", name)


def s3_credentials_env(settings: LakehouseSettings) -> dict[str, str]:
    """AWS_* variables for processes that talk to S3 (the Spark JVM reads credentials from them)."""
    env: dict[str, str] = {"AWS_REGION": settings.s3.region, "AWS_DEFAULT_REGION": settings.s3.region}
    if settings.s3.access_key_id is not None:
        env["AWS_ACCESS_KEY_ID"] = settings.s3.access_key_id.get_secret_value()
    if settings.s3.secret_access_key is not None:
        env["AWS_SECRET_ACCESS_KEY"] = settings.s3.secret_access_key.get_secret_value()
    return env


def s3_client(settings: LakehouseSettings) -> Any:
    """A boto3 S3 client for the configured endpoint: ``connect_timeout_s`` / ``request_timeout_s`` per
    attempt and ``max_attempts`` attempts in all per request (botocore's standard retry mode: 503 SlowDown
    and other throttling, 5xx, dropped connections and timeouts are retried with jittered backoff)."""
    import boto3
    from botocore.config import Config

    env = s3_credentials_env(settings)
    return boto3.client(
        "s3",
        endpoint_url=settings.s3.endpoint_url,
        region_name=settings.s3.region,
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID"),
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY"),
        config=Config(
            connect_timeout=settings.s3.connect_timeout_s,
            read_timeout=settings.s3.request_timeout_s,
            # total_max_attempts counts the first try; botocore's "max_attempts" would count retries only.
            retries={"total_max_attempts": settings.s3.max_attempts, "mode": "standard"},
            s3={"addressing_style": "path" if settings.s3.path_style_access else "auto"},
        ),
    )


def check_s3(settings: LakehouseSettings, bucket: str | None = None) -> None:
    """Fail fast with one readable line naming the endpoint if the S3 endpoint, credentials or bucket are
    wrong, or the store does not answer (after the configured attempts; see ``S3Settings``)."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectionClosedError,
        ConnectTimeoutError,
        EndpointConnectionError,
        NoCredentialsError,
        ReadTimeoutError,
    )

    endpoint = settings.s3.endpoint_url or "AWS S3"
    note_context(endpoint=endpoint)  # later failures of any engine in this process name it (errors.explain)
    bucket = bucket or settings.warehouse_bucket
    if bucket is None:
        return
    attempts = f"{settings.s3.max_attempts} attempt{'s' if settings.s3.max_attempts != 1 else ''}"
    try:
        s3_client(settings).head_bucket(Bucket=bucket)
    except NoCredentialsError as exc:
        raise LakehouseError(
            "no S3 credentials: set LAKEHOUSE_S3__ACCESS_KEY_ID and LAKEHOUSE_S3__SECRET_ACCESS_KEY"
        ) from exc
    except (EndpointConnectionError, ConnectTimeoutError) as exc:
        raise LakehouseError(
            f"S3 endpoint {endpoint} is unreachable ({attempts}): is the object store running? "
            "(LAKEHOUSE_S3__ENDPOINT_URL)"
        ) from exc
    except ReadTimeoutError as exc:
        raise LakehouseError(
            f"S3 endpoint {endpoint} did not answer within {settings.s3.request_timeout_s} s ({attempts}): "
            "is the object store overloaded or hung? (LAKEHOUSE_S3__REQUEST_TIMEOUT_S)"
        ) from exc
    except ConnectionClosedError as exc:
        raise LakehouseError(
            f"S3 endpoint {endpoint} closed the connection without answering ({attempts}): is a proxy or "
            "load balancer in front of the object store failing?"
        ) from exc
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in ("403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "Forbidden"):
            raise LakehouseError(
                f"S3 endpoint {endpoint} rejected the credentials for bucket {bucket!r}: check "
                "LAKEHOUSE_S3__ACCESS_KEY_ID / LAKEHOUSE_S3__SECRET_ACCESS_KEY"
            ) from exc
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise LakehouseError(
                f"S3 bucket {bucket!r} does not exist at {endpoint}: create it (infra/docker-compose.yml "
                "does for MinIO) or fix LAKEHOUSE_WAREHOUSE"
            ) from exc
        if code in ("503", "SlowDown", "ServiceUnavailable", "500", "InternalError"):
            raise LakehouseError(
                f"S3 endpoint {endpoint} is overloaded: it answered {code} to all {attempts} "
                "(LAKEHOUSE_S3__MAX_ATTEMPTS)"
            ) from exc
        raise LakehouseError(f"S3 check of bucket {bucket!r} at {endpoint} failed: {code or exc}") from exc
    except BotoCoreError as exc:
        raise LakehouseError(f"S3 endpoint {endpoint} failed: {exc}") from exc


def check_catalog_db(settings: LakehouseSettings) -> None:
    """Fail fast if the SQLite catalog file is locked by another writer.

    Also switches the file to WAL journaling (persistent), so readers in one engine never block
    a commit from the other (Spark's JdbcCatalog and PyIceberg share the file).
    """
    path = settings.sqlite_path()
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(path, timeout=settings.catalog.busy_timeout_ms / 1000)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.rollback()
            conn.execute("PRAGMA journal_mode=WAL")
        finally:
            conn.close()
    except sqlite3.OperationalError as exc:
        raise LakehouseError(
            f"catalog database {path} is locked by another process ({exc}): wait for it to finish, "
            "or use the PostgreSQL catalog (profile cluster) for concurrent writers"
        ) from exc


def preflight(settings: LakehouseSettings) -> None:
    """All fast checks that should fail before a JVM starts."""
    check_catalog_db(settings)
    if settings.uses_s3 or settings.landing.startswith(("s3://", "s3a://")):
        check_s3(settings)


def filesystem(settings: LakehouseSettings, uri: str) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and path inside it for a ``file://`` or ``s3://`` URI; on S3 with the
    settings' timeouts and ``max_attempts`` attempts per request (the AWS standard retry strategy)."""
    import pyarrow.fs as pafs

    uri = to_uri(uri)
    if uri.startswith("file://"):
        return pafs.LocalFileSystem(), uri[len("file://") :]
    if uri.startswith("s3://"):
        env = s3_credentials_env(settings)
        endpoint = settings.s3.endpoint_url
        kwargs: dict[str, Any] = {
            "region": settings.s3.region,
            "connect_timeout": settings.s3.connect_timeout_s,
            # On Linux the C++ SDK applies this as curl's low-speed limit (no byte for this long: abort).
            "request_timeout": settings.s3.request_timeout_s,
            "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=settings.s3.max_attempts),
            "force_virtual_addressing": not settings.s3.path_style_access,
        }
        if endpoint:
            scheme, _, host = endpoint.partition("://")
            kwargs["endpoint_override"] = host
            kwargs["scheme"] = scheme
        if "AWS_ACCESS_KEY_ID" in env:
            kwargs["access_key"] = env["AWS_ACCESS_KEY_ID"]
            kwargs["secret_key"] = env.get("AWS_SECRET_ACCESS_KEY", "")
        return pafs.S3FileSystem(**kwargs), uri[len("s3://") :]
    raise LakehouseError(f"unsupported storage URI {uri!r}: use a local path or s3://bucket/prefix")


def ensure_local_dirs(settings: LakehouseSettings) -> None:
    """Create the local home, warehouse and landing directories where they are local."""
    settings.home.mkdir(parents=True, exist_ok=True)
    for location in (settings.warehouse, settings.landing, settings.artifacts):
        uri = to_uri(location)
        if uri.startswith("file://"):
            Path(uri[len("file://") :]).mkdir(parents=True, exist_ok=True)



# ---- byte-exact object I/O -------------------------------------------------------------------
@dataclass(frozen=True)
class StoredFile:
    """One object found by :func:`list_files`."""

    uri: str
    name: str  # path relative to the listed directory, '/'-separated
    size: int

    @property
    def base_name(self) -> str:
        return self.name.rsplit("/", 1)[-1]


def _failure(uri: str, action: str, exc: BaseException) -> StorageError:
    detail = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
    if isinstance(exc, FileNotFoundError):
        return ObjectNotFoundError(f"{uri}: cannot {action}: no such file ({detail})")
    from lakehouse.errors import explain

    # explain() turns throttling, timeouts and refused connections into a line naming the endpoint
    return StorageError(f"{uri}: cannot {action}: {explain(exc)}")


@contextmanager
def open_read(settings: LakehouseSettings, uri: str) -> Iterator[pa.NativeFile]:
    """A sequential stream of the object's stored bytes (never decompressed, whatever its name)."""
    fs, path = filesystem(settings, uri)
    try:
        stream = fs.open_input_stream(path, compression=None)
    except OSError as exc:
        raise _failure(uri, "read", exc) from exc
    with stream:
        yield stream


@contextmanager
def open_random_access(settings: LakehouseSettings, uri: str) -> Iterator[pa.NativeFile]:
    """A seekable handle on the object's stored bytes (e.g. for a Parquet footer)."""
    fs, path = filesystem(settings, uri)
    try:
        handle = fs.open_input_file(path)  # random-access files are never decompressed by pyarrow
    except OSError as exc:
        raise _failure(uri, "read", exc) from exc
    with handle:
        yield handle


@contextmanager
def open_write(settings: LakehouseSettings, uri: str) -> Iterator[pa.NativeFile]:
    """A stream that stores exactly the bytes written (never compressed, whatever its name); replaces
    the object. Local parent directories are created; S3 has none (no extra request)."""
    import pyarrow.fs as pafs

    fs, path = filesystem(settings, uri)
    try:
        if isinstance(fs, pafs.LocalFileSystem):
            fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        stream = fs.open_output_stream(path, compression=None)
    except OSError as exc:
        raise _failure(uri, "write", exc) from exc
    with stream:
        yield stream


def read_bytes(settings: LakehouseSettings, uri: str) -> bytes:
    """The whole stored content of a local or S3 object, byte for byte."""
    with open_read(settings, uri) as stream:
        try:
            return stream.read()
        except OSError as exc:
            raise _failure(uri, "read", exc) from exc


def write_bytes(settings: LakehouseSettings, uri: str, data: bytes) -> None:
    """Store ``data`` as the object at ``uri`` exactly (replacing it)."""
    with open_write(settings, uri) as out:
        out.write(data)


def delete(settings: LakehouseSettings, uri: str) -> None:
    """Remove the object at ``uri``; nothing happens when it does not exist."""
    fs, path = filesystem(settings, uri)
    try:
        fs.delete_file(path)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise _failure(uri, "delete", exc) from exc


def sha256_of(settings: LakehouseSettings, uri: str) -> str:
    """SHA-256 (hex) of the object's stored bytes, read in blocks (bounded memory)."""
    digest = hashlib.sha256()
    with open_read(settings, uri) as stream:
        while block := stream.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def list_files(settings: LakehouseSettings, directory: str, *, recursive: bool = True) -> list[StoredFile]:
    """Every file under ``directory`` (sorted by name; hidden and metadata files included, callers
    decide what to ignore); [] when the directory does not exist."""
    import pyarrow.fs as pafs

    base = to_uri(directory).rstrip("/")
    fs, path = filesystem(settings, base)
    root = path.rstrip("/")
    try:
        infos = fs.get_file_info(pafs.FileSelector(root, recursive=recursive, allow_not_found=True))
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise _failure(base, "list", exc) from exc
    files = [StoredFile(f"{base}/{info.path[len(root) + 1:]}", info.path[len(root) + 1:], int(info.size or 0))
             for info in infos if info.type == pafs.FileType.File]
    return sorted(files, key=lambda f: f.name)
