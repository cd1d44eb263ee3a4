"""Energy jobs end to end in the shared Spark session (no spark-submit): DST months, bad input,
write-audit-publish and identical reruns. Local profile; the DAG tests cover S3."""

from __future__ import annotations

import datetime as dt

import pytest
from pyspark.sql import functions as F

from lakehouse.errors import LakehouseError
from lakehouse.jobs import JobContext
from lakehouse.publish import audit_branch, branch_exists
from lakehouse.settings import LakehouseSettings
from spark_jobs import gate
from spark_jobs.energy import features, generator, ingest, io, silver
from spark_jobs.energy.generator import generate_to_landing

SILVER = ["silver.energy_readings", "silver.energy_readings_15min", "silver.energy_readings_hourly",
          "quarantine.energy_readings"]


def run(main, spark, settings, day: dt.date, run_id: str, **options: str):  # type: ignore[no-untyped-def]
    return main(JobContext(settings, spark, day, run_id, dict(options)))


def month_through_gold(spark, settings, day: dt.date, run_id: str) -> None:  # type: ignore[no-untyped-def]
    run(ingest.main, spark, settings, day, run_id)
    run(silver.main, spark, settings, day, run_id)
    run(gate.main, spark, settings, day, run_id, table="silver.energy_readings", suite="silver_energy_readings",
        publish=",".join(SILVER))
    run(features.main, spark, settings, day, run_id)
    run(gate.main, spark, settings, day, run_id, table="gold.energy_features", suite="gold_energy_features")


def table(spark, settings: LakehouseSettings, identifier: str, column: str, day: dt.date):  # type: ignore[no-untyped-def]
    return spark.table(settings.table_name(identifier)).where(F.col(column) == F.lit(day))


@pytest.fixture(scope="module")
def autumn(spark, local_settings):  # type: ignore[no-untyped-def]
    """October 2024 (fall-back on the 27th) for one household, delivered on 2024-11-01."""
    generate_to_landing(local_settings, 1, dt.date(2024, 10, 1), dt.date(2024, 11, 1), seed=11)
    day = dt.date(2024, 11, 1)
    month_through_gold(spark, local_settings, day, "energy-autumn-1")
    return day


def test_fall_back_month_has_every_minute_once(spark, local_settings, autumn) -> None:
    rows = table(spark, local_settings, "silver.energy_readings", "meter_read_date", autumn)
    stats = rows.agg(F.count("*").alias("n"), F.countDistinct("ts_utc").alias("distinct"),
                     F.sum((F.col("status") == "measured").cast("int")).alias("measured")).first()
    assert stats["n"] == stats["distinct"] == 31 * 1440 + 60
    raw_valid = table(spark, local_settings, "raw.energy_readings", "meter_read_date", autumn).count()
    quarantined = table(spark, local_settings, "quarantine.energy_readings", "meter_read_date", autumn).count()
    assert quarantined == 0
    repeated = rows.where(F.col("ts_local").between("2024-10-27 02:00:00", "2024-10-27 02:59:00"))
    assert repeated.count() == 120 and repeated.select("utc_offset_minutes").distinct().count() == 2
    assert stats["measured"] <= raw_valid
    hourly = table(spark, local_settings, "silver.energy_readings_hourly", "meter_read_date", autumn)
    assert hourly.count() == 31 * 24 + 1
    for identifier in SILVER:
        assert not branch_exists(spark, local_settings.table_name(identifier), audit_branch("energy-autumn-1"))


def test_features_are_written_partitioned(spark, local_settings, autumn) -> None:
    """(Identical reruns are checked through Airflow in test_dag_energy_forecast.)"""
    gold = table(spark, local_settings, "gold.energy_features", "meter_read_date", autumn)
    assert gold.where("freq_minutes = 60").count() == 31 * 24 + 1
    assert gold.where("freq_minutes = 15").count() == (31 * 24 + 1) * 4
    partitions = spark.sql(f"SELECT partition FROM {local_settings.table_name('gold.energy_features')}.partitions "
                           "WHERE partition.meter_read_date = DATE'2024-11-01'")
    assert sorted(r["partition"]["freq_minutes"] for r in partitions.collect()) == [15, 60]


