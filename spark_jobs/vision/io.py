"""All I/O of the vision pipeline: landing and raw-zone files (local or S3), table reads, Spark frames.

Layout:
- landing: ``{landing}/vision/<dataset>/`` holds the delivery exactly as the official archive ships it
  (MNIST: the four IDX files, gzipped or not; CIFAR-10: ``cifar-10-batches-py/`` batches + meta), or
  as ``png/<split>/<class>/*.png`` image folders.
- raw zone: ``{warehouse}/raw_files/vision/<dataset>/ingest_date=<date>/<file>``: the delivered files,
  unchanged; ``raw.image_manifest`` points into them (file URI + record index). Whole files rather
  than one object per image: tiny objects cost one request each, and on S3 that makes landing and
  checking a PNG delivery hundreds of times slower than the same images in IDX files
  (bench/bench_vision_storage.py). PNG deliveries are kept as delivered, with concurrent requests.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from lakehouse import frames, storage
from lakehouse.errors import LakehouseError
from lakehouse.settings import LakehouseSettings
from spark_jobs.vision import formats
from spark_jobs.vision.transforms import content_hash, resolve_uri, uri_violation

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from lakehouse.jobs import JobContext
    from lakehouse.write import WriteResult
    from schemas.base import TableSpec

# Per-image objects (PNG deliveries) cost one request each: on S3 the round trips dominate, not the
# CPU, so they are fetched and stored concurrently (pyarrow filesystems are thread-safe).
IO_THREADS = 16


def landing_dir(settings: LakehouseSettings, dataset: str) -> str:
    """URI of a dataset's landing directory."""
    return storage.join(storage.to_uri(settings.landing), "vision", dataset)


def raw_zone_dir(settings: LakehouseSettings, dataset: str, logical_date: dt.date) -> str:
    """URI where a run's delivered files are kept unchanged."""
    return storage.join(storage.to_uri(settings.warehouse), "raw_files", "vision", dataset,
                        f"ingest_date={logical_date.isoformat()}")


def read_bytes(settings: LakehouseSettings, uri: str) -> bytes:
    """Whole stored content of a local or S3 object, byte for byte (``storage.read_bytes``)."""
    return storage.read_bytes(settings, uri)


def write_bytes(settings: LakehouseSettings, uri: str, data: bytes) -> None:
    """Write (replace) a local or S3 object with exactly ``data`` (``storage.write_bytes``)."""
    storage.write_bytes(settings, uri, data)


def write_many(settings: LakehouseSettings, objects: Mapping[str, bytes]) -> None:
    """Write ``{uri: bytes}`` concurrently (a first failure is raised)."""
    if len(objects) <= 1:
        for uri, data in objects.items():
            write_bytes(settings, uri, data)
        return
    with ThreadPoolExecutor(IO_THREADS) as pool:
        for _ in pool.map(lambda item: write_bytes(settings, *item), objects.items()):
            pass


def list_landing(settings: LakehouseSettings, dataset: str) -> list[storage.StoredFile]:
    """Every file of the dataset's landing directory (hidden and metadata files included: the raw job
    accounts for each); an error when the directory does not exist."""
    base = landing_dir(settings, dataset)
    files = storage.list_files(settings, base)
    if not files:
        fs, path = storage.filesystem(settings, base)
        import pyarrow.fs as pafs

        if fs.get_file_info(path).type == pafs.FileType.NotFound:
            raise LakehouseError(f"no {dataset} delivery at {base}: place the official files there or run "
                                 f"`lakehouse generate images --dataset {dataset}`")
    return files


def read_landing(settings: LakehouseSettings, dataset: str,
                 files: list[storage.StoredFile] | None = None) -> dict[str, bytes]:
    """``{relative name: bytes}`` of the landing files (default: every file of the dataset's landing
    directory), exactly as delivered. A file larger than ``vision.max_file_bytes`` is refused by its
    listed size, before it is read."""
    files = list_landing(settings, dataset) if files is None else files
    limits = formats.ReadLimits.from_settings(settings.vision)
    for file in files:
        limits.check_file_size(file.size, file.uri)
    with ThreadPoolExecutor(IO_THREADS) as pool:
        return dict(zip([f.name for f in files], pool.map(lambda f: read_bytes(settings, f.uri), files),
                        strict=True))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---- decoding objects referenced by a manifest --------------------------------------------------
