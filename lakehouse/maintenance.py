"""Table maintenance: compact small files, expire old snapshots, rewrite manifests, remove orphan files.

Contract (Iceberg's Spark procedures underneath, one table at a time):

- **Refs survive.** Snapshots referenced by a branch or tag are never expired, however aggressive the
  retention: the model registry's ``train_*`` tags and open ``audit_*`` branches stay readable. After
  maintenance every ref of the table must still resolve to a live snapshot, or the table's maintenance fails.
- **In-flight writes survive.** A write that is still running (or was killed) has data and metadata files
  under the table location that no snapshot references. Such orphans are deleted only when older than the
  safe age (``settings.maintenance.orphan_safe_age_hours``, default 72 h); nothing younger than
  ``ORPHAN_AGE_FLOOR_HOURS`` (1 h) is ever deleted, whatever the caller asks for.
- **Rows never change.** Compaction (``rewrite_data_files``, bin-pack towards the target file size) and the
  manifest rewrite commit snapshots with exactly the rows they replace; expiry only removes history.
- Retention and ages are wall-clock (file modification times are), not the run's logical date.

``run_maintenance`` runs the steps over tables discovered from the catalog when it is called (or the given
ones), keeps going when one table fails, and raises one readable line naming the failed tables at the end.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lakehouse.errors import LakehouseError, explain
from lakehouse.settings import ORPHAN_AGE_FLOOR_HOURS, LakehouseSettings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger("lakehouse.maintenance")

STEPS = ("compact", "expire", "manifests", "orphans")  # the order they run in
ORPHAN_AGE_FLOOR = dt.timedelta(hours=ORPHAN_AGE_FLOOR_HOURS)


def _utc_literal(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _call(spark: SparkSession, settings: LakehouseSettings, procedure: str, arguments: str) -> list[dict[str, Any]]:
    rows = spark.sql(f"CALL {settings.catalog.name}.system.{procedure}({arguments})").collect()
    return [r.asDict() for r in rows]


def snapshot_count(spark: SparkSession, settings: LakehouseSettings, identifier: str) -> int:
    return int(spark.sql(f"SELECT count(*) FROM {settings.table_name(identifier)}.snapshots").collect()[0][0])


def protected_refs(spark: SparkSession, settings: LakehouseSettings, identifier: str) -> dict[str, int]:
    """Tags and non-main branches (``train_*``, ``audit_*``, ...) -> the snapshot each pins."""
    rows = spark.sql(f"SELECT name, snapshot_id FROM {settings.table_name(identifier)}.refs "
                     "WHERE name <> 'main'").collect()
    return {r["name"]: int(r["snapshot_id"]) for r in rows}


def check_refs_resolve(spark: SparkSession, settings: LakehouseSettings, identifier: str) -> None:
    """Fail when any branch or tag of the table points at a snapshot that no longer exists."""
    table = settings.table_name(identifier)
    dangling = spark.sql(f"SELECT r.name, r.snapshot_id FROM {table}.refs r LEFT ANTI JOIN {table}.snapshots s "
                         "ON r.snapshot_id = s.snapshot_id").collect()
    if dangling:
        names = ", ".join(f"{r['name']}@{r['snapshot_id']}" for r in dangling)
        raise LakehouseError(f"{identifier}: refs point at snapshots that no longer exist after maintenance: {names}")


def compact_data_files(spark: SparkSession, settings: LakehouseSettings, identifier: str, *,
                       target_file_size_bytes: int | None = None, min_input_files: int | None = None
                       ) -> dict[str, Any]:
    """Bin-pack small data files of ``main`` into files near the target size (rows unchanged)."""
    m = settings.maintenance
    target = int(target_file_size_bytes or m.target_file_size_mb * 1024 * 1024)
    minimum = int(min_input_files or m.min_input_files)
    options = f"map('target-file-size-bytes', '{target}', 'min-input-files', '{minimum}')"
    return _call(spark, settings, "rewrite_data_files", f"table => '{identifier}', options => {options}")[0]


def expire_snapshots(spark: SparkSession, settings: LakehouseSettings, identifier: str, *,
                     older_than: dt.datetime, retain_last: int = 1) -> dict[str, Any]:
    """Expire snapshots older than ``older_than`` except the ``retain_last`` newest of main and every
    snapshot a branch or tag references; deletes the files only they referenced."""
    return _call(spark, settings, "expire_snapshots",
                 f"table => '{identifier}', older_than => TIMESTAMP '{_utc_literal(older_than)}', "
                 f"retain_last => {int(retain_last)}")[0]


def rewrite_manifests(spark: SparkSession, settings: LakehouseSettings, identifier: str) -> dict[str, Any]:
    """Regroup manifests by partition so planning reads few of them."""
    return _call(spark, settings, "rewrite_manifests", f"'{identifier}'")[0]


def orphan_cutoff(settings: LakehouseSettings, now: dt.datetime | None = None) -> dt.datetime:
    """Files modified before this instant may be deleted as orphans (now minus the safe age)."""
    now = now or dt.datetime.now(dt.UTC)
    return now - dt.timedelta(hours=settings.maintenance.orphan_safe_age_hours)


def remove_orphan_files(spark: SparkSession, settings: LakehouseSettings, identifier: str, *,
                        older_than: dt.datetime | None = None, dry_run: bool = False) -> list[str]:
    """Delete files under the table location that no snapshot, manifest or metadata file references and
    that were last modified before ``older_than`` (default: ``orphan_cutoff``); return their locations.

    Refuses a cutoff less than ``ORPHAN_AGE_FLOOR`` ago: younger files may belong to a write in flight.
    """
    now = dt.datetime.now(dt.UTC)
    cutoff = older_than or orphan_cutoff(settings, now)
    if cutoff > now - ORPHAN_AGE_FLOOR:
        raise LakehouseError(
            f"refusing to delete orphan files of {identifier} younger than {ORPHAN_AGE_FLOOR_HOURS:g} h "
            f"(cutoff {cutoff.isoformat(timespec='seconds')}): a running write may still commit them"
        )
    rows = _call(spark, settings, "remove_orphan_files",
                 f"table => '{identifier}', older_than => TIMESTAMP '{_utc_literal(cutoff)}', "
                 f"dry_run => {str(dry_run).lower()}")
    return [r["orphan_file_location"] for r in rows]


def maintain_table(
    spark: SparkSession,
    settings: LakehouseSettings,
    identifier: str,
    *,
    older_than: dt.datetime,
    retain_last: int = 1,
    remove_orphans: bool = False,
    compact: bool = False,
    orphan_older_than: dt.datetime | None = None,
) -> dict[str, Any]:
    """Run the maintenance procedures on one table; returns what each removed or rewrote.

    ``older_than``/``retain_last`` drive snapshot expiry; orphans use their own cutoff (default: the safe
    age from settings, see ``remove_orphan_files``), never the snapshot cutoff.
    """
    steps = [step for step, wanted in (("compact", compact), ("expire", True), ("manifests", True),
                                       ("orphans", remove_orphans)) if wanted]
    orphans_before = orphan_older_than or orphan_cutoff(settings)
    return {"table": identifier, **_maintain_steps(spark, settings, identifier, steps, older_than, retain_last,
                                                   orphans_before)}


def discover_tables(settings: LakehouseSettings) -> list[str]:
    """Every table in the catalog right now (``namespace.table``)."""
    from lakehouse.catalog import load_catalog

    catalog = load_catalog(settings)
    return [".".join(identifier) for namespace in sorted(catalog.list_namespaces())
            for identifier in sorted(catalog.list_tables(namespace))]


def run_maintenance(spark: SparkSession, settings: LakehouseSettings, tables: Sequence[str] | None = None,
                    steps: Sequence[str] = STEPS, now: dt.datetime | None = None) -> dict[str, Any]:
    """The chosen ``steps`` on every table (default: discovered now) with the retention from settings.

    One table's failure does not stop the others; the run then fails with one line naming them.
    """
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        raise LakehouseError(f"unknown maintenance step(s) {', '.join(unknown)}: use {', '.join(STEPS)}")
    m = settings.maintenance
    now = now or dt.datetime.now(dt.UTC)
    snapshot_cutoff = now - dt.timedelta(days=m.snapshot_retention_days)
    identifiers = list(tables) if tables else discover_tables(settings)
    results: dict[str, Any] = {}
    failures: dict[str, str] = {}
    for identifier in identifiers:
        try:
            results[identifier] = _maintain_steps(spark, settings, identifier, steps, snapshot_cutoff,
                                                  m.retain_last, orphan_cutoff(settings, now))
        except Exception as exc:  # keep maintaining the other tables; reported below
            failures[identifier] = explain(exc)
            log.error("maintenance of %s failed: %s", identifier, failures[identifier])
        else:
            log.info("maintained %s: %s", identifier, results[identifier])
    if failures:
        detail = "; ".join(f"{t}: {reason}" for t, reason in failures.items())
        raise LakehouseError(f"maintenance failed for {len(failures)} of {len(identifiers)} tables: {detail}")
    return {"tables": results, "steps": list(steps), "snapshot_cutoff": snapshot_cutoff.isoformat(),
            "orphan_cutoff": orphan_cutoff(settings, now).isoformat()}


def _maintain_steps(spark: SparkSession, settings: LakehouseSettings, identifier: str, steps: Sequence[str],
                    snapshot_cutoff: dt.datetime, retain_last: int, orphans_before: dt.datetime) -> dict[str, Any]:
    result: dict[str, Any] = {"protected_refs": sorted(protected_refs(spark, settings, identifier))}
    has_snapshots = snapshot_count(spark, settings, identifier) > 0
    if "compact" in steps and has_snapshots:
        result["compacted"] = compact_data_files(spark, settings, identifier)
    if "expire" in steps and has_snapshots:
        result["expired"] = expire_snapshots(spark, settings, identifier, older_than=snapshot_cutoff,
                                             retain_last=retain_last)
    if "manifests" in steps and has_snapshots:
        result["manifests"] = rewrite_manifests(spark, settings, identifier)
    if "orphans" in steps:  # also without snapshots: a killed first write leaves files behind too
        removed = remove_orphan_files(spark, settings, identifier, older_than=orphans_before)
        result["orphan_files_removed"] = len(removed)
        if removed:
            log.info("%s: removed %d orphan files, e.g. %s", identifier, len(removed), removed[0])
    check_refs_resolve(spark, settings, identifier)
    return result


def discover_step(run: Any) -> list[str]:
    """The maintenance pipeline's first step (lakehouse.pipeline.Call): the tables this run maintains."""
    return discover_tables(run.settings)
