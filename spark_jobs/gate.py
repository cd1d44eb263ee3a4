"""spark-submit entry point for a quality gate: validate a run's staged rows, then publish them.

Options: ``table=silver.ticks`` (rows validated), ``suite=silver_ticks`` (expectations module),
``publish=silver.ticks,quarantine.ticks`` (tables fast-forwarded on success; default: ``table``).
On failure nothing is published and the run fails with the report's location. The tables are published
together by ``lakehouse.publish.publish_all``: the gate can be killed at any point and retried.
"""

from __future__ import annotations

from typing import Any

from lakehouse.errors import LakehouseError
from lakehouse.jobs import JobContext, run_job
from lakehouse.publish import publish_all
from lakehouse.quality import GateContext, load_suite, run_gate
from schemas import get_table_spec


def main(ctx: JobContext) -> dict[str, Any]:
    """Validate the staged rows of a table with its GX suite; publish the run's tables if it passes."""
    try:
        table = ctx.options["table"]
        suite_name = ctx.options["suite"]
    except KeyError as exc:
        raise LakehouseError(f"gate needs --option {exc.args[0]}=...") from None
    to_publish = [t for t in ctx.options.get("publish", table).split(",") if t]
    gate_ctx = GateContext(ctx.spark, ctx.settings, ctx.logical_date, ctx.run_id)
    suite = load_suite(suite_name)
    staged = gate_ctx.read(table, staged=True)
    result = run_gate(staged, gate_ctx, suite_name, suite.build(gate_ctx))
    published = publish_all(ctx.spark, ctx.settings, [get_table_spec(t) for t in to_publish], ctx.run_id)
    return {"suite": suite_name, "expectations": result.evaluated, "report": result.report_uri,
            "published": published}


if __name__ == "__main__":
    run_job(main, app_name="quality-gate")
