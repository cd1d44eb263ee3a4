"""spark-submit entry point: land the intra-day 15-minute deliveries into silver.energy_intraday_15min.

A run for the interval starting at ``--option interval=<ISO>`` (the DAG passes its logical timestamp)
ingests every delivery of the intervals in ``[interval - energy.intraday_lookback_minutes, interval)``
(``--option since=<ISO>`` for a backfill from an earlier instant), one row per household and interval
(``spark_jobs.energy.intraday``). The rows are upserted per UTC delivery date on (household, interval)
through ``lakehouse.write``: a rerun, or a file delivered again, replaces its row and never duplicates
it; intervals not delivered again are kept. Nothing delivered is not an error here: the realtime scoring
decides whether the data is late. Files outside the layout, hidden/metadata files and names that are not
``.txt`` are ignored with a warning; an unknown household's file yields its row with the reason.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pandas as pd

from lakehouse import deliveries, storage
from lakehouse.jobs import JobContext, run_job
from lakehouse.pipeline import JobOptions
from lakehouse.write import write_for_date
from schemas.energy import SILVER_INTRADAY
from spark_jobs.energy import intraday, io

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lakehouse.settings import LakehouseSettings

log = logging.getLogger("lakehouse.energy.intraday")
PLAN_SCHEMA = "uri string, household_id string, interval_start_utc timestamp, file_error string"


class Options(JobOptions):
    """``interval``: an ISO timestamp; the deliveries of the intervals before its 15-minute interval are
    ingested (default: the logical date); ``since``: ingest from this ISO timestamp instead of
    ``interval - energy.intraday_lookback_minutes`` (a backfill)."""

    interval: str | None = None
    since: str | None = None


def find_deliveries(settings: LakehouseSettings, since: pd.Timestamp, until: pd.Timestamp
                    ) -> tuple[list[tuple[str, str, pd.Timestamp, str | None]], list[tuple[str, str]]]:
    """(plan, ignored): one ``(uri, household, interval start, file error)`` per delivered file of the intervals
    in ``[since, until)``, and ``(uri, reason)`` per file that is not a delivery."""
    plan: list[tuple[str, str, pd.Timestamp, str | None]] = []
    ignored: list[tuple[str, str]] = []
    wanted = set(intraday.interval_starts(since, until))
    for day in intraday.utc_days(since, until):
        folder = io.landing_uri(settings, intraday.day_path(day))
        candidates: list[tuple[str, pd.Timestamp]] = []
        for file in storage.list_files(settings, folder, recursive=True):
            found = intraday.interval_of(f"{day:%Y-%m-%d}/{file.name}")
            why_not = deliveries.ignore_reason(file.name) or (
                None if io.is_uci_file(file.name) else "not a UCI text file (.txt)") or (
                None if found else "not <HHMM>/<household>.txt (HHMM: a 15-minute UTC interval start)")
            if why_not:
                ignored.append((file.uri, why_not))
            elif found[0] in wanted:
                candidates.append((file.uri, found[0]))
        start_of = dict(candidates)
        for uri, household, error in io.file_plan(settings, [u for u, _ in candidates], None):
            plan.append((uri, household, start_of[uri], error))
    latest: dict[tuple[str, pd.Timestamp], tuple[str, str, pd.Timestamp, str | None]] = {}
    for entry in sorted(plan, key=lambda p: p[0]):  # one file per household and interval: the last name wins
        if (entry[1], entry[2]) in latest:
            ignored.append((latest[(entry[1], entry[2])][0], f"superseded by {entry[0]} (same household and interval)"))
        latest[(entry[1], entry[2])] = entry
    return list(latest.values()), ignored


def reading_frames(spark: SparkSession, settings: LakehouseSettings,
                   plan: list[tuple[str, str, pd.Timestamp, str | None]]) -> DataFrame:
    """Read the planned files on the workers: one ``intraday.READING_COLUMNS`` row per file, plus its
    ``delivery_date`` (UTC date of the interval)."""
    from lakehouse.frames import spark_ddl
    from spark_jobs.energy.common import meter_clocks
    from spark_jobs.energy.transforms import arrow_ready, as_utc

    columns = (*intraday.READING_COLUMNS, "delivery_date")
    schema = spark_ddl(SILVER_INTRADAY, columns)
    energy = settings.energy
    default_clock, clocks = meter_clocks(energy)  # a misdeclared clock fails here, before any file is read

    def parse(batches):  # type: ignore[no-untyped-def]
        for batch in batches:
            batch = as_utc(batch, "interval_start_utc")
            rows = []
            for uri, household, start, error in batch.itertuples(index=False):
                text, sha = io.read_text(settings, uri)
                rows.append(intraday.interval_reading(
                    text, source_file=uri, household_id=household, start=start, tz=energy.source_timezone,
                    voltage_band=(energy.voltage_min, energy.voltage_max),
                    max_interpolate_minutes=energy.max_interpolate_minutes, file_error=error, file_sha256=sha,
                    clock=clocks.get(household, default_clock)))
            if rows:
                out = pd.concat(rows, ignore_index=True)
                out["delivery_date"] = out["interval_start_utc"].dt.date
                yield arrow_ready(out, schema)

    files = spark.createDataFrame([(u, h, s.to_pydatetime(), e) for u, h, s, e in plan], PLAN_SCHEMA)
    return files.repartition(max(1, min(len(plan), spark.sparkContext.defaultParallelism * 2))).mapInPandas(
        parse, schema)


def main(ctx: JobContext) -> dict[str, Any]:
    """Upsert the window's intra-day deliveries into silver.energy_intraday_15min (one row per household
    and interval)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    options = Options.of(ctx.options)
    until = intraday.floor_interval(options.interval or ctx.logical_date.isoformat())
    since = (intraday.floor_interval(options.since) if options.since
             else until - pd.Timedelta(minutes=ctx.settings.energy.intraday_lookback_minutes))
    plan, ignored = find_deliveries(ctx.settings, since, until)
    for uri, reason in ignored:
        log.warning("%s: ignored: %s", uri, reason)
    window = {"since": since.isoformat(), "until": until.isoformat()}
    if not plan:
        log.info("no intra-day deliveries for [%s, %s)", since.isoformat(), until.isoformat())
        return {**window, "files": 0, "intervals": 0, "ignored": len(ignored), "written": {}}
    rows = reading_frames(ctx.spark, ctx.settings, plan).withColumn("run_id", F.lit(ctx.run_id))
    rows = rows.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        stats = rows.agg(F.count("*").alias("rows"), F.countDistinct("interval_start_utc").alias("intervals"),
                         F.countDistinct("household_id").alias("households"),
                         F.sum("lines_rejected").alias("lines_rejected")).first()
        rejected = rows.where(F.col("first_rejection").isNotNull()).orderBy("source_file").limit(3).collect()
        for row in rejected:
            log.warning("%s: %d line(s) rejected, first: %s", row["source_file"], row["lines_rejected"],
                        row["first_rejection"])
        written = {}
        for (day,) in rows.select("delivery_date").distinct().orderBy("delivery_date").collect():
            result = write_for_date(ctx.spark, ctx.settings, SILVER_INTRADAY, rows.where(F.col("delivery_date") == day),
                                    logical_date=day, run_id=ctx.run_id, mode="upsert", keys=intraday.KEYS)
            written[day.isoformat()] = result.snapshot_id
    finally:
        rows.unpersist()
    return {**window, "files": len(plan), "ignored": len(ignored), "rows": stats["rows"],
            "intervals": stats["intervals"], "households": stats["households"],
            "lines_rejected": int(stats["lines_rejected"] or 0), "written": written}


if __name__ == "__main__":
    run_job(main, app_name="energy-intraday-ingest")
