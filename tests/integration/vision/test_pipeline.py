"""The vision pipeline in-process on the shared Spark session: real digits to >= 97% test accuracy,
idempotent reruns, and bad input (corrupt files, tampered manifests, unbalanced batches) never published."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from io import BytesIO
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F

from lakehouse import frames
from lakehouse.errors import DataQualityError
from lakehouse.jobs import JobContext
from lakehouse.publish import audit_branch, branch_exists
from lakehouse.settings import LakehouseSettings
from lakehouse.write import current_snapshot_id, write_for_date
from schemas.vision import GOLD_IMAGE_TRAINING_SET, RAW_IMAGE_MANIFEST
from spark_jobs import gate
from spark_jobs.vision import formats, generator, gold, io, raw, silver

DIGITS_DAY = dt.date(2022, 2, 1)
CORRUPT_DAY = dt.date(2022, 2, 2)
TAMPER_DAY = dt.date(2022, 2, 3)
UNBALANCED_DAY = dt.date(2022, 2, 4)
PNG_DAY = dt.date(2022, 2, 5)


def _ctx(spark: Any, settings: LakehouseSettings, day: dt.date, run_id: str, **options: str) -> JobContext:
    return JobContext(settings, spark, day, run_id, {"dataset": "mnist", **options})


def run_pipeline(spark: Any, settings: LakehouseSettings, day: dt.date, run_id: str,
                 dataset: str = "mnist") -> dict[str, dict[str, Any]]:
    """raw -> silver -> gate (publish silver + quarantine) -> gold -> gate (publish gold)."""
    out: dict[str, dict[str, Any]] = {}
    steps: list[tuple[str, Callable[[JobContext], dict[str, Any]], dict[str, str]]] = [
        ("raw", raw.main, {}),
        ("silver", silver.main, {}),
        ("gate_silver", gate.main, {"table": "silver.image_manifest", "suite": "silver_image_manifest",
                                    "publish": "silver.image_manifest,quarantine.image_manifest"}),
        ("gold", gold.main, {}),
        ("gate_gold", gate.main, {"table": "gold.image_training_set", "suite": "gold_image_training_set"}),
    ]
    for name, main, options in steps:
        job_options = options if name.startswith("gate") else {"dataset": dataset, **options}
        out[name] = main(JobContext(settings, spark, day, run_id, job_options))
    return out


def _rows(spark: Any, settings: LakehouseSettings, identifier: str, day: dt.date,
          dataset: str = "mnist") -> pd.DataFrame:
    return io.read_dataset_rows(spark, settings, identifier, day, dataset)


@pytest.fixture(scope="module")
def digits(spark, local_settings) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """scikit-learn's real digits written as MNIST IDX, run through the whole pipeline once."""
    landing = io.landing_dir(local_settings, "mnist")
    generator.write_files(local_settings, landing, generator.digits_files())
    first = run_pipeline(spark, local_settings, DIGITS_DAY, "digits_run_1")
    snapshot = current_snapshot_id(spark, local_settings.table_name(GOLD_IMAGE_TRAINING_SET.identifier))
    return {"summary": first, "gold_snapshot": snapshot}


def test_digits_pipeline_counts(digits, spark, local_settings) -> None:
    summary = digits["summary"]
    assert summary["raw"]["images"] == 1797
    assert summary["silver"]["raw"] == 1797
    assert summary["silver"]["valid"] + summary["silver"]["quarantined"] == 1797
    gold_rows = _rows(spark, local_settings, GOLD_IMAGE_TRAINING_SET.identifier, DIGITS_DAY)
    assert len(gold_rows) == summary["silver"]["valid"]
    assert gold_rows["image_id"].is_unique
    assert set(gold_rows["split"]) == {"train", "val", "test"}
    assert len(gold_rows["norm_mean"].map(tuple).unique()) == 1
    for table in ("silver.image_manifest", "quarantine.image_manifest", "gold.image_training_set"):
        assert not branch_exists(spark, local_settings.table_name(table), audit_branch("digits_run_1"))
    raw_zone = io.raw_zone_dir(local_settings, "mnist", DIGITS_DAY)
    kept = io.read_bytes(local_settings, f"{raw_zone}/train-images-idx3-ubyte")
    assert kept == generator.digits_files()["train-images-idx3-ubyte"], "raw files are kept unchanged"


