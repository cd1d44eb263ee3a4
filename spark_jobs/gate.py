"""spark-submit entry point for a quality gate: validate a run's staged rows, then publish them.

Options: ``table=silver.ticks`` (rows validated), ``suite=silver_ticks`` (expectations module),
``publish=silver.ticks,quarantine.ticks`` (tables fast-forwarded on success; default: ``table``).
On failure nothing is published and the run fails with one line naming each failed expectation in words and
the report's location (its Great Expectations Data Docs page and the result JSON). The summary's ``data_docs``
is the Data Docs index of every gate run. The tables are published together by
``lakehouse.publish.publish_all``: the gate can be killed at any point and retried.
"""

from __future__ import annotations

from typing import Any

from lakehouse.jobs import JobContext, run_job
from lakehouse.pipeline import CommaList, JobOptions, table_spec
from lakehouse.publish import publish_all
from lakehouse.quality import GateContext, data_docs_index_uri, load_suite, run_gate


class Options(JobOptions):
    """``table``: the table whose staged rows are validated; ``suite``: its expectations module;
    ``publish``: the tables published together on success (default: ``table``)."""

    table: str
    suite: str
    publish: CommaList = []


def main(ctx: JobContext) -> dict[str, Any]:
    """Validate the staged rows of a table with its GX suite; publish the run's tables if it passes."""
    options = Options.of(ctx.options)
    to_publish = options.publish or [options.table]
    gate_ctx = GateContext(ctx.spark, ctx.settings, ctx.logical_date, ctx.run_id)
    suite = load_suite(options.suite)
    staged = gate_ctx.read(options.table, staged=True)
    result = run_gate(staged, gate_ctx, options.suite, suite.build(gate_ctx))
    published = publish_all(ctx.spark, ctx.settings, [table_spec(ctx.settings, t) for t in to_publish], ctx.run_id)
    return {"suite": options.suite, "expectations": result.evaluated, "report": result.report_uri,
            "data_docs": data_docs_index_uri(ctx.settings), "published": published}


if __name__ == "__main__":
    run_job(main, app_name="quality-gate")
