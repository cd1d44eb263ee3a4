"""spark-submit entry point: raw.ticks -> silver.ticks + quarantine.ticks, staged for the quality gate.

One wide pass: the prepared rows (typed, session-filtered, duplicates marked: one shuffle) are kept on
disk once; the outlier statistics are a small per symbol-minute table, materialised once and broadcast;
each write applies the outlier rule as a narrow pass over the prepared rows. No classified copy is cached,
and the counts in the summary are read back from what was staged.
"""

from __future__ import annotations

from typing import Any

from lakehouse.errors import LakehouseError
from lakehouse.jobs import JobContext, run_job
from lakehouse.publish import read_staged, stage_for_date
from lakehouse.read import read_for_date
from lakehouse.spark import UNCOMPRESSED_CACHE, session_conf
from schemas.finance import QUARANTINE_TICKS, RAW_TICKS, SILVER_TICKS
from spark_jobs.finance.session import trading_session
from spark_jobs.finance.transforms import flag_outliers, outlier_statistics, prepare_ticks, split_silver_quarantine


def main(ctx: JobContext) -> dict[str, Any]:
    """Type, dedupe, session-filter and outlier-check the date's raw ticks; stage silver and quarantine
    on the run's audit branch (the gate task publishes them together)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    fin = ctx.settings.finance
    session = trading_session(fin, ctx.logical_date)
    raw = read_for_date(ctx.spark, ctx.settings, RAW_TICKS, ctx.logical_date)
    # Disk only: every later pass reads the prepared rows (the statistics once, each write once); pulling a
    # large cached block back into memory ran a 2 GiB driver out of heap at 20M ticks. Both caches are
    # released before the job returns (in-process tasks share one long-lived session).
    if raw.isEmpty():
        raise LakehouseError(f"raw.ticks has no rows for {ctx.logical_date}: run the ingest task first")
    # Uncompressed: the prepared ticks' cache lives on disk for this job only (the statistics are small); a
    # cache keeps the settings it was declared with, so the declarations sit in the block.
    with session_conf(ctx.spark, UNCOMPRESSED_CACHE):
        prepared = prepare_ticks(raw, session).persist(StorageLevel.DISK_ONLY)
        stats = outlier_statistics(prepared, window_minutes=fin.outlier_window_minutes).persist(
            StorageLevel.MEMORY_AND_DISK)
    try:
        stats.count()  # materialised once: the writes below only broadcast it
        classified = flag_outliers(prepared, stats, k=fin.outlier_mad_k, min_rel_mad=fin.outlier_min_rel_mad)
        silver, quarantine = split_silver_quarantine(classified, ctx.logical_date, ctx.run_id)
        staged_silver = stage_for_date(ctx.spark, ctx.settings, SILVER_TICKS, silver,
                                       logical_date=ctx.logical_date, run_id=ctx.run_id)
        staged_quarantine = stage_for_date(ctx.spark, ctx.settings, QUARANTINE_TICKS, quarantine,
                                           logical_date=ctx.logical_date, run_id=ctx.run_id)
    finally:
        stats.unpersist()
        prepared.unpersist()
    quarantined = {r["reason"]: r["n"] for r in read_staged(
        ctx.spark, ctx.settings, QUARANTINE_TICKS, ctx.run_id, ctx.logical_date).groupBy("reason").agg(
        F.count(F.lit(1)).alias("n")).collect()}
    silver_rows = read_staged(ctx.spark, ctx.settings, SILVER_TICKS, ctx.run_id, ctx.logical_date).count()
    return {"logical_date": ctx.logical_date, "raw_rows": silver_rows + sum(quarantined.values()),
            "silver_rows": silver_rows, "quarantined": dict(sorted(quarantined.items())),
            "branch": staged_silver.branch, "staged": [staged_silver.table, staged_quarantine.table]}


if __name__ == "__main__":
    run_job(main, app_name="finance-silver")
