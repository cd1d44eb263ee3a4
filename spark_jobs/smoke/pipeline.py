"""The smoke pipeline: the smallest complete write-audit-publish example (stage -> gate)."""

from __future__ import annotations

from lakehouse.pipeline import Gate, Pipeline, Stage

SMOKE = Pipeline(
    dag_id="lakehouse_smoke",
    domain="smoke",
    description="Write-audit-publish smoke test of the lakehouse stack",
    doc="""Smoke DAG: one Spark job stages rows on an audit branch, a quality gate publishes them.

The smallest complete example of the pattern every pipeline DAG follows (build -> gate/publish).
Inputs: none (the job generates 100 sensor events for the logical date).
Outputs: raw.smoke_events (the date's rows replaced), a gate report in Data Docs.
Rerun a date: trigger it again for the same logical date; the rows are replaced, never duplicated.
""",
    steps=(
        Stage("stage_smoke_events", "spark_jobs.smoke.job", stages=("raw.smoke_events",), options={"stage": "true"},
              doc="Write the logical date's sensor events to the run's audit branch of raw.smoke_events."),
        Gate("gate_smoke_events", suite="smoke_events"),
    ),
    tags=("smoke",),
)

PIPELINES = (SMOKE,)
