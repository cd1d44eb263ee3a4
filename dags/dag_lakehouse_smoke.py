"""Smoke Airflow DAG (`lakehouse_smoke`), generated from its declaration in spark_jobs/smoke/pipeline.py."""

from lakehouse.orchestration import dag_for

dag = dag_for("lakehouse_smoke")