class UnsafeURIError(LakehouseError):
    """A manifest row points outside the warehouse; its object is never opened."""


def confined_uri(settings: LakehouseSettings, uri: str) -> str:
    """The absolute URI of a manifest row's object, or UnsafeURIError saying why it may not be read.

    Refused: anything ``transforms.uri_violation`` refuses (other schemes and buckets, ``..``,
    absolute paths, paths outside the warehouse prefix) and, on local disk, a path that resolves
    through a symbolic link to somewhere outside the warehouse.
    """
    violation = uri_violation(uri, settings.warehouse)
    if violation is not None:
        raise UnsafeURIError(violation)
    absolute = resolve_uri(uri, settings.warehouse)
    if absolute.startswith("file://"):
        base = os.path.realpath(storage.to_uri(settings.warehouse)[len("file://"):])
        real = os.path.realpath(absolute[len("file://"):])
        if not real.startswith(base.rstrip(os.sep) + os.sep):
            raise UnsafeURIError(f"unsafe source URI {uri!r}: resolves to {real}, outside the warehouse {base}")
    return absolute


def read_manifest_object(settings: LakehouseSettings, uri: str) -> bytes:
    """Stored bytes of the object a manifest row points at. The one function that opens manifest
    objects: the URI is confined to the warehouse (:func:`confined_uri`) at every read, however the
    row got there (a row edited after silver validated it included), so no caller can skip the check."""
    return read_bytes(settings, confined_uri(settings, uri))


class ObjectCache:
    """Reads (through :func:`read_manifest_object`) and decodes each referenced raw file once;
    remembers failures, refusals included, per URI as text."""

    def __init__(self, settings: LakehouseSettings) -> None:
        self.settings = settings
        self.limits = formats.ReadLimits.from_settings(settings.vision)
        self._images: dict[tuple[str, str | None], np.ndarray | str] = {}
        self._fetched: dict[str, bytes | str] = {}

    def _fetch(self, uri: str) -> bytes | str:
        try:
            return read_manifest_object(self.settings, uri)
        except UnsafeURIError as exc:
            return str(exc)
        except OSError as exc:  # storage.StorageError names the object
            return f"object missing or unreadable: {exc}"

    def prefetch(self, uris: Iterable[str]) -> None:
        """Fetch the bytes of many URIs concurrently (refused ones are never opened); ``images`` then
        decodes from memory."""
        wanted = sorted(set(uris) - self._fetched.keys())
        if len(wanted) > 1:
            with ThreadPoolExecutor(IO_THREADS) as pool:
                self._fetched.update(zip(wanted, pool.map(self._fetch, wanted), strict=True))

    def images(self, uri: str, source_format: str | None) -> np.ndarray | str:
        """Decoded ``(N, C, H, W)`` pixels of a raw file, or an error text (why it was refused, could
        not be read, or does not decode)."""
        key = (uri, source_format)
        if key not in self._images:
            data = self._fetched.pop(uri, None)
            if data is None:
                data = self._fetch(uri)
            if isinstance(data, str):
                self._images[key] = data
            elif source_format is None:
                self._images[key] = "no source format recorded for it in raw.image_manifest"
            else:
                try:
                    self._images[key] = formats.decode_images(source_format, data, uri.rsplit("/", 1)[-1],
                                                              limits=self.limits)
                except formats.FormatError as exc:
                    self._images[key] = str(exc)
        return self._images[key]


