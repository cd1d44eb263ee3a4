"""spark-submit entry point: write the smoke table for one logical date and read it back."""

from __future__ import annotations

from typing import Any

from lakehouse.jobs import JobContext, run_job
from lakehouse.pipeline import JobOptions
from lakehouse.publish import stage_for_date
from lakehouse.write import write_for_date
from schemas.core import SMOKE_EVENTS
from spark_jobs.smoke.transforms import sensor_events


class Options(JobOptions):
    """``stage``: write to the run's audit branch (for a gate to publish) instead of main."""

    stage: bool = False


def main(ctx: JobContext) -> dict[str, Any]:
    """Write deterministic sensor events for the logical date into raw.smoke_events.

    With ``--option stage=true`` the rows go to the run's audit branch for a gate to publish.
    """
    events = sensor_events(ctx.spark, ctx.logical_date, ctx.run_id)
    write = stage_for_date if Options.of(ctx.options).stage else write_for_date
    result = write(ctx.spark, ctx.settings, SMOKE_EVENTS, events, logical_date=ctx.logical_date, run_id=ctx.run_id)
    table = ctx.settings.table_name(SMOKE_EVENTS.identifier)
    rows = ctx.spark.sql(
        f"SELECT count(*) AS n FROM {table} WHERE event_date = DATE'{ctx.logical_date.isoformat()}'"
    ).collect()[0]["n"]
    return {"table": table, "logical_date": ctx.logical_date, "rows": rows, "snapshot_id": result.snapshot_id}


if __name__ == "__main__":
    run_job(main, app_name="smoke")
