"""spark-submit entry point: land one month of UCI files into raw.energy_readings (as delivered).

The run on the 1st of a month reads ``{landing}/energy/<previous month>/*.txt`` (or ``--option
source=<file or directory>`` with ``--option household=<id>`` for the published multi-year UCI
file, of which only the delivered month's lines are kept) and replaces the month's raw rows.
Files that cannot be read as UCI (wrong delimiter, missing header, unknown household) are kept
in raw with their ``file_error``; silver quarantines them.
"""

from __future__ import annotations

import sys
from typing import Any

from lakehouse.errors import LakehouseError
from lakehouse.jobs import JobContext, run_job
from lakehouse.write import write_for_date
from schemas.energy import RAW_READINGS
from spark_jobs.energy import io
from spark_jobs.energy.common import delivered_month


def main(ctx: JobContext) -> dict[str, Any]:
    """Read the month's landing files and replace the month's rows of raw.energy_readings."""
    from pyspark.sql import functions as F

    month = delivered_month(ctx.logical_date)
    source = ctx.options.get("source")
    location = io.month_dir(ctx.settings, month)
    if source:  # a URI, an absolute path, or a path relative to the landing zone
        location = source if "://" in source else ("file://" + source if source.startswith("/")
                                                   else io.landing_uri(ctx.settings, source))
    files = [location] if location.endswith(".txt") else io.list_files(ctx.settings, location)
    if not files:
        raise LakehouseError(f"no energy files for {month:%Y-%m} under {location} "
                             f"(logical date {ctx.logical_date}): nothing to ingest")
    plan = io.file_plan(ctx.settings, files, ctx.options.get("household"))
    for uri, _hid, error in plan:
        if error:
            print(f"warning: {uri} line 1: {error}", file=sys.stderr)
    raw = io.raw_lines(ctx.spark, ctx.settings, plan)
    if source:
        # A published multi-year UCI file: keep the delivered month's lines (and lines whose date
        # cannot be read, so that they are quarantined with their reason rather than lost).
        in_month = F.col("date").rlike(rf"^\s*\d{{1,2}}/0?{month.month}/{month.year}\s*$")
        dated = F.col("date").rlike(r"^\s*\d{1,2}/\d{1,2}/\d{4}\s*$")
        raw = raw.where(in_month | ~F.coalesce(dated, F.lit(False)) | F.col("file_error").isNotNull())
    raw = raw.withColumns({
        "meter_read_date": F.lit(ctx.logical_date), "run_id": F.lit(ctx.run_id)})
    result = write_for_date(ctx.spark, ctx.settings, RAW_READINGS, raw, logical_date=ctx.logical_date,
                            run_id=ctx.run_id)
    rows = io.read_for_dates(ctx.spark, ctx.settings, RAW_READINGS, [ctx.logical_date])
    stats = rows.agg(F.count("*").alias("lines"), F.countDistinct("source_file").alias("files"),
                     F.sum(F.col("file_error").isNotNull().cast("int")).alias("lines_in_rejected_files")).first()
    rejected = rows.where(F.col("file_error").isNotNull()).groupBy("source_file").agg(
        F.first("file_error").alias("error")).orderBy("source_file").collect()
    for row in rejected:
        if not any(uri == row["source_file"] and error for uri, _h, error in plan):
            print(f"warning: {row['source_file']} line 1: {row['error']}", file=sys.stderr)
    return {"table": RAW_READINGS.identifier, "month": f"{month:%Y-%m}", "snapshot_id": result.snapshot_id,
            **stats.asDict(), "rejected_files": [row["source_file"] for row in rejected]}


if __name__ == "__main__":
    run_job(main, app_name="energy-ingest")
