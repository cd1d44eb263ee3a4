"""vision_cnn_classifier with seeded bad batches: the Gold gate rejects them and training never starts.

Two batches, both generated MNIST deliveries with every label a valid digit, so raw lands them, silver
validates every image and the silver gate passes and publishes the manifest; the class balance that the
``gold_image_training_set`` suite checks is what is broken:

- ``skewed``: the training label file was rewritten so that every other image is labelled 7 (a
  labelling bug upstream); class 7 holds about half of the training split, far above
  ``vision.class_share_max`` x the uniform share.
- ``missing``: every image of class 3 was left out of a small delivery (60 images, train and test), so the
  model would be trained on nine classes. On a set this small an empty class is within the class-share
  sampling slack (3 binomial standard errors of the uniform share), which used to let it through: the
  presence rule (every declared class in the training split, on any set size) is what stops it.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
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

DAYS = {"skewed": dt.date(2024, 8, 20), "missing": dt.date(2024, 8, 21)}  # dates no other test uses
# The missing class is small on purpose: about 40 training images, where the share slack alone would allow
# an empty class (it did, before the presence rule).
IMAGES = {"skewed": 80, "missing": 60}
DATASET, SKEWED_LABEL, MISSING_LABEL = "mnist", 7, 3
RUN = StoppedRun(upstream=("land_raw", "build_silver", "gate_silver", "build_gold"), gate="gate_gold",
                 downstream=("train", "evaluate", "register", "report"))
GATED = ("gold.image_training_set",)  # what gate_gold would publish


def _bad_delivery(damage: str) -> dict[str, bytes]:
    """The generated delivery with its class balance broken as ``damage`` says."""
    files = generator.generate_files(DATASET, IMAGES[damage], seed=17)
    for split, (images_base, labels_base) in formats.MNIST_FILES.items():
        images_name, labels_name = images_base + ".gz", labels_base + ".gz"
        labels = formats.read_idx(files[labels_name], labels_name, magic=formats.IDX_LABELS_MAGIC).copy()
        images = formats.read_idx(files[images_name], images_name, magic=formats.IDX_IMAGES_MAGIC)
        if damage == "skewed" and split == "train":
            labels[::2] = SKEWED_LABEL
        elif damage == "missing":
            keep = labels != MISSING_LABEL
            labels, images = labels[keep], images[keep]
        files[labels_name] = formats.write_idx(labels.astype(np.uint8), gzipped=True)
        files[images_name] = formats.write_idx(images, gzipped=True)
    return files


def _day_rows(df, day: dt.date):  # type: ignore[no-untyped-def]
    return df.where((F.col("ingest_date") == F.lit(day)) & (F.col("dataset") == DATASET))


@pytest.mark.parametrize("damage", ["skewed", "missing"])
def test_bad_batch_stops_the_dag_at_the_gold_gate(airflow_env, spark, local_settings, damage: str) -> None:
    """Gold gate failed, training upstream_failed, Gold main and the registry unchanged, report and
    audit branch kept; the silver gate before it passed and published silver."""
    settings = with_fast_retries(local_settings)
    day = DAYS[damage]
    delivered = generator.write_files(settings, io.landing_dir(settings, DATASET), _bad_delivery(damage))
    images = IMAGES[damage] - (IMAGES[damage] // 10 if damage == "missing" else 0)
    before = main_snapshots(spark, settings, (*GATED, "ml.model_registry"))

    dag_run = run_dag("vision_cnn_classifier", day, settings, run_conf={"dataset": DATASET})
    run_id = dag_run.run_id

    assert_stopped_at_gate(task_states(dag_run), RUN)
    assert str(dag_run.state) == "failed"
    assert task_tries(dag_run)[RUN.gate] == 1, "a data-quality failure is final: no retry of the gate"
    silver = _day_rows(spark.table(settings.table_name("silver.image_manifest")), day)
    assert silver.count() == images, f"the silver gate passed and published every image of {delivered}"

    after = main_snapshots(spark, settings, (*GATED, "ml.model_registry"))
    assert {t: after[t] for t in GATED} == {t: before[t] for t in GATED}
    assert _day_rows(spark.table(settings.table_name("gold.image_training_set")), day).count() == 0

    report = read_report(settings, "gold_image_training_set", day, run_id)
    assert report["success"] is False and report["run_id"] == run_id
    assert report["failed"] and all(f.endswith("(label)") for f in report["failed"]), report["failed"]
    if damage == "missing":  # one readable line names the class and the split
        assert any(f"label lacks the value(s) {{{MISSING_LABEL}}} it must contain" in p and "train split" in p
                   for p in report["problems"]), report["problems"]

    branch = audit_branch(run_id)
    assert refs(spark, settings, "gold.image_training_set").get(branch, ("missing",))[0] == "BRANCH"
    staged = _day_rows(staged_rows(spark, settings, "gold.image_training_set", run_id), day).drop("pixels")
    train = staged.where(F.col("split") == "train")
    share = {label: train.where(F.col("label") == label).count() / train.count()
             for label in (SKEWED_LABEL, MISSING_LABEL)}
    assert staged.count() == images, "the rejected rows stay inspectable on the branch"
    if damage == "skewed":
        assert share[SKEWED_LABEL] > settings.vision.class_share_max / 10
    else:
        assert share[MISSING_LABEL] == 0

    assert_nothing_registered(spark, settings, run_id, before["ml.model_registry"])
