"""Finance tick pipeline Airflow DAG (`finance_tick_processor`), generated from its declaration in
spark_jobs/finance/pipeline.py: the steps, gates, publish lists and docs live there."""

from lakehouse.orchestration import dag_for

dag = dag_for("finance_tick_processor")
