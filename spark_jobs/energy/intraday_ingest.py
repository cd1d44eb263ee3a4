"""spark-submit entry point: land the intra-day 15-minute deliveries into silver.energy_intraday_15min.

A run for the interval starting at ``--option interval=<ISO>`` (the DAG passes its logical timestamp)
ingests every delivery of the intervals in ``[interval - energy.intraday_lookback_minutes, interval)``
(``--option since=<ISO>`` for a backfill from an earlier instant), one row per household and interval
(``spark_jobs.energy.intraday``). The rows are upserted per UTC delivery date on (household, interval)
through ``lakehouse.write``: a rerun, or a file delivered again, replaces its row and never duplicates
it; intervals not delivered again are kept. Nothing delivered is not an error here: the realtime scoring
decides whether the data is late.

The project's standard for input, applied per file:

- lines the row rules reject (fields, timestamp, numbers, negative power, voltage band, sub-meters, a minute
  outside the file's interval, a duplicate minute) go to quarantine.energy_intraday_readings with a reason
  code and the line as delivered; the good lines of the same file are kept. A re-delivered file replaces its
  quarantined lines (a fixed file leaves none).
- every file the run sees is accounted for in raw.delivered_files (dataset ``intraday_15min``, under the UTC
  date of its folder): ingested (``rows``: lines accepted; the reason says how many went to quarantine),
  quarantined (empty, rejected as a whole or every line rejected) or ignored with a reason (outside the
  layout, hidden/metadata files, names that are not ``.txt``, superseded by another name of the same
  interval). One row per file: a rerun replaces it; a re-delivered changed file keeps its row, with the new
  checksum and a ``re-delivered`` note naming the checksum it replaces.
- the rows to upsert pass the suite ``expectations/silver_energy_intraday_15min.py`` before anything is
  written (write-audit-publish cannot stage this upsert: see the suite). A failing suite fails the task with
  one line, silver and quarantine stay at their previous snapshot, and the files not already ingested as
  they are are accounted as quarantined ("held back").
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from lakehouse import deliveries, storage
from lakehouse.errors import DataQualityError
from lakehouse.jobs import JobContext, run_job
from lakehouse.pipeline import JobOptions
from lakehouse.write import current_snapshot_id, write_for_date
from schemas.deliveries import DELIVERED_FILES, scope
from schemas.energy import QUARANTINE_INTRADAY, SILVER_INTRADAY
from spark_jobs.energy import intraday, io

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lakehouse.settings import LakehouseSettings

log = logging.getLogger("lakehouse.energy.intraday")
PLAN_SCHEMA = "uri string, household_id string, interval_start_utc timestamp, file_error string"
SUITE = "silver_energy_intraday_15min"
# One frame out of the workers: the interval rows (kind = 'interval') and their quarantined lines
# (kind = 'quarantine'), so each file is read once.
FRAME_COLUMNS = tuple(dict.fromkeys((*intraday.READING_COLUMNS, *intraday.QUARANTINE_COLUMNS, "delivery_date",
                                     "kind", "lines_delivered")))
_EXTRA_TYPES = {"line_number": "long", "reason_code": "string", "reason": "string", "raw_line": "string",
                "kind": "string", "lines_delivered": "int"}
Plan = list[tuple[str, str, pd.Timestamp, str | None]]


class Options(JobOptions):
    """``interval``: an ISO timestamp; the deliveries of the intervals before its 15-minute interval are
    ingested (default: the logical date); ``since``: ingest from this ISO timestamp instead of
    ``interval - energy.intraday_lookback_minutes`` (a backfill)."""

    interval: str | None = None
    since: str | None = None


def find_deliveries(settings: LakehouseSettings, since: pd.Timestamp, until: pd.Timestamp
                    ) -> tuple[Plan, list[tuple[str, str]]]:
    """(plan, ignored): one ``(uri, household, interval start, file error)`` per delivered file of the intervals
    in ``[since, until)``, and ``(uri, reason)`` per file that is not a delivery."""
    plan, ignored, _files = survey(settings, since, until)
    return plan, ignored


def survey(settings: LakehouseSettings, since: pd.Timestamp, until: pd.Timestamp
           ) -> tuple[Plan, list[tuple[str, str]], dict[str, tuple[storage.StoredFile, dt.date]]]:
    """:func:`find_deliveries` plus every file it judged, by URI: the listed file (its size) and the UTC date of
    its day folder (the date its raw.delivered_files row is kept under)."""
    plan: Plan = []
    ignored: list[tuple[str, str]] = []
    seen: dict[str, tuple[storage.StoredFile, dt.date]] = {}
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
                seen[file.uri] = (file, day)
            elif found[0] in wanted:  # other intervals of the day are their own runs' to account for
                candidates.append((file.uri, found[0]))
                seen[file.uri] = (file, day)
        start_of = dict(candidates)
        for uri, household, error in io.file_plan(settings, [u for u, _ in candidates], None):
            plan.append((uri, household, start_of[uri], error))
    latest: dict[tuple[str, pd.Timestamp], tuple[str, str, pd.Timestamp, str | None]] = {}
    for entry in sorted(plan, key=lambda p: p[0]):  # one file per household and interval: the last name wins
        if (entry[1], entry[2]) in latest:
            ignored.append((latest[(entry[1], entry[2])][0], f"superseded by {entry[0]} (same household and interval)"))
        latest[(entry[1], entry[2])] = entry
    return list(latest.values()), ignored, seen


def reading_frames(spark: SparkSession, settings: LakehouseSettings, plan: Plan) -> DataFrame:
    """Read the planned files on the workers: per file its ``intraday.READING_COLUMNS`` row (``kind =
    'interval'``, with ``lines_delivered``) and one ``intraday.QUARANTINE_COLUMNS`` row per rejected line
    (``kind = 'quarantine'``), each with its ``delivery_date`` (UTC date of the interval)."""
    from lakehouse.frames import spark_ddl
    from spark_jobs.energy.common import meter_clocks
    from spark_jobs.energy.transforms import arrow_ready, as_utc

    schema = spark_ddl(SILVER_INTRADAY, FRAME_COLUMNS, _EXTRA_TYPES)
    energy = settings.energy
    default_clock, clocks = meter_clocks(energy)  # a misdeclared clock fails here, before any file is read

    def parse(batches):  # type: ignore[no-untyped-def]
        for batch in batches:
            batch = as_utc(batch, "interval_start_utc")
            parts = []
            for uri, household, start, error in batch.itertuples(index=False):
                text, sha = io.read_text(settings, uri)
                delivery = intraday.interval_delivery(
                    text, source_file=uri, household_id=household, start=start, tz=energy.source_timezone,
                    voltage_band=(energy.voltage_min, energy.voltage_max),
                    max_interpolate_minutes=energy.max_interpolate_minutes, file_error=error, file_sha256=sha,
                    clock=clocks.get(household, default_clock))
                parts.append(delivery.row.assign(kind="interval", lines_delivered=delivery.lines))
                if len(delivery.quarantined):
                    parts.append(delivery.quarantined.assign(kind="quarantine"))
            if parts:
                out = pd.concat(parts, ignore_index=True)
                out["delivery_date"] = pd.to_datetime(out["interval_start_utc"], utc=True).dt.date
                yield arrow_ready(out, schema)

    files = spark.createDataFrame([(u, h, s.to_pydatetime(), e) for u, h, s, e in plan], PLAN_SCHEMA)
    return files.repartition(max(1, min(len(plan), spark.sparkContext.defaultParallelism * 2))).mapInPandas(
        parse, schema)


def previous_accounting(spark: SparkSession, settings: LakehouseSettings, days: Iterable[dt.date]
                        ) -> dict[str, dict[str, Any]]:
    """The raw.delivered_files rows earlier runs wrote for the intra-day files of ``days``, by file URI."""
    from pyspark.sql import functions as F

    days = sorted(set(days))
    if not days:
        return {}
    owned = scope("energy", intraday.DATASET)
    rows = spark.table(settings.table_name(DELIVERED_FILES.identifier)).where(
        F.col("logical_date").isin(days) & (F.col("domain") == owned["domain"])
        & (F.col("dataset") == owned["dataset"])).select("file_uri", "sha256", "outcome", "reason", "run_id")
    return {r["file_uri"]: r.asDict() for r in rows.collect()}


def record(spark: SparkSession, settings: LakehouseSettings, files: Mapping[dt.date, list[deliveries.DeliveredFile]],
           run_id: str) -> dict[str, int | None]:
    """Upsert the files' raw.delivered_files rows, one per file URI under its delivery date (scope: energy,
    ``intraday.DATASET``). Unlike ``deliveries.record`` (which replaces the scope's rows of the date), the
    overlapping windows of consecutive runs each see only part of a day, so each run replaces only its own
    files' rows: a rerun never adds a second row for a file."""
    owned = scope("energy", intraday.DATASET)
    target = spark.table(settings.table_name(DELIVERED_FILES.identifier)).schema
    nullable = target.__class__([field.__class__(field.name, field.dataType, True) for field in target.fields])
    written: dict[str, int | None] = {}
    for day, listed in sorted(files.items()):
        values = [{"logical_date": day, **owned, "run_id": run_id, "file_uri": f.uri, "file_name": f.name,
                   "size_bytes": f.size, "sha256": f.sha256, "outcome": f.outcome, "reason": f.reason,
                   "rows": f.rows} for f in listed]
        df = spark.createDataFrame([tuple(v[field.name] for field in target.fields) for v in values], nullable)
        written[day.isoformat()] = write_for_date(spark, settings, DELIVERED_FILES, df, logical_date=day,
                                                  run_id=run_id, mode="upsert", keys=["file_uri"],
                                                  scope=owned).snapshot_id
    return written


def replace_files_quarantine(spark: SparkSession, settings: LakehouseSettings, rows: DataFrame, day: dt.date,
                             files: list[str], run_id: str) -> int | None:
    """Make ``rows`` the quarantined lines of ``files`` for ``day``, keeping other files' lines: a re-delivered
    file's old lines go (a plain upsert on the line would keep the lines a fixed file no longer has)."""
    from pyspark.sql import functions as F

    name = settings.table_name(QUARANTINE_INTRADAY.identifier)
    base = current_snapshot_id(spark, name)
    frame = rows
    if base is not None:  # read the snapshot the conflict check starts from: a concurrent writer fails the commit
        dated = spark.sql(f"SELECT * FROM {name} VERSION AS OF {base}").where(F.col("delivery_date") == F.lit(day))
        if rows.isEmpty() and dated.where(F.col("source_file").isin(files)).isEmpty():
            return base  # clean files, none with lines from an earlier delivery: no commit every 15 minutes
        frame = rows.unionByName(dated.where(~F.col("source_file").isin(files)).select(*rows.columns))
    elif rows.isEmpty():
        return None
    return write_for_date(spark, settings, QUARANTINE_INTRADAY, frame, logical_date=day, run_id=run_id,
                          conflicts_since=base).snapshot_id


def accounted(files: Mapping[str, tuple[storage.StoredFile, dt.date]], plan: Plan, ignored: list[tuple[str, str]],
              per_file: Mapping[str, Mapping[str, Any]], previous: Mapping[str, Mapping[str, Any]]
              ) -> dict[dt.date, list[deliveries.DeliveredFile]]:
    """Every file the run judged, as raw.delivered_files rows by delivery date (``per_file``: the interval row
    of each read file, with ``lines_delivered``, ``lines_rejected``, ``first_rejection``, ``file_sha256``)."""
    out: dict[dt.date, list[deliveries.DeliveredFile]] = {}

    def add(uri: str, outcome: deliveries.Outcome, reason: str | None, rows: int | None,
            sha256: str | None) -> None:
        file, day = files[uri]
        name = f"{day:%Y-%m-%d}/{file.name}"  # relative to energy/intraday, like the layout
        out.setdefault(day, []).append(deliveries.DeliveredFile(uri, name, file.size, outcome, reason, rows, sha256))

    for uri, reason in ignored:
        add(uri, "ignored", reason, None, None)
    for uri, _household, _start, error in plan:
        row = per_file[uri]
        lines, rejected = int(row["lines_delivered"] or 0), int(row["lines_rejected"] or 0)
        outcome, reason = intraday.file_account(size=files[uri][0].size, lines=lines, quarantined=rejected,
                                                first_rejection=row["first_rejection"], file_error=error)
        note = intraday.redelivery_note(row["file_sha256"], previous.get(uri))
        add(uri, outcome, intraday.with_note(reason, note), lines - rejected, row["file_sha256"])  # type: ignore[arg-type]
    return out


def with_hashes(settings: LakehouseSettings, files: Mapping[dt.date, list[deliveries.DeliveredFile]]
                ) -> dict[dt.date, list[deliveries.DeliveredFile]]:
    """The files with their SHA-256, as the monthly ingest records them: the read files have theirs, the
    ignored ones are hashed here (a stray file is accounted for byte for byte too)."""
    return {day: deliveries.with_hashes(settings, listed) for day, listed in files.items()}


def held_back(files: Mapping[dt.date, list[deliveries.DeliveredFile]], previous: Mapping[str, Mapping[str, Any]],
              run_id: str) -> dict[dt.date, list[deliveries.DeliveredFile]]:
    """After a failed suite: the read files, quarantined as held back, except those an earlier run already
    ingested with the same bytes (their rows in silver stand, and so does their accounting); ignored files
    as they are."""
    out: dict[dt.date, list[deliveries.DeliveredFile]] = {}
    for day, listed in files.items():
        for f in listed:
            before = previous.get(f.uri) or {}
            if f.outcome == "ignored":
                out.setdefault(day, []).append(f)
                continue
            if before.get("outcome") == "ingested" and before.get("sha256") == f.sha256:
                continue
            why = f"held back: quality gate {SUITE} failed in run {run_id}, nothing of the file was upserted"
            out.setdefault(day, []).append(deliveries.DeliveredFile(
                f.uri, f.name, f.size, "quarantined", intraday.with_note(why, f.reason), 0, f.sha256))
    return out


def main(ctx: JobContext) -> dict[str, Any]:
    """Check, quarantine, account for and upsert the window's intra-day deliveries into
    silver.energy_intraday_15min (one row per household and interval)."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    from lakehouse.quality import GateContext, load_suite, run_gate

    options = Options.of(ctx.options)
    until = intraday.floor_interval(options.interval or ctx.logical_date.isoformat())
    since = (intraday.floor_interval(options.since) if options.since
             else until - pd.Timedelta(minutes=ctx.settings.energy.intraday_lookback_minutes))
    plan, ignored, files = survey(ctx.settings, since, until)
    for uri, reason in ignored:
        log.warning("%s: ignored: %s", uri, reason)
    window = {"since": since.isoformat(), "until": until.isoformat()}
    previous = previous_accounting(ctx.spark, ctx.settings, {day for _file, day in files.values()})
    if not plan:
        log.info("no intra-day deliveries for [%s, %s)", since.isoformat(), until.isoformat())
        listed = with_hashes(ctx.settings, accounted(files, plan, ignored, {}, previous))
        if listed:
            record(ctx.spark, ctx.settings, listed, ctx.run_id)
        return {**window, "files": 0, "intervals": 0, "ignored": len(ignored), "written": {},
                **deliveries.summary(f for day in listed.values() for f in day)}
    frames = reading_frames(ctx.spark, ctx.settings, plan).withColumn("run_id", F.lit(ctx.run_id))
    frames = frames.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        rows = frames.where(F.col("kind") == "interval")
        quarantine = frames.where(F.col("kind") == "quarantine").select(*QUARANTINE_INTRADAY.column_names)
        per_file = {r["source_file"]: r.asDict() for r in rows.select(
            "source_file", "file_sha256", "lines_delivered", "lines_rejected", "first_rejection").collect()}
        listed = with_hashes(ctx.settings, accounted(files, plan, ignored, per_file, previous))
        for row in sorted(per_file.values(), key=lambda r: r["source_file"]):
            if row["first_rejection"]:
                log.warning("%s: %d line(s) quarantined, first: %s", row["source_file"], row["lines_rejected"],
                            row["first_rejection"])
        silver = rows.select(*SILVER_INTRADAY.column_names)
        gate_ctx = GateContext(ctx.spark, ctx.settings, ctx.logical_date, ctx.run_id)
        try:  # before any write: a failing suite leaves silver and quarantine at their previous snapshot
            gate = run_gate(silver, gate_ctx, SUITE, load_suite(SUITE).build(gate_ctx))
        except DataQualityError:
            record(ctx.spark, ctx.settings, held_back(listed, previous, ctx.run_id), ctx.run_id)
            raise
        stats = silver.agg(F.count("*").alias("rows"), F.countDistinct("interval_start_utc").alias("intervals"),
                           F.countDistinct("household_id").alias("households"),
                           F.sum("lines_rejected").alias("lines_rejected")).first()
        days = [d for (d,) in rows.select("delivery_date").distinct().orderBy("delivery_date").collect()]
        written, quarantined = {}, {}
        for day in days:
            result = write_for_date(ctx.spark, ctx.settings, SILVER_INTRADAY,
                                    silver.where(F.col("delivery_date") == day), logical_date=day,
                                    run_id=ctx.run_id, mode="upsert", keys=intraday.KEYS)
            written[day.isoformat()] = result.snapshot_id
        for day in days:
            day_files = [uri for uri, (_file, on) in files.items() if on == day and uri in per_file]
            quarantined[day.isoformat()] = replace_files_quarantine(
                ctx.spark, ctx.settings, quarantine.where(F.col("delivery_date") == day), day, day_files, ctx.run_id)
        accounts = record(ctx.spark, ctx.settings, listed, ctx.run_id)
    finally:
        frames.unpersist()
    return {**window, "files": len(plan), "ignored": len(ignored), "rows": stats["rows"],
            "intervals": stats["intervals"], "households": stats["households"],
            "lines_rejected": int(stats["lines_rejected"] or 0), "written": written, "quarantine": quarantined,
            "accounting": accounts, "gate": {"suite": SUITE, "expectations": gate.evaluated,
                                             "report": gate.report_uri},
            **deliveries.summary(f for day in listed.values() for f in day)}


if __name__ == "__main__":
    run_job(main, app_name="energy-intraday-ingest")
