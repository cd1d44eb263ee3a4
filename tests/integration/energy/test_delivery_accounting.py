"""Energy: every delivered file of a month is accounted for (both profiles). An upper-case `.TXT` is
ingested, an empty file is quarantined as empty_file, stray files are ignored with a reason; the run
summary and raw.delivered_files agree, and their rows add up to the month's raw rows."""

from __future__ import annotations

import datetime as dt
import hashlib

from pyspark.sql import functions as F

from lakehouse.jobs import JobContext
from schemas.deliveries import DELIVERED_FILES
from spark_jobs.energy import generator, ingest, io
from tests.support.delivery import deliver, stored

DAY, MONTH = dt.date(2024, 7, 1), dt.date(2024, 6, 1)


def test_every_delivered_file_of_the_month_is_accounted_for(spark, lake) -> None:  # type: ignore[no-untyped-def]
    generator.generate_to_landing(lake, 2, dt.date(2024, 6, 27), dt.date(2024, 7, 1), seed=9)
    folder = io.month_dir(lake, MONTH)
    first, second = stored(lake, f"{folder}/hh_001.txt"), stored(lake, f"{folder}/hh_002.txt")
    assert first and second
    files = {"hh_001.txt": first, "hh_002.TXT": second, "hh_003.txt": b"", "README.md": b"# June readings",
             "_manifest.json": b"{}", ".hidden": b"x", "readings.csv": b"Date;Time\n"}
    deliver(lake, folder, files)  # hh_002 now arrives as hh_002.TXT; hh_003's file is empty

    summary = ingest.main(JobContext(lake, spark, DAY, "energy-accounting", {}))

    expected = {"hh_001.txt": ("ingested", None), "hh_002.TXT": ("ingested", None),
                "hh_003.txt": ("quarantined", "empty_file"), "README.md": ("ignored", "documentation file"),
                "_manifest.json": ("ignored", "metadata file"), ".hidden": ("ignored", "hidden file"),
                "readings.csv": ("ignored", "not a UCI text file")}
    table = {r["file_name"]: r.asDict() for r in spark.table(lake.table_name(DELIVERED_FILES.identifier)).where(
        (F.col("logical_date") == F.lit(DAY)) & (F.col("domain") == "energy")).collect()}
    in_summary = {f["file"]: f for f in summary["delivered_files"]}
    assert set(in_summary) == set(table) == set(expected) == set(files)
    for name, (outcome, reason) in expected.items():
        for where in (in_summary[name], table[name]):
            assert where["outcome"] == outcome, (name, where)
            assert (where["reason"] is None) if reason is None else reason in where["reason"], (name, where)
        assert table[name]["sha256"] == hashlib.sha256(files[name]).hexdigest(), name
        assert table[name]["size_bytes"] == len(files[name]) and table[name]["dataset"] == "uci_household"
    assert summary["files"] == 2, "both households reach raw, the .TXT one included"
    assert summary["delivered"] == {"ingested": 2, "quarantined": 1, "ignored": 4}
    raw_rows = spark.table(lake.table_name("raw.energy_readings")).where(F.col("meter_read_date") == F.lit(DAY))
    assert sum(t["rows"] or 0 for t in table.values()) == raw_rows.count() > 0
    assert table["hh_002.TXT"]["rows"] == raw_rows.where(F.col("household_id") == "hh_002").count() > 0
