"""spark-submit entry point for table maintenance (the ``lakehouse_maintenance`` DAG's Spark tasks).

Options: ``steps=compact,expire,manifests,orphans`` (default: all, in that order) and ``tables=a.b,c.d``
(default or empty: every table in the catalog when the job runs). Retention, target file size and the
orphan safe age come from ``settings.maintenance``; see ``lakehouse.maintenance`` for the guarantees.
"""

from __future__ import annotations

from typing import Any

from lakehouse.jobs import JobContext, run_job
from lakehouse.maintenance import STEPS, run_maintenance
from lakehouse.pipeline import CommaList, JobOptions


class Options(JobOptions):
    """``steps``: which maintenance steps, in order; ``tables``: which tables (default: every table)."""

    steps: CommaList = list(STEPS)
    tables: CommaList = []


def main(ctx: JobContext) -> dict[str, Any]:
    """Compact, expire, rewrite manifests and/or remove old orphan files on each table; one line per failure."""
    options = Options.of(ctx.options)
    return run_maintenance(ctx.spark, ctx.settings, options.tables or None, options.steps)


if __name__ == "__main__":
    run_job(main, app_name="maintenance")
