"""Smoke DAG: one Spark job stages rows on an audit branch, a quality gate publishes them.

The smallest complete example of the pattern every pipeline DAG follows (build -> gate/publish).
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG

from lakehouse.orchestration import default_args, gate, spark_job
from lakehouse.settings import get_settings

settings = get_settings()

with DAG(
    dag_id="lakehouse_smoke",
    description="Write-audit-publish smoke test of the lakehouse stack",
    doc_md=__doc__,
    schedule=None,
    start_date=pendulum.datetime(2020, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(settings),
    tags=["lakehouse", "smoke"],
) as dag:
    stage = spark_job(
        "stage_smoke_events",
        "spark_jobs.smoke.job",
        args=["--option", "stage=true"],
        doc_md="Write the logical date's sensor events to the run's audit branch of raw.smoke_events.",
        settings=settings,
    )
    publish = gate("gate_smoke_events", table="raw.smoke_events", suite="smoke_events", settings=settings)
    stage >> publish
