"""spark-submit entry point: published silver series -> gold.energy_features for the month (staged).

Lags and rolling windows reach back up to 15 days, so the previous month's published series is
read as context; only intervals of the delivered month are written (partitioned by meter-read
date and frequency). The ``gold_energy_features`` gate publishes.
"""

from __future__ import annotations

from typing import Any

from lakehouse.jobs import JobContext, run_job
from lakehouse.publish import stage_for_date
from lakehouse.read import read_for_date
from schemas.energy import GOLD_FEATURES, SILVER_15MIN, SILVER_HOURLY
from spark_jobs.energy import io
from spark_jobs.energy.common import delivered_month
from spark_jobs.energy.transforms import feature_frames, previous_month


def main(ctx: JobContext) -> dict[str, Any]:
    """Build calendar, holiday, lag, rolling and Fourier features per household in applyInPandas."""
    from pyspark.sql import functions as F

    from spark_jobs.energy.uci import month_bounds_utc

    month = delivered_month(ctx.logical_date)
    energy = ctx.settings.energy
    dates = [ctx.logical_date, previous_month(ctx.logical_date)]
    intervals = read_for_date(ctx.spark, ctx.settings, SILVER_HOURLY, dates).unionByName(
        read_for_date(ctx.spark, ctx.settings, SILVER_15MIN, dates))
    io.require_rows(intervals.where(F.col("meter_read_date") == F.lit(ctx.logical_date)),
                    f"no published silver series for {month:%Y-%m} (meter-read date {ctx.logical_date}): "
                    "run silver and its gate first")
    start, end = month_bounds_utc(month, energy.source_timezone)
    features = feature_frames(intervals, tz=energy.source_timezone, country=energy.holiday_country)
    features = features.where((F.col("interval_start_utc") >= F.lit(start.to_pydatetime()))
                              & (F.col("interval_start_utc") < F.lit(end.to_pydatetime())))
    features = features.withColumn("meter_read_date", F.lit(ctx.logical_date))
    result = stage_for_date(ctx.spark, ctx.settings, GOLD_FEATURES, features, logical_date=ctx.logical_date,
                            run_id=ctx.run_id)
    return {"month": f"{month:%Y-%m}", "table": GOLD_FEATURES.identifier, "staged_snapshot": result.snapshot_id}


if __name__ == "__main__":
    run_job(main, app_name="energy-features")
