"""Declared pipelines: a fourth domain added as a package (no core file edited) gets a parsed DAG and a
working `lakehouse run`; the runner runs a real pipeline through the same job code as Airflow."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lakehouse.errors import LakehouseError
from lakehouse.pipeline import Gate, Pipeline, Stage, get_pipeline
from lakehouse.publish import audit_branch, branch_exists
from lakehouse.runner import run_pipeline
from lakehouse.settings import PROJECT_ROOT
from tests.conftest import make_local_settings
from tests.support.cli import run_cli

TOY_FILES = {
    "toy_domain/__init__.py": '"""A toy fourth domain: one table, one stage, one gate."""\n',
    "toy_domain/tables.py": '''
        from pyiceberg.types import DateType, LongType, StringType

        from schemas.base import Column, TableSpec, identity

        ORDERS = TableSpec(
            identifier="raw.toy_orders",
            description="Toy orders, one row per order.",
            columns=(Column("order_date", DateType(), required=True), Column("order_id", LongType(), required=True),
                     Column("customer", StringType()), Column("run_id", StringType())),
            partition_by=(identity("order_date"),),
            logical_date_column="order_date",
        )
        TABLES = (ORDERS,)
    ''',
    "toy_domain/pipeline.py": '''
        from lakehouse.pipeline import Gate, Param, Pipeline, Stage

        TOY = Pipeline(
            dag_id="toy_orders", domain="toy", description="Toy orders, staged and gated",
            doc="Toy pipeline: stage the day's orders, gate them, publish.",
            params={"orders": Param("25", "how many orders to make")},
            steps=(
                Stage("stage_orders", "toy_domain.job", stages=("raw.toy_orders",),
                      options={"orders": "{{ params.orders }}"}, doc="Make the day's orders on the audit branch."),
                Gate("gate_orders", suite="toy_domain.suite"),
            ),
        )
        PIPELINES = (TOY,)
    ''',
    "toy_domain/job.py": '''
        from lakehouse.jobs import JobContext, run_job
        from lakehouse.pipeline import JobOptions, table_spec
        from lakehouse.publish import stage_for_date


        class Options(JobOptions):
            orders: int = 10


        def main(ctx: JobContext) -> dict:
            """Stage ``orders`` orders for the logical date."""
            n = Options.of(ctx.options).orders
            df = ctx.spark.createDataFrame(
                [(ctx.logical_date, i, f"c{i % 3}", ctx.run_id) for i in range(n)],
                "order_date date, order_id long, customer string, run_id string")
            spec = table_spec(ctx.settings, "raw.toy_orders")
            result = stage_for_date(ctx.spark, ctx.settings, spec, df, logical_date=ctx.logical_date, run_id=ctx.run_id)
            return {"table": result.table, "rows": n, "snapshot_id": result.snapshot_id}


        if __name__ == "__main__":
            run_job(main, app_name="toy-orders")
    ''',
    "toy_domain/suite.py": '''
        def build(ctx):
            """At least one order, ids unique and present."""
            return [
                {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
                {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "order_id"}},
                {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "order_id"}},
            ]
    ''',
}

_PARSE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
dag = bag.dags.get("toy_orders")
print(json.dumps({"errors": {k: str(v)[-800:] for k, v in bag.import_errors.items()}, "dags": sorted(bag.dag_ids),
                  "tasks": {t.task_id: {"upstream": sorted(t.upstream_task_ids), "doc": t.doc_md,
                                        "args": [str(a) for a in (t.op_kwargs or {}).get("argv", [])]}
                            for t in (dag.tasks if dag else [])}}))
"""


@pytest.fixture(scope="module")
def toy(tmp_path_factory):  # type: ignore[no-untyped-def]
    """A domain package outside the project and a lake that discovers it through settings only."""
    root = tmp_path_factory.mktemp("toy-package")
    for name, text in TOY_FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    settings = make_local_settings(tmp_path_factory.mktemp("toy-lake"),
                                   pipelines={"packages": ["spark_jobs", "ml", "toy_domain"]})
    return root, settings


def _env(root: Path) -> dict[str, str]:
    return {"PYTHONPATH": f"{root}{os.pathsep}{PROJECT_ROOT}"}