def test_spring_month_and_bad_files(spark, local_settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The last week of March 2024 (spring-forward on the 31st) with a wrong-delimiter file, an unknown household and
    bad lines: the default threshold fails the run naming file and line, with nothing published;
    a relaxed threshold keeps the valid rows and quarantines the rest with reasons."""
    day, month = dt.date(2024, 4, 1), dt.date(2024, 3, 1)
    generate_to_landing(local_settings, 2, dt.date(2024, 3, 25), dt.date(2024, 4, 1), seed=5)
    good = io.landing_uri(local_settings, generator.landing_path(month, "hh_001"))
    text, _ = io.read_text(local_settings, good)
    lines = text.splitlines()
    lines[10] = "25/3/2024;00:09:00;-0.300;0.1;240;4;0;0;0"
    lines[11] = "25/3/2024;00:10:00;1.0;0.1;240;4;0;0"
    lines[12] = "31/2/2024;00:11:00;1.0;0.1;240;4;0;0;0"
    io.write_text(local_settings, good, "\n".join(lines) + "\n")
    second = io.landing_uri(local_settings, generator.landing_path(month, "hh_002"))
    text2, _ = io.read_text(local_settings, second)
    io.write_text(local_settings, second, text2.replace(";", ","))
    io.write_text(local_settings, io.landing_uri(local_settings, generator.landing_path(month, "hh_999")),
                  "\n".join(lines[:50]) + "\n")

    summary = run(ingest.main, spark, local_settings, day, "energy-spring-1")
    assert summary["files"] == 3 and len(summary["rejected_files"]) == 2
    silver_table = local_settings.table_name("silver.energy_readings")
    with pytest.raises(LakehouseError, match=r"hh_001\.txt line 11: negative Global_active_power.*nothing published"):
        run(silver.main, spark, local_settings, day, "energy-spring-1")
    assert not branch_exists(spark, silver_table, audit_branch("energy-spring-1"))
    assert table(spark, local_settings, "silver.energy_readings", "meter_read_date", day).count() == 0

    relaxed = local_settings.model_copy(
        update={"energy": local_settings.energy.model_copy(update={"max_rejected_ratio": 0.9, "max_gap_ratio": 0.9})})
    run(silver.main, spark, relaxed, day, "energy-spring-2")
    run(gate.main, spark, relaxed, day, "energy-spring-2", table="silver.energy_readings",
        suite="silver_energy_readings", publish=",".join(SILVER))
    rows = table(spark, relaxed, "silver.energy_readings", "meter_read_date", day)
    assert [r[0] for r in rows.select("household_id").distinct().collect()] == ["hh_001"]
    assert rows.count() == rows.select("ts_utc").distinct().count() == 31 * 1440 - 60
    quarantine = table(spark, relaxed, "quarantine.energy_readings", "meter_read_date", day)
    by_file = {r["f"]: r["n"] for r in quarantine.groupBy(
        F.regexp_extract("source_file", r"(hh_\d+)", 1).alias("f")).agg(F.count("*").alias("n")).collect()}
    reasons = {r["reason"] for r in quarantine.select("reason").distinct().collect()}
    assert by_file["hh_999"] == 49 and by_file["hh_002"] > 7 * 1380 and by_file["hh_001"] == 3
    assert any("wrong delimiter" in r for r in reasons) and any("unknown household" in r for r in reasons)
    lines_hh1 = {r["line_number"]: r["reason"] for r in quarantine.where("source_file LIKE '%hh_001.txt'").collect()}
    assert "negative" in lines_hh1[11] and "9 ';'-separated" in lines_hh1[12] and "malformed date" in lines_hh1[13]


def test_month_without_files_fails_with_a_clear_message(spark, local_settings) -> None:
    with pytest.raises(LakehouseError, match=r"no energy files for 2019-12 under .*energy/2019-12"):
        run(ingest.main, spark, local_settings, dt.date(2020, 1, 1), "energy-empty")
    with pytest.raises(LakehouseError, match="meter-reading day"):
        run(ingest.main, spark, local_settings, dt.date(2020, 1, 15), "energy-empty")


def test_published_multi_year_file_keeps_only_the_delivered_month(spark, local_settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import pandas as pd

    from spark_jobs.energy import uci

    hours = pd.date_range("2023-11-30 00:00", "2024-01-02 00:00", freq="h")
    lines = [uci.HEADER] + [f"{t.day}/{t.month}/{t.year};{t:%H:%M:%S};1.000;0.100;240.000;4.200;0.000;1.000;2.000"
                            for t in hours] + ["12/2023;00:00:00;1;1;240;4;0;0;0"]
    path = tmp_path / "household_power_consumption.txt"
    path.write_text("\n".join(lines) + "\n")
    day = dt.date(2024, 1, 1)
    summary = run(ingest.main, spark, local_settings, day, "energy-uci-file", source=str(path), household="hh_001")
    assert summary["files"] == 1 and summary["rejected_files"] == []
    rows = table(spark, local_settings, "raw.energy_readings", "meter_read_date", day)
    assert rows.count() == 31 * 24 + 1
    assert rows.where("date = '12/2023'").count() == 1 and rows.where("date LIKE '%/11/2023'").count() == 0
