"""Thin entry-point support for Spark jobs: argument parsing, session, readable failure.

Every ``spark_jobs/<domain>/<job>.py`` ends with ``run_job(main)``; spark-submit, Airflow
and the CLI all call jobs the same way: ``--logical-date YYYY-MM-DD --run-id ID``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lakehouse.errors import one_line_errors
from lakehouse.settings import LakehouseSettings, get_settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger("lakehouse.jobs")



@dataclass
class JobContext:
    """What a job gets: settings, a Spark session, its logical date and run id."""

    settings: LakehouseSettings
    spark: SparkSession
    logical_date: dt.date
    run_id: str
    # The job's typed options (its module's ``Options``); tests may pass a plain dict, which each job
    # turns into its ``Options`` with ``Options.of``.
    options: Any = field(default_factory=dict)


def default_run_id(logical_date: dt.date) -> str:
    """Deterministic run id for manual runs (Airflow passes its own)."""
    return f"manual__{logical_date.isoformat()}"


def parse_args(argv: Sequence[str] | None, description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--logical-date", required=True, type=dt.date.fromisoformat,
                        help="logical date of the run (YYYY-MM-DD); the job writes exactly this date")
    parser.add_argument("--run-id", default=None, help="run id recorded in snapshot summaries")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="job-specific option, repeatable")
    return parser.parse_args(argv)


def run_job(
    main: Callable[[JobContext], dict[str, Any]],
    *,
    app_name: str,
    argv: Sequence[str] | None = None,
    settings: LakehouseSettings | None = None,
    spark: SparkSession | None = None,
    emit: bool = True,
) -> dict[str, Any]:
    """Run ``main`` with a JobContext; on failure print one line to stderr and exit non-zero
    (``lakehouse.errors.one_line_errors``).

    ``--option key=value`` arguments are validated against the job module's ``Options`` class
    (``lakehouse.pipeline.JobOptions``) before the job starts. The job's summary (a dict) is printed as
    one JSON line on stdout (unless ``emit`` is false) so callers (Airflow XCom, the CLI) can read it.
    """
    from lakehouse.pipeline import options_class

    args = parse_args(argv, main.__doc__ or app_name)
    with one_line_errors(f"{app_name} failed for {args.logical_date}: "):
        options = options_class(sys.modules[main.__module__]).from_pairs(args.option, job=app_name)
        settings = settings or get_settings()
        if spark is None:
            from lakehouse.spark import get_spark

            spark = get_spark(settings, app_name=app_name)
        ctx = JobContext(settings, spark, args.logical_date, args.run_id or default_run_id(args.logical_date),
                         options)
        summary = main(ctx)
    if emit:
        print(json.dumps(summary, default=str, sort_keys=True))
    return summary
