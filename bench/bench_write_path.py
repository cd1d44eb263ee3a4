"""Cost of the one write path (date-scoped overwrite + date guard + snapshot metadata) against a
plain Iceberg append of the same DataFrame, in the same Spark session and run.

    .venv/bin/python bench/bench_write_path.py --rows 2000000 --repeat 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path

from lakehouse.catalog import create_tables
from lakehouse.settings import LakehouseSettings
from lakehouse.spark import get_spark
from lakehouse.write import write_for_date
from schemas.core import SMOKE_EVENTS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-write-"))
    settings = LakehouseSettings(home=home)
    create_tables(settings, [SMOKE_EVENTS])
    spark = get_spark(settings, app_name="bench-write-path")
    from pyspark.sql import functions as F

    day = dt.date(2024, 1, 2)
    source = spark.range(args.rows).select(
        F.lit(day).alias("event_date"), F.col("id").alias("event_id"),
        (F.col("id") % 4).cast("string").alias("sensor"), F.rand(1).alias("value"), F.lit("bench").alias("run_id"),
    ).cache()
    source.count()
    table = settings.table_name(SMOKE_EVENTS.identifier)
    timings: dict[str, list[float]] = {"plain_append": [], "write_for_date": []}
    for _ in range(args.repeat):
        spark.sql(f"DELETE FROM {table}")
        start = time.perf_counter()
        source.writeTo(table).append()
        timings["plain_append"].append(time.perf_counter() - start)
        spark.sql(f"DELETE FROM {table}")
        start = time.perf_counter()
        write_for_date(spark, settings, SMOKE_EVENTS, source, logical_date=day, run_id="bench")
        timings["write_for_date"].append(time.perf_counter() - start)
    median = {k: statistics.median(v) for k, v in timings.items()}
    print(json.dumps({
        "rows": args.rows, "repeat": args.repeat, "median_s": median,
        "rows_per_s": {k: round(args.rows / v) for k, v in median.items()},
        "ratio_write_for_date_vs_append": round(median["write_for_date"] / median["plain_append"], 3),
    }, indent=2))


if __name__ == "__main__":
    main()
