"""Household energy DAGs: monthly demand forecasting and 15-minute realtime scoring.

`energy_demand_forecast` runs on the meter-reading day (the 1st of the month) for the month that
just ended: ingest -> silver -> gate -> features -> gate -> train -> evaluate -> register -> forecast.
`energy_realtime_forecast` scores the newest 15-minute interval every 15 minutes with the latest
registered model, and skips (not fails) while no model is registered.

Wiring only: the work lives in spark_jobs/energy and ml/energy (imported inside the tasks).
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, task

from lakehouse.orchestration import default_args, gate, spark_job
from lakehouse.settings import get_settings

settings = get_settings()
START = pendulum.datetime(2024, 1, 1, tz="UTC")
SILVER_TABLES = ["silver.energy_readings", "silver.energy_readings_15min", "silver.energy_readings_hourly",
                 "quarantine.energy_readings"]


@task(task_id="train")
def train(**context: Any) -> dict[str, Any]:
    """Train LightGBM (hourly + 15-minute) with rolling-origin CV and early stopping on the pinned
    snapshot of gold.energy_features; store the candidate bundle under the run's artifacts."""
    from ml.energy import train as run_training

    return run_training(get_settings(), context["logical_date"].date(), context["run_id"])


@task(task_id="evaluate")
def evaluate(trained: dict[str, Any], **context: Any) -> dict[str, Any]:
    """Compare the candidate with the persistence baselines (same hour yesterday / last week) on the
    held-out final period; fail, registering nothing, unless it beats both."""
    from ml.energy import evaluate as run_evaluation

    return run_evaluation(get_settings(), context["run_id"])


@task(task_id="register")
def register(evaluated: dict[str, Any], **context: Any) -> dict[str, Any]:
    """Register the model: metrics, feature importance and the exact Gold snapshot id it trained on."""
    from ml.energy import register as run_registration

    return run_registration(get_settings(), context["logical_date"].date(), context["run_id"])


@task.short_circuit(task_id="model_registered")
def model_registered() -> bool:
    """Skip the scoring task (not fail) while no energy model has been registered."""
    from ml.energy import model_available

    return model_available(get_settings())


with DAG(
    dag_id="energy_demand_forecast",
    description="Monthly household demand pipeline: UCI files to day-ahead LightGBM forecasts",
    doc_md=__doc__,
    schedule=settings.energy.monthly_cron,
    start_date=START,
    catchup=settings.energy.catchup,
    max_active_runs=1,
    default_args=default_args(settings),
    tags=["lakehouse", "energy"],
) as monthly:
    ingest = spark_job("ingest", "spark_jobs.energy.ingest", settings=settings,
                       doc_md="Land the month's UCI files into raw.energy_readings as delivered.")
    silver = spark_job("silver", "spark_jobs.energy.silver", settings=settings,
                       doc_md="Type, convert to UTC (DST-safe), gap-fill, resample; stage silver and quarantine.")
    gate_silver = gate("gate_silver", table="silver.energy_readings", suite="silver_energy_readings",
                       publish=SILVER_TABLES, settings=settings)
    features = spark_job("features", "spark_jobs.energy.features", settings=settings,
                         doc_md="Per-household calendar, holiday, lag, rolling and Fourier features (staged).")
    gate_features = gate("gate_features", table="gold.energy_features", suite="gold_energy_features",
                         settings=settings)
    forecast = spark_job("forecast", "spark_jobs.energy.forecast", settings=settings,
                         doc_md="Day-ahead forecasts (24 hourly, 96 x 15-minute) into gold.energy_forecast.")
    trained = train()
    evaluated = evaluate(trained)
    registered = register(evaluated)
    ingest >> silver >> gate_silver >> features >> gate_features >> trained
    registered >> forecast

with DAG(
    dag_id="energy_realtime_forecast",
    description="Score the newest 15-minute interval with the latest registered energy model",
    doc_md=__doc__,
    schedule=settings.energy.realtime_cron,
    start_date=START,
    catchup=False,
    max_active_runs=1,
    default_args=default_args(settings),
    tags=["lakehouse", "energy"],
) as realtime:
    guard = model_registered()
    score = spark_job("score_interval", "spark_jobs.energy.realtime",
                      args=["--option", "interval={{ logical_date.isoformat() }}"], settings=settings,
                      doc_md="Upsert the interval's forecast per household (idempotent per interval).")
    guard >> score
