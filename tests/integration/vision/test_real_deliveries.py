"""Deliveries as they actually arrive (issue 14), on the shared Spark session (in-process, no training, except
the tarball's run, which goes through Airflow):

- MNIST as only its two training IDX files and CIFAR-10 as only its ``data_batch_*`` pickles, landed on the
  same logical date: each gets a test split drawn by hash from its delivered images, and neither run replaces
  the other's rows in ``gold.image_training_set`` (rows are keyed by dataset);
- a label outside the dataset's declared classes (an unseen class) fails the silver gate with one readable
  line, and nothing of the delivery is published;
- CIFAR-10 as its published ``cifar-10-python.tar.gz`` (never unpacked by anyone) goes through the DAG,
  and a tarball with a hostile member stops the raw step with one line, landing nothing.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import pytest
from pyspark.sql import functions as F

from lakehouse import storage
from lakehouse.errors import DataQualityError
from lakehouse.jobs import JobContext
from lakehouse.settings import LakehouseSettings
from schemas.vision import GOLD_IMAGE_TRAINING_SET
from spark_jobs import gate
from spark_jobs.vision import formats, generator, gold, io, raw, silver
from spark_jobs.vision.gold import split_config_of
from spark_jobs.vision.transforms import assign_splits
from tests.support.airflow import run_dag, task_states

SHARED_DAY = dt.date(2022, 6, 1)  # dates no other test uses
UNSEEN_DAY = dt.date(2022, 6, 2)
TARBALL_DAY = dt.date(2022, 6, 3)
HOSTILE_TARBALL_DAY = dt.date(2022, 6, 4)
SILVER_GATE = {"table": "silver.image_manifest", "suite": "silver_image_manifest",
               "publish": "silver.image_manifest,quarantine.image_manifest"}
GOLD_GATE = {"table": "gold.image_training_set", "suite": "gold_image_training_set"}


def _run(spark: Any, settings: LakehouseSettings, day: dt.date, run_id: str, dataset: str) -> None:
    """raw -> silver -> silver gate (publish) -> gold -> gold gate (publish), as the DAG orders them."""
    steps: list[tuple[Callable[[JobContext], dict[str, Any]], dict[str, str]]] = [
        (raw.main, {"dataset": dataset}), (silver.main, {"dataset": dataset}), (gate.main, SILVER_GATE),
        (gold.main, {"dataset": dataset}), (gate.main, GOLD_GATE)]
    for main, options in steps:
        main(JobContext(settings, spark, day, run_id, options))


def _train_files_only(dataset: str, n: int, seed: int) -> dict[str, bytes]:
    """A delivery without test files: MNIST's train-*-ubyte.gz pair, or CIFAR-10's data_batch_1..5 alone."""
    files = generator.generate_files(dataset, n, seed=seed, test_fraction=0.0)
    keep = ("train-",) if dataset == "mnist" else (f"{formats.CIFAR_DIR}/data_batch_",)
    return {name: data for name, data in files.items() if name.startswith(keep)}


def test_train_only_deliveries_of_both_datasets_on_one_date_keep_their_rows_and_draw_test_by_hash(
        spark, local_settings) -> None:
    settings = local_settings
    table = settings.table_name(GOLD_IMAGE_TRAINING_SET.identifier)
    for dataset in ("mnist", "cifar10"):
        landing = io.landing_dir(settings, dataset)
        generator.write_files(settings, landing, _train_files_only(dataset, 50, seed=21))
        _run(spark, settings, SHARED_DAY, f"same_day_{dataset}", dataset)

    rows = spark.table(table).where(F.col("ingest_date") == F.lit(SHARED_DAY)).drop("pixels").toPandas()
    assert rows.groupby("dataset").size().to_dict() == {"mnist": 50, "cifar10": 50}, "the cifar10 run kept mnist's"
    assert set(rows["run_id"]) == {"same_day_mnist", "same_day_cifar10"}
    for dataset, part in rows.groupby("dataset"):
        assert set(part["source_split"]) == {"train"}, "no test files were delivered"
        assert set(part["split"]) == {"train", "val", "test"}, f"{dataset}: the test split is drawn by hash"
        again = assign_splits(part["image_id"].tolist()[::-1], ["train"] * len(part), split_config_of(settings.vision))
        assert part["split"].tolist() == again.tolist()[::-1], "the split is a function of each image's hash"
        assert set(part[part["split"] == "train"]["label"]) == set(range(10))


def test_an_unseen_label_fails_the_silver_gate_and_nothing_is_published(spark, local_settings) -> None:
    settings = local_settings
    files = generator.generate_files("mnist", 30, seed=23)
    name = "train-labels-idx1-ubyte.gz"
    labels = formats.read_idx(files[name], name).copy()
    labels[[2, 5]] = [10, 12]  # e.g. an EMNIST label file next to MNIST images
    files[name] = formats.write_idx(labels, gzipped=True)
    generator.write_files(settings, io.landing_dir(settings, "mnist"), files)

    with pytest.raises(DataQualityError) as failed:
        _run(spark, settings, UNSEEN_DAY, "unseen_label", "mnist")
    message = str(failed.value)
    assert "\n" not in message and "quality gate silver_image_manifest failed" in message
    assert "2 rows" in message and "label not in {0, 1, 2, 3, 4, 5, 6, 7, ...}" in message
    assert re.search(r"\(e\.g\. (10, 12|12, 10)\)", message), message
    assert "mnist declares classes 0-9: any other label is an unseen class" in message
    for identifier in ("silver.image_manifest", "quarantine.image_manifest", "gold.image_training_set"):
        published = spark.table(settings.table_name(identifier)).where(F.col("ingest_date") == F.lit(UNSEEN_DAY))
        assert published.count() == 0, f"{identifier}: a failed gate publishes nothing"


def test_the_published_cifar_tarball_goes_through_the_dag_as_delivered(airflow_env, spark, local_settings) -> None:
    """Through Airflow (dag.test), training included: one tiny CPU epoch (this checks the delivery, not accuracy)."""
    vision = local_settings.vision.model_copy(update={"epochs": {"mnist": 1, "cifar10": 1}, "batch_size": 32,
                                                      "device": "cpu"})
    settings = local_settings.model_copy(update={"vision": vision})
    archive = generator.cifar_archive_files(40, seed=31)
    landing = io.landing_dir(settings, "cifar10")
    generator.write_files(settings, landing, {**archive, ".DS_Store": b"\0"})
    dag_run = run_dag("vision_cnn_classifier", TARBALL_DAY, settings, run_conf={"dataset": "cifar10"})
    states = task_states(dag_run)
    assert set(states.values()) == {"success"}, states

    def rows(identifier: str):  # type: ignore[no-untyped-def]
        return spark.table(settings.table_name(identifier)).where(F.col("ingest_date") == F.lit(TARBALL_DAY))

    gold = rows("gold.image_training_set").where(F.col("dataset") == "cifar10").drop("pixels").toPandas()
    assert len(gold) == 40 and set(gold["source_split"]) == {"train", "test"}
    manifest = rows("raw.image_manifest").where(F.col("dataset") == "cifar10").toPandas()
    assert set(manifest["landing_uri"]) == {f"{landing}/cifar-10-python.tar.gz"}
    raw_zone = io.raw_zone_dir(settings, "cifar10", TARBALL_DAY)
    assert {u.rsplit("/", 2)[-2] for u in manifest["source_uri"]} == {formats.CIFAR_DIR}
    kept = storage.read_bytes(settings, f"{raw_zone}/cifar-10-python.tar.gz")
    assert kept == archive["cifar-10-python.tar.gz"], "the delivered tarball is kept unchanged"
    delivered = spark.table(settings.table_name("raw.delivered_files")).where(
        (F.col("logical_date") == F.lit(TARBALL_DAY)) & (F.col("dataset") == "cifar10")).collect()
    assert {r["file_name"]: (r["outcome"], r["rows"]) for r in delivered} == {
        "cifar-10-python.tar.gz": ("ingested", 40), ".DS_Store": ("ignored", None)}


def test_a_tarball_with_a_hostile_member_lands_nothing(spark, local_settings) -> None:
    import io as bytes_io
    import tarfile

    settings = local_settings
    out = bytes_io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        info = tarfile.TarInfo(f"{formats.CIFAR_DIR}/data_batch_1")
        info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(info)
    generator.write_files(settings, io.landing_dir(settings, "cifar10"), {"cifar-10-python.tar.gz": out.getvalue()})
    with pytest.raises(formats.FormatError) as failed:
        raw.main(JobContext(settings, spark, HOSTILE_TARBALL_DAY, "hostile_tarball", {"dataset": "cifar10"}))
    assert "\n" not in str(failed.value) and "is not a regular file" in str(failed.value)
    manifest = spark.table(settings.table_name("raw.image_manifest")).where(
        F.col("ingest_date") == F.lit(HOSTILE_TARBALL_DAY))
    assert manifest.count() == 0
    fs, path = storage.filesystem(settings, io.raw_zone_dir(settings, "cifar10", HOSTILE_TARBALL_DAY))
    import pyarrow.fs as pafs

    assert fs.get_file_info(path).type == pafs.FileType.NotFound, "nothing landed in the raw zone"
