"""Airflow wiring helpers shared by the DAG files.

Only light imports at module level (Airflow itself, settings): DAG files import this module at
parse time. Spark stages run as ``spark-submit`` of a job module with conf, jars, master and
environment all derived from the one settings object.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import os
import sys
from pathlib import Path
from typing import Any

from lakehouse.settings import PROJECT_ROOT, LakehouseSettings, get_settings

JOB_ARGS = ["--logical-date", "{{ ds }}", "--run-id", "{{ run_id }}"]


def default_args(settings: LakehouseSettings | None = None) -> dict[str, Any]:
    """Retries, retry delay and execution timeout applied to every task."""
    settings = settings or get_settings()
    return {
        "owner": "lakehouse",
        "retries": settings.airflow.retries,
        "retry_delay": dt.timedelta(seconds=settings.airflow.retry_delay_s),
        "execution_timeout": dt.timedelta(seconds=settings.airflow.task_timeout_s),
    }


def job_path(module: str) -> Path:
    """File of a job module, e.g. spark_jobs.finance.silver -> <root>/spark_jobs/finance/silver.py
    (found where Python would import it from, so a domain package outside this repository works too)."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(module)
    except ModuleNotFoundError:
        spec = None
    if spec is None or spec.origin is None or not spec.origin.endswith(".py"):
        raise FileNotFoundError(f"job module {module} not found (is its package importable?)")
    return Path(spec.origin)


def _ensure_spark_connection(settings: LakehouseSettings) -> None:
    """Define the Spark connection from settings unless the deployment defines it (at execute time)."""
    var = f"AIRFLOW_CONN_{settings.airflow.spark_conn_id.upper()}"
    master = settings.spark.master
    if master.startswith("spark://"):
        host, _, port = master[len("spark://") :].partition(":")
        conn = {"conn_type": "spark", "host": f"spark://{host}", "port": int(port or 7077)}
    else:
        conn = {"conn_type": "spark", "host": master}
    os.environ.setdefault(var, json.dumps(conn))


def submit_environment(settings: LakehouseSettings) -> dict[str, str]:
    """Environment of the spark-submit process: the driver resolves the same settings as Airflow.

    It holds the credentials (environment only, never argv); it is built when the task executes and
    handed straight to the subprocess, so it is never rendered, serialised or logged by Airflow.
    """
    from lakehouse.spark import spark_env

    env = {k: v for k, v in os.environ.items() if k.startswith(("LAKEHOUSE_", "AWS_", "JAVA_HOME"))}
    env.update(spark_env(settings))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    return env


