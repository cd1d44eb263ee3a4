"""spark-submit entry point: land the trade date's tick files into raw.ticks (replaces that date)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from lakehouse.jobs import JobContext, run_job
from lakehouse.write import write_for_date
from schemas.finance import RAW_TICKS
from spark_jobs.finance.io import read_date, read_landing
from spark_jobs.finance.transforms import to_raw


def main(ctx: JobContext) -> dict[str, Any]:
    """Read every landing file of the logical date (CSV, Parquet, Binance) into raw.ticks as delivered."""
    landed = read_landing(ctx.spark, ctx.settings, ctx.logical_date)
    ingested_at = dt.datetime.now(dt.UTC)  # ingest metadata only; no rule depends on it
    raw = to_raw(landed.df, ctx.logical_date, ctx.run_id, ingested_at)
    result = write_for_date(ctx.spark, ctx.settings, RAW_TICKS, raw, logical_date=ctx.logical_date,
                            run_id=ctx.run_id)
    rows = read_date(ctx.spark, ctx.settings, RAW_TICKS, ctx.logical_date).count()
    return {"table": result.table, "logical_date": ctx.logical_date, "rows": rows,
            "snapshot_id": result.snapshot_id, **landed.summary()}


if __name__ == "__main__":
    run_job(main, app_name="finance-raw")
