"""Finance tick pipeline: landing tick files -> raw -> silver (+ quarantine) -> gate -> gold -> gate -> model.

Runs on weekdays right after the market closes (16:00 in the exchange time zone by default; see
`LAKEHOUSE_FINANCE__SCHEDULE_CRON` and `LAKEHOUSE_FINANCE__EXCHANGE_TIMEZONE`) for that trade date.
Silver and gold are staged on the run's Iceberg audit branch; only a passing Great Expectations gate
publishes them, so a bad batch never reaches `main` or the model. Training reads the pinned Gold
snapshot and records it in the model registry.

Wiring only: the work lives in spark_jobs/finance and ml/finance (imported inside the tasks).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pendulum
from airflow.sdk import DAG, task
from airflow.timetables.trigger import CronTriggerTimetable

from lakehouse.orchestration import default_args, gate, spark_job
from lakehouse.settings import get_settings

settings = get_settings()
finance = settings.finance


@task(task_id="train_model")
def train_model(**context: Any) -> dict[str, Any]:
    """Train the LightGBM next-bar direction model on the just-published Gold snapshot (time-ordered
    split, naive persistence baseline on the same split) and register it with that snapshot id."""
    from ml.finance import train

    summary = train(get_settings(), dt.date.fromisoformat(context["ds"]), context["run_id"])
    return {k: v for k, v in summary.items() if k != "metrics"} | {
        "model_accuracy": summary["metrics"]["model_accuracy"],
        "baseline_accuracy": summary["metrics"]["baseline_accuracy"],
    }


with DAG(
    dag_id="finance_tick_processor",
    description="Daily tick pipeline after the close: OHLCV bars with quality gates and a next-bar model",
    doc_md=__doc__,
    schedule=CronTriggerTimetable(finance.schedule_cron, timezone=finance.exchange_timezone),
    start_date=pendulum.parse(finance.start_date, tz=finance.exchange_timezone),
    catchup=finance.catchup,
    max_active_runs=1,
    default_args=default_args(settings),
    tags=["lakehouse", "finance"],
) as dag:
    ingest = spark_job(
        "ingest_raw", "spark_jobs.finance.raw", settings=settings,
        doc_md="Read the trade date's landing files (CSV, Parquet, Binance CSV) into raw.ticks as delivered; "
               "replaces that date only. Fails with one line when no files landed.",
    )
    silver = spark_job(
        "build_silver", "spark_jobs.finance.silver", settings=settings,
        doc_md="Type, dedupe, session-filter and MAD-outlier-check ticks; stage silver.ticks and "
               "quarantine.ticks (every rejected row with its reason) on the audit branch.",
    )
    gate_silver = gate("gate_silver", table="silver.ticks", suite="silver_ticks",
                       publish=["silver.ticks", "quarantine.ticks"], settings=settings)
    gold = spark_job(
        "build_gold", "spark_jobs.finance.gold", settings=settings,
        doc_md="One-minute OHLCV/VWAP bars, gaps filled and flagged, SMA/EMA/returns/volatility with "
               "window functions; staged on the audit branch.",
    )
    gate_gold = gate("gate_gold", table="gold.ohlcv_1m", suite="gold_ohlcv_1m", settings=settings)
    ingest >> silver >> gate_silver >> gold >> gate_gold >> train_model()