def test_a_new_domain_package_gets_a_parsed_dag(toy, tmp_path) -> None:
    root, settings = toy
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKEHOUSE_", "AIRFLOW"))}
    env.update({**settings.to_env(), **_env(root), "AIRFLOW_HOME": str(tmp_path),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False", "LAKEHOUSE_AIRFLOW__SPARK_TASK_MODE": "in_process"})
    dags = root / "dags"
    dags.mkdir(exist_ok=True)
    # A DAG file for the new domain is one line of wiring, like the project's own.
    (dags / "dag_toy.py").write_text('"""Toy orders Airflow DAG."""\n\nfrom lakehouse.orchestration import dag_for\n\n'
                                     'dag = dag_for("toy_orders")\n')
    result = subprocess.run([sys.executable, "-c", _PARSE, str(dags)], env=env, capture_output=True, text=True,
                            timeout=300, check=True)
    parsed = json.loads(result.stdout.strip().splitlines()[-1])
    assert parsed["errors"] == {} and parsed["dags"] == ["toy_orders"]
    tasks = parsed["tasks"]
    assert tasks["gate_orders"]["upstream"] == ["stage_orders"]
    assert tasks["stage_orders"]["doc"] == "Make the day's orders on the audit branch."
    # the gate's table, suite and publish list are derived from the stage before it
    gate_args = tasks["gate_orders"]["args"]
    for expected in ("table=raw.toy_orders", "suite=toy_domain.suite", "publish=raw.toy_orders"):
        assert expected in gate_args, gate_args
    assert "orders={{ params.orders }}" in tasks["stage_orders"]["args"]


def test_lakehouse_run_runs_the_new_domain_end_to_end(toy) -> None:
    root, settings = toy
    assert run_cli(["init"], settings, env=_env(root)).returncode == 0
    listed = run_cli(["pipelines"], settings, env=_env(root))
    assert "toy_orders" in listed.stdout and "stage_orders > gate_orders" in listed.stdout
    result = run_cli(["run", "toy_orders", "--date", "2024-03-04", "--param", "orders=7"], settings, env=_env(root))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "stage_orders" in result.stdout and "gate_orders" in result.stdout and "success" in result.stdout
    count = run_cli(["sql", "SELECT count(*) AS n FROM raw.toy_orders WHERE order_date = DATE'2024-03-04'",
                     "--format", "csv"], settings, env=_env(root))
    assert count.stdout.splitlines() == ["n", "7"], count.stderr
    bad = run_cli(["run", "toy_orders", "--date", "2024-03-04", "--param", "colour=red"], settings, env=_env(root))
    assert bad.returncode == 1 and bad.stderr.strip() == (
        "error: toy_orders has no parameter colour: declared are orders")


def test_runner_runs_a_real_pipeline_in_process_and_stops_at_a_failure(spark, local_settings) -> None:
    day = dt.date(2023, 12, 4)
    outcome = run_pipeline(get_pipeline(local_settings, "lakehouse_smoke"), local_settings, day, spark=spark,
                           run_id="runner-smoke", emit=False)
    assert [(s.task_id, s.state) for s in outcome.steps] == [("stage_smoke_events", "success"),
                                                             ("gate_smoke_events", "success")]
    assert outcome.steps[1].summary["published"]["raw.smoke_events"] is not None
    table = local_settings.table_name("raw.smoke_events")
    assert spark.table(table).where(f"event_date = DATE'{day}'").count() == 100
    assert not branch_exists(spark, table, audit_branch("runner-smoke"))

    broken = Pipeline(dag_id="broken", domain="test", description="", doc="", steps=(
        Stage("stage", "spark_jobs.smoke.job", stages=("raw.smoke_events",), options={"stage": "maybe"}, doc="x"),
        Gate("gate", suite="smoke_events")))
    failed = run_pipeline(broken, local_settings, day, spark=spark, run_id="runner-broken", emit=False)
    assert [(s.task_id, s.state) for s in failed.steps] == [("stage", "failed"), ("gate", "upstream_failed")]


def test_declarations_are_checked() -> None:
    with pytest.raises(LakehouseError, match="has no staged table before it"):
        Pipeline(dag_id="x", domain="t", description="", doc="", steps=(Gate("g", suite="s"),))
    with pytest.raises(LakehouseError, match="staged but never gated"):
        Pipeline(dag_id="x", domain="t", description="", doc="",
                 steps=(Stage("s", "m", stages=("raw.a",), doc=""),))
    with pytest.raises(LakehouseError, match="duplicate task ids"):
        Pipeline(dag_id="x", domain="t", description="", doc="",
                 steps=(Stage("s", "m", doc=""), Stage("s", "m", doc="")))
