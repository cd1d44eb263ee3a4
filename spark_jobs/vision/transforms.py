"""Pure transforms of the vision pipeline (pandas manifests, numpy pixels; no I/O, no clock).

Image records are binary and decoded in Python anyway, so manifests are pandas DataFrames here and
become Spark DataFrames only at the write (``lakehouse.frames.to_spark``). Every function is deterministic: the
same inputs give the same rows, which is what makes reruns of a logical date reproduce Gold exactly.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import posixpath
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import unquote

import numpy as np
import pandas as pd

from lakehouse import storage
from lakehouse.errors import LakehouseError
from spark_jobs.vision.formats import DatasetSpec, DeliveredImage, ImageBatch

MANIFEST_COLUMNS = ["ingest_date", "dataset", "image_id", "sha256", "source_split", "label", "source_uri",
                    "record_index", "width", "height", "channels"]


def content_hash(pixels: np.ndarray) -> str:
    """sha256 hex of an image's uint8 bytes in C x H x W order (the image id)."""
    return hashlib.sha256(np.ascontiguousarray(pixels, dtype=np.uint8).tobytes()).hexdigest()


def build_raw_manifest(batch: ImageBatch, *, dataset: str, source_uri: str, landing_uri: str, source_format: str,
                       source_file_sha256: str, logical_date: dt.date, run_id: str) -> pd.DataFrame:
    """One raw manifest row per image of a delivered file (image id = content hash)."""
    n, channels, height, width = batch.images.shape
    hashes = [content_hash(img) for img in batch.images]
    return pd.DataFrame({
        "ingest_date": [logical_date] * n,
        "dataset": dataset,
        "image_id": hashes,
        "sha256": hashes,
        "source_split": batch.source_split,
        "label": batch.labels.astype(np.int64),
        "source_uri": source_uri,
        "record_index": np.arange(n, dtype=np.int64),
        "width": width,
        "height": height,
        "channels": channels,
        "source_format": source_format,
        "source_file_sha256": source_file_sha256,
        "landing_uri": landing_uri,
        "run_id": run_id,
    })


def build_png_manifest(images: list[DeliveredImage], *, dataset: str, raw_dir: str, landing_dir: str,
                       logical_date: dt.date, run_id: str) -> pd.DataFrame:
    """One raw manifest row per delivered PNG (one object each, record index 0). A PNG that does not
    decode gets a row without hash or shape: silver quarantines it with the decoder's reason."""
    hashes = [content_hash(i.pixels) if i.pixels is not None else None for i in images]
    shapes = [i.pixels.shape if i.pixels is not None else (None, None, None) for i in images]
    return pd.DataFrame({
        "ingest_date": [logical_date] * len(images),
        "dataset": dataset,
        "image_id": hashes,
        "sha256": hashes,
        "source_split": [i.source_split for i in images],
        "label": pd.array([i.label for i in images], dtype="Int64"),
        "source_uri": [storage.join(raw_dir, i.file_name) for i in images],
        "record_index": np.zeros(len(images), dtype=np.int64),
        "width": pd.array([s[2] for s in shapes], dtype="Int64"),
        "height": pd.array([s[1] for s in shapes], dtype="Int64"),
        "channels": pd.array([s[0] for s in shapes], dtype="Int64"),
        "source_format": "png",
        "source_file_sha256": [i.file_sha256 for i in images],
        "landing_uri": [storage.join(landing_dir, i.file_name) for i in images],
        "run_id": run_id,
    }, columns=[*MANIFEST_COLUMNS, "source_format", "source_file_sha256", "landing_uri", "run_id"])


