"""`vision_cnn_classifier` end to end through Airflow (dag.test) for both datasets on both profiles."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from lakehouse.settings import LakehouseSettings
from spark_jobs.vision import generator, io
from tests.support.airflow import run_dag, task_states

DAYS = {("mnist", "local"): dt.date(2022, 3, 1), ("cifar10", "local"): dt.date(2022, 3, 2),
        ("mnist", "s3"): dt.date(2022, 3, 3), ("cifar10", "s3"): dt.date(2022, 3, 4)}
TASKS = {"land_raw", "build_silver", "gate_silver", "build_gold", "gate_gold", "train_register"}


def _fast(settings: LakehouseSettings) -> LakehouseSettings:
    """The profile's settings with one tiny training epoch (the DAG test checks wiring, not accuracy)."""
    vision = settings.vision.model_copy(update={"epochs": {"mnist": 1, "cifar10": 1}, "batch_size": 32,
                                                "device": "cpu"})
    return settings.model_copy(update={"vision": vision})


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_vision_dag_runs_end_to_end(airflow_env, spark, lake, dataset) -> None:
    from ml.registry import list_models

    profile = "s3" if lake.uses_s3 else "local"
    day = DAYS[(dataset, profile)]
    settings = _fast(lake)
    generator.write_files(settings, io.landing_dir(settings, dataset), generator.generate_files(dataset, 80, seed=11))
    dag_run = run_dag("vision_cnn_classifier", day, settings, run_conf={"dataset": dataset})
    states = task_states(dag_run)
    assert states == {task: "success" for task in TASKS}, states

    gold = spark.table(lake.table_name("gold.image_training_set")).where(
        (F.col("ingest_date") == F.lit(day)) & (F.col("dataset") == dataset))
    silver_n = spark.table(lake.table_name("silver.image_manifest")).where(
        (F.col("ingest_date") == F.lit(day)) & (F.col("dataset") == dataset)).count()
    assert gold.count() == silver_n == 80
    refs = spark.sql(f"SELECT name FROM {lake.table_name('gold.image_training_set')}.refs").collect()
    assert not any(r[0].startswith("audit_") for r in refs)
    models = [m for m in list_models(lake, f"vision_{dataset}_cnn") if m["model_version"] == dag_run.run_id]
    assert len(models) == 1
    assert models[0]["artifact_uri"].startswith(("s3://", "file://"))
    assert 0.0 <= models[0]["metrics"]["test_accuracy"] <= 1.0
