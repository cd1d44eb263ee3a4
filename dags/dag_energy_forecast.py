"""Household energy Airflow DAGs (`energy_demand_forecast`, `energy_realtime_forecast`), generated from their
declarations in spark_jobs/energy/pipeline.py: the steps, gates, publish lists and docs live there."""

from lakehouse.orchestration import dag_for

monthly = dag_for("energy_demand_forecast")
realtime = dag_for("energy_realtime_forecast")
