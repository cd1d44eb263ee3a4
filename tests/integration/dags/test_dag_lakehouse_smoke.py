"""The smoke DAG end to end through Airflow: spark-submit stage, quality gate, publish."""

from __future__ import annotations

import datetime as dt

import pytest

from lakehouse.publish import audit_branch, branch_exists
from tests.support.airflow import run_dag, task_states


@pytest.mark.parametrize("mode", ["submit", "in_process"])
def test_smoke_dag_stages_gates_and_publishes(airflow_env, spark, lake, mode) -> None:
    day = dt.date(2023, 7, 1) if mode == "submit" else dt.date(2023, 7, 2)
    dag_run = run_dag("lakehouse_smoke", day, lake, spark_task_mode=mode)
    assert task_states(dag_run) == {"stage_smoke_events": "success", "gate_smoke_events": "success"}
    table = lake.table_name("raw.smoke_events")
    assert spark.sql(f"SELECT count(*) FROM {table} WHERE event_date = DATE'{day}'").collect()[0][0] == 100
    assert not branch_exists(spark, table, audit_branch(dag_run.run_id))
