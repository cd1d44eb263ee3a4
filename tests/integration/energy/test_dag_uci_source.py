"""The published multi-year UCI file through `energy_demand_forecast` (`source` param), as it really arrives.

One generated file shaped like ``household_power_consumption.txt``: a logger clock that ignores DST
(1,440 lines every day, ``energy.meter_clock=+01:00``), a first reading on 16 March 2007 at 17:24 (a
partial first month that contains the spring DST switch of 25 March) and a last one on 3 April 2007 at
21:02. The DAG run for March (logical date 2007-04-01) ingests only March's lines, accounts for April's as
outside the run's month, and publishes the 16th 17:24 onwards as measured (not as a 15-day gap); the run
for April through `lakehouse run ... --param source=...` (the runner) publishes the partial last month.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd
import pytest
from pyspark.sql import functions as F

from lakehouse.runner import run_pipeline
from schemas.deliveries import DELIVERED_FILES
from schemas.energy import TABLES as ENERGY_TABLES
from spark_jobs.energy import generator
from spark_jobs.energy.pipeline import ENERGY_MONTHLY
from tests.support.airflow import run_dag, task_states

MARCH, APRIL = dt.date(2007, 4, 1), dt.date(2007, 5, 1)  # meter-reading days
FIRST, LAST = pd.Timestamp("2007-03-16 17:24"), pd.Timestamp("2007-04-03 21:02")
SOURCE = "energy/uci-test/household_power_consumption.txt"
HOUSEHOLD = "household_power_consumption"
MONTHLY = ("ingest", "silver", "gate_silver", "features", "gate_features", "train", "evaluate", "register",
           "forecast", "report")


def uci_settings(settings):  # type: ignore[no-untyped-def]
    energy = settings.energy.model_copy(update={
        "meter_clock": "+01:00", "households": [HOUSEHOLD], "start_date": "2007-01-01",
        # a small, fast model: this test is about the data path, not about the model's skill
        "holdout_days": 3, "cv_folds": 2, "num_boost_round": 60, "early_stopping_rounds": 10,
        "require_beat_baselines": False, "model_name": "energy_demand_uci"})
    return settings.model_copy(update={"energy": energy})


def silver(spark, settings, day):  # type: ignore[no-untyped-def]
    return spark.table(settings.table_name("silver.energy_readings")).where(
        (F.col("meter_read_date") == F.lit(day)) & (F.col("household_id") == HOUSEHOLD))


def accounting(spark, settings, day):  # type: ignore[no-untyped-def]
    rows = spark.table(settings.table_name(DELIVERED_FILES.identifier)).where(
        (F.col("logical_date") == F.lit(day)) & (F.col("domain") == "energy")).collect()
    return {r["file_name"]: r for r in rows}


@pytest.fixture
def uci_lake(spark, local_settings):  # type: ignore[no-untyped-def]
    """The shared lake with this test's settings; afterwards its 2007 household is removed from every energy
    table again, because training reads every month up to its date and later tests train on this lake."""
    settings = uci_settings(local_settings)
    yield settings
    for table in ENERGY_TABLES:
        spark.sql(f"DELETE FROM {settings.table_name(table.identifier)} WHERE household_id = '{HOUSEHOLD}'")


def test_multi_year_file_as_the_dag_source(airflow_env, spark, uci_lake) -> None:  # type: ignore[no-untyped-def]
    settings = uci_lake
    generator.write_uci_multi_year(settings, SOURCE, [(FIRST, LAST)], seed=11)
    march_lines = int((pd.Timestamp("2007-04-01") - FIRST) / pd.Timedelta(minutes=1))
    april_lines = int((LAST - pd.Timestamp("2007-04-01")) / pd.Timedelta(minutes=1)) + 1

    # March: partial first month with the spring switch, through Airflow
    run = run_dag("energy_demand_forecast", MARCH, settings, run_conf={"source": SOURCE})
    assert task_states(run) == dict.fromkeys(MONTHLY, "success")
    rows = silver(spark, settings, MARCH)
    assert rows.count() == march_lines, "the minutes before 16 Mar 17:24 were not delivered: no rows, no gap"
    assert rows.where(F.col("status") == "missing").count() == 0
    bounds = rows.agg(F.min("ts_utc").alias("first"), F.max("ts_utc").alias("last")).first()
    assert pd.Timestamp(bounds["first"]) == pd.Timestamp("2007-03-16 16:24")  # meter time - 1 h, as UTC
    assert pd.Timestamp(bounds["last"]) == pd.Timestamp("2007-03-31 22:59")
    switch = rows.where(F.to_date("ts_local") == F.lit(dt.date(2007, 3, 25)))
    assert switch.count() == 23 * 60, "the 23-hour Paris day: every minute once, no duplicate, no gap"
    assert rows.select("ts_utc").distinct().count() == march_lines
    quarantine = spark.table(settings.table_name("quarantine.energy_readings")).where(
        F.col("meter_read_date") == F.lit(MARCH))
    assert quarantine.count() == 0, "April's lines are not rejected lines"
    files = accounting(spark, settings, MARCH)
    assert set(files) == {"household_power_consumption.txt"}
    row = files["household_power_consumption.txt"]
    assert row["outcome"] == "ingested" and row["rows"] == march_lines
    assert f"{april_lines} lines outside this run's month 2007-03 (0 before, {april_lines} after" in row["reason"]
    assert "16 Mar 2007 17:24 - 03 Apr 2007 21:02" in row["reason"]

    # April: partial last month through `lakehouse run --param source=...` (the runner)
    # (its steps up to the features gate: the same declaration and option templates, no second training)
    up_to_features = dataclasses.replace(ENERGY_MONTHLY, steps=ENERGY_MONTHLY.steps[:5])
    outcome = run_pipeline(up_to_features, settings, APRIL, params={"source": SOURCE}, run_id="uci-april",
                           spark=spark, emit=False)
    assert [(s.task_id, s.state) for s in outcome.steps] == [(t, "success") for t in MONTHLY[:5]], outcome.steps
    ingest = outcome.steps[0].summary
    assert ingest["lines_outside_month"] == {"before": march_lines, "after": 0}
    silver_summary = outcome.steps[1].summary
    assert silver_summary["meter_clock"] == "+01:00"
    assert silver_summary["coverage"][HOUSEHOLD]["not_delivered_after"] == 30 * 1440 - april_lines
    rows = silver(spark, settings, APRIL)
    assert rows.count() == april_lines and rows.where(F.col("status") == "missing").count() == 0
