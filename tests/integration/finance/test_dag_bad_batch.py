"""finance_tick_processor with a seeded bad batch: the silver gate rejects it and the whole run stops there.

The batch: every generated tick is stamped up to an hour before the open or after the close (the
generator's ``outside_session`` defect at a rate of 1.0, as when a vendor sends the pre/post-market
file instead of the regular session). Raw ingestion takes every row as delivered; silver quarantines
all of them, so the staged silver day is empty and the ``silver_ticks`` suite (at least one tick) fails.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt

from pyspark.sql import functions as F

from lakehouse.publish import audit_branch
from spark_jobs.finance import generator
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

BAD_DAY = dt.date(2024, 8, 13)  # a Tuesday no other test uses (tables are shared within a test run)
RUN = StoppedRun(upstream=("check_session", "wait_for_landing", "ingest_raw", "build_silver"), gate="gate_silver",
                 downstream=("build_gold", "gate_gold", "train", "evaluate", "register", "report"))
GATED = ("silver.ticks", "quarantine.ticks")  # what gate_silver would publish
DOWNSTREAM = ("gold.ohlcv_1m",)


def test_bad_batch_stops_the_dag_at_the_silver_gate(airflow_env, spark, local_settings) -> None:
    """Gate failed, everything after it upstream_failed, main unchanged, report and audit branch kept,
    no model registered."""
    settings = with_fast_retries(local_settings)
    only_outside = dataclasses.replace(generator.DefectRates.none(), outside_session=1.0)
    manifest = generator.generate_landing(settings, BAD_DAY, symbols=2, ticks=300, seed=23, rates=only_outside)
    assert manifest["defects"]["outside_session"] == manifest["rows"] == 300
    before = main_snapshots(spark, settings, (*GATED, *DOWNSTREAM, "ml.model_registry"))

    dag_run = run_dag("finance_tick_processor", BAD_DAY, settings)
    run_id = dag_run.run_id

    assert_stopped_at_gate(task_states(dag_run), RUN)
    assert str(dag_run.state) == "failed"
    assert task_tries(dag_run)[RUN.gate] == 1, "a data-quality failure is final: no retry of the gate"
    raw = spark.table(settings.table_name("raw.ticks")).where(F.col("trade_date") == BAD_DAY)
    assert raw.count() == manifest["rows"], "raw ingestion took the batch as delivered"

    after = main_snapshots(spark, settings, (*GATED, *DOWNSTREAM, "ml.model_registry"))
    assert {t: after[t] for t in (*GATED, *DOWNSTREAM)} == {t: before[t] for t in (*GATED, *DOWNSTREAM)}
    for table in GATED:
        published = spark.table(settings.table_name(table)).where(F.col("trade_date") == BAD_DAY)
        assert published.count() == 0, f"{table} main has rows of the rejected day"

    report = read_report(settings, "silver_ticks", BAD_DAY, run_id)
    assert report["success"] is False and report["run_id"] == run_id
    assert "expect_table_row_count_to_be_between" in report["failed"], report["failed"]

    branch = audit_branch(run_id)
    for table in GATED:
        assert refs(spark, settings, table).get(branch, ("missing",))[0] == "BRANCH", f"{table}: {branch} dropped"
    rejected = staged_rows(spark, settings, "quarantine.ticks", run_id).where(F.col("trade_date") == BAD_DAY)
    reasons = collections.Counter(r["reason"] for r in rejected.select("reason").collect())
    assert reasons == {"outside_session": manifest["rows"]}, "the rejected rows stay inspectable on the branch"
    assert staged_rows(spark, settings, "silver.ticks", run_id).where(F.col("trade_date") == BAD_DAY).count() == 0
    assert branch not in refs(spark, settings, "gold.ohlcv_1m"), "build_gold never ran, so it staged nothing"

    assert_nothing_registered(spark, settings, run_id, before["ml.model_registry"])
