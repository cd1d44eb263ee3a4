"""vision_cnn_classifier with a seeded bad batch: the Gold gate rejects it and training never starts.

The batch: a generated MNIST delivery whose training label file was rewritten so that every other
image is labelled 7 (a labelling bug upstream). Every label is a valid digit, so raw lands it, silver
validates every image and the silver gate passes and publishes the manifest; in Gold, class 7 holds
about half of the training split, far above ``vision.class_share_max`` x the uniform share, so the
``gold_image_training_set`` suite rejects the class-7 rows.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
from pyspark.sql import functions as F

from lakehouse.publish import audit_branch
from spark_jobs.vision import formats, generator, io
from tests.support.airflow import run_dag, task_states
from tests.support.gates import (
    StoppedRun,
    assert_nothing_registered,
    assert_stopped_at_gate,
    main_snapshots,
    read_report,
    refs,
    staged_rows,
    task_tries,
    with_fast_retries,
)

BAD_DAY = dt.date(2024, 8, 20)  # no other test uses it (tables are shared within a test run)
DATASET, IMAGES, SKEWED_LABEL = "mnist", 80, 7
RUN = StoppedRun(upstream=("land_raw", "build_silver", "gate_silver", "build_gold"), gate="gate_gold",
                 downstream=("train_register",))
GATED = ("gold.image_training_set",)  # what gate_gold would publish


def _skewed_delivery() -> dict[str, bytes]:
    """The generated delivery with every other training label overwritten by SKEWED_LABEL."""
    files = generator.generate_files(DATASET, IMAGES, seed=17)
    name = formats.MNIST_FILES["train"][1] + ".gz"
    labels = formats.read_idx(files[name], name, magic=formats.IDX_LABELS_MAGIC).copy()
    labels[::2] = SKEWED_LABEL
    files[name] = formats.write_idx(labels.astype(np.uint8), gzipped=True)
    return files


def _day_rows(df):  # type: ignore[no-untyped-def]
    return df.where((F.col("ingest_date") == F.lit(BAD_DAY)) & (F.col("dataset") == DATASET))


def test_bad_batch_stops_the_dag_at_the_gold_gate(airflow_env, spark, local_settings) -> None:
    """Gold gate failed, training upstream_failed, Gold main and the registry unchanged, report and
    audit branch kept; the silver gate before it passed and published silver."""
    settings = with_fast_retries(local_settings)
    generator.write_files(settings, io.landing_dir(settings, DATASET), _skewed_delivery())
    before = main_snapshots(spark, settings, (*GATED, "ml.model_registry"))

    dag_run = run_dag("vision_cnn_classifier", BAD_DAY, settings, run_conf={"dataset": DATASET})
    run_id = dag_run.run_id

    assert_stopped_at_gate(task_states(dag_run), RUN)
    assert str(dag_run.state) == "failed"
    assert task_tries(dag_run)[RUN.gate] == 2, "the gate's retry ran and failed again"
    silver = _day_rows(spark.table(settings.table_name("silver.image_manifest")))
    assert silver.count() == IMAGES, "the silver gate passed and published every image"

    after = main_snapshots(spark, settings, (*GATED, "ml.model_registry"))
    assert {t: after[t] for t in GATED} == {t: before[t] for t in GATED}
    assert _day_rows(spark.table(settings.table_name("gold.image_training_set"))).count() == 0

    report = read_report(settings, "gold_image_training_set", BAD_DAY, run_id)
    assert report["success"] is False and report["run_id"] == run_id
    assert report["failed"] == ["expect_column_values_to_be_in_set(label)"], report["failed"]

    branch = audit_branch(run_id)
    assert refs(spark, settings, "gold.image_training_set").get(branch, ("missing",))[0] == "BRANCH"
    staged = _day_rows(staged_rows(spark, settings, "gold.image_training_set", run_id)).drop("pixels")
    train = staged.where(F.col("split") == "train")
    skewed = train.where(F.col("label") == SKEWED_LABEL).count() / train.count()
    assert staged.count() == IMAGES and skewed > settings.vision.class_share_max / 10, \
        "the rejected rows stay inspectable on the branch"

    assert_nothing_registered(spark, settings, run_id, before["ml.model_registry"])
