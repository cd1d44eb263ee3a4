"""spark-submit entry point: day-ahead forecasts (24 hourly + 96 15-minute per household); the forecast
writer the realtime job shares (``write_forecasts``).

The monthly run forecasts its logical date (the local day after the delivered month) with the
model registered by the same run (``--option model_version=...``, default: this run id, falling
back to the latest registered model). Rows are upserted per (kind, household, frequency,
interval), so a rerun replaces its own forecasts and leaves the realtime ones alone.

Loss policy: the step runs after a rejected candidate too (``runs_after_rejection`` in the pipeline). The run
then registered no model, so the day is forecast with the last registered one and that is flagged: the rows
carry that model's version (not the run's id), and the summary and the log say why (``model_note``: the
candidate was rejected, with the comparisons it lost, or the run's training did not finish). When no model was
ever registered there is nothing to forecast with: the task fails with one line (a day without a forecast must
show as a failure, not as a skipped task).
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from lakehouse.errors import LakehouseError
from lakehouse.jobs import JobContext, run_job
from lakehouse.pipeline import JobOptions
from lakehouse.read import read_for_date
from lakehouse.training import run_outcome_line
from lakehouse.write import write_for_date
from schemas.energy import GOLD_FORECAST, SILVER_15MIN, SILVER_HOURLY
from spark_jobs.energy.transforms import forecast_frames

log = logging.getLogger(__name__)
FORECAST_KEYS = ["kind", "household_id", "freq_minutes", "interval_start_utc"]
HISTORY = pd.Timedelta(days=16)  # lag 168 h + 168 h rolling window ending 24 h back, with margin


def score(ctx: JobContext, *, kind: str, start: pd.Timestamp, end: pd.Timestamp,
          model_version: str | None, frequencies: tuple[int, ...] = (60, 15)) -> dict[str, Any]:
    """Forecast [start, end) at ``frequencies`` for every household with history; upsert the rows
    into gold.energy_forecast."""
    from pyspark.sql import functions as F

    from ml.energy import latest_bundle

    found = latest_bundle(ctx.settings, model_version) or (latest_bundle(ctx.settings) if model_version else None)
    if found is None:
        return {"skipped": f"no registered {ctx.settings.energy.model_name} model yet", "no_model": True}
    record, model_bundle = found
    energy = ctx.settings.energy
    since = (start - HISTORY).to_pydatetime()
    intervals = None
    for spec in (SILVER_HOURLY, SILVER_15MIN):
        df = read_for_date(ctx.spark, ctx.settings, spec, None).where(
            (F.col("interval_start_utc") >= F.lit(since))
            & (F.col("interval_start_utc") < F.lit(start.to_pydatetime())))
        intervals = df if intervals is None else intervals.unionByName(df)
    intervals = intervals.where(F.col("freq_minutes").isin(list(frequencies)))
    if intervals.limit(1).count() == 0:
        return {"skipped": f"no silver history in the 16 days before {start.isoformat()}"}
    rows = forecast_frames(intervals, model_bundle, start=start, end=end, tz=energy.source_timezone,
                           country=energy.holiday_country, seasonal=energy.seasonal_features)
    rows = rows.withColumn("origin_utc", F.lit(start.to_pydatetime()))
    written, snapshot_id = write_forecasts(ctx, rows, kind=kind, start=start, end=end, record=record)
    return {"kind": kind, "start": start.isoformat(), "end": end.isoformat(), "rows": written,
            "model_version": record["model_version"], "model_logical_date": str(record["logical_date"]),
            "snapshot_id": snapshot_id}


def write_forecasts(ctx: JobContext, rows: Any, *, kind: str, start: pd.Timestamp, end: pd.Timestamp,
                    record: dict[str, Any]) -> tuple[int, int | None]:
    """Upsert forecast rows (``forecast_frames`` output plus ``origin_utc``) of [start, end) into
    gold.energy_forecast as ``kind`` with the model's name and version; (rows now there, snapshot id).
    Fails with one line when no row could be made."""
    from pyspark.sql import functions as F

    rows = rows.withColumns({
        "forecast_date": F.lit(ctx.logical_date), "kind": F.lit(kind), "model_name": F.lit(record["model_name"]),
        "model_version": F.lit(record["model_version"]), "run_id": F.lit(ctx.run_id)})
    result = write_for_date(ctx.spark, ctx.settings, GOLD_FORECAST, rows, logical_date=ctx.logical_date,
                            run_id=ctx.run_id, mode="upsert", keys=FORECAST_KEYS)
    written = read_for_date(ctx.spark, ctx.settings, GOLD_FORECAST, ctx.logical_date, scope={"kind": kind}).where(
        (F.col("interval_start_utc") >= F.lit(start.to_pydatetime()))
        & (F.col("interval_start_utc") < F.lit(end.to_pydatetime()))).count()
    if written == 0:
        raise LakehouseError(f"no {kind} forecast could be made for {start.isoformat()}: no household has history")
    return written, result.snapshot_id


class Options(JobOptions):
    """``model_version``: forecast with this registered version (default: the one this run registered)."""

    model_version: str | None = None


def main(ctx: JobContext) -> dict[str, Any]:
    """Write the day-ahead forecast for the logical date's local day."""
    tz = ctx.settings.energy.source_timezone
    start = pd.Timestamp(ctx.logical_date).tz_localize(tz).tz_convert("UTC")
    end = (pd.Timestamp(ctx.logical_date) + pd.Timedelta(days=1)).tz_localize(tz).tz_convert("UTC")
    chosen = Options.of(ctx.options).model_version
    summary = score(ctx, kind="day_ahead", start=start, end=end, model_version=chosen or ctx.run_id)
    if "skipped" in summary:
        why = (f" ({run_outcome_line(run_evaluation(ctx.settings, ctx.logical_date, ctx.run_id))})"
               if summary.get("no_model") else "")
        raise LakehouseError(f"day-ahead forecast for {ctx.logical_date} impossible: {summary['skipped']}{why}")
    if not chosen and summary["model_version"] != ctx.run_id:  # the run's own model is missing: say which one scored
        note = fallback_note(run_evaluation(ctx.settings, ctx.logical_date, ctx.run_id), summary)
        log.warning("%s", note)
        summary["model_note"] = note
    return summary


def run_evaluation(settings: Any, logical_date: Any, run_id: str) -> dict[str, Any] | None:
    """The energy candidate's ``evaluation.json`` of the run (:func:`lakehouse.training.kept_evaluation`)."""
    from lakehouse.pipeline import RunContext
    from lakehouse.training import kept_evaluation

    return kept_evaluation(RunContext(settings, logical_date, run_id), settings.energy.model_name)


def fallback_note(evaluation: dict[str, Any] | None, summary: dict[str, Any]) -> str:
    """One line flagging a forecast made with the last registered model instead of the run's own."""
    return (f"{run_outcome_line(evaluation)}; forecast with the last registered version {summary['model_version']} "
            f"({summary['model_logical_date']})")


if __name__ == "__main__":
    run_job(main, app_name="energy-forecast")
