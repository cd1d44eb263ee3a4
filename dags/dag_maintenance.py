"""Lakehouse maintenance Airflow DAG (`lakehouse_maintenance`), generated from its declaration in
spark_jobs/pipeline.py: the steps and docs live there."""

from lakehouse.orchestration import dag_for

dag = dag_for("lakehouse_maintenance")