def test_digits_reach_97_percent_test_accuracy(digits, local_settings) -> None:
    import torch

    from lakehouse.registry import list_models
    from lakehouse.training import train

    torch.set_num_threads(2)
    settings = local_settings.model_copy(update={"vision": local_settings.vision.model_copy(update={
        "epochs": {"mnist": 6}, "batch_size": 64, "width": 16, "device": "cpu"})})
    start = time.perf_counter()
    steps = train(settings, "ml.vision:TRAINER", DIGITS_DAY, "digits_run_1",
                  {"dataset": "mnist", "snapshots": {"gold.image_training_set": digits["gold_snapshot"]}})
    result = steps["evaluate"]["metrics"]
    seconds = time.perf_counter() - start
    print(f"digits: test accuracy {result['test_accuracy']:.4f}, training {result['train_seconds']:.1f}s "
          f"(total {seconds:.1f}s)")
    assert result["test_accuracy"] >= 0.97
    models = [m for m in list_models(local_settings, "vision_mnist_cnn") if m["model_version"] == "digits_run_1"]
    assert len(models) == 1
    model = models[0]
    assert model["training_snapshots"] == {"gold.image_training_set": digits["gold_snapshot"]}
    assert model["metrics"]["test_accuracy"] == result["test_accuracy"]
    assert len(model["metrics"]["test_confusion_matrix"]) == 10
    assert set(model["metrics"]["test_per_class_accuracy"]) == {str(d) for d in range(10)}


