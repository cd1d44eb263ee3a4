"""The DAG file only wires tasks (no heavy imports), schedules in the exchange time zone, and every task
has retries and a timeout; `lakehouse generate ticks` writes the landing files."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from typer.testing import CliRunner

from lakehouse.settings import PROJECT_ROOT

PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("dag_finance_tick", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
dag = module.dag
print(json.dumps({
    "dag_id": dag.dag_id, "catchup": dag.catchup, "tasks": sorted(t.task_id for t in dag.tasks),
    "cron": dag.timetable.expression, "tz": str(dag.timetable.timezone),
    "retries": sorted({t.retries for t in dag.tasks}),
    "timeouts": sorted({t.execution_timeout.total_seconds() for t in dag.tasks}),
    "docs": all(t.doc_md for t in dag.tasks),
    "heavy": sorted(m for m in ("pyspark", "lightgbm", "great_expectations", "pandas", "exchange_calendars")
                    if m in sys.modules),
}))
"""


def test_dag_wiring_schedule_and_light_imports(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOUSE_")}
    env.update({"LAKEHOUSE_HOME": str(tmp_path), "AIRFLOW_HOME": str(tmp_path / "airflow"),
                "LAKEHOUSE_FINANCE__EXCHANGE_TIMEZONE": "Europe/London", "LAKEHOUSE_FINANCE__CATCHUP": "true",
                "PYTHONPATH": str(PROJECT_ROOT)})
    out = subprocess.run([sys.executable, "-c", PROBE, str(PROJECT_ROOT / "dags" / "dag_finance_tick.py")],
                         env=env, capture_output=True, text=True, check=True, cwd=tmp_path)
    info = json.loads(out.stdout.strip().splitlines()[-1])
    assert info["dag_id"] == "finance_tick_processor"
    assert info["tasks"] == ["build_gold", "build_silver", "check_session", "evaluate", "gate_gold", "gate_silver",
                             "ingest_raw", "register", "report", "train", "wait_for_landing"]
    assert info["cron"] == "0 16 * * 1-5" and info["tz"] == "Europe/London" and info["catchup"] is True
    assert info["retries"] == [1] and info["timeouts"] == [3600.0] and info["docs"]
    assert info["heavy"] == []


def test_generate_ticks_command(tmp_path, monkeypatch) -> None:
    from lakehouse.cli import app
    from lakehouse.settings import get_settings

    monkeypatch.setenv("LAKEHOUSE_HOME", str(tmp_path))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["generate", "ticks", "--date", "2024-02-01", "--ticks", "300",
                                          "--symbols", "2", "--binance-ticks", "10"])
        assert result.exit_code == 0, result.output
        manifest = json.loads(result.output)
        assert manifest["rows"] >= 310 and len(manifest["files"]) == 5
        bad = CliRunner().invoke(app, ["generate", "ticks", "--date", "02/01/2024"])
        assert bad.exit_code == 1 and "invalid --date" in bad.output
    finally:
        get_settings.cache_clear()