def decode_check(settings: LakehouseSettings, raw: pd.DataFrame) -> pd.DataFrame:
    """Per manifest row: the sha256 of the bytes actually stored at (source_uri, record_index), or why
    they could not be read. Rows whose URI escapes the warehouse are never opened (the URI check of
    the validation reports them)."""
    cache = ObjectCache(settings)
    cache.prefetch(u for u in raw["source_uri"] if uri_violation(u, settings.warehouse) is None)
    sha: list[str | None] = []
    errors: list[str | None] = []
    for uri, fmt, index in zip(raw["source_uri"], raw["source_format"], raw["record_index"], strict=True):
        if uri_violation(uri, settings.warehouse) is not None:
            sha.append(None)
            errors.append(None)  # the URI check reports it
            continue
        images = cache.images(uri, fmt)
        if isinstance(images, str):
            sha.append(None)
            errors.append(images)
        elif index is None or pd.isna(index) or not 0 <= int(index) < len(images):
            sha.append(None)
            errors.append(f"record {index} not in {uri} ({len(images)} images)")
        else:
            sha.append(content_hash(images[int(index)]))
            errors.append(None)
    return pd.DataFrame({"decoded_sha256": sha, "decode_error": errors}, index=raw.index)


def load_pixels(settings: LakehouseSettings, manifest: pd.DataFrame, formats_by_uri: dict[str, str]) -> np.ndarray:
    """Pixels of validated manifest rows, aligned with the rows (re-checked against their hash).

    Every row's URI is confined again here (the rows come from a table anyone with write access could
    have edited since silver validated them): the first row that is refused, unreadable or changed
    fails the whole load with one line naming the row's URI and why.
    """
    cache = ObjectCache(settings)
    cache.prefetch(manifest["source_uri"])
    out: list[np.ndarray] = []
    for uri, index, sha in zip(manifest["source_uri"], manifest["record_index"], manifest["sha256"], strict=True):
        images = cache.images(uri, formats_by_uri.get(uri))
        if isinstance(images, str):
            raise LakehouseError(f"validated image {uri}#{index} refused: {images}; nothing was published")
        if index is None or pd.isna(index) or not 0 <= int(index) < len(images):
            raise LakehouseError(f"validated image {uri}#{index} refused: record {index} not in the file "
                                 f"({len(images)} images); nothing was published")
        image = images[int(index)]
        if content_hash(image) != sha:
            raise LakehouseError(f"{uri}#{index} changed since validation (hash mismatch): rerun silver")
        out.append(image)
    if not out:
        return np.zeros((0, 1, 1, 1), dtype=np.uint8)
    return np.stack(out)


# ---- tables ---------------------------------------------------------------------------------
def read_dataset_rows(spark: SparkSession, settings: LakehouseSettings, identifier: str, logical_date: dt.date,
                      dataset: str, columns: Iterable[str] | None = None) -> pd.DataFrame:
    """One dataset's rows of one logical date from ``main`` of a table, as pandas."""
    from lakehouse.pipeline import table_spec
    from lakehouse.read import read_for_date

    df = read_for_date(spark, settings, table_spec(settings, identifier), logical_date, scope=dataset_scope(dataset),
                       columns=list(columns) if columns is not None else None)
    frames.enable_arrow(spark)
    return df.toPandas()


def dataset_scope(dataset: str) -> dict[str, str]:
    """The rows one dataset's run owns within a date: writes replace exactly these (runs of other
    datasets on the same date write beside them, concurrently if they like)."""
    return {"dataset": dataset}


def write_dataset(ctx: JobContext, spec: TableSpec, frame: pd.DataFrame, dataset: str) -> WriteResult:
    """Write ``frame`` as ``dataset``'s complete rows of the run's date on ``main``."""
    from lakehouse.write import write_for_date

    return write_for_date(ctx.spark, ctx.settings, spec, frames.to_spark(ctx.spark, ctx.settings, spec, frame),
                          logical_date=ctx.logical_date, run_id=ctx.run_id, scope=dataset_scope(dataset))


def stage_dataset(ctx: JobContext, spec: TableSpec, frame: pd.DataFrame, dataset: str) -> WriteResult:
    """Stage ``frame`` as ``dataset``'s complete rows of the run's date on the run's audit branch."""
    from lakehouse.publish import stage_for_date

    return stage_for_date(ctx.spark, ctx.settings, spec, frames.to_spark(ctx.spark, ctx.settings, spec, frame),
                          logical_date=ctx.logical_date, run_id=ctx.run_id, scope=dataset_scope(dataset))
