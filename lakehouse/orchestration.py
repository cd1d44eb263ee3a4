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
    """File of a job module, e.g. spark_jobs.finance.silver -> <root>/spark_jobs/finance/silver.py."""
    path = PROJECT_ROOT.joinpath(*module.split(".")).with_suffix(".py")
    if not path.is_file():
        raise FileNotFoundError(f"job module {module} not found at {path}")
    return path


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
    from airflow.exceptions import AirflowException, AirflowFailException
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    from lakehouse.jobs import DATA_QUALITY_EXIT

    class LakehouseSparkSubmitOperator(SparkSubmitOperator):  # type: ignore[misc,valid-type]
        """``spark-submit`` of a lakehouse job whose conf, jars and environment are derived from the
        worker's settings when the task runs, not when the DAG file is parsed: parsing verifies no jar,
        sets no environment variable, and no secret ever reaches a rendered field or the serialized DAG.
        """

        def execute(self, context: Any) -> None:
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

    LakehouseSparkSubmitOperator.__qualname__ = "LakehouseSparkSubmitOperator"
    return LakehouseSparkSubmitOperator


def run_job_in_process(module: str, argv: list[str]) -> dict[str, Any]:
    """Run a job module's ``main`` in this process (Airflow ``in_process`` mode)."""
    import importlib

    from airflow.exceptions import AirflowFailException

    from lakehouse.jobs import DATA_QUALITY_EXIT, run_job

    job = importlib.import_module(module)
    try:
        return run_job(job.main, app_name=module.rsplit(".", 1)[-1], argv=argv)
    except SystemExit as exc:
        if exc.code == DATA_QUALITY_EXIT:  # the same rows would fail again: no retry
            raise AirflowFailException(f"{module}: quality gate failed (see the error line above)") from None
        raise


def spark_job(task_id: str, module: str, *, args: list[str] | None = None, doc_md: str | None = None,
              settings: LakehouseSettings | None = None, **kwargs: Any) -> Any:
    """A task running the Spark job ``module`` for the run's logical date and run id.

    ``settings.airflow.spark_task_mode`` picks a SparkSubmitOperator (default) or an in-process
    PythonOperator; both pass the same ``--logical-date/--run-id`` arguments to the job.
    """
    settings = settings or get_settings()
    job_path(module)  # fail at parse time if the job file is missing
    if settings.airflow.spark_task_mode == "in_process":
        from airflow.providers.standard.operators.python import PythonOperator

        return PythonOperator(
            task_id=task_id,
            python_callable=run_job_in_process,
            op_kwargs={"module": module, "argv": [*JOB_ARGS, *(args or [])]},
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
        **kwargs,
    )


def gate(task_id: str, *, table: str, suite: str, publish: list[str] | None = None,
         doc_md: str | None = None, settings: LakehouseSettings | None = None, **kwargs: Any) -> Any:
    """A quality-gate task: validates the run's staged rows of ``table`` and publishes on success."""
    options = ["--option", f"table={table}", "--option", f"suite={suite}"]
    options += ["--option", f"publish={','.join(publish or [table])}"]
    doc = doc_md or f"Quality gate `{suite}` on the staged rows of `{table}`; publishes {publish or [table]}."
    return spark_job(task_id, "spark_jobs.gate", args=options, doc_md=doc, settings=settings, **kwargs)
