"""A killed write leaks orphan files; the lakehouse_maintenance DAG (dag.test, in-process Spark) keeps them
while they could still belong to a running write and removes them once they are older than the safe age."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lakehouse.settings import PROJECT_ROOT, LakehouseSettings
from lakehouse.write import write_for_date
from schemas.core import SMOKE_EVENTS
from spark_jobs.smoke.transforms import sensor_events
from tests.support.airflow import run_dag, task_states

DAY = dt.date(2023, 12, 4)
RUN_DAY = dt.date(2024, 6, 3)  # the DAG starts on 2024-01-01
MAINTENANCE_TASKS = ("discover_tables", "compact_expire_manifests", "remove_orphan_files")

# A real write through the one write path, in its own driver, with one data file per input partition; the
# last partition never finishes, so the commit never happens and the other tasks' files stay behind.
KILLED_WRITE = r"""
import datetime as dt, sys, time
from lakehouse.settings import get_settings
from lakehouse.spark import get_spark
from lakehouse.write import write_for_date
from schemas.core import SMOKE_EVENTS
from spark_jobs.smoke.transforms import sensor_events

day = dt.date.fromisoformat(sys.argv[1])
settings = get_settings()
spark = get_spark(settings, app_name="killed-write")
spark.conf.set("spark.sql.iceberg.distribution-mode", "none")
events = sensor_events(spark, day, "killed-write").repartition(4)

def stall_last(index, rows):
    if index == 3:
        time.sleep(3600)
    return rows

stalled = spark.createDataFrame(events.rdd.mapPartitionsWithIndex(stall_last), events.schema)
print("writing", flush=True)
write_for_date(spark, settings, SMOKE_EVENTS, stalled, logical_date=day, run_id="killed-write")
print("committed", flush=True)
"""


def data_dir(settings: LakehouseSettings, day: dt.date) -> Path:
    return Path(settings.warehouse) / "raw" / "smoke_events" / "data" / f"event_date={day.isoformat()}"


def referenced(spark: Any, settings: LakehouseSettings) -> set[str]:
    t = settings.table_name(SMOKE_EVENTS.identifier)
    return {Path(r[0].split(":", 1)[1]).name for r in spark.sql(f"SELECT file_path FROM {t}.all_files").collect()}


def day_rows(spark: Any, settings: LakehouseSettings, day: dt.date) -> list[tuple]:
    t = settings.table_name(SMOKE_EVENTS.identifier)
    return sorted(tuple(r) for r in spark.sql(f"SELECT * FROM {t} WHERE event_date = DATE'{day}'").collect())


def kill_write_after_files_appear(settings: LakehouseSettings, day: dt.date, log: Path, expected: int = 3,
                                  timeout_s: float = 300) -> list[Path]:
    """Start the stalled write, wait until ``expected`` new data files exist, kill -9 its whole process group
    (driver, JVM, Python workers); return the files it left behind."""
    before = set(data_dir(settings, day).glob("*.parquet"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOUSE_") or k.startswith("LAKEHOUSE_TEST")}
    env.update(settings.to_env())
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-c", KILLED_WRITE, day.isoformat()], cwd=PROJECT_ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout_s
        leaked: list[Path] = []
        stable_since = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, f"the write ended on its own:\n{log.read_text()[-3000:]}"
            now = sorted(set(data_dir(settings, day).glob("*.parquet")) - before)
            if len(now) >= expected and now == leaked:
                stable_since = stable_since or time.monotonic()
                if time.monotonic() - stable_since > 2:  # the finished tasks have closed their files
                    break
            else:
                stable_since = None
            leaked = now
            time.sleep(0.5)
        else:
            raise AssertionError(f"no {expected} data files after {timeout_s} s:\n{log.read_text()[-3000:]}")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert "committed" not in log.read_text()
    return leaked


def test_killed_write_leaks_orphans_that_the_dag_removes_once_old(spark, local_settings, airflow_env,  # type: ignore[no-untyped-def]
                                                                  tmp_path) -> None:
    write_for_date(spark, local_settings, SMOKE_EVENTS, sensor_events(spark, DAY, "before-kill"), logical_date=DAY,
                   run_id="before-kill")
    committed = day_rows(spark, local_settings, DAY)

    leaked = kill_write_after_files_appear(local_settings, DAY, tmp_path / "killed-write.log")

    # The leak: three data files of an uncommitted write, referenced by no snapshot; readers never see them.
    assert len(leaked) == 3 and all(f.stat().st_size > 0 for f in leaked)
    assert not {f.name for f in leaked} & referenced(spark, local_settings)
    assert day_rows(spark, local_settings, DAY) == committed

    # Maintenance right away: they could still be a running write's files (younger than the safe age): kept.
    dag_run = run_dag("lakehouse_maintenance", RUN_DAY, local_settings)
    assert task_states(dag_run) == {t: "success" for t in MAINTENANCE_TASKS}
    assert all(f.exists() for f in leaked)

    # Four days later (files backdated): the next run removes exactly them; the table reads the same rows.
    old = time.time() - 4 * 24 * 3600
    for f in leaked:
        os.utime(f, (old, old))
    dag_run = run_dag("lakehouse_maintenance", RUN_DAY + dt.timedelta(days=1), local_settings)
    assert task_states(dag_run) == {t: "success" for t in MAINTENANCE_TASKS}
    assert [f for f in leaked if f.exists()] == []
    assert day_rows(spark, local_settings, DAY) == committed  # (reading needs every referenced file)