@functools.cache
def _submit_operator_class() -> type:
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
    from airflow.sdk.exceptions import AirflowException, AirflowFailException

    from lakehouse.errors import DATA_QUALITY_EXIT

    class LakehouseSparkSubmitOperator(SparkSubmitOperator):  # type: ignore[misc,valid-type]
        """``spark-submit`` of a lakehouse job whose conf, jars and environment are derived from the
        worker's settings when the task runs, not when the DAG file is parsed: parsing verifies no jar,
        sets no environment variable, and no secret ever reaches a rendered field or the serialized DAG.
        """

        def __init__(self, *, publishes: list[str] | None = None, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.publishes = list(publishes or [])

        def execute(self, context: Any) -> Any:
            from lakehouse.spark import spark_conf

            settings = get_settings()
            _ensure_spark_connection(settings)
            conf = spark_conf(settings, app_name=self.task_id)
            self.jars = conf.pop("spark.jars", None)
            self.packages = conf.pop("spark.jars.packages", None)
            conf.pop("spark.master", None)
            self.conf = conf
            self.env_vars = submit_environment(settings)
            self._conn_id = settings.airflow.spark_conn_id
            try:
                super().execute(context)
            except AirflowException as exc:
                if f"Error code is: {DATA_QUALITY_EXIT}." in str(exc):  # the same rows would fail again
                    raise AirflowFailException(f"{self.task_id}: quality gate failed; nothing published") from exc
                raise
            # The job ran in another process: what it published is read back from the tables themselves.
            return announce_published(context, settings, self.publishes) if self.publishes else None

    LakehouseSparkSubmitOperator.__qualname__ = "LakehouseSparkSubmitOperator"
    return LakehouseSparkSubmitOperator


def run_job_in_process(module: str, argv: list[str], publishes: list[str] | None = None,
                       **context: Any) -> dict[str, Any]:
    """Run a job module's ``main`` in this process (Airflow ``in_process`` mode); a gate (``publishes``)
    also announces what it published (:func:`announce_published`)."""
    import importlib

    from airflow.sdk.exceptions import AirflowFailException

    from lakehouse.errors import DATA_QUALITY_EXIT
    from lakehouse.jobs import run_job

    job = importlib.import_module(module)
    try:
        summary = run_job(job.main, app_name=module.rsplit(".", 1)[-1], argv=argv)
    except SystemExit as exc:
        if exc.code == DATA_QUALITY_EXIT:  # the same rows would fail again: no retry
            raise AirflowFailException(f"{module}: quality gate failed (see the error line above)") from None
        raise
    if publishes:
        summary = {**summary, **announce_published(context, get_settings(), publishes)}
    return summary


def table_asset(settings: LakehouseSettings, identifier: str) -> Any:
    """The Airflow Asset of a lakehouse table: one per table, named by its Spark name, with an
    OpenLineage-style URI ``iceberg://<catalog>/<namespace>/<table>``."""
    from airflow.sdk import Asset

    namespace, _, table = identifier.rpartition(".")
    return Asset(name=settings.table_name(identifier), uri=f"iceberg://{settings.catalog.name}/{namespace}/{table}")


def announce_published(context: Any, settings: LakehouseSettings, tables: list[str]) -> dict[str, Any]:
    """After a gate: the snapshot this run published on each table, as the ``extra`` of the table's
    Asset event (snapshot id, logical date, run id) and as the returned XCom ``{"published": ...}``.

    The ids are read from the tables (main's ancestry, by the run id in the snapshot summary), the same
    way for both task modes and for a retried gate; downstream training pins exactly these snapshots.
    """
    from lakehouse.registry import published_snapshot_id

    run_id, logical_date = context["run_id"], context["ds"]
    published: dict[str, int | None] = {}
    for table in tables:
        snapshot = published_snapshot_id(settings, table, run_id)
        published[table] = snapshot
        context["outlet_events"][table_asset(settings, table)].extra = {
            "table": table, "snapshot_id": snapshot, "logical_date": logical_date, "run_id": run_id}
    return {"published": published}


def spark_job(task_id: str, module: str, *, args: list[str] | None = None, doc_md: str | None = None,
              settings: LakehouseSettings | None = None, publishes: list[str] | None = None, **kwargs: Any) -> Any:
    """A task running the Spark job ``module`` for the run's logical date and run id.

    ``settings.airflow.spark_task_mode`` picks a SparkSubmitOperator (default) or an in-process
    PythonOperator; both pass the same ``--logical-date/--run-id`` arguments to the job. A gate names the
    tables it ``publishes``: they are the task's outlets (one Asset per table), and its Asset events
    carry the published snapshot ids.
    """
    settings = settings or get_settings()
    job_path(module)  # fail at parse time if the job file is missing
    if publishes:
        kwargs["outlets"] = [table_asset(settings, table) for table in publishes]
    if settings.airflow.spark_task_mode == "in_process":
        from airflow.providers.standard.operators.python import PythonOperator

        return PythonOperator(
            task_id=task_id,
            python_callable=run_job_in_process,
            op_kwargs={"module": module, "argv": [*JOB_ARGS, *(args or [])], "publishes": list(publishes or [])},
            doc_md=doc_md,
            **kwargs,
        )
    return _submit_operator_class()(
        task_id=task_id,
        application=str(job_path(module)),
        application_args=[*JOB_ARGS, *(args or [])],
        conn_id=settings.airflow.spark_conn_id,
        name=f"lakehouse-{task_id}",
        doc_md=doc_md,
        publishes=publishes,
        **kwargs,
    )


# ---- DAGs from declarations --------------------------------------------------------------------------
def _option_args(options: dict[str, str]) -> list[str]:
    return [arg for key, value in options.items() for arg in ("--option", f"{key}={value}")]


def run_call(target: str, upstream_ids: list[str], arguments: dict[str, str] | None = None, **context: Any) -> Any:
    """Airflow entry of a declared :class:`lakehouse.pipeline.Call` step (runs in the worker)."""
    from lakehouse.pipeline import RunContext, call_target

    upstream: dict[str, Any] = {}
    if upstream_ids:
        pulled = context["ti"].xcom_pull(task_ids=upstream_ids)
        upstream = dict(zip(upstream_ids, pulled, strict=False)) if isinstance(pulled, list) else {}
    handed_over = _published_by_triggering_assets(context)
    if handed_over:  # a run started by Asset events: train on the snapshots those events name
        upstream["triggering_asset_events"] = {"published": handed_over}
    run = RunContext(settings=get_settings(), logical_date=dt.date.fromisoformat(context["ds"]),
                     run_id=context["run_id"], params=dict(context.get("params") or {}), upstream=upstream)
    try:
        return xcom_safe(call_target(target)(run, **(arguments or {})))
    except Exception as exc:
        from airflow.sdk.exceptions import AirflowFailException

        from lakehouse.training import ModelRejected

        if isinstance(exc, ModelRejected):  # the same pinned rows lose again: a retry only delays the verdict
            raise AirflowFailException(str(exc)) from exc
        raise


def _published_by_triggering_assets(context: Any) -> dict[str, int]:
    """Table -> snapshot id from the Asset events that triggered this run (the newest per table)."""
    found: dict[str, int] = {}
    events = context.get("triggering_asset_events") or {}
    for asset_events in events.values():
        for event in asset_events:
            extra = getattr(event, "extra", None) or {}
            if extra.get("table") and extra.get("snapshot_id") is not None:
                found[str(extra["table"])] = int(extra["snapshot_id"])
    return found


def xcom_safe(value: Any) -> Any:
    """``value`` as Airflow's XCom JSON accepts it: NaN and infinities become None, other objects text."""
    import math

    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): xcom_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [xcom_safe(v) for v in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    return str(value)


def build_dag(pipeline: Any, settings: LakehouseSettings | None = None) -> Any:
    """The Airflow DAG of a declared :class:`lakehouse.pipeline.Pipeline`: its steps as tasks in the
    declared order, gates with the publish lists derived from the stages, waits as (deferrable) sensors
    (``lakehouse.sensors``), docs from the declaration. Each task depends on the step before it; a
    ``runs_after_rejection`` step also on the gate publishing its data, with the declared trigger rule
    (:meth:`lakehouse.pipeline.Pipeline.upstream` and ``trigger_rule``).

    Only DAG objects are built: no jar, no Spark conf, no file and no environment variable is touched.
    """
    import pendulum
    from airflow.sdk import DAG, CronTriggerTimetable, TriggerRule
    from airflow.sdk import Param as AirflowParam

    from lakehouse.pipeline import ALL_SUCCESS, Call, Gate, Stage, Wait

    settings = settings or get_settings()
    schedule = pipeline.schedule(settings)
    start = pipeline.start_date(settings) if callable(pipeline.start_date) else pipeline.start_date
    plans = pipeline.gate_plans()
    with DAG(
        dag_id=pipeline.dag_id,
        description=pipeline.description,
        doc_md=pipeline.doc.rstrip() + "\n\n" + schedule_doc(schedule, start, pipeline.catchup(settings)),
        schedule=CronTriggerTimetable(schedule.cron, timezone=schedule.timezone) if schedule.cron else None,
        start_date=pendulum.parse(start, tz=schedule.timezone),
        catchup=pipeline.catchup(settings),
        max_active_runs=pipeline.max_active_runs,
        default_args=default_args(settings),
        params={name: AirflowParam(p.default(settings) if callable(p.default) else p.default,
                                   description=p.description,
                                   **({"enum": list(p.enum)} if p.enum else {}))
                for name, p in pipeline.params.items()},
        tags=["lakehouse", pipeline.domain, *pipeline.tags],
    ) as dag:
        tasks: dict[str, Any] = {}
        done: list[str] = []
        for step in pipeline.steps:
            rule = pipeline.trigger_rule(step.task_id)
            when = {} if rule == ALL_SUCCESS else {"trigger_rule": TriggerRule(rule)}
            if isinstance(step, Stage):
                task = spark_job(step.task_id, step.job, args=_option_args(dict(step.options)), doc_md=step.doc,
                                 settings=settings, **when)
            elif isinstance(step, Gate):
                plan = plans[step.task_id]
                doc = step.doc or (f"Quality gate `{step.suite}` on the staged rows of `{plan.validates}`; on success "
                                   f"publishes {', '.join(f'`{t}`' for t in plan.publishes)} together.")
                task = spark_job(step.task_id, "spark_jobs.gate",
                                 args=_option_args({**plan.options(step.suite), **step.options}), doc_md=doc,
                                 settings=settings, publishes=list(plan.publishes))
            elif isinstance(step, Call):
                pod = step.kubernetes(settings) if step.kubernetes is not None else None
                task = _pod_task(step, pod, **when) if pod is not None else _call_task(step, list(done), **when)
            elif isinstance(step, Wait):
                from lakehouse.sensors import wait_sensor

                task = wait_sensor(step, settings)
            for upstream_id in pipeline.upstream(step.task_id):
                tasks[upstream_id] >> task
            tasks[step.task_id] = task
            done.append(step.task_id)
    return dag


def schedule_doc(schedule: Any, start_date: str, catchup: bool) -> str:
    """The DAG doc's schedule line, from the settings in force (so the UI never shows a stale one)."""
    if not schedule.cron:
        return "**Schedule:** manual trigger only (Trigger button, `airflow dags trigger`, or `lakehouse run`)."
    return (f"**Schedule:** `{schedule.cron}` in {schedule.timezone}, from {start_date}; "
            f"catch-up {'on: missed intervals since the start date run' if catchup else 'off'}.")


def _call_task(step: Any, upstream_ids: list[str], **kwargs: Any) -> Any:
    from airflow.providers.standard.operators.python import PythonOperator, ShortCircuitOperator

    operator = ShortCircuitOperator if step.short_circuit else PythonOperator
    placement: dict[str, Any] = {}
    if step.resources is not None:
        resources = step.resources(get_settings())
        placement = {k: v for k, v in (("pool", resources.pool), ("queue", resources.queue),
                                        ("executor_config", dict(resources.executor_config) or None)) if v}
    return operator(task_id=step.task_id, python_callable=run_call, doc_md=step.doc,
                    op_kwargs={"target": step.target, "upstream_ids": upstream_ids,
                               "arguments": dict(step.arguments)}, **placement, **kwargs)


def _pod_task(step: Any, pod: Any, **kwargs: Any) -> Any:
    """A :class:`lakehouse.pipeline.Call` run in a Kubernetes pod whose spec is rendered when the task
    runs (``step.pod_spec``), not when the DAG file is parsed."""
    try:
        from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    except ImportError as exc:  # asking for pods without the provider is a configuration error
        raise ImportError(
            f"{step.task_id} runs on Kubernetes by settings, which needs apache-airflow-providers-cncf-kubernetes: "
            "install it or turn the setting off"
        ) from exc

    class LakehousePodOperator(KubernetesPodOperator):  # type: ignore[misc,valid-type]
        """KubernetesPodOperator whose pod spec comes from the worker's settings at execution."""

        template_fields = (*KubernetesPodOperator.template_fields, "pod_values")

        def __init__(self, *, pod_spec: str, pod_values: dict[str, Any], **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.pod_spec = pod_spec
            self.pod_values = pod_values

        def build_pod_request_obj(self, context: Any = None) -> Any:
            from lakehouse.pipeline import call_target

            values = dict(self.pod_values)
            params = dict((context or {}).get("params") or {})
            spec = call_target(self.pod_spec)(get_settings(), params=params, logical_date=values["logical_date"],
                                              run_id=values["run_id"])
            container = spec["spec"]["containers"][0]
            self.pod_template_dict = spec
            self.cmds = container.get("command") or []
            self.arguments = container.get("args") or []
            return super().build_pod_request_obj(context)

    return LakehousePodOperator(
        task_id=step.task_id, name=step.task_id.replace("_", "-"), doc_md=step.doc, pod_spec=step.pod_spec,
        pod_values={"logical_date": "{{ ds }}", "run_id": "{{ run_id }}"},
        kubernetes_conn_id=pod.conn_id, namespace=pod.namespace, image=pod.image, get_logs=True,
        on_finish_action="delete_pod", **{k: v for k, v in (("pool", pod.pool), ("queue", pod.queue)) if v},
        **kwargs,
    )


def dag_for(dag_id: str) -> Any:
    """The DAG of the declared pipeline ``dag_id`` (what a file in dags/ assigns to a module global)."""
    from lakehouse.pipeline import get_pipeline

    settings = get_settings()
    return build_dag(get_pipeline(settings, dag_id), settings)
