"""spark-submit entry point: land one month of UCI files into raw.energy_readings (as delivered).

The run on the 1st of a month reads ``{landing}/energy/<previous month>/*.txt`` (any case: ``.TXT``
too) or ``--option source=<file or directory>`` with ``--option household=<id>`` for the published
multi-year UCI file (the DAG's ``source`` param), of which only the delivered month's lines are kept, and
replaces the month's raw rows; its lines of other months are counted in the file's accounting row as outside
this run's month (``lines_outside_month`` in the summary), not rejected. Files that cannot be read as UCI
(wrong delimiter, missing header, unknown household) are kept
in raw with their ``file_error``; silver quarantines them. Every file of the folder is accounted for
in the summary and in ``raw.delivered_files``: ingested, quarantined (an empty file: ``empty_file``;
a rejected one: its file error) or ignored with a reason (hidden and ``_`` metadata files, README,
names that are not ``.txt``).
"""

from __future__ import annotations

import logging
from typing import Any

from lakehouse import deliveries
from lakehouse.errors import LakehouseError
from lakehouse.jobs import JobContext, run_job
from lakehouse.pipeline import JobOptions
from lakehouse.read import read_for_date
from lakehouse.write import write_for_date
from schemas.energy import RAW_READINGS
from spark_jobs.energy import io, uci
from spark_jobs.energy.common import delivered_month

DATASET = "uci_household"
log = logging.getLogger("lakehouse.energy.ingest")


class Options(JobOptions):
    """``source``: a file or directory (URI, absolute path or path under the landing zone) instead of the
    month's landing folder, e.g. the published multi-year UCI file; ``household``: its meter id."""

    source: str | None = None
    household: str | None = None


