"""Both energy DAGs through Airflow (`dag.test`) on the local and S3 profiles; the first monthly run of
each profile runs its Spark tasks through `spark-submit`, the rest in-process.

Tiny data: one household, January 2024, delivered on 2024-02-01. The local profile also reruns
the month (identical Gold) and shows the realtime DAG skipping before a model exists.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys

import pytest
from pyspark.sql import functions as F

from lakehouse.jobs import JobContext
from spark_jobs.energy import realtime
from spark_jobs.energy.generator import generate_to_landing
from tests.support.airflow import run_dag, task_states
from tests.support.reports import assert_charts, read_run_report

DAY = dt.date(2024, 2, 1)
MONTHLY = {"ingest", "silver", "gate_silver", "features", "gate_features", "train", "evaluate", "register",
           "forecast", "report"}
# model_version is the run id, which Airflow makes unique per manual run; values must match exactly.
GOLD_COMPARE = ("household_id", "freq_minutes", "interval_start_utc", "forecast_kw")


def gold(spark, settings):  # type: ignore[no-untyped-def]
    features = spark.table(settings.table_name("gold.energy_features")).where(F.col("meter_read_date") == DAY)
    forecast = spark.table(settings.table_name("gold.energy_forecast")).where(
        (F.col("forecast_date") == DAY) & (F.col("kind") == "day_ahead"))
    return sorted(features.collect()), sorted(forecast.select(*GOLD_COMPARE).collect())


def assert_month_published(spark, settings) -> None:  # type: ignore[no-untyped-def]
    features, forecast = gold(spark, settings)
    assert len([r for r in features if r["freq_minutes"] == 60]) == 31 * 24
    assert len([r for r in forecast if r["freq_minutes"] == 60]) == 24
    assert len([r for r in forecast if r["freq_minutes"] == 15]) == 96
    assert all(r["forecast_kw"] >= 0 for r in forecast)
    from lakehouse.registry import latest_model

    model = latest_model(settings, "energy_demand")
    assert model is not None and model["framework"] == "lightgbm"
    snapshot = model["training_snapshots"]["gold.energy_features"]
    tags = spark.sql(f"SELECT name, snapshot_id FROM {settings.table_name('gold.energy_features')}.refs "
                     "WHERE type = 'TAG'").collect()
    assert any(r["snapshot_id"] == snapshot for r in tags), "the training snapshot is pinned by a tag"
    holdout = model["metrics"]["holdout"]["60"]
    for baseline in ("same_hour_yesterday", "same_hour_last_week"):
        assert holdout["model"]["rmse"] < holdout[baseline]["rmse"]
    assert "lag_24h" in model["metrics"]["feature_importance"]["60"]


@pytest.fixture(scope="module")
def local_month(airflow_env, spark, local_settings):  # type: ignore[no-untyped-def]
    generate_to_landing(local_settings, 1, dt.date(2024, 1, 1), dt.date(2024, 2, 1), seed=3)
    before_model = task_states(run_dag("energy_realtime_forecast", DAY, local_settings))
    first = run_dag("energy_demand_forecast", DAY, local_settings, spark_task_mode="submit")  # as in production
    return before_model, first


def test_dag_file_has_no_heavy_imports() -> None:
    code = ("import sys; sys.path.insert(0, '.'); import runpy; runpy.run_path('dags/dag_energy_forecast.py'); "
            "print(sorted(m for m in ('pyspark', 'lightgbm', 'great_expectations', 'statsmodels', 'pandas') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1].replace("'", '"')) == []


def test_realtime_dag_skips_cleanly_without_a_model(local_month) -> None:
    before_model, _ = local_month
    assert before_model == {"ingest_intraday": "success", "model_registered": "success", "score_interval": "skipped"}


def test_monthly_dag_end_to_end_local_and_rerun_is_identical(spark, local_settings, local_month) -> None:
    _, first = local_month
    assert task_states(first) == dict.fromkeys(MONTHLY, "success")
    assert_month_published(spark, local_settings)
    page = read_run_report(local_settings, first, DAY)
    assert_charts(page, 6)  # per frequency: forecast vs actual + baselines, error by hour, feature importance
    assert "Hold-out (60-minute)" in page and "Hold-out (15-minute)" in page and "same hour last week" in page
    before = gold(spark, local_settings)
    again = run_dag("energy_demand_forecast", DAY, local_settings)
    assert task_states(again) == dict.fromkeys(MONTHLY, "success")
    assert gold(spark, local_settings) == before


def test_realtime_dag_scores_the_interval_idempotently(spark, local_settings, local_month) -> None:
    states = task_states(run_dag("energy_realtime_forecast", DAY, local_settings))
    assert states == {"ingest_intraday": "success", "model_registered": "success", "score_interval": "success"}
    rows = spark.table(local_settings.table_name("gold.energy_forecast")).where(
        (F.col("forecast_date") == DAY) & (F.col("kind") == "realtime"))
    first = sorted(rows.select(*GOLD_COMPARE).collect())
    assert [(r["freq_minutes"], str(r["interval_start_utc"])) for r in first] == [(15, "2024-02-01 00:00:00")]
    ctx = JobContext(local_settings, spark, DAY, "rerun", {"interval": "2024-02-01T00:05:00+00:00"})
    realtime.main(ctx)
    assert sorted(rows.select(*GOLD_COMPARE).collect()) == first, "rerunning an interval replaces its rows"
    ctx = JobContext(local_settings, spark, DAY, "next", {"interval": "2024-02-01T00:15:00+00:00"})
    assert realtime.main(ctx)["rows"] == 1
    assert rows.count() == 2


def test_both_dags_on_the_s3_profile(airflow_env, spark, s3_settings) -> None:
    generate_to_landing(s3_settings, 1, dt.date(2024, 1, 1), dt.date(2024, 2, 1), seed=3)
    # In-process: the energy jobs' spark-submit path is the local month's (above); S3 with spark-submit is proven
    # once per run by the finance and smoke DAG tests (same operator, same credential hand-off).
    monthly = run_dag("energy_demand_forecast", DAY, s3_settings, spark_task_mode="in_process")
    assert task_states(monthly) == dict.fromkeys(MONTHLY, "success")
    assert_month_published(spark, s3_settings)
    assert_charts(read_run_report(s3_settings, monthly, DAY), 6)
    states = task_states(run_dag("energy_realtime_forecast", DAY, s3_settings))
    assert states == {"ingest_intraday": "success", "model_registered": "success", "score_interval": "success"}
