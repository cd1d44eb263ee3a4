"""spark-submit entry point: raw.ticks -> silver.ticks + quarantine.ticks, staged for the quality gate."""

from __future__ import annotations

from typing import Any

from lakehouse.errors import LakehouseError
from lakehouse.jobs import JobContext, run_job
from lakehouse.publish import stage_for_date
from lakehouse.read import read_for_date
from schemas.finance import QUARANTINE_TICKS, RAW_TICKS, SILVER_TICKS
from spark_jobs.finance.session import trading_session
from spark_jobs.finance.transforms import mark_outliers, prepare_ticks, split_silver_quarantine


def main(ctx: JobContext) -> dict[str, Any]:
    """Type, dedupe, session-filter and outlier-check the date's raw ticks; stage silver and quarantine
    on the run's audit branch (the gate task publishes them together)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    fin = ctx.settings.finance
    session = trading_session(fin, ctx.logical_date)
    raw = read_for_date(ctx.spark, ctx.settings, RAW_TICKS, ctx.logical_date)
    # Disk only: the outlier rule reads the prepared rows three times and the writes read the verdicts
    # twice; pulling a large cached block back into memory ran a 2 GiB driver out of heap at 20M ticks.
    # Both caches are released before the job returns (in-process tasks share one long-lived session).
    prepared = prepare_ticks(raw, session).persist(StorageLevel.DISK_ONLY)
    classified = mark_outliers(prepared, k=fin.outlier_mad_k, window_minutes=fin.outlier_window_minutes,
                               min_rel_mad=fin.outlier_min_rel_mad).persist(StorageLevel.DISK_ONLY)
    try:
        counts = {r["reason"] or "silver": r["n"] for r in classified.groupBy("reason").agg(
            F.count(F.lit(1)).alias("n")).collect()}
        if not counts:
            raise LakehouseError(f"raw.ticks has no rows for {ctx.logical_date}: run the ingest task first")
        silver, quarantine = split_silver_quarantine(classified, ctx.logical_date, ctx.run_id)
        staged_silver = stage_for_date(ctx.spark, ctx.settings, SILVER_TICKS, silver,
                                       logical_date=ctx.logical_date, run_id=ctx.run_id)
        staged_quarantine = stage_for_date(ctx.spark, ctx.settings, QUARANTINE_TICKS, quarantine,
                                           logical_date=ctx.logical_date, run_id=ctx.run_id)
    finally:
        classified.unpersist()
        prepared.unpersist()
    return {"logical_date": ctx.logical_date, "raw_rows": sum(counts.values()), "silver_rows": counts.get("silver", 0),
            "quarantined": {k: v for k, v in sorted(counts.items()) if k != "silver"},
            "branch": staged_silver.branch, "staged": [staged_silver.table, staged_quarantine.table]}


if __name__ == "__main__":
    run_job(main, app_name="finance-silver")