def test_rerun_gives_identical_gold(digits, spark, local_settings) -> None:
    before = _rows(spark, local_settings, GOLD_IMAGE_TRAINING_SET.identifier, DIGITS_DAY)
    run_pipeline(spark, local_settings, DIGITS_DAY, "digits_run_2")
    after = _rows(spark, local_settings, GOLD_IMAGE_TRAINING_SET.identifier, DIGITS_DAY)
    columns = ["image_id", "label", "split", "pixels", "norm_mean", "norm_std"]
    key = ["image_id"]
    b = before[columns].sort_values(key).reset_index(drop=True)
    a = after[columns].sort_values(key).reset_index(drop=True)
    assert len(a) == len(b)
    assert (a["split"] == b["split"]).all() and (a["pixels"] == b["pixels"]).all()
    assert a["norm_mean"].map(tuple).equals(b["norm_mean"].map(tuple))
    assert set(after["run_id"]) == {"digits_run_2"}
    raw_rows = _rows(spark, local_settings, RAW_IMAGE_MANIFEST.identifier, DIGITS_DAY)
    assert len(raw_rows) == 1797, "a rerun replaces the date's raw rows, never duplicates them"


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda f: {**f, "train-images-idx3-ubyte.gz": f["train-images-idx3-ubyte.gz"][:500]},
         "train-images-idx3-ubyte.gz: corrupt or truncated gzip"),
        (lambda f: {**f, "t10k-labels-idx1-ubyte.gz": formats.write_idx(np.zeros(3, np.uint8), gzipped=True)},
         "label/image count mismatch"),
        (lambda f: {**f, "t10k-images-idx3-ubyte.gz": f["t10k-labels-idx1-ubyte.gz"]},
         "wrong magic number 0x00000801, expected 0x00000803"),
        (lambda f: {**f, "png/train/eleven/0.png": formats.write_png(np.zeros((1, 28, 28), np.uint8))},
         "1 file(s) not in png/<train|test>/<class>/<name>.png with a mnist class (0..9): png/train/eleven/0.png"),
    ],
    ids=["truncated", "count-mismatch", "wrong-magic", "misplaced-png"],
)
def test_corrupt_delivery_stops_raw_with_one_line(spark, local_settings, capsys, corrupt, message) -> None:
    from lakehouse.jobs import run_job

    files = corrupt(generator.generate_files("mnist", 40, seed=1))
    generator.write_files(local_settings, io.landing_dir(local_settings, "mnist"), files)
    table = local_settings.table_name(RAW_IMAGE_MANIFEST.identifier)
    before = current_snapshot_id(spark, table)
    with pytest.raises(SystemExit) as exit_info:
        run_job(raw.main, app_name="vision-raw", settings=local_settings, spark=spark,
                argv=["--logical-date", CORRUPT_DAY.isoformat(), "--run-id", "corrupt", "--option", "dataset=mnist"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert current_snapshot_id(spark, table) == before, "nothing written"
    import pyarrow.fs as pafs

    from lakehouse import storage

    fs, path = storage.filesystem(local_settings, io.raw_zone_dir(local_settings, "mnist", CORRUPT_DAY))
    assert fs.get_file_info(path).type == pafs.FileType.NotFound, "nothing landed in the raw zone"


def test_tampered_manifest_rows_are_quarantined(spark, local_settings) -> None:
    generator.write_files(local_settings, io.landing_dir(local_settings, "mnist"),
                          generator.generate_files("mnist", 60, seed=4))
    raw.main(_ctx(spark, local_settings, TAMPER_DAY, "tamper"))
    rows = _rows(spark, local_settings, RAW_IMAGE_MANIFEST.identifier, TAMPER_DAY)
    rows = rows.sort_values(["source_uri", "record_index"]).reset_index(drop=True)
    rows.loc[0, "source_uri"] = "raw_files/../../../etc/passwd"
    rows.loc[1, "source_uri"] = "/etc/passwd"
    rows.loc[2, "source_uri"] = "s3://someone-elses-bucket/x"
    rows.loc[4, "record_index"] = 10_000
    rows = pd.concat([rows, rows.loc[[5]].assign(record_index=rows.loc[6, "record_index"])], ignore_index=True)
    df = frames.to_spark(spark, local_settings, RAW_IMAGE_MANIFEST, rows)
    write_for_date(spark, local_settings, RAW_IMAGE_MANIFEST, df, logical_date=TAMPER_DAY, run_id="tamper")

    summary = silver.main(_ctx(spark, local_settings, TAMPER_DAY, "tamper"))
    assert summary["quarantined"] == 5 and summary["valid"] == 56
    gate.main(JobContext(local_settings, spark, TAMPER_DAY, "tamper", {
        "table": "silver.image_manifest", "suite": "silver_image_manifest",
        "publish": "silver.image_manifest,quarantine.image_manifest"}))
    quarantine = _rows(spark, local_settings, "quarantine.image_manifest", TAMPER_DAY)
    reasons = " | ".join(sorted(quarantine["reason"]))
    assert "'..'" in reasons and "absolute paths" in reasons and "scheme" in reasons
    assert "record 10000 not in" in reasons  # (an unseen label fails the silver gate: test_real_deliveries.py)
    assert "content hash mismatch" in reasons  # row 5 pointing at row 6's bytes
    silver_rows = _rows(spark, local_settings, "silver.image_manifest", TAMPER_DAY)
    assert len(silver_rows) == 56 and not silver_rows["source_uri"].str.contains("etc/passwd").any()


def test_unbalanced_batch_fails_the_gold_gate_and_is_not_published(spark, local_settings) -> None:
    files = generator.generate_files("mnist", 200, seed=6)
    labels = formats.read_idx(files["train-labels-idx1-ubyte.gz"], "l").copy()
    labels[: int(len(labels) * 0.6)] = 3  # 60% of the training labels become "3"
    files["train-labels-idx1-ubyte.gz"] = formats.write_idx(labels, gzipped=True)
    generator.write_files(local_settings, io.landing_dir(local_settings, "mnist"), files)
    gold_table = local_settings.table_name(GOLD_IMAGE_TRAINING_SET.identifier)
    with pytest.raises(DataQualityError, match=r"gold_image_training_set failed .*label"):
        run_pipeline(spark, local_settings, UNBALANCED_DAY, "unbalanced")
    published = spark.table(gold_table).where(F.col("ingest_date") == F.lit(UNBALANCED_DAY)).count()
    assert published == 0, "a failed gate publishes nothing"
    assert branch_exists(spark, gold_table, audit_branch("unbalanced")), "the staged batch stays for inspection"


def test_png_folder_delivery_quarantines_undecodable_images(spark, lake) -> None:
    """CIFAR-10 as png/<split>/<class>/ folders: every PNG is landed unchanged; the ones that do not decode
    (or are not RGB) are quarantined with the decoder's reason; the rest reach Gold."""
    from PIL import Image

    files = generator.generate_files("cifar10", 80, seed=11, image_format="png")
    good = next(iter(files.values()))
    files["png/train/cat/truncated.png"] = good[: len(good) // 2]
    rgba = BytesIO()
    Image.new("RGBA", (32, 32)).save(rgba, format="PNG")
    files["png/test/frog/rgba.png"] = rgba.getvalue()
    generator.write_files(lake, io.landing_dir(lake, "cifar10"), files)

    summary = run_pipeline(spark, lake, PNG_DAY, "png_run", dataset="cifar10")
    assert summary["raw"]["images"] == 82 and summary["raw"]["undecodable_png"] == 2
    assert summary["silver"]["valid"] == 80 and summary["silver"]["quarantined"] == 2
    quarantine = _rows(spark, lake, "quarantine.image_manifest", PNG_DAY, "cifar10").set_index("source_uri")
    reasons = {uri.rsplit("/", 1)[-1]: reason for uri, reason in quarantine["reason"].items()}
    assert reasons["truncated.png"].startswith("object does not decode: truncated.png: PNG does not decode")
    assert "unsupported PNG mode 'RGBA'" in reasons["rgba.png"]
    gold_rows = _rows(spark, lake, GOLD_IMAGE_TRAINING_SET.identifier, PNG_DAY, "cifar10")
    assert len(gold_rows) == 80 and set(gold_rows["split"]) == {"train", "val", "test"}
    raw_zone = io.raw_zone_dir(lake, "cifar10", PNG_DAY)
    assert io.read_bytes(lake, f"{raw_zone}/png/train/cat/truncated.png") == files["png/train/cat/truncated.png"]
