"""Lakehouse maintenance DAG: keep every Iceberg table small, fast and free of leaked files.

`lakehouse_maintenance` runs daily (`LAKEHOUSE_MAINTENANCE__SCHEDULE_CRON`, default 03:30 UTC):
discover tables -> compact small files, expire old snapshots, rewrite manifests -> remove orphan files.

- Tables are discovered from the catalog when the run starts (not when this file is parsed), so new
  tables are maintained without a redeploy.
- Snapshot expiry keeps `snapshot_retention_days` (default 7) and at least `retain_last` (5) snapshots of
  main; snapshots pinned by a tag (`train_*`, the model registry's training snapshots) or a branch
  (`audit_*`, runs waiting for their gate) are never expired.
- Orphan files (left by killed or failed writes: data files plus manifests/metadata that no snapshot
  references) are deleted only once older than `orphan_safe_age_hours` (default 72, never below 24), so a
  write still in flight never loses its files.
- Compaction bin-packs partitions with at least `min_input_files` (5) files towards `target_file_size_mb`
  (128). All knobs: `LAKEHOUSE_MAINTENANCE__<NAME>` (lakehouse.settings.MaintenanceSettings).
- One failing table does not stop the others; the task then fails naming it (retried per default_args).

Wiring only: the work lives in lakehouse/maintenance.py, run by spark_jobs/maintenance.py.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import DAG, task

from lakehouse.orchestration import default_args, spark_job
from lakehouse.settings import get_settings

settings = get_settings()
# The discovered tables, passed to both Spark tasks (rendered when each task runs).
TABLES = "tables={{ ti.xcom_pull(task_ids='discover_tables') | join(',') }}"


@task(task_id="discover_tables")
def discover_tables() -> list[str]:
    """List every table in the catalog now (PyIceberg, no Spark): what this run maintains."""
    from lakehouse.maintenance import discover_tables as list_tables

    return list_tables(get_settings())


with DAG(
    dag_id="lakehouse_maintenance",
    description="Daily Iceberg maintenance: compaction, snapshot expiry, manifest rewrite, orphan removal",
    doc_md=__doc__,
    schedule=settings.maintenance.schedule_cron,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(settings),
    tags=["lakehouse", "maintenance"],
) as dag:
    tables = discover_tables()
    compact_expire = spark_job(
        "compact_expire_manifests", "spark_jobs.maintenance",
        args=["--option", "steps=compact,expire,manifests", "--option", TABLES], settings=settings,
        doc_md="Per table: bin-pack small data files towards the target size (`rewrite_data_files`), expire "
               "snapshots past the retention (tagged and branched snapshots are kept), rewrite manifests.",
    )
    remove_orphans = spark_job(
        "remove_orphan_files", "spark_jobs.maintenance",
        args=["--option", "steps=orphans", "--option", TABLES], settings=settings,
        doc_md="Per table: delete files no snapshot references once they are older than the orphan safe age; "
               "younger ones (a write in flight) are kept.",
    )
    tables >> compact_expire >> remove_orphans
