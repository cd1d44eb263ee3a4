"""spark-submit entry point: raw month -> silver minute grid, 15-minute and hourly series, quarantine.

Everything is staged on the run's audit branch; the ``silver_energy_readings`` gate publishes.
The job fails (nothing staged) when the month has no valid reading or when more lines than
``energy.max_rejected_ratio`` had to be quarantined; the message names file, line and reason.
"""

from __future__ import annotations

import logging
from typing import Any

from lakehouse.errors import LakehouseError
from lakehouse.jobs import JobContext, run_job
from lakehouse.publish import read_staged, stage_for_date
from lakehouse.read import read_for_date
from schemas.energy import QUARANTINE_READINGS, RAW_READINGS, SILVER_15MIN, SILVER_HOURLY, SILVER_READINGS
from spark_jobs.energy import io
from spark_jobs.energy.common import delivered_month
from spark_jobs.energy.transforms import resample_frames, silver_frames

log = logging.getLogger(__name__)


def _examples(quarantine: Any, n: int = 3) -> str:
    rows = quarantine.orderBy("source_file", "line_number").limit(n).collect()
    return "; ".join(f"{r['source_file'].rsplit('/', 1)[-1]} line {r['line_number']}: {r['reason']}" for r in rows)


def main(ctx: JobContext) -> dict[str, Any]:
    """Type, localise, gap-fill and resample the month's raw readings; stage silver and quarantine."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    month = delivered_month(ctx.logical_date)
    energy = ctx.settings.energy
    raw = read_for_date(ctx.spark, ctx.settings, RAW_READINGS, [ctx.logical_date])
    io.require_rows(raw, f"raw.energy_readings has no rows for {ctx.logical_date} (month {month:%Y-%m}): "
                         "run the ingest task first")
    both = silver_frames(raw, month_start=month, tz=energy.source_timezone,
                         voltage_band=(energy.voltage_min, energy.voltage_max),
                         max_interpolate_minutes=energy.max_interpolate_minutes)
    both = both.withColumns({"meter_read_date": F.lit(ctx.logical_date), "run_id": F.lit(ctx.run_id)})
    both = both.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        lines = raw.count()
        silver = both.where(F.col("kind") == "silver").drop("kind", "reason", "raw_line")
        quarantine = both.where(F.col("kind") == "quarantine").select(*QUARANTINE_READINGS.column_names)
        rejected = quarantine.count()
        measured = silver.where(F.col("status") == "measured").count()
        if measured == 0:
            raise LakehouseError(
                f"no valid readings for {month:%Y-%m} ({lines} lines, {rejected} quarantined"
                + (f": {_examples(quarantine)}" if rejected else "") + "); nothing published")
        if rejected > energy.max_rejected_ratio * lines:
            raise LakehouseError(
                f"{rejected} of {lines} lines for {month:%Y-%m} rejected ({rejected / lines:.1%} > "
                f"{energy.max_rejected_ratio:.1%}): {_examples(quarantine)}; nothing published "
                "(fix the files, or raise LAKEHOUSE_ENERGY__MAX_REJECTED_RATIO to keep the valid rows)")
        if rejected:
            log.warning("%d lines quarantined for %s: %s", rejected, f"{month:%Y-%m}", _examples(quarantine))
        staged = {}
        for spec, df in ((SILVER_READINGS, silver), (QUARANTINE_READINGS, quarantine)):
            staged[spec.identifier] = stage_for_date(ctx.spark, ctx.settings, spec, df,
                                                     logical_date=ctx.logical_date, run_id=ctx.run_id).snapshot_id
    finally:
        both.unpersist()
    minutes = read_staged(ctx.spark, ctx.settings, SILVER_READINGS, ctx.run_id, ctx.logical_date)
    for spec, freq in ((SILVER_15MIN, 15), (SILVER_HOURLY, 60)):
        intervals = resample_frames(minutes, freq_minutes=freq, tz=energy.source_timezone)
        intervals = intervals.withColumn("run_id", F.lit(ctx.run_id))
        staged[spec.identifier] = stage_for_date(ctx.spark, ctx.settings, spec, intervals,
                                                 logical_date=ctx.logical_date, run_id=ctx.run_id).snapshot_id
    return {"month": f"{month:%Y-%m}", "lines": lines, "quarantined": rejected, "staged": staged}


if __name__ == "__main__":
    run_job(main, app_name="energy-silver")
