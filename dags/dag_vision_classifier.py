"""Vision CNN classifier Airflow DAG (`vision_cnn_classifier`), generated from its declaration in
spark_jobs/vision/pipeline.py: the steps, gates, publish lists and docs live there."""

from lakehouse.orchestration import dag_for

dag = dag_for("vision_cnn_classifier")
