"""spark-submit entry point: published silver series -> gold.energy_features for the month (staged).

Lags and rolling windows reach back up to 15 days, so the previous month's published series is
read as context; only intervals of the delivered month (in the meter's clock, as silver) are written
(partitioned by meter-read date and frequency). ``energy.seasonal_features``: ``fourier`` (default),
``stl`` or ``mstl`` adds day-ahead-safe seasonal decomposition columns (see transforms).
The ``gold_energy_features`` gate publishes.
"""

from __future__ import annotations

import logging
from typing import Any

from lakehouse.jobs import JobContext, run_job
from lakehouse.publish import stage_for_date
from lakehouse.read import read_for_date
from lakehouse.settings import LakehouseSettings
from schemas.base import TableSpec
from schemas.energy import GOLD_FEATURES, SILVER_15MIN, SILVER_HOURLY
from spark_jobs.energy import io
from spark_jobs.energy.common import delivered_month, meter_clocks
from spark_jobs.energy.transforms import feature_frames, previous_month

log = logging.getLogger(__name__)


def add_missing_columns(settings: LakehouseSettings, spec: TableSpec) -> list[str]:
    """Add the declared optional columns an older table lacks (gold.energy_features before the STL/MSTL
    columns); existing rows read them as null. Returns the names added."""
    from lakehouse.catalog import load_catalog

    table = load_catalog(settings).load_table(spec.identifier)
    present = set(table.schema().column_names)
    missing = [c for c in spec.columns if c.name not in present and not c.required]
    if missing:
        with table.update_schema() as update:
            for column in missing:
                update.add_column(column.name, column.type, doc=column.doc)
    return [c.name for c in missing]


def main(ctx: JobContext) -> dict[str, Any]:
    """Build calendar, holiday, lag, rolling and Fourier features per household in applyInPandas, and the
    STL/MSTL seasonal components when ``energy.seasonal_features`` asks for them (fitted per day on the
    history before it only)."""
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
    default_zone, zones = meter_clocks(energy)

    def in_month(zone: Any) -> Any:  # the month of the meter's clock: exactly the rows silver published
        start, end = month_bounds_utc(month, zone)
        return ((F.col("interval_start_utc") >= F.lit(start.to_pydatetime()))
                & (F.col("interval_start_utc") < F.lit(end.to_pydatetime())))

    keep = in_month(default_zone)
    for household, zone in zones.items():
        keep = F.when(F.col("household_id") == household, in_month(zone)).otherwise(keep)
    earliest = min(month_bounds_utc(month, z)[0] for z in (default_zone, *zones.values()))
    features = feature_frames(intervals, tz=energy.source_timezone, country=energy.holiday_country,
                              seasonal=energy.seasonal_features, since=earliest)
    features = features.where(keep)
    features = features.withColumn("meter_read_date", F.lit(ctx.logical_date))
    added = add_missing_columns(ctx.settings, GOLD_FEATURES)
    if added:
        log.warning("%s: added the columns %s (declared since; older rows read them as null)",
                    GOLD_FEATURES.identifier, ", ".join(added))
        ctx.spark.sql(f"REFRESH TABLE {ctx.settings.table_name(GOLD_FEATURES.identifier)}")
    result = stage_for_date(ctx.spark, ctx.settings, GOLD_FEATURES, features, logical_date=ctx.logical_date,
                            run_id=ctx.run_id)
    return {"month": f"{month:%Y-%m}", "table": GOLD_FEATURES.identifier, "staged_snapshot": result.snapshot_id}


if __name__ == "__main__":
    run_job(main, app_name="energy-features")
