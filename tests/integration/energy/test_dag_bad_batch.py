"""energy_demand_forecast with a seeded bad batch: the silver gate rejects it and the whole run stops there.

The batch: one generated household-month (August 2024) whose meter went silent after the 8th, so
the file ends there. Every delivered line is valid UCI, so ingestion and silver quarantine nothing;
silver's minute grid flags the remaining 23 days as missing, far above ``energy.max_gap_ratio``
(20 %), and the ``silver_energy_readings`` suite fails on the share of minutes without active power.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from lakehouse import storage
from lakehouse.publish import audit_branch
from spark_jobs.energy import generator, io
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

BAD_DAY = dt.date(2024, 9, 1)  # the meter-reading day for August 2024, which no other test uses
MONTH = dt.date(2024, 8, 1)
LAST_REPORTED_DAY = 8
RUN = StoppedRun(upstream=("ingest", "silver"), gate="gate_silver",
                 downstream=("features", "gate_features", "train", "evaluate", "register", "forecast",
                             "report"))
SILVER_TABLES = ("silver.energy_readings", "silver.energy_readings_15min", "silver.energy_readings_hourly",
                 "quarantine.energy_readings")  # what gate_silver would publish
DOWNSTREAM = ("gold.energy_features", "gold.energy_forecast")


def _land_silent_meter(settings) -> int:  # type: ignore[no-untyped-def]
    """Generate the household-month, then cut its file after the last reported day; return lines kept."""
    generator.generate_to_landing(settings, 1, MONTH, dt.date(2024, 9, 1), seed=5)
    uri = io.landing_uri(settings, generator.landing_path(MONTH, generator.household_ids(1)[0]))
    header, *lines = storage.read_bytes(settings, uri).decode().splitlines()
    kept = [line for line in lines if int(line.split(";", 1)[0].split("/")[0]) <= LAST_REPORTED_DAY]
    assert 0 < len(kept) < len(lines) / 3
    io.write_text(settings, uri, "\n".join([header, *kept]) + "\n")
    return len(kept)


def test_bad_batch_stops_the_dag_at_the_silver_gate(airflow_env, spark, local_settings) -> None:
    """Gate failed, everything after it upstream_failed, main unchanged, report and audit branches kept,
    no model registered."""
    settings = with_fast_retries(local_settings)
    lines = _land_silent_meter(settings)
    tables = (*SILVER_TABLES, *DOWNSTREAM, "ml.model_registry")
    before = main_snapshots(spark, settings, tables)

    dag_run = run_dag("energy_demand_forecast", BAD_DAY, settings)
    run_id = dag_run.run_id

    assert_stopped_at_gate(task_states(dag_run), RUN)
    assert str(dag_run.state) == "failed"
    assert task_tries(dag_run)[RUN.gate] == 1, "a data-quality failure is final: no retry of the gate"
    raw = spark.table(settings.table_name("raw.energy_readings")).where(F.col("meter_read_date") == BAD_DAY)
    assert raw.count() == lines, "ingestion took every delivered line"

    after = main_snapshots(spark, settings, tables)
    assert {t: after[t] for t in (*SILVER_TABLES, *DOWNSTREAM)} == \
        {t: before[t] for t in (*SILVER_TABLES, *DOWNSTREAM)}
    for table in SILVER_TABLES:
        published = spark.table(settings.table_name(table)).where(F.col("meter_read_date") == BAD_DAY)
        assert published.count() == 0, f"{table} main has rows of the rejected month"

    report = read_report(settings, "silver_energy_readings", BAD_DAY, run_id)
    assert report["success"] is False and report["run_id"] == run_id
    assert report["failed"] == ["expect_column_values_to_not_be_null(global_active_power)"], report["failed"]

    branch = audit_branch(run_id)
    for table in SILVER_TABLES:
        assert refs(spark, settings, table).get(branch, ("missing",))[0] == "BRANCH", f"{table}: {branch} dropped"
    for table in DOWNSTREAM:
        assert branch not in refs(spark, settings, table), f"{table}: staged although its task never ran"
    minutes = staged_rows(spark, settings, "silver.energy_readings", run_id).where(
        F.col("meter_read_date") == BAD_DAY)
    grid = minutes.agg(F.count("*").alias("n"),
                       F.sum(F.col("global_active_power").isNull().cast("int")).alias("missing")).first()
    assert grid["n"] == 31 * 24 * 60, "the rejected month's minute grid stays inspectable on the branch"
    assert grid["missing"] / grid["n"] > 3 * settings.energy.max_gap_ratio

    assert_nothing_registered(spark, settings, run_id, before["ml.model_registry"])
