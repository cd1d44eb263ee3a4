"""Finance: every file of a trade date's landing folder is accounted for (both profiles): an
odd-cased `.CSV` is ingested, an empty file quarantined as empty_file, metadata, hidden and stray files
ignored with a reason; the summary and raw.delivered_files agree and their rows add up to raw.ticks, whose data
files keep each delivered file's rows in order."""

from __future__ import annotations

import datetime as dt
import hashlib

from pyspark.sql import Window
from pyspark.sql import functions as F

from lakehouse.jobs import JobContext
from schemas.deliveries import DELIVERED_FILES
from spark_jobs.finance import generator
from spark_jobs.finance import io as finance_io
from spark_jobs.finance import raw as raw_job
from tests.support.delivery import deliver, listed, stored

DAY = dt.date(2023, 9, 12)


def test_every_delivered_file_of_the_day_is_accounted_for(spark, lake) -> None:  # type: ignore[no-untyped-def]
    generator.generate_landing(lake, DAY, symbols=2, ticks=300, seed=21, rates=generator.DefectRates.none())
    folder = finance_io.landing_dir(lake, DAY)
    delivered = {name: stored(lake, f"{folder}/{name}") for name in listed(lake, folder)}
    csv_name = next(n for n in delivered if n.endswith(".csv"))
    delivered["TICKS-EXTRA.CSV"] = delivered.pop(csv_name)  # same content, odd-cased name
    delivered.update({"ticks-EMPTY.csv": b"", "notes.txt": b"call the desk", ".hidden": b"x",
                      "README": b"ticks of 2023-09-12"})
    deliver(lake, folder, delivered)  # type: ignore[arg-type]

    summary = raw_job.main(JobContext(lake, spark, DAY, "finance-accounting", {}))

    table = {r["file_name"]: r.asDict() for r in spark.table(lake.table_name(DELIVERED_FILES.identifier)).where(
        (F.col("logical_date") == F.lit(DAY)) & (F.col("domain") == "finance")).collect()}
    in_summary = {f["file"]: f for f in summary["delivered_files"]}
    assert set(in_summary) == set(table) == set(delivered)
    expected = {"TICKS-EXTRA.CSV": ("ingested", None), "ticks-EMPTY.csv": ("quarantined", "empty_file"),
                "notes.txt": ("ignored", "no tick adapter"), ".hidden": ("ignored", "hidden file"),
                "README": ("ignored", "documentation file"), "_manifest.json": ("ignored", "metadata file")}
    expected.update({n: ("ingested", None) for n in delivered if n not in expected})
    for name, (outcome, reason) in expected.items():
        for where in (in_summary[name], table[name]):
            assert where["outcome"] == outcome, (name, where)
            assert (where["reason"] is None) if reason is None else reason in where["reason"], (name, where)
        assert table[name]["sha256"] == hashlib.sha256(delivered[name]).hexdigest(), name  # type: ignore[arg-type]
        assert table[name]["dataset"] == "ticks" and table[name]["run_id"] == "finance-accounting"
    raw_rows = spark.table(lake.table_name("raw.ticks")).where(F.col("trade_date") == F.lit(DAY))
    assert sum(t["rows"] or 0 for t in table.values()) == raw_rows.count() == summary["rows"]
    assert table["TICKS-EXTRA.CSV"]["rows"] > 0 and table["ticks-EMPTY.csv"]["rows"] == 1, "its marker row"
    # raw.ticks declares no sort order: written as read, each data file still holds its rows in file order.
    key = F.struct("source_file", "record_id")
    previous = F.lag(key).over(Window.partitionBy("_file").orderBy("_pos"))
    in_files = raw_rows.select("_file", "_pos", "source_file", "record_id")
    assert in_files.select("_file").distinct().count() > 1
    assert in_files.withColumn("previous", previous).where(F.col("previous") >= key).count() == 0
