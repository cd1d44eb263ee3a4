"""spark-submit entry point: land the trade date's tick files into raw.ticks (replaces that date)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from lakehouse import deliveries
from lakehouse.jobs import JobContext, run_job
from lakehouse.read import read_for_date
from lakehouse.write import write_for_date
from schemas.finance import RAW_TICKS
from spark_jobs.finance.io import read_landing
from spark_jobs.finance.transforms import to_raw

DATASET = "ticks"


def main(ctx: JobContext) -> dict[str, Any]:
    """Read every landing file of the logical date (CSV, Parquet, Binance CSV or published zip) into raw.ticks
    as delivered (a zip's rows carry the zip as their source_file);
    account for every file of the folder in the summary and raw.delivered_files."""
    landed = read_landing(ctx.spark, ctx.settings, ctx.logical_date)
    ingested_at = dt.datetime.now(dt.UTC)  # ingest metadata only; no rule depends on it
    raw = to_raw(landed.df, ctx.logical_date, ctx.run_id, ingested_at)
    result = write_for_date(ctx.spark, ctx.settings, RAW_TICKS, raw, logical_date=ctx.logical_date,
                            run_id=ctx.run_id)
    per_file = read_for_date(ctx.spark, ctx.settings, RAW_TICKS, ctx.logical_date).groupBy("source_file").count()
    rows_by_file = {r["source_file"]: int(r["count"]) for r in per_file.collect()}
    delivered = deliveries.with_hashes(ctx.settings, landed.with_rows(rows_by_file))
    deliveries.record(ctx.spark, ctx.settings, delivered, domain="finance", dataset=DATASET,
                      logical_date=ctx.logical_date, run_id=ctx.run_id)
    return {"table": result.table, "logical_date": ctx.logical_date, "rows": sum(rows_by_file.values()),
            "snapshot_id": result.snapshot_id, **landed.summary(), **deliveries.summary(delivered)}


if __name__ == "__main__":
    run_job(main, app_name="finance-raw")