# ---- URI confinement -------------------------------------------------------------------------
def uri_violation(uri: str | None, warehouse: str) -> str | None:
    """Why ``uri`` may not be read, or None when it lies inside the warehouse.

    Refused: empty URIs, ``..``/``.`` segments (also percent-encoded), backslashes, absolute local paths,
    relative paths with a ``:``, other schemes, other buckets and anything outside the warehouse prefix.
    Relative paths are taken relative to the warehouse. (Readers also refuse local paths that resolve
    through symbolic links to outside the warehouse: ``io.confined_uri``.)
    """
    if uri is None or not str(uri).strip():
        return "missing source URI"
    uri = str(uri)
    decoded = unquote(uri)
    if "\\" in decoded or "\x00" in decoded:
        return f"unsafe source URI {uri!r}: backslash or NUL character"
    scheme, sep, rest = decoded.partition("://")
    path = rest if sep else decoded
    segments = path.split("/")
    if any(s in ("..", ".") for s in segments):
        return f"unsafe source URI {uri!r}: '..' or '.' path segment escapes the warehouse"
    if not sep:
        if decoded.startswith("/") or re.match(r"^[A-Za-z]:", decoded):
            return f"unsafe source URI {uri!r}: absolute paths are not allowed, use a warehouse URI"
        if ":" in decoded:
            return f"unsafe source URI {uri!r}: ':' in a relative path (a scheme without '//'?)"
        return None  # relative to the warehouse
    base = storage.to_uri(warehouse).rstrip("/")
    normalised = storage.to_uri(decoded)
    base_scheme = base.split("://", 1)[0]
    if normalised.split("://", 1)[0] != base_scheme:
        return f"unsafe source URI {uri!r}: scheme {scheme!r} is not the warehouse's {base_scheme!r}"
    if base_scheme == "s3":
        bucket = normalised[len("s3://"):].split("/", 1)[0]
        base_bucket = base[len("s3://"):].split("/", 1)[0]
        if bucket != base_bucket:
            return f"unsafe source URI {uri!r}: bucket {bucket!r} is not the warehouse bucket {base_bucket!r}"
    if not normalised.startswith(base + "/") or posixpath.normpath(normalised.split("://", 1)[1]) != \
            normalised.split("://", 1)[1].rstrip("/"):
        return f"unsafe source URI {uri!r}: outside the warehouse {base}"
    return None


def resolve_uri(uri: str, warehouse: str) -> str:
    """Absolute URI of a confined manifest URI (relative paths are relative to the warehouse)."""
    if "://" in uri:
        return storage.to_uri(uri)
    return storage.join(storage.to_uri(warehouse), uri)


