"""The one write path on both profiles: Spark writes, PyIceberg reads, reruns, upserts, time travel."""

from __future__ import annotations

import datetime as dt

import pytest
from pyiceberg.expressions import EqualTo

from lakehouse.catalog import create_tables, load_catalog
from lakehouse.errors import LakehouseError
from lakehouse.write import write_for_date
from schemas.core import SMOKE_EVENTS
from spark_jobs.smoke.transforms import sensor_events


def _pyiceberg_rows(settings, day: dt.date, snapshot_id: int | None = None) -> list[dict]:
    table = load_catalog(settings).load_table(SMOKE_EVENTS.identifier)
    scan = table.scan(row_filter=EqualTo("event_date", day), snapshot_id=snapshot_id)
    return sorted(scan.to_arrow().to_pylist(), key=lambda r: r["event_id"])


def _spark_rows(spark, settings, day: dt.date) -> list[dict]:
    df = spark.table(settings.table_name(SMOKE_EVENTS.identifier)).where(f"event_date = DATE'{day}'")
    return sorted((r.asDict() for r in df.collect()), key=lambda r: r["event_id"])


def test_init_is_idempotent(lake) -> None:
    again = create_tables(lake)
    assert again and all(not created for _, created in again)


def test_spark_write_is_read_by_pyiceberg_and_rerun_replaces_the_date(spark, lake) -> None:
    day, other = dt.date(2023, 3, 1), dt.date(2023, 3, 2)
    write_for_date(spark, lake, SMOKE_EVENTS, sensor_events(spark, other, "run-other"),
                   logical_date=other, run_id="run-other")
    first = write_for_date(spark, lake, SMOKE_EVENTS, sensor_events(spark, day, "run-1"),
                           logical_date=day, run_id="run-1")
    spark_rows = _spark_rows(spark, lake, day)
    assert len(spark_rows) == 100
    assert _pyiceberg_rows(lake, day) == spark_rows

    second = write_for_date(spark, lake, SMOKE_EVENTS, sensor_events(spark, day, "run-1"),
                            logical_date=day, run_id="run-1")
    assert second.snapshot_id != first.snapshot_id
    assert _spark_rows(spark, lake, day) == spark_rows, "a rerun must not duplicate or change rows"
    assert len(_spark_rows(spark, lake, other)) == 100, "other dates are untouched"

    table = load_catalog(lake).load_table(SMOKE_EVENTS.identifier)
    summary = table.snapshot_by_id(second.snapshot_id).summary.additional_properties
    assert summary["lakehouse.run-id"] == "run-1"
    assert summary["lakehouse.logical-date"] == day.isoformat()


def test_upsert_and_time_travel_by_snapshot_id(spark, lake) -> None:
    from pyspark.sql import functions as F

    day = dt.date(2023, 3, 10)
    base = write_for_date(spark, lake, SMOKE_EVENTS, sensor_events(spark, day, "r0"), logical_date=day, run_id="r0")
    changes = sensor_events(spark, day, "r1").where("event_id < 3").withColumn("value", F.lit(-1.0))
    changes = changes.unionByName(changes.limit(1).withColumn("event_id", F.lit(1000)))
    merged = write_for_date(spark, lake, SMOKE_EVENTS, changes, logical_date=day, run_id="r1",
                            mode="upsert", keys=["event_date", "event_id"])
    rows = _spark_rows(spark, lake, day)
    assert len(rows) == 101
    assert [r["value"] for r in rows if r["event_id"] < 3] == [-1.0, -1.0, -1.0]
    assert rows[-1]["event_id"] == 1000

    table = lake.table_name(SMOKE_EVENTS.identifier)
    old = spark.sql(f"SELECT count(*) AS n, min(value) AS v FROM {table} VERSION AS OF {base.snapshot_id} "
                    f"WHERE event_date = DATE'{day}'").collect()[0]
    assert (old["n"], old["v"] >= 0) == (100, True)
    assert len(_pyiceberg_rows(lake, day, snapshot_id=base.snapshot_id)) == 100
    assert merged.snapshot_id != base.snapshot_id


def test_sql_merge_into(spark, lake) -> None:
    day = dt.date(2023, 3, 20)
    write_for_date(spark, lake, SMOKE_EVENTS, sensor_events(spark, day, "m0"), logical_date=day, run_id="m0")
    table = lake.table_name(SMOKE_EVENTS.identifier)
    spark.sql(f"""
        MERGE INTO {table} t
        USING (SELECT DATE'{day}' AS event_date, 5L AS event_id, 'north' AS sensor, 42.0 AS value, 'm1' AS run_id) s
        ON t.event_date = s.event_date AND t.event_id = s.event_id
        WHEN MATCHED THEN UPDATE SET t.value = s.value, t.run_id = s.run_id
        WHEN NOT MATCHED THEN INSERT *""")
    rows = {r["event_id"]: r for r in _pyiceberg_rows(lake, day)}
    assert len(rows) == 100 and rows[5]["value"] == 42.0 and rows[5]["run_id"] == "m1"


def test_rows_of_another_date_are_refused_and_nothing_is_committed(spark, lake) -> None:
    day = dt.date(2023, 4, 1)
    good = write_for_date(spark, lake, SMOKE_EVENTS, sensor_events(spark, day, "g"), logical_date=day, run_id="g")
    wrong = sensor_events(spark, dt.date(2023, 4, 2), "bad")
    with pytest.raises(Exception, match="outside the logical date 2023-04-01"):
        write_for_date(spark, lake, SMOKE_EVENTS, wrong, logical_date=day, run_id="bad")
    table = load_catalog(lake).load_table(SMOKE_EVENTS.identifier)
    assert table.current_snapshot().snapshot_id == good.snapshot_id
    assert len(_pyiceberg_rows(lake, day)) == 100


def test_schema_mismatch_is_refused_with_a_clear_message(spark, lake) -> None:
    day = dt.date(2023, 4, 5)
    from pyspark.sql import functions as F

    df = sensor_events(spark, day, "x").drop("sensor").withColumn("colour", F.col("value"))
    with pytest.raises(LakehouseError, match=r"missing columns \['sensor'\], unexpected columns \['colour'\]"):
        write_for_date(spark, lake, SMOKE_EVENTS, df, logical_date=day, run_id="x")