def main(ctx: JobContext) -> dict[str, Any]:
    """Read the month's landing files and replace the month's rows of raw.energy_readings."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    month = delivered_month(ctx.logical_date)
    options = Options.of(ctx.options)
    source = options.source
    location = io.month_dir(ctx.settings, month)
    if source:  # a URI, an absolute path, or a path relative to the landing zone
        location = source if "://" in source else ("file://" + source if source.startswith("/")
                                                   else io.landing_uri(ctx.settings, source))
    found = io.list_delivery(ctx.settings, location)
    if not found:
        raise LakehouseError(f"no energy files for {month:%Y-%m} under {location} "
                             f"(logical date {ctx.logical_date}): nothing to ingest")
    set_aside: list[deliveries.DeliveredFile] = []
    candidates: list[str] = []
    for file in found:
        why_not = deliveries.ignore_reason(file.name) or (
            None if io.is_uci_file(file.name) else "not a UCI text file (.txt)")
        if why_not is not None:
            set_aside.append(deliveries.ignored(file, why_not))
        elif file.size == 0:
            set_aside.append(deliveries.quarantined(file, deliveries.EMPTY_FILE))
        else:
            candidates.append(file.uri)
    if not candidates:
        raise LakehouseError(f"no readable energy files for {month:%Y-%m} under {location}: "
                             + ", ".join(f"{d.name} ({d.reason})" for d in set_aside))
    for file in set_aside:
        log.warning("%s: %s: %s", file.uri, file.outcome, file.reason)
    plan = io.file_plan(ctx.settings, candidates, options.household)
    for uri, _hid, error in plan:
        if error:
            log.warning("%s line 1: %s", uri, error)
    raw = io.raw_lines(ctx.spark, ctx.settings, plan)
    outside: dict[str, dict[str, int]] = {}
    cached = None
    if source:
        # A published multi-year UCI file: keep the delivered month's lines (and lines whose date
        # cannot be read, so that they are quarantined with their reason rather than lost). The other
        # months' lines are counted per file as "outside this run's month", neither rejected nor lost.
        parts = F.regexp_extract("date", r"^\s*\d{1,2}/(\d{1,2})/(\d{4})\s*$", 2).cast("int") * 12 \
            + F.regexp_extract("date", r"^\s*\d{1,2}/(\d{1,2})/(\d{4})\s*$", 1).cast("int")
        key = month.year * 12 + month.month
        dated = F.coalesce(F.col("date").rlike(r"^\s*\d{1,2}/\d{1,2}/\d{4}\s*$"), F.lit(False))
        cached = raw.withColumn("_month", F.when(dated, parts)).persist(StorageLevel.MEMORY_AND_DISK)  # read once
        raw = cached
        outside = {r["source_file"]: {"before": int(r["before"] or 0), "after": int(r["after"] or 0)}
                   for r in raw.groupBy("source_file").agg(
                       F.sum((F.col("_month") < key).cast("int")).alias("before"),
                       F.sum((F.col("_month") > key).cast("int")).alias("after")).collect()}
        raw = raw.where(F.col("_month").isNull() | (F.col("_month") == key)).drop("_month")
    raw = raw.withColumns({
        "meter_read_date": F.lit(ctx.logical_date), "run_id": F.lit(ctx.run_id)})
    result = write_for_date(ctx.spark, ctx.settings, RAW_READINGS, raw, logical_date=ctx.logical_date,
                            run_id=ctx.run_id)
    if cached is not None:
        cached.unpersist()
    rows = read_for_date(ctx.spark, ctx.settings, RAW_READINGS, [ctx.logical_date])
    stats = rows.agg(F.count("*").alias("lines"), F.countDistinct("source_file").alias("files"),
                     F.sum(F.col("file_error").isNotNull().cast("int")).alias("lines_in_rejected_files")).first()
    per_file = {r["source_file"]: r for r in rows.groupBy("source_file").agg(
        F.count("*").alias("rows"), F.first("file_error", ignorenulls=True).alias("error"),
        F.first("file_sha256", ignorenulls=True).alias("sha256")).collect()}
    for uri, row in sorted(per_file.items()):
        if row["error"] and not any(u == uri and error for u, _h, error in plan):
            log.warning("%s line 1: %s", uri, row["error"])
    delivered = list(set_aside)
    by_uri = {f.uri: f for f in found}
    spans: dict[str, str] = {}
    for uri, _hid, error in plan:
        file, row = by_uri[uri], per_file.get(uri)
        reason = error or (row["error"] if row is not None else None)
        count = int(row["rows"]) if row is not None else 0
        elsewhere = outside.get(uri, {"before": 0, "after": 0})
        if source and not reason:
            span = io.file_span(ctx.settings, uri)
            spans[uri] = uci.coverage_text(*span) if span else "no dated line"
        if count == 0 and not reason:  # only a header or blank lines: nothing was delivered
            reason = (f"no lines dated {month:%Y-%m} (the file covers {spans[uri]})" if source
                      else deliveries.EMPTY_FILE)
        if reason:
            delivered.append(deliveries.quarantined(file, reason, count))
        elif elsewhere["before"] or elsewhere["after"]:
            note = (f"{elsewhere['before'] + elsewhere['after']} lines outside this run's month {month:%Y-%m} "
                    f"({elsewhere['before']} before, {elsewhere['after']} after; the file covers {spans[uri]}) "
                    "left for their own months' runs, not rejected")
            log.info("%s: %d lines of %s ingested; %s", uri, count, f"{month:%Y-%m}", note)
            delivered.append(deliveries.DeliveredFile(file.uri, file.name, file.size, "ingested", note, count))
        else:
            delivered.append(deliveries.ingested(file, count))
    delivered = deliveries.with_hashes(ctx.settings, delivered,
                                       {u: r["sha256"] for u, r in per_file.items() if r["sha256"]})
    deliveries.record(ctx.spark, ctx.settings, delivered, domain="energy", dataset=DATASET,
                      logical_date=ctx.logical_date, run_id=ctx.run_id)
    rejected = sorted(uri for uri, row in per_file.items() if row["error"])
    if source and not any(d.outcome == "ingested" for d in delivered):
        raise LakehouseError(f"no readable lines dated {month:%Y-%m} in {location}: "
                             + "; ".join(f"{d.name}: {d.reason}" for d in delivered))
    return {"table": RAW_READINGS.identifier, "month": f"{month:%Y-%m}", "snapshot_id": result.snapshot_id,
            **stats.asDict(), "rejected_files": rejected, **deliveries.summary(delivered),
            **({"lines_outside_month": {"before": sum(o["before"] for o in outside.values()),
                                        "after": sum(o["after"] for o in outside.values())},
                "file_covers": spans} if source else {})}


if __name__ == "__main__":
    run_job(main, app_name="energy-ingest")
