"""Pipelines of the lakehouse itself (not of a domain): table maintenance."""

from __future__ import annotations

from lakehouse.pipeline import Call, Pipeline, Schedule, Stage

# The tables discover_tables found, rendered when each Spark task runs.
DISCOVERED = "{{ ti.xcom_pull(task_ids='discover_tables') | join(',') }}"

MAINTENANCE = Pipeline(
    dag_id="lakehouse_maintenance",
    domain="maintenance",
    description="Daily Iceberg maintenance: compaction, snapshot expiry, manifest rewrite, orphan removal",
    doc="""Lakehouse maintenance DAG: keep every Iceberg table small, fast and free of leaked files.

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

Inputs: every table in the catalog. Outputs: the same tables, compacted, with old snapshots, manifests
and orphan files removed (their rows unchanged).
Rerun: clear the run; every step is idempotent. The same steps run by hand:
`lakehouse maintain [TABLE ...] [--steps ...]`.
""",
    schedule=lambda s: Schedule(s.maintenance.schedule_cron),
    start_date="2024-01-01",
    steps=(
        Call("discover_tables", "lakehouse.maintenance:discover_step",
             doc="List every table in the catalog now (PyIceberg, no Spark): what this run maintains."),
        Stage("compact_expire_manifests", "spark_jobs.maintenance",
              options={"steps": "compact,expire,manifests", "tables": DISCOVERED},
              doc="Per table: bin-pack small data files towards the target size (`rewrite_data_files`), expire "
                  "snapshots past the retention (tagged and branched snapshots are kept), rewrite manifests."),
        Stage("remove_orphan_files", "spark_jobs.maintenance", options={"steps": "orphans", "tables": DISCOVERED},
              doc="Per table: delete files no snapshot references once they are older than the orphan safe age; "
                  "younger ones (a write in flight) are kept."),
    ),
    tags=("maintenance",),
)

PIPELINES = (MAINTENANCE,)
