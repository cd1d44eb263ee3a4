"""Spark beyond one machine: a standalone master + worker from the pyspark install runs an Iceberg write."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakehouse.catalog import create_tables
from lakehouse.registry import read_table_snapshot
from lakehouse.settings import PROJECT_ROOT, LakehouseSettings
from tests.support.servers import free_port

pytestmark = pytest.mark.cluster


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def _wait_for(url: str, predicate, timeout: float = 90.0) -> dict:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    last: dict = {}
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                last = json.loads(response.read())
            if predicate(last):
                return last
        except OSError:
            pass
        time.sleep(1)
    raise TimeoutError(f"{url} not ready: {last}")


@pytest.fixture(scope="module")
def standalone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A master and one worker on 127.0.0.1; yields (master URL, master web UI URL)."""
    home = _spark_home()
    logs = tmp_path_factory.mktemp("spark-standalone")
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1",
           "SPARK_LOG_DIR": str(logs), "SPARK_WORKER_DIR": str(logs / "work"), "PYSPARK_PYTHON": sys.executable}
    port, ui = free_port(), free_port()
    spark_class = str(home / "bin" / "spark-class")
    master_log, worker_log = (logs / "master.log").open("w"), (logs / "worker.log").open("w")
    master = subprocess.Popen(
        [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
         "--webui-port", str(ui)], env=env, stdout=subprocess.DEVNULL, stderr=master_log)
    master_url, ui_url = f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui}/json/"
    worker = None
    try:
        _wait_for(ui_url, lambda s: s.get("status") == "ALIVE")
        worker = subprocess.Popen(
            [spark_class, "org.apache.spark.deploy.worker.Worker", master_url, "--host", "127.0.0.1",
             "--cores", "1", "--memory", "1g", "--webui-port", str(free_port())],
            env=env, stdout=subprocess.DEVNULL, stderr=worker_log)
        _wait_for(ui_url, lambda s: s.get("aliveworkers", 0) >= 1)
        yield master_url, ui_url
    finally:
        for proc in (worker, master):
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        master_log.close()
        worker_log.close()


def test_iceberg_write_runs_on_the_standalone_cluster(standalone, tmp_path: Path) -> None:
    master_url, ui_url = standalone
    settings = LakehouseSettings(home=tmp_path, spark={"master": master_url, "executor_memory": "512m",
                                                        "driver_memory": "1g"})
    create_tables(settings)
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOUSE_")}
    env.update(settings.to_env())
    job = PROJECT_ROOT / "spark_jobs" / "smoke" / "job.py"
    result = subprocess.run([sys.executable, str(job), "--logical-date", "2023-09-01", "--run-id", "cluster-run"],
                            env=env, capture_output=True, text=True, timeout=300, check=False, cwd=PROJECT_ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["rows"] == 100

    rows = read_table_snapshot(settings, "raw.smoke_events").to_pylist()
    assert len(rows) == 100 and {r["run_id"] for r in rows} == {"cluster-run"}
    state = _wait_for(ui_url, lambda s: any(a["name"] == "smoke" for a in s.get("completedapps", [])), 60)
    app = next(a for a in state["completedapps"] if a["name"] == "smoke")
    assert app["cores"] >= 1 or app.get("state") == "FINISHED"