# ---- silver validation -----------------------------------------------------------------------
def validate_manifest(raw: pd.DataFrame, decoded: pd.DataFrame, spec: DatasetSpec,
                      warehouse: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split raw manifest rows into (valid, rejected-with-reason); duplicates by content hash removed.

    ``decoded`` is aligned with ``raw`` (same index) and holds what reading the object gave:
    ``decoded_sha256`` (None when not read) and ``decode_error`` (None when it decoded). The first
    failing check gives the reason, in this order: unsafe URI, not decodable, hash mismatch,
    missing id, shape, missing (or not 32-bit) label, duplicate. A label outside ``spec``'s classes (an unseen class) is
    not quarantined: the silver gate fails the whole delivery on it (expectations/silver_image_manifest.py).
    Of duplicates, the copy from the test split is kept (so an official test set stays complete), then the
    lowest (source_uri, record_index).
    """
    raw = raw.reset_index(drop=True)
    decoded = decoded.reset_index(drop=True)
    reasons = pd.Series([None] * len(raw), dtype=object)

    def flag(mask: pd.Series, texts: pd.Series | str) -> None:
        mask = mask & reasons.isna()
        if isinstance(texts, str):
            reasons[mask] = texts
        else:
            reasons[mask] = texts[mask]

    uri_reasons = raw["source_uri"].map(lambda u: uri_violation(u, warehouse))
    flag(uri_reasons.notna(), uri_reasons)
    errors = decoded["decode_error"]
    flag(errors.notna(), "object does not decode: " + errors.fillna("").astype(str))
    flag(decoded["decoded_sha256"].ne(raw["sha256"]) | raw["sha256"].isna(),
         "content hash mismatch: the stored object differs from the manifest's sha256")
    flag(raw["image_id"].isna() | raw["image_id"].ne(raw["sha256"]), "image id is not the content hash")
    shape_ok = (raw["width"].eq(spec.width) & raw["height"].eq(spec.height) & raw["channels"].eq(spec.channels))
    flag(~shape_ok, (f"dimensions differ from {spec.name}'s {spec.height}x{spec.width}x{spec.channels}: "
                     + raw["height"].astype(str) + "x" + raw["width"].astype(str) + "x"
                     + raw["channels"].astype(str)))
    # A label outside the declared classes is not an item problem but a delivery problem (another dataset's
    # labels, a corrupt label file): the row stays valid here and the silver gate fails the run on it.
    flag(raw["label"].isna(), "label missing")
    fits = raw["label"].between(-(2**31), 2**31 - 1)
    flag(~fits, "label is not a class index (outside the 32-bit label column): " + raw["label"].astype(str))

    ok = reasons.isna()
    candidates = raw[ok].assign(_test_first=raw["source_split"].ne("test").astype(int))
    candidates = candidates.sort_values(["image_id", "_test_first", "source_uri", "record_index"], kind="stable")
    first = candidates.drop_duplicates("image_id", keep="first")
    dupes = candidates.index.difference(first.index)
    keeper = first.set_index("image_id")
    for idx in dupes:
        kept = keeper.loc[raw.at[idx, "image_id"]]
        reasons[idx] = f"duplicate of image {raw.at[idx, 'image_id'][:16]} kept from {kept['source_uri']}" \
                       f"#{int(kept['record_index'])}"
    valid = raw[reasons.isna()].sort_values(["image_id"], kind="stable").reset_index(drop=True)
    # silver always carries absolute URIs (relative manifest paths are relative to the warehouse)
    valid["source_uri"] = valid["source_uri"].map(lambda u: resolve_uri(u, warehouse))
    rejected = raw[reasons.notna()].assign(reason=reasons[reasons.notna()]).reset_index(drop=True)
    return valid, rejected


# ---- Gold: split and normalisation -------------------------------------------------------------
@dataclass(frozen=True)
class SplitConfig:
    """How images are assigned to train/val/test (see VisionSettings).

    Every image's split is a pure function of its content hash, the salt and one fact about the delivery:
    whether it holds test files. ``u = hash_unit(image_id, salt)``: ``u < val_fraction`` is val; with
    delivered test files kept (``keep_source_test_split``, the default) the delivered test images are the test
    split as-is and everything else that is not val is train; without test files (or with
    ``keep_source_test_split`` off) ``val_fraction <= u < val_fraction + test_fraction`` is test, drawn from the
    delivered images. An image's val membership is therefore the same in both cases.
    """

    salt: str = "vision-split-v1"
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    keep_source_test_split: bool = True

    def __post_init__(self) -> None:
        if not (0 <= self.val_fraction < 1 and 0 <= self.test_fraction < 1
                and self.val_fraction + self.test_fraction < 1):
            raise LakehouseError("vision split fractions must be in [0, 1) and leave room for training")


def hash_unit(image_id: str, salt: str) -> float:
    """A stable number in [0, 1) from the image's content hash (independent of row order or run)."""
    digest = hashlib.sha256(f"{salt}:{image_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def uses_delivered_test(source_splits: Iterable[str | None], config: SplitConfig) -> bool:
    """Whether the delivered test files are the test split: they are kept and the delivery has some.
    Otherwise the test split is drawn by hash from every delivered image."""
    return config.keep_source_test_split and any(s == "test" for s in source_splits)


def assign_split(image_id: str, source_split: str | None, config: SplitConfig, *, delivered_test: bool) -> str:
    """train, val or test for one image: a pure function of its content hash, its delivered split and
    whether the delivered test files are the test split (:func:`uses_delivered_test`)."""
    u = hash_unit(image_id, config.salt)
    if delivered_test:
        if source_split == "test":
            return "test"
        return "val" if u < config.val_fraction else "train"
    if u < config.val_fraction:
        return "val"
    return "test" if u < config.val_fraction + config.test_fraction else "train"


def assign_splits(image_ids: Sequence[str], source_splits: Sequence[str | None], config: SplitConfig) -> np.ndarray:
    """The split of every image of one dataset's delivery (object array aligned with the inputs). The result
    for an image does not depend on the order of the rows or on which run computes it."""
    delivered_test = uses_delivered_test(source_splits, config)
    return np.array([assign_split(i, s, config, delivered_test=delivered_test)
                     for i, s in zip(image_ids, source_splits, strict=True)], dtype=object)


def expected_split_shares(source_test_share: float, config: SplitConfig) -> dict[str, float]:
    """The share of each split that :func:`assign_splits` aims at, given the share of delivered test images
    (0 when the delivery has no test files): what the Gold gate compares the observed shares with."""
    if config.keep_source_test_split and source_test_share > 0:
        expected = {"test": source_test_share, "val": config.val_fraction * (1 - source_test_share)}
    else:
        expected = {"test": config.test_fraction, "val": config.val_fraction}
    return {"train": 1 - expected["test"] - expected["val"], **expected}


def channel_stats(pixels: np.ndarray, chunk: int = 4096) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 ``(N, C, H, W)`` pixels scaled to [0, 1] (exact, chunked sums)."""
    if pixels.ndim != 4 or len(pixels) == 0:
        raise LakehouseError("normalisation statistics need at least one training image")
    channels = pixels.shape[1]
    total = np.zeros(channels, dtype=np.float64)
    total_sq = np.zeros(channels, dtype=np.float64)
    for start in range(0, len(pixels), chunk):
        part = pixels[start:start + chunk].astype(np.float64) / 255.0
        total += part.sum(axis=(0, 2, 3))
        total_sq += np.square(part).sum(axis=(0, 2, 3))
    count = pixels.shape[0] * pixels.shape[2] * pixels.shape[3]
    mean = total / count
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))
    return [float(m) for m in mean], [float(s) for s in std]


def build_training_set(silver: pd.DataFrame, pixels: np.ndarray, *, config: SplitConfig,
                       logical_date: dt.date, run_id: str) -> pd.DataFrame:
    """Gold rows: split by hash, pixel bytes, per-image stats, and the training split's channel stats.

    ``pixels`` is aligned with ``silver`` rows, uint8 ``(N, C, H, W)``. Rows come out sorted by
    (split, image_id) so the table's content does not depend on the order files were read in.
    """
    if len(silver) != len(pixels):
        raise LakehouseError(f"{len(silver)} manifest rows but {len(pixels)} images were loaded")
    silver = silver.reset_index(drop=True)
    splits = assign_splits(silver["image_id"].tolist(), silver["source_split"].tolist(), config)
    train_mask = splits == "train"
    mean, std = channel_stats(pixels[train_mask])
    scaled = pixels.reshape(len(pixels), -1).astype(np.float32) / 255.0
    gold = pd.DataFrame({
        "ingest_date": [logical_date] * len(silver),
        "dataset": silver["dataset"].to_numpy(),
        "image_id": silver["image_id"].to_numpy(),
        "label": silver["label"].astype(np.int64).to_numpy(),
        "split": splits,
        "source_split": silver["source_split"].to_numpy(),
        "width": silver["width"].astype(np.int64).to_numpy(),
        "height": silver["height"].astype(np.int64).to_numpy(),
        "channels": silver["channels"].astype(np.int64).to_numpy(),
        "pixels": [np.ascontiguousarray(p).tobytes() for p in pixels],
        "pixel_mean": scaled.mean(axis=1).astype(np.float64),
        "pixel_std": scaled.std(axis=1).astype(np.float64),
        "norm_mean": [mean] * len(silver),
        "norm_std": [std] * len(silver),
        "run_id": run_id,
    })
    return gold.sort_values(["split", "image_id"], kind="stable").reset_index(drop=True)


def split_shares(splits: pd.Series) -> dict[str, float]:
    """Share of each split among the rows."""
    counts = splits.value_counts()
    return {str(k): float(v) / float(len(splits)) for k, v in counts.items()}
