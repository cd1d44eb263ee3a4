"""Run DAGs in-process with `dag.test()` against a throw-away Airflow home (SQLite metadata DB)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from lakehouse.settings import PROJECT_ROOT, LakehouseSettings, get_settings


def prepare_airflow_home(home: Path) -> dict[str, str]:
    """Environment for an isolated Airflow home; migrates its metadata DB once."""
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": os.environ.get("LAKEHOUSE_TEST_AIRFLOW_LOG_LEVEL", "WARNING"),
        "GX_ANALYTICS_ENABLED": "false",
    }
    os.environ.update(env)
    airflow = Path(sys.executable).parent / "airflow"
    result = subprocess.run([str(airflow), "db", "migrate"], env={**os.environ, **env},
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed: {result.stderr[-2000:]}")
    return env


def use_settings(settings: LakehouseSettings) -> None:
    """Make ``settings`` the process-wide settings (DAG parsing and spark-submit children read env)."""
    for key in [k for k in os.environ if k.startswith("LAKEHOUSE_") and not k.startswith("LAKEHOUSE_TEST_")]:
        del os.environ[key]
    os.environ.update(settings.to_env())
    get_settings.cache_clear()


def load_dag(dag_id: str, settings: LakehouseSettings, spark_task_mode: str = "in_process") -> Any:
    """Parse the dags folder with ``settings`` active and return one DAG.

    Spark tasks run in-process on the test session's Spark by default (no JVM start per task);
    pass ``spark_task_mode="submit"`` to exercise SparkSubmitOperator.
    """
    from airflow.dag_processing.dagbag import DagBag

    use_settings(settings)
    os.environ["LAKEHOUSE_AIRFLOW__SPARK_TASK_MODE"] = spark_task_mode
    get_settings.cache_clear()
    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    assert not bag.import_errors, bag.import_errors
    dag = bag.get_dag(dag_id)
    assert dag is not None, f"DAG {dag_id} not found; have {sorted(bag.dag_ids)}"
    return dag


def run_dag(dag_id: str, logical_date: dt.date, settings: LakehouseSettings,
            run_conf: dict[str, Any] | None = None, spark_task_mode: str = "in_process") -> Any:
    """Run a whole DAG for one logical date with ``dag.test()``; return the DagRun."""
    dag = load_dag(dag_id, settings, spark_task_mode)
    when = dt.datetime.combine(logical_date, dt.time(), tzinfo=dt.UTC)
    return dag.test(logical_date=when, run_conf=run_conf)


def task_states(dag_run: Any) -> dict[str, str]:
    """task_id -> final state of a finished DagRun."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter(
            TaskInstance.dag_id == dag_run.dag_id, TaskInstance.run_id == dag_run.run_id
        )
        return {ti.task_id: str(ti.state) for ti in tis}


def xcom_value(dag_run: Any, task_id: str) -> Any:
    """The return value a task of a finished DagRun pushed (None if it pushed none)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.query(XComModel).filter(
            XComModel.dag_id == dag_run.dag_id, XComModel.run_id == dag_run.run_id,
            XComModel.task_id == task_id, XComModel.key == "return_value").one_or_none()
        return None if row is None else XComModel.deserialize_value(row)


def asset_events(dag_run: Any) -> dict[str, dict[str, Any]]:
    """Asset URI -> extra of the Asset events a finished DagRun emitted."""
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(AssetModel.uri, AssetEvent.extra).join(AssetEvent, AssetEvent.asset_id == AssetModel.id)
        rows = rows.filter(AssetEvent.source_dag_id == dag_run.dag_id, AssetEvent.source_run_id == dag_run.run_id)
        return {uri: dict(extra or {}) for uri, extra in rows}
