"""spark-submit entry point: score the next 15-minute interval from the freshest readings.

``--option interval=<ISO timestamp>`` (the DAG passes its logical timestamp) names the interval; it is
floored to 15 minutes. The history is the published monthly series (``silver.energy_readings_15min``)
plus the intra-day rows (``silver.energy_intraday_15min``) for the intervals the monthly series does not
have yet, over the 16 days before the interval, so the lags come from the freshest rows in any week of
the month. The latest registered model scores (``--option model_version=...`` for another one); when a
newer candidate was rejected by its evaluation, the summary and the log say that the last registered
version is used (``model_note``).

Lateness: a household whose freshest row ends more than ``energy.realtime_max_lag_minutes`` before the
interval is not scored, and the task fails with one line naming the late households (after writing the
forecasts of the others); with no reading at all in the 16 days, it fails too. Only a missing model
makes the job report ``skipped`` (the DAG's guard task normally skips it before).

The forecast is upserted per (kind, household, frequency, interval), so rerunning an interval replaces
its rows; ``origin_utc`` is the end of the household's freshest row.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import pandas as pd

from lakehouse.errors import LakehouseError
from lakehouse.jobs import JobContext, run_job
from lakehouse.pipeline import JobOptions
from lakehouse.read import read_for_date
from schemas.energy import SILVER_15MIN, SILVER_INTRADAY
from spark_jobs.energy import intraday
from spark_jobs.energy.forecast import HISTORY, write_forecasts

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from lakehouse.settings import LakehouseSettings

log = logging.getLogger(__name__)
HISTORY_COLUMNS = ["household_id", "freq_minutes", "interval_start_utc", "active_power_kw"]


def target_interval(value: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end) of the 15-minute interval containing ``value`` (UTC if no offset is given)."""
    try:
        start = intraday.floor_interval(value)
    except ValueError as exc:
        raise LakehouseError(f"--option interval={value!r} is not an ISO timestamp") from exc
    return start, start + intraday.INTERVAL


class Options(JobOptions):
    """``interval``: an ISO timestamp inside the interval to score (default: the logical date);
    ``model_version``: score with this registered version (default: the latest)."""

    interval: str | None = None
    model_version: str | None = None


def fresh_history(ctx: JobContext, start: pd.Timestamp) -> DataFrame:
    """15-minute demand per household in the 16 days before ``start``: the published monthly rows, and the
    intra-day rows of the intervals the monthly series does not cover (the monthly rows are gated)."""
    from pyspark.sql import functions as F

    since = start - HISTORY
    window = ((F.col("interval_start_utc") >= F.lit(since.to_pydatetime()))
              & (F.col("interval_start_utc") < F.lit(start.to_pydatetime())))
    monthly = read_for_date(ctx.spark, ctx.settings, SILVER_15MIN, None).where(window).select(*HISTORY_COLUMNS)
    fresh = read_for_date(ctx.spark, ctx.settings, SILVER_INTRADAY, None).where(
        (F.col("delivery_date") >= F.lit(since.date())) & (F.col("delivery_date") <= F.lit(start.date()))
        & window).select(*HISTORY_COLUMNS)
    fresh = fresh.join(monthly.select(*intraday.KEYS), on=intraday.KEYS, how="left_anti")
    return monthly.unionByName(fresh)


def model_status(settings: LakehouseSettings, model_version: str | None
                 ) -> tuple[dict[str, Any], dict[str, Any], str | None]:
    """(registry record, bundle, note) of the model that scores; the note says when a newer candidate was
    rejected and the last registered version is used instead. Fails with one line when none is registered."""
    from ml.energy import last_evaluation, latest_bundle, rejected_candidate_note

    found = latest_bundle(settings, model_version)
    if found is None:
        which = f"version {model_version!r} of " if model_version else ""
        raise LakehouseError(f"no registered {which}{settings.energy.model_name} model")
    record, model_bundle = found
    return record, model_bundle, rejected_candidate_note(last_evaluation(settings), record)


def main(ctx: JobContext) -> dict[str, Any]:
    """Forecast the next 15-minute interval for every household with fresh data (kind='realtime')."""
    from pyspark.sql import functions as F

    from ml.energy import model_available
    from spark_jobs.energy.transforms import forecast_frames

    options = Options.of(ctx.options)
    start, end = target_interval(options.interval or ctx.logical_date.isoformat())
    energy = ctx.settings.energy
    if not options.model_version and not model_available(ctx.settings):
        log.info("skipped: no registered %s model yet", energy.model_name)  # stdout carries only the summary
        return {"skipped": f"no registered {energy.model_name} model yet"}
    record, model_bundle, note = model_status(ctx.settings, options.model_version)
    if note:
        log.warning("%s", note)
    history = fresh_history(ctx, start)
    freshest = {r["household_id"]: pd.Timestamp(r["last"]).tz_localize("UTC")
                for r in history.groupBy("household_id").agg(F.max("interval_start_utc").alias("last")).collect()}
    if not freshest:
        raise LakehouseError(
            f"energy realtime {start:%Y-%m-%d %H:%M} UTC: no 15-minute reading of any household in the 16 days "
            "before (silver.energy_readings_15min, silver.energy_intraday_15min): intra-day deliveries are late "
            "or missing; nothing scored")
    fresh = intraday.assess_freshness(freshest, start, energy.realtime_max_lag_minutes)
    if not fresh.fresh:
        raise LakehouseError(fresh.late_message())
    origins = ctx.spark.createDataFrame([(h, e.to_pydatetime()) for h, e in fresh.fresh.items()],
                                        "household_id string, origin_utc timestamp")
    scored = history.join(origins.select("household_id"), on="household_id")
    rows = forecast_frames(scored.where(F.col("freq_minutes") == intraday.FREQ_MINUTES), model_bundle,
                           start=start, end=end, tz=energy.source_timezone, country=energy.holiday_country,
                           seasonal=energy.seasonal_features)
    rows = rows.join(origins, on="household_id")
    written, snapshot_id = write_forecasts(ctx, rows, kind="realtime", start=start, end=end, record=record)
    newest = max(fresh.fresh.values())
    summary: dict[str, Any] = {
        "kind": "realtime", "start": start.isoformat(), "end": end.isoformat(), "rows": written,
        "households": len(fresh.fresh), "freshest_end": newest.isoformat(),
        "lag_minutes": intraday.Freshness.lag_minutes(start, newest), "model_version": record["model_version"],
        "model_logical_date": str(record["logical_date"]), "snapshot_id": snapshot_id}
    if note:
        summary["model_note"] = note
    if fresh.late:
        raise LakehouseError(fresh.late_message())
    return summary


if __name__ == "__main__":
    run_job(main, app_name="energy-realtime")
