"""The maintenance DAG's wiring: schedule and safety knobs from settings, docs, retries and timeouts on every
task, tables discovered when the run starts (nothing about tables is decided at parse time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from lakehouse.settings import PROJECT_ROOT, LakehouseSettings, MaintenanceSettings

_DESCRIBE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
dag = bag.dags["lakehouse_maintenance"]
tasks = {t.task_id: {"doc": bool(t.doc_md or t.doc), "retries": t.retries,
                     "timeout": t.execution_timeout.total_seconds() if t.execution_timeout else None,
                     "upstream": sorted(t.upstream_task_ids), "type": type(t).__name__,
                     "args": [str(a) for a in (getattr(t, "op_kwargs", {}) or {}).get("argv", [])]
                             or [str(a) for a in (getattr(t, "application_args", None) or [])]}
         for t in dag.tasks}
print(json.dumps({"errors": {k: str(v)[-600:] for k, v in bag.import_errors.items()}, "doc": bool(dag.doc_md),
                  "schedule": str(dag.timetable.expression), "catchup": dag.catchup, "tasks": tasks,
                  "heavy": sorted(m for m in sys.modules if m.split(".")[0] in ("pyspark", "pandas", "pyiceberg"))}))
"""


@pytest.mark.parametrize("mode", ["submit", "in_process"])
def test_dag_wiring(tmp_path, mode: str) -> None:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKEHOUSE_", "AIRFLOW"))}
    env.update({"AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "LAKEHOUSE_HOME": str(tmp_path / "lake"), "LAKEHOUSE_MAINTENANCE__SCHEDULE_CRON": "15 4 * * *",
                "LAKEHOUSE_AIRFLOW__RETRIES": "3", "LAKEHOUSE_AIRFLOW__TASK_TIMEOUT_S": "5400",
                "LAKEHOUSE_AIRFLOW__SPARK_TASK_MODE": mode})
    result = subprocess.run([sys.executable, "-c", _DESCRIBE, str(PROJECT_ROOT / "dags")], env=env,
                            capture_output=True, text=True, timeout=300, check=True)
    parsed = json.loads(result.stdout.strip().splitlines()[-1])
    assert parsed["errors"] == {}
    assert parsed["heavy"] == [], "parsing imported heavy modules"
    assert parsed["doc"] and parsed["schedule"] == "15 4 * * *" and parsed["catchup"] is False
    tasks = parsed["tasks"]
    assert set(tasks) == {"discover_tables", "compact_expire_manifests", "remove_orphan_files"}
    assert tasks["compact_expire_manifests"]["upstream"] == ["discover_tables"]
    assert tasks["remove_orphan_files"]["upstream"] == ["compact_expire_manifests"]
    for task_id, task in tasks.items():
        assert task["doc"], f"{task_id} has no doc"
        assert task["retries"] == 3 and task["timeout"] == 5400, task_id
    for task_id, step in (("compact_expire_manifests", "steps=compact,expire,manifests"),
                          ("remove_orphan_files", "steps=orphans")):
        args = tasks[task_id]["args"]
        assert step in args
        assert "tables={{ ti.xcom_pull(task_ids='discover_tables') | join(',') }}" in args, args
    spark_task = tasks["remove_orphan_files"]["type"]
    assert ("SparkSubmitOperator" in spark_task) if mode == "submit" else (spark_task == "PythonOperator")


def test_orphan_safe_age_cannot_go_below_a_day() -> None:
    assert MaintenanceSettings().orphan_safe_age_hours == 72.0
    with pytest.raises(ValidationError, match="greater than or equal to 24"):
        MaintenanceSettings(orphan_safe_age_hours=2)
    settings = LakehouseSettings(maintenance={"orphan_safe_age_hours": 30, "snapshot_retention_days": 3})
    assert settings.maintenance.orphan_safe_age_hours == 30.0
    assert settings.to_env()["LAKEHOUSE_MAINTENANCE__ORPHAN_SAFE_AGE_HOURS"] == "30.0"
