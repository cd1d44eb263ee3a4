"""Write-audit-publish: staged rows are invisible on main until the quality gate passes."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pyspark.sql import functions as F

from lakehouse import storage
from lakehouse.errors import DataQualityError
from lakehouse.publish import audit_branch, branch_exists, publish, stage_for_date
from lakehouse.quality import GateContext, load_suite, run_gate
from lakehouse.write import current_snapshot_id, write_for_date
from schemas.core import SMOKE_EVENTS
from spark_jobs.smoke.transforms import sensor_events


def _count(spark, settings, day) -> int:
    table = settings.table_name(SMOKE_EVENTS.identifier)
    return spark.table(table).where(F.col("event_date") == F.lit(day)).count()


def test_good_batch_is_published_after_the_gate(spark, lake) -> None:
    day, run_id = dt.date(2023, 5, 1), "scheduled__2023-05-01"
    table = lake.table_name(SMOKE_EVENTS.identifier)
    before = current_snapshot_id(spark, table)
    stage_for_date(spark, lake, SMOKE_EVENTS, sensor_events(spark, day, run_id), logical_date=day, run_id=run_id)
    assert _count(spark, lake, day) == 0, "staged rows must not be visible on main"
    assert current_snapshot_id(spark, table) == before

    ctx = GateContext(spark, lake, day, run_id)
    result = run_gate(ctx.read(SMOKE_EVENTS.identifier), ctx, "smoke_events", load_suite("smoke_events").build(ctx))
    assert result.success and result.evaluated == 5
    published = publish(spark, lake, SMOKE_EVENTS, run_id)
    assert published == current_snapshot_id(spark, table)
    assert _count(spark, lake, day) == 100
    assert not branch_exists(spark, table, audit_branch(run_id))


def test_bad_batch_is_never_published_and_the_report_is_kept(spark, lake) -> None:
    day, run_id = dt.date(2023, 5, 2), "scheduled__2023-05-02"
    write_for_date(spark, lake, SMOKE_EVENTS, sensor_events(spark, day, "old"), logical_date=day, run_id="old")
    table = lake.table_name(SMOKE_EVENTS.identifier)
    before = current_snapshot_id(spark, table)
    bad = sensor_events(spark, day, run_id).withColumn(
        "value", F.when(F.col("event_id") == 7, F.lit(1e6)).otherwise(F.col("value")))
    stage_for_date(spark, lake, SMOKE_EVENTS, bad, logical_date=day, run_id=run_id)
    ctx = GateContext(spark, lake, day, run_id)
    with pytest.raises(DataQualityError, match=r"smoke_events failed .* 1 of 5 .*value"):
        run_gate(ctx.read(SMOKE_EVENTS.identifier), ctx, "smoke_events", load_suite("smoke_events").build(ctx))
    assert current_snapshot_id(spark, table) == before, "main stays at its previous snapshot"
    assert all(r["run_id"] == "old" for r in ctx.read(SMOKE_EVENTS.identifier, staged=False).collect())

    from lakehouse.quality import report_uri

    fs, path = storage.filesystem(lake, report_uri(lake, "smoke_events", day, run_id))
    with fs.open_input_stream(path) as handle:
        report = json.loads(handle.read())
    assert report["success"] is False and report["failed"] == ["expect_column_values_to_be_between(value)"]
    # Gates decide on verdicts alone, then explain a failure: its report has the observed details.
    failing = [r for r in report["gx_result"]["results"] if not r["success"]]
    assert failing[0]["result"]["unexpected_count"] == 1
    assert failing[0]["result"]["partial_unexpected_list"] == [1e6]
    with fs.open_input_stream(path.removesuffix(".json") + ".html") as handle:
        page = handle.read().decode()
    assert "smoke_events: FAILED" in page and "expect_column_values_to_be_between(value)" in page
    assert "unexpected_count" in page


def test_restaging_a_run_starts_again_from_main(spark, lake) -> None:
    day, run_id = dt.date(2023, 5, 3), "manual__retry"
    stage_for_date(spark, lake, SMOKE_EVENTS, sensor_events(spark, day, run_id), logical_date=day, run_id=run_id)
    stage_for_date(spark, lake, SMOKE_EVENTS, sensor_events(spark, day, run_id).limit(10),
                   logical_date=day, run_id=run_id)
    ctx = GateContext(spark, lake, day, run_id)
    assert ctx.read(SMOKE_EVENTS.identifier).count() == 10
    publish(spark, lake, SMOKE_EVENTS, run_id)
    assert _count(spark, lake, day) == 10
