"""spark-submit entry point: raw month -> silver minute grid, 15-minute and hourly series, quarantine.

Everything is staged on the run's audit branch; the ``silver_energy_readings`` gate publishes.
The job fails (nothing staged) when the month has no valid reading or when more lines than
``energy.max_rejected_ratio`` had to be quarantined; the message names file, line and reason.

Meter clocks (``energy.meter_clock``, per household ``energy.meter_clocks``): ``dst`` (wall time following
daylight saving in ``energy.source_timezone``), ``utc`` or a fixed offset (``+01:00``). The lines written on
the month's DST switch days show which kind a meter really has (a clock that ignores DST writes 1,440 lines
on the 23- and 25-hour days); a declared clock they contradict is refused with one line naming the setting
(never silently reinterpreted: in a month without a switch day a wrong guess would shift every reading).

With ``--option source=...`` (a multi-year file, see the ingest job) the month is cut to what the file
covers: minutes before its first reading or after its last are "not delivered" (logged and counted in
the summary), not gaps, so a file starting on the 16th publishes the 16th onwards and the gap rule
applies to the delivered minutes only.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from lakehouse.errors import LakehouseError
from lakehouse.jobs import JobContext, run_job
from lakehouse.pipeline import JobOptions
from lakehouse.publish import read_staged, stage_for_date
from lakehouse.read import read_for_date
from schemas.energy import QUARANTINE_READINGS, RAW_READINGS, SILVER_15MIN, SILVER_HOURLY, SILVER_READINGS
from spark_jobs.energy import io, uci
from spark_jobs.energy.common import clock_name, delivered_month, meter_clocks, next_meter_read_date
from spark_jobs.energy.transforms import SilverMonth, intervals_from_partials, resample_partials, silver_frames

log = logging.getLogger(__name__)


class Options(JobOptions):
    """``source``: set when the ingest read a multi-year file (the DAG's ``source`` param): the month is
    cut to the minutes that file covers."""

    source: str | None = None


def check_clocks(raw: Any, month: Any, tz: str, default: Any, zones: dict[str, Any]) -> list[str]:
    """Judge each household's declared meter clock on the month's DST switch days (lines per local hour);
    raise one readable line when the lines contradict it; return what was found, for the summary."""
    from pyspark.sql import functions as F

    days = uci.switch_days(month, next_meter_read_date(month), tz)
    if not days:
        return []
    pattern = "|".join(rf"0?{d.day.day}/0?{d.day.month}/{d.day.year}" for d in days)
    counts = (raw.where(F.col("file_error").isNull() & F.col("date").rlike(rf"^\s*({pattern})\s*$"))
              .select("household_id", F.regexp_extract("date", r"^\s*(\d+)/", 1).cast("int").alias("day"),
                      F.regexp_extract("time", r"^\s*(\d+):", 1).cast("int").alias("hour"))
              .groupBy("household_id", "day", "hour").count().collect())
    per: dict[tuple[str, int], dict[int, int]] = {}
    for row in counts:
        per.setdefault((row["household_id"], row["day"]), {})[row["hour"]] = int(row["count"])
    found = []
    for switch in days:
        for (household, day), hours in sorted(per.items()):
            if day != switch.day.day:
                continue
            evidence = uci.judge_switch_day(switch, hours)
            zone = zones.get(household, default)
            declared = clock_name(zone, tz)
            setting = "energy.meter_clock" if household not in zones else f"energy.meter_clocks[{household!r}]"
            problem = uci.clock_problem([evidence], follows=uci.follows_dst(zone, tz), household=household,
                                        clock=f"{declared} ({setting})", tz=tz)
            if problem:
                raise LakehouseError(problem)
            if evidence.verdict is not None:
                kind = "follows DST" if evidence.verdict == "dst" else "ignores DST (fixed clock)"
                log.info("%s: meter clock %s on %s (%s); declared %s", household, kind, switch.day,
                         evidence.describe(tz), declared)
                found.append(f"{household} {switch.day}: {evidence.verdict}")
    return found


def coverage_of(ctx: JobContext, raw: Any, month: Any, tz: str, default: Any, zones: dict[str, Any]
                ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per household: the (first, last) reading of its delivered file(s), and what that leaves of the month
    (logged: minutes not delivered before the first reading / after the last)."""
    coverage: dict[str, Any] = {}
    for row in raw.select("household_id", "source_file").distinct().collect():
        span = io.file_span(ctx.settings, row["source_file"])
        if span is None:
            continue
        first, last = coverage.get(row["household_id"], span)
        coverage[row["household_id"]] = (min(first, span[0]), max(last, span[1]))
    report: dict[str, Any] = {}
    for household, (first, last) in sorted(coverage.items()):
        zone = zones.get(household, default)
        start, end = uci.month_bounds_utc(month, zone)
        lo, hi = uci.delivered_bounds_utc(month, zone, (first, last))
        total = int((end - start) / pd.Timedelta(minutes=1))
        before, after = int((lo - start) / pd.Timedelta(minutes=1)), int((end - hi) / pd.Timedelta(minutes=1))
        if hi <= lo:
            before, after = total, 0
        report[household] = {"file_covers": uci.coverage_text(first, last), "month_minutes": total,
                             "not_delivered_before": before, "not_delivered_after": after}
        if before or after:
            log.warning("%s: the file covers %s; %d of the %d minutes of %s were not delivered (%d before its first "
                        "reading, %d after its last): not gaps, the gap rule applies to the %d delivered minutes",
                        household, uci.coverage_text(first, last), before + after, total, f"{month:%Y-%m}",
                        before, after, total - before - after)
    return coverage, report


def _examples(quarantine: Any, n: int = 3) -> str:
    rows = quarantine.orderBy("source_file", "line_number").limit(n).collect()
    return "; ".join(f"{r['source_file'].rsplit('/', 1)[-1]} line {r['line_number']}: {r['reason']}" for r in rows)


def main(ctx: JobContext) -> dict[str, Any]:
    """Type, localise, gap-fill and resample the month's raw readings; stage silver and quarantine."""
    from pyspark import StorageLevel
    from pyspark.sql import functions as F

    month = delivered_month(ctx.logical_date)
    energy = ctx.settings.energy
    options = Options.of(ctx.options)
    raw = read_for_date(ctx.spark, ctx.settings, RAW_READINGS, [ctx.logical_date])
    io.require_rows(raw, f"raw.energy_readings has no rows for {ctx.logical_date} (month {month:%Y-%m}): "
                         "run the ingest task first")
    tz = energy.source_timezone
    default_zone, zones = meter_clocks(energy)
    clocks = check_clocks(raw, month, tz, default_zone, zones)
    coverage, delivered = coverage_of(ctx, raw, month, tz, default_zone, zones) if options.source else ({}, {})
    rules = SilverMonth(month_start=month, tz=tz, voltage_band=(energy.voltage_min, energy.voltage_max),
                        max_interpolate_minutes=energy.max_interpolate_minutes, clocks=zones,
                        default_clock=default_zone, coverage=coverage)
    both = silver_frames(raw, rules)
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
            outside = quarantine.where(F.col("reason").contains("is outside the month")).count()
            hint = ("; the files hold other months' readings (a multi-year file?): give the file as the run's "
                    "source (`lakehouse run energy_demand_forecast --date D --param source=<file>` or the DAG's "
                    "`source` param) so that only this month's lines are read" if outside * 2 > rejected else "")
            raise LakehouseError(
                f"{rejected} of {lines} lines for {month:%Y-%m} rejected ({rejected / lines:.1%} > "
                f"{energy.max_rejected_ratio:.1%}): {_examples(quarantine)}; nothing published "
                "(fix the files, or raise LAKEHOUSE_ENERGY__MAX_REJECTED_RATIO to keep the valid rows)" + hint)
        if rejected:
            log.warning("%d lines quarantined for %s: %s", rejected, f"{month:%Y-%m}", _examples(quarantine))
        staged = {}
        for spec, df in ((SILVER_READINGS, silver), (QUARANTINE_READINGS, quarantine)):
            staged[spec.identifier] = stage_for_date(ctx.spark, ctx.settings, spec, df,
                                                     logical_date=ctx.logical_date, run_id=ctx.run_id).snapshot_id
    finally:
        both.unpersist()
    # Both frequencies from one aggregation of exactly the staged minutes (the hourly rolled up from the
    # 15-minute sums and counts, which are small: one row per household and quarter hour).
    minutes = read_staged(ctx.spark, ctx.settings, SILVER_READINGS, ctx.run_id, ctx.logical_date)
    partials = resample_partials(minutes).persist(StorageLevel.MEMORY_AND_DISK)
    try:
        for spec, freq in ((SILVER_15MIN, 15), (SILVER_HOURLY, 60)):
            intervals = intervals_from_partials(partials, freq_minutes=freq, tz=energy.source_timezone)
            intervals = intervals.withColumn("run_id", F.lit(ctx.run_id))
            staged[spec.identifier] = stage_for_date(ctx.spark, ctx.settings, spec, intervals,
                                                     logical_date=ctx.logical_date, run_id=ctx.run_id).snapshot_id
    finally:
        partials.unpersist()
    return {"month": f"{month:%Y-%m}", "lines": lines, "quarantined": rejected, "staged": staged,
            "meter_clock": clock_name(default_zone, tz), "clock_evidence": clocks,
            **({"coverage": delivered} if delivered else {})}


if __name__ == "__main__":
    run_job(main, app_name="energy-silver")
