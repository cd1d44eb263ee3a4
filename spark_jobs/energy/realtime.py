"""spark-submit entry point: score the newest 15-minute interval with the latest registered model.

``--option interval=<ISO timestamp>`` (the DAG passes its logical timestamp) names the interval;
it is floored to 15 minutes. The forecast is upserted per (kind, household, frequency, interval),
so rerunning an interval replaces its row. With no registered model, or no history, the job
reports ``skipped`` and writes nothing (the DAG's guard task normally skips it before).
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from lakehouse.errors import LakehouseError
from lakehouse.jobs import JobContext, run_job
from lakehouse.pipeline import JobOptions
from spark_jobs.energy.forecast import score

log = logging.getLogger(__name__)


def target_interval(value: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """[start, end) of the 15-minute interval containing ``value`` (UTC if no offset is given)."""
    try:
        ts = pd.Timestamp(value)
    except ValueError as exc:
        raise LakehouseError(f"--option interval={value!r} is not an ISO timestamp") from exc
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    start = ts.floor("15min")
    return start, start + pd.Timedelta(minutes=15)


class Options(JobOptions):
    """``interval``: an ISO timestamp inside the interval to score (default: the logical date);
    ``model_version``: score with this registered version (default: the latest)."""

    interval: str | None = None
    model_version: str | None = None


def main(ctx: JobContext) -> dict[str, Any]:
    """Forecast one 15-minute interval for every household (kind='realtime')."""
    options = Options.of(ctx.options)
    start, end = target_interval(options.interval or ctx.logical_date.isoformat())
    summary = score(ctx, kind="realtime", start=start, end=end, model_version=options.model_version,
                    frequencies=(15,))
    if "skipped" in summary:
        log.info("skipped: %s", summary["skipped"])  # stdout carries only the job's JSON summary
    return summary


if __name__ == "__main__":
    run_job(main, app_name="energy-realtime")
