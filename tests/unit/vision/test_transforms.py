"""Manifest validation, URI confinement, split stability and normalisation statistics."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from spark_jobs.vision import formats, transforms
from spark_jobs.vision.generator import generate_files
from spark_jobs.vision.transforms import SplitConfig, assign_split, uri_violation

WAREHOUSE = "file:///data/warehouse"
DAY = dt.date(2024, 3, 1)


@pytest.mark.parametrize(
    ("uri", "fragment"),
    [
        ("file:///data/warehouse/raw_files/vision/mnist/f", None),
        ("raw_files/vision/mnist/f", None),
        ("file:///data/warehouse/../secrets", "'..'"),
        ("raw_files/../../etc/passwd", "'..'"),
        ("file:///data/warehouse/raw/%2E%2E/%2e%2e/x", "'..'"),
        ("/etc/passwd", "absolute paths"),
        ("C:/windows/x", "absolute paths"),
        ("file:///data/warehouse-other/x", "outside the warehouse"),
        ("file:///etc/passwd", "outside the warehouse"),
        ("file:/etc/passwd", "':' in a relative path"),
        ("file://data/warehouse/x", "outside the warehouse"),
        ("file:///data/warehouse", "outside the warehouse"),
        ("s3://other-bucket/warehouse/x", "scheme 's3'"),
        ("http://evil.example/x", "scheme 'http'"),
        ("raw_files\\..\\x", "backslash"),
        ("", "missing source URI"),
        (None, "missing source URI"),
    ],
)
def test_uri_violation_local(uri: str | None, fragment: str | None) -> None:
    reason = uri_violation(uri, WAREHOUSE)
    if fragment is None:
        assert reason is None
    else:
        assert reason is not None and fragment in reason


def test_uri_violation_s3() -> None:
    assert uri_violation("s3://lake/warehouse/raw_files/x", "s3://lake/warehouse") is None
    assert uri_violation("s3a://lake/warehouse/raw_files/x", "s3://lake/warehouse") is None
    assert "bucket 'other'" in (uri_violation("s3://other/warehouse/x", "s3://lake/warehouse") or "")
    assert "outside the warehouse" in (uri_violation("s3://lake/elsewhere/x", "s3://lake/warehouse") or "")


def _manifest(dataset: str = "mnist", n: int = 40) -> tuple[pd.DataFrame, np.ndarray]:
    delivered = formats.read_delivery(dataset, generate_files(dataset, n, seed=5))
    frames, pixels = [], []
    for d in delivered:
        frames.append(transforms.build_raw_manifest(
            d.batch, dataset=dataset, source_uri=f"{WAREHOUSE}/raw_files/{d.file_name}", landing_uri="l",
            source_format=d.source_format, source_file_sha256="f", logical_date=DAY, run_id="r"))
        pixels.append(d.batch.images)
    return pd.concat(frames, ignore_index=True), np.concatenate(pixels)


def _decoded_ok(raw: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"decoded_sha256": raw["sha256"], "decode_error": None}, index=raw.index)


def test_raw_manifest_rows() -> None:
    raw, pixels = _manifest()
    assert len(raw) == 40 and raw["record_index"].min() == 0
    assert raw.loc[0, "image_id"] == transforms.content_hash(pixels[0])
    assert set(raw["source_split"]) == {"train", "test"}
    assert (raw[["width", "height", "channels"]].drop_duplicates().values.tolist() == [[28, 28, 1]])


def test_validate_manifest_quarantines_each_kind_of_bad_row() -> None:
    raw, _ = _manifest()
    raw.loc[1, "label"] = 2**40
    raw.loc[8, "label"] = 11  # an unseen class: kept, the silver gate fails the delivery on it
    raw.loc[2, "width"] = 32
    raw.loc[3, "source_uri"] = "file:///etc/passwd"
    raw.loc[4, "source_uri"] = "raw_files/../../x"
    dup = raw.loc[[5]].assign(record_index=99)
    raw = pd.concat([raw, dup], ignore_index=True)
    decoded = _decoded_ok(raw)
    decoded.loc[6, "decode_error"] = "t: truncated IDX file"
    decoded.loc[6, "decoded_sha256"] = None
    decoded.loc[7, "decoded_sha256"] = "0" * 64
    valid, rejected = transforms.validate_manifest(raw, decoded, formats.DATASETS["mnist"], WAREHOUSE)
    reasons = dict(zip(rejected["record_index"], rejected["reason"], strict=True))
    assert len(valid) + len(rejected) == len(raw)
    assert reasons[1].startswith("label is not a class index")
    assert 8 not in reasons and 11 in set(valid["label"])
    assert reasons[2].startswith("dimensions differ")
    assert "outside the warehouse" in reasons[3]
    assert "'..'" in reasons[4]
    assert reasons[6].startswith("object does not decode: t: truncated")
    assert reasons[7].startswith("content hash mismatch")
    assert reasons[99].startswith("duplicate of image")
    assert valid["image_id"].is_unique
    assert 5 in set(valid["record_index"])  # the first copy is kept


def test_relative_uris_become_absolute_in_silver() -> None:
    raw, _ = _manifest()
    raw["source_uri"] = raw["source_uri"].str.replace(f"{WAREHOUSE}/", "", regex=False)
    valid, rejected = transforms.validate_manifest(raw, _decoded_ok(raw), formats.DATASETS["mnist"], WAREHOUSE)
    assert rejected.empty and valid["source_uri"].str.startswith(f"{WAREHOUSE}/raw_files/").all()


def test_duplicate_prefers_test_copy() -> None:
    raw, _ = _manifest()
    train_row = raw[raw["source_split"] == "train"].iloc[[0]]
    copy = train_row.assign(source_split="test", source_uri=f"{WAREHOUSE}/raw_files/zzz", record_index=7)
    raw = pd.concat([raw, copy], ignore_index=True)
    valid, rejected = transforms.validate_manifest(raw, _decoded_ok(raw), formats.DATASETS["mnist"], WAREHOUSE)
    kept = valid[valid["image_id"] == train_row["image_id"].iloc[0]]
    assert kept["source_split"].tolist() == ["test"] and len(rejected) == 1


def test_validation_is_order_independent() -> None:
    raw, _ = _manifest()
    raw = pd.concat([raw, raw.loc[[3]].assign(record_index=50)], ignore_index=True)
    a, _ = transforms.validate_manifest(raw, _decoded_ok(raw), formats.DATASETS["mnist"], WAREHOUSE)
    shuffled = raw.sample(frac=1.0, random_state=1)
    b, _ = transforms.validate_manifest(shuffled, _decoded_ok(shuffled), formats.DATASETS["mnist"], WAREHOUSE)
    pd.testing.assert_frame_equal(a, b)


def test_split_is_stable_and_disjoint() -> None:
    ids = [transforms.content_hash(np.full((1, 2, 2), i, dtype=np.uint8)) for i in range(256)]
    config = SplitConfig(val_fraction=0.2)
    first = [assign_split(i, "train", config, delivered_test=True) for i in ids]
    again = [assign_split(i, "train", SplitConfig(val_fraction=0.2), delivered_test=True) for i in reversed(ids)][::-1]
    assert first == again  # same content -> same split, whatever the order or run
    assert set(first) == {"train", "val"}
    assert 0.1 < first.count("val") / len(first) < 0.3
    assert all(assign_split(i, "test", config, delivered_test=True) == "test" for i in ids)
    other_salt = [assign_split(i, "train", SplitConfig(salt="other", val_fraction=0.2), delivered_test=True)
                  for i in ids]
    assert other_salt != first
    pure = SplitConfig(val_fraction=0.1, test_fraction=0.2, keep_source_test_split=False)
    shares = pd.Series(transforms.assign_splits(ids, ["test"] * len(ids), pure)).value_counts(normalize=True)
    assert 0.1 < shares["test"] < 0.3 and shares["train"] > 0.55


def test_split_config_rejects_bad_fractions() -> None:
    with pytest.raises(Exception, match="fractions"):
        SplitConfig(val_fraction=0.6, test_fraction=0.5)


def test_channel_stats_match_numpy() -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (50, 3, 8, 8), dtype=np.uint8)
    mean, std = transforms.channel_stats(pixels, chunk=7)
    scaled = pixels.astype(np.float64) / 255
    np.testing.assert_allclose(mean, scaled.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(std, scaled.std(axis=(0, 2, 3)), rtol=1e-9)
    with pytest.raises(Exception, match="at least one training image"):
        transforms.channel_stats(pixels[:0])


def test_training_set_stats_use_train_split_only() -> None:
    raw, pixels = _manifest("cifar10", 60)
    valid, _ = transforms.validate_manifest(raw, _decoded_ok(raw), formats.DATASETS["cifar10"], WAREHOUSE)
    order = {h: i for i, h in enumerate(raw["image_id"])}
    aligned = pixels[[order[h] for h in valid["image_id"]]]
    # make every test image white: the stats must not move
    test_mask = (valid["source_split"] == "test").to_numpy()
    gold = transforms.build_training_set(valid, aligned, config=SplitConfig(), logical_date=DAY, run_id="r")
    whitened = aligned.copy()
    whitened[test_mask] = 255
    gold_white = transforms.build_training_set(valid, whitened, config=SplitConfig(), logical_date=DAY, run_id="r")
    assert gold["norm_mean"].iloc[0] == gold_white["norm_mean"].iloc[0]
    train_pixels = np.stack([np.frombuffer(p, np.uint8).reshape(3, 32, 32)
                             for p in gold.loc[gold["split"] == "train", "pixels"]])
    np.testing.assert_allclose(gold["norm_mean"].iloc[0], transforms.channel_stats(train_pixels)[0])
    assert set(gold.loc[gold["source_split"] == "test", "split"]) == {"test"}
    assert gold["image_id"].is_unique and len(gold) == len(valid)
    assert gold["pixel_mean"].between(0, 1).all()
    again = transforms.build_training_set(valid.sample(frac=1.0, random_state=3),
                                          aligned[valid.sample(frac=1.0, random_state=3).index],
                                          config=SplitConfig(), logical_date=DAY, run_id="r")
    pd.testing.assert_frame_equal(gold, again)
