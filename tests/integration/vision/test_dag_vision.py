"""`vision_cnn_classifier` end to end through Airflow (dag.test) for both datasets on both profiles."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys

import pytest
from pyspark.sql import functions as F

from lakehouse.publish import audit_branch, branch_exists
from lakehouse.settings import PROJECT_ROOT, LakehouseSettings
from spark_jobs.vision import generator, io
from spark_jobs.vision.k8s import render_pod_spec
from tests.support.airflow import run_dag, task_states
from tests.support.reports import assert_charts, read_run_report

DAYS = {("mnist", "local"): dt.date(2022, 3, 1), ("cifar10", "local"): dt.date(2022, 3, 2),
        ("mnist", "s3"): dt.date(2022, 3, 3), ("cifar10", "s3"): dt.date(2022, 3, 4)}
TASKS = {"land_raw", "build_silver", "gate_silver", "build_gold", "gate_gold", "train", "evaluate", "register",
         "report"}


def _fast(settings: LakehouseSettings) -> LakehouseSettings:
    """The profile's settings with one tiny training epoch (the DAG test checks wiring, not accuracy)."""
    vision = settings.vision.model_copy(update={"epochs": {"mnist": 1, "cifar10": 1}, "batch_size": 32,
                                                "device": "cpu"})
    return settings.model_copy(update={"vision": vision})


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_vision_dag_runs_end_to_end(airflow_env, spark, lake, dataset) -> None:
    from lakehouse.registry import list_models

    profile = "s3" if lake.uses_s3 else "local"
    day = DAYS[(dataset, profile)]
    settings = _fast(lake)
    generator.write_files(settings, io.landing_dir(settings, dataset), generator.generate_files(dataset, 80, seed=11))
    # In-process Spark tasks: vision's spark-submit run is the browser-triggered run of tests/integration/
    # dags/test_running_airflow.py, and spark-submit on the S3 profile is tested once for every domain by
    # tests/integration/dags/test_dag_lakehouse_smoke.py (the same task factory and environment hand-over)
    dag_run = run_dag("vision_cnn_classifier", day, settings, run_conf={"dataset": dataset},
                      spark_task_mode="in_process")
    states = task_states(dag_run)
    assert states == {task: "success" for task in TASKS}, states

    gold = spark.table(lake.table_name("gold.image_training_set")).where(
        (F.col("ingest_date") == F.lit(day)) & (F.col("dataset") == dataset))
    silver_n = spark.table(lake.table_name("silver.image_manifest")).where(
        (F.col("ingest_date") == F.lit(day)) & (F.col("dataset") == dataset)).count()
    assert gold.count() == silver_n == 80
    # this run's branch is gone (other tests keep their failed runs' branches for inspection)
    assert not branch_exists(spark, lake.table_name("gold.image_training_set"), audit_branch(dag_run.run_id))
    models = [m for m in list_models(lake, f"vision_{dataset}_cnn") if m["model_version"] == dag_run.run_id]
    assert len(models) == 1
    assert models[0]["artifact_uri"].startswith(("s3://", "file://"))
    assert 0.0 <= models[0]["metrics"]["test_accuracy"] <= 1.0
    page = read_run_report(settings, dag_run, day)
    assert_charts(page, 4)  # learning curves, per-class accuracy, confusion matrix, sample grid
    assert f"Model vision_{dataset}_cnn" in page and "No quarantined images for this date and dataset." in page


def _run_training_pod_locally(settings: LakehouseSettings, dataset: str, day: dt.date, run_id: str) -> dict:
    """Run the GPU pod's container command here with only the pod's environment plus what its Secret
    holds: proves the pod trains on the same lake as the DAG (CPU, since this machine has no GPU)."""
    container = render_pod_spec(settings, dataset=dataset, logical_date=day.isoformat(),
                                run_id=run_id)["spec"]["containers"][0]
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"), "PYTHONPATH": str(PROJECT_ROOT)}
    env.update({item["name"]: item["value"] for item in container["env"]})
    secret = {"AWS_ACCESS_KEY_ID": settings.s3.access_key_id, "AWS_SECRET_ACCESS_KEY": settings.s3.secret_access_key}
    env.update({key: value.get_secret_value() for key, value in secret.items() if value is not None})
    env["LAKEHOUSE_VISION__DEVICE"] = "cpu"
    result = subprocess.run([sys.executable if part == "python" else part for part in container["command"]]
                            + container["args"], env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_training_pod_fits_a_candidate_that_the_worker_evaluates_and_registers(airflow_env, lake) -> None:
    """The KubernetesPodOperator's container (command, args, env) fits on the Gold table the DAG built; the
    run's evaluate and register tasks (on the worker) then register exactly that candidate."""
    from lakehouse.pipeline import RunContext
    from lakehouse.registry import list_models
    from lakehouse.training import evaluate_step, register_step

    dataset = "mnist"
    day = DAYS[(dataset, "s3" if lake.uses_s3 else "local")]
    settings = _fast(lake)
    if not any(m["logical_date"] == day for m in list_models(settings, "vision_mnist_cnn")):  # run alone
        generator.write_files(settings, io.landing_dir(settings, dataset),
                              generator.generate_files(dataset, 80, seed=11))
        run_dag("vision_cnn_classifier", day, settings, run_conf={"dataset": dataset})
    fitted = _run_training_pod_locally(settings, dataset, day, "pod__check")
    assert fitted["model_name"] == "vision_mnist_cnn" and fitted["training_rows"] > 0
    run = RunContext(settings, day, "pod__check", {"dataset": dataset})
    evaluated = evaluate_step(run, "ml.vision:TRAINER")
    register_step(run, "ml.vision:TRAINER")
    models = [m for m in list_models(settings, "vision_mnist_cnn") if m["model_version"] == "pod__check"]
    assert len(models) == 1
    assert models[0]["metrics"]["test_accuracy"] == pytest.approx(evaluated["metrics"]["test_accuracy"])
    assert models[0]["training_checksum"] == fitted["training_checksum"]
