"""What a DAG run stopped by a failing quality gate must leave behind (shared by the bad-batch DAG tests).

A gate that rejects a batch must fail its task (after its retries), every task after it must end
``upstream_failed``, ``main`` of every table it would have published (and of every table further down,
the model registry included) must not move, its validation report must be kept and say
``success: false`` (its Data Docs page: ``Failed``), the run's audit branches must stay for inspection,
and no model may be registered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lakehouse import storage
from lakehouse.publish import audit_branch
from lakehouse.quality import data_docs_index_uri, report_uri
from lakehouse.settings import LakehouseSettings
from lakehouse.write import current_snapshot_id
from schemas.core import MODEL_REGISTRY

if TYPE_CHECKING:
    import datetime as dt

    from pyspark.sql import DataFrame, SparkSession


def with_fast_retries(settings: LakehouseSettings, retries: int = 1, retry_delay_s: int = 1) -> LakehouseSettings:
    """``settings`` with the Airflow retry policy of the DAG tasks shortened (the production default waits
    ``airflow.retry_delay_s`` = 60 s before a retry). Retries stay on, so the tests also show that a
    data-quality failure is final (not retried) while the tasks keep their retries for other faults."""
    airflow = settings.airflow.model_copy(update={"retries": retries, "retry_delay_s": retry_delay_s})
    return settings.model_copy(update={"airflow": airflow})


def main_snapshots(spark: SparkSession, settings: LakehouseSettings, tables: Iterable[str]) -> dict[str, int | None]:
    """Snapshot id of ``main`` of each table (None for a table never published)."""
    return {table: current_snapshot_id(spark, settings.table_name(table)) for table in tables}


def refs(spark: SparkSession, settings: LakehouseSettings, table: str) -> dict[str, tuple[str, int]]:
    """Every ref of a table: name -> (type, snapshot id)."""
    rows = spark.sql(f"SELECT name, type, snapshot_id FROM {settings.table_name(table)}.refs").collect()
    return {r["name"]: (r["type"], int(r["snapshot_id"])) for r in rows}


def staged_rows(spark: SparkSession, settings: LakehouseSettings, table: str, run_id: str) -> DataFrame:
    """The rows on the run's audit branch of ``table`` (the branch must exist)."""
    return spark.table(f"{settings.table_name(table)}.branch_{audit_branch(run_id)}")


def task_tries(dag_run: Any) -> dict[str, int]:
    """task_id -> number of the last attempt (1 + retries used) of a finished DagRun."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = session.query(TaskInstance).filter(
            TaskInstance.dag_id == dag_run.dag_id, TaskInstance.run_id == dag_run.run_id)
        return {ti.task_id: int(ti.try_number) for ti in tis}


@dataclass(frozen=True)
class StoppedRun:
    """A DAG's task order around the gate expected to fail."""

    upstream: tuple[str, ...]  # tasks before the gate: must succeed
    gate: str  # the gate task: must fail
    downstream: tuple[str, ...]  # every task after the gate: must be upstream_failed


def assert_stopped_at_gate(states: dict[str, str], expected: StoppedRun) -> None:
    """The run stopped exactly at the gate: upstream succeeded, the gate failed, nothing after it ran."""
    want = {**dict.fromkeys(expected.upstream, "success"), expected.gate: "failed",
            **dict.fromkeys(expected.downstream, "upstream_failed")}
    assert states == want, f"task states {states} != expected {want}"


def read_report(settings: LakehouseSettings, suite: str, logical_date: dt.date, run_id: str) -> dict[str, Any]:
    """The kept validation report (JSON) of one gate run; its Great Expectations Data Docs page must exist,
    say whether it failed, and be listed in the Data Docs index."""
    uri = report_uri(settings, suite, logical_date, run_id)
    document = json.loads(storage.read_bytes(settings, uri))
    page = document["data_docs"]
    html = storage.read_bytes(settings, page).decode()
    status = "Succeeded" if document["success"] else "Failed"
    assert re.search(rf"Status:\s*(<[^>]+>\s*)*{status}", html), f"Data Docs page {page} does not say {status}"
    index = storage.read_bytes(settings, data_docs_index_uri(settings)).decode()
    assert page.removeprefix(data_docs_index_uri(settings).removesuffix("index.html")) in index, \
        f"{page} is not listed in the Data Docs index"
    return document


def assert_nothing_registered(spark: SparkSession, settings: LakehouseSettings, run_id: str,
                              registry_before: int | None) -> None:
    """No model version, registry commit or model artifact came from the run."""
    from lakehouse.registry import list_models

    assert [m["model_name"] for m in list_models(settings) if m["model_version"] == run_id] == []
    assert main_snapshots(spark, settings, [MODEL_REGISTRY.identifier]) == {MODEL_REGISTRY.identifier: registry_before}
    models = storage.join(storage.to_uri(settings.artifacts), "models")
    safe_run = "".join(c if c.isalnum() or c in "_.=-" else "_" for c in run_id)
    leaked = [f.uri for f in storage.list_files(settings, models) if f"/{safe_run}/" in f.uri]
    assert leaked == [], f"model artifacts written by the stopped run: {leaked}"
