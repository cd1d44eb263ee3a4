"""Pure transforms of the smoke job."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SENSORS = ("north", "south", "east", "west")


def sensor_events(spark: SparkSession, logical_date: dt.date, run_id: str, rows_per_sensor: int = 25) -> DataFrame:
    """Deterministic events for ``logical_date``: same date in, same rows out."""
    from pyspark.sql import functions as F

    seed = logical_date.toordinal()
    ids = spark.range(rows_per_sensor * len(SENSORS)).withColumnRenamed("id", "event_id")
    sensor = F.element_at(F.array(*(F.lit(s) for s in SENSORS)), (F.col("event_id") % len(SENSORS) + 1).cast("int"))
    return ids.select(
        F.lit(logical_date).alias("event_date"),
        F.col("event_id"),
        sensor.alias("sensor"),
        F.round(F.rand(seed) * 100, 3).alias("value"),
        F.lit(run_id).alias("run_id"),
    )
