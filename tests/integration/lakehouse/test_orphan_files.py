"""Maintenance removes old orphan files and nothing else: in-flight files, referenced files, tagged training
snapshots and open audit branches survive; compaction and expiry leave every ref reading the same rows."""

from __future__ import annotations

import datetime as dt
import os
import time
from pathlib import Path
from typing import Any

import pytest

from lakehouse import registry, storage
from lakehouse.catalog import load_catalog
from lakehouse.errors import LakehouseError
from lakehouse.maintenance import STEPS, remove_orphan_files, run_maintenance
from lakehouse.publish import audit_branch, stage_for_date
from lakehouse.settings import LakehouseSettings, MaintenanceSettings
from lakehouse.write import current_snapshot_id, write_for_date
from schemas.core import SMOKE_EVENTS
from spark_jobs.smoke.transforms import sensor_events

DAY = dt.date(2023, 11, 20)
AUDIT_DAY = dt.date(2023, 11, 21)
HOUR = 3600.0


def canonical(location: str) -> str:
    """One spelling per file: Spark writes ``file:/path``, PyIceberg ``file:///path``."""
    if location.startswith("file:") and not location.startswith("file://"):
        return "file://" + location[len("file:"):]
    return storage.to_uri(location)


def table_location(settings: LakehouseSettings) -> str:
    return load_catalog(settings).load_table(SMOKE_EVENTS.identifier).location()


def referenced_files(spark: Any, settings: LakehouseSettings) -> set[str]:
    """Every file some snapshot or metadata version of the table references (data, manifests, lists, metadata)."""
    t = settings.table_name(SMOKE_EVENTS.identifier)
    queries = [f"SELECT file_path FROM {t}.all_files", f"SELECT path FROM {t}.all_manifests",
               f"SELECT manifest_list FROM {t}.snapshots", f"SELECT file FROM {t}.metadata_log_entries"]
    return {canonical(r[0]) for q in queries for r in spark.sql(q).collect()}


def exists(settings: LakehouseSettings, uri: str) -> bool:
    import pyarrow.fs as pafs

    fs, path = storage.filesystem(settings, uri)
    return fs.get_file_info(path).type == pafs.FileType.File


def backdate(uri: str, age_hours: float) -> None:
    """Make a stored file ``age_hours`` old: mtime on local disk, LastModified in moto's S3 (S3 itself has no
    way to set it, so an external endpoint skips the test)."""
    when = time.time() - age_hours * HOUR
    if uri.startswith("file://"):
        os.utime(uri[len("file://"):], (when, when))
        return
    if os.environ.get("LAKEHOUSE_TEST_S3_ENDPOINT"):
        pytest.skip("objects on an external S3 endpoint cannot be backdated; the age rule runs on local disk + moto")
    from moto.s3.models import s3_backends

    bucket, key = uri[len("s3://"):].split("/", 1)
    partition, account = s3_backends.bucket_accounts[bucket]
    stored = s3_backends[account][partition].buckets[bucket].keys[key]
    stored.last_modified = dt.datetime.fromtimestamp(when, dt.UTC).replace(tzinfo=None)


def plant(settings: LakehouseSettings, location: str, name: str, data: bytes, age_hours: float) -> str:
    """Write an unreferenced file under the table location, ``age_hours`` old."""
    uri = storage.join(location, name)
    storage.write_bytes(settings, uri, data)
    if age_hours:
        backdate(uri, age_hours)
    return uri


def rows(spark: Any, settings: LakehouseSettings, ref: str | int | None = None) -> list[tuple]:
    t = settings.table_name(SMOKE_EVENTS.identifier)
    version = "" if ref is None else f" VERSION AS OF {ref if isinstance(ref, int) else repr(ref)}"
    return sorted(tuple(r) for r in spark.sql(f"SELECT * FROM {t}{version}").collect())


def data_files(spark: Any, settings: LakehouseSettings, day: dt.date) -> int:
    t = settings.table_name(SMOKE_EVENTS.identifier)
    return spark.sql(f"SELECT count(*) FROM {t}.files WHERE partition.event_date = DATE'{day}'").collect()[0][0]


def busy_table(spark: Any, lake: LakehouseSettings, tmp_path: Path) -> dict[str, Any]:
    """raw.smoke_events with a tagged training snapshot, small appended files, and an open audit branch."""
    written = write_for_date(spark, lake, SMOKE_EVENTS, sensor_events(spark, DAY, "orphans-1"), logical_date=DAY,
                             run_id="orphans-1")
    artifact = tmp_path / "m.bin"
    artifact.write_bytes(b"m")
    registry.register_model(lake, model_name="orphan_test_model", model_version="v1", logical_date=DAY,
                            framework="none", artifact_path=artifact, metrics={}, params={},
                            training_snapshots={SMOKE_EVENTS.identifier: written.snapshot_id})
    # Small files: four appends' worth of one-row files in the same partition (compaction input).
    extra = sensor_events(spark, DAY, "orphans-small", rows_per_sensor=2).repartition(4)
    extra.writeTo(lake.table_name(SMOKE_EVENTS.identifier)).option("distribution-mode", "none").append()
    staged = stage_for_date(spark, lake, SMOKE_EVENTS, sensor_events(spark, AUDIT_DAY, "orphans-audit"),
                            logical_date=AUDIT_DAY, run_id="orphans-audit")
    return {"tagged": written.snapshot_id, "tag": registry.training_tag("orphan_test_model", "v1"),
            "audit": audit_branch("orphans-audit"), "staged": staged.snapshot_id}


def test_old_orphans_go_in_flight_and_referenced_files_stay(spark, lake, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Planted orphans 96 h old go; 0-71 h old ones (a write in flight) stay; so does every referenced file,
    the tagged training snapshot and the open audit branch, and every ref reads the same rows."""
    table = busy_table(spark, lake, tmp_path)
    settings = lake.model_copy(update={"maintenance": MaintenanceSettings(
        snapshot_retention_days=1e-6, retain_last=1, min_input_files=2)})
    location = table_location(settings)
    tag, audit = table["tag"], table["audit"]
    before = {"main": rows(spark, settings), "tag": rows(spark, settings, tag), "audit": rows(spark, settings, audit)}
    referenced_before = referenced_files(spark, settings)
    pinned_files = {canonical(p) for sid in (table["tagged"], table["staged"])
                    for p in _snapshot_files(settings, sid)}
    assert pinned_files, "the tag and the audit branch reference data files"
    small_files = data_files(spark, settings, DAY)
    assert small_files >= 3

    parquet = next(iter(sorted(f for f in pinned_files if f.endswith(".parquet"))))
    payload = storage.read_bytes(settings, parquet)
    old = [plant(settings, location, f"data/event_date={DAY}/00009-1-killed-{i}.parquet", payload, 96)
           for i in range(3)]
    old += [plant(settings, location, "metadata/killed-m0.avro", b"avro", 96),
            plant(settings, location, "metadata/snap-4242-1-killed.avro", b"avro", 96),
            plant(settings, location, "metadata/00999-killed.metadata.json", b"{}", 96)]
    in_flight = [plant(settings, location, f"data/event_date={DAY}/00009-2-running.parquet", payload, 0),
                 plant(settings, location, "metadata/running-m0.avro", b"avro", 0),
                 plant(settings, location, "metadata/00998-running.metadata.json", b"{}", 0.5),
                 plant(settings, location, f"data/event_date={DAY}/00009-3-long-running.parquet", payload, 71)]

    # Iceberg's own view (dry run, default safe age): exactly the old planted files are orphans. A referenced
    # file listed here would mean the engines spell locations differently (s3 vs s3a, file:/ vs file:///).
    candidates = {canonical(f) for f in remove_orphan_files(spark, settings, SMOKE_EVENTS.identifier, dry_run=True)}
    assert candidates == {canonical(f) for f in old}

    result = run_maintenance(spark, settings, [SMOKE_EVENTS.identifier], STEPS)["tables"][SMOKE_EVENTS.identifier]

    assert result["orphan_files_removed"] == len(old)
    assert [f for f in old if exists(settings, f)] == []
    assert [f for f in in_flight if not exists(settings, f)] == []
    assert {tag, audit} <= set(result["protected_refs"])
    referenced_after = referenced_files(spark, settings)
    assert [f for f in referenced_after if not exists(settings, f)] == []
    assert [f for f in pinned_files if not exists(settings, f)] == []
    assert result["compacted"]["rewritten_data_files_count"] >= small_files
    assert data_files(spark, settings, DAY) == 1
    assert result["expired"]["deleted_manifest_lists_count"] >= 1  # history went; refs kept theirs
    assert [f for f in referenced_before - referenced_after if exists(settings, f)] == [], "expiry cleans up"
    after = {"main": rows(spark, settings), "tag": rows(spark, settings, tag), "audit": rows(spark, settings, audit)}
    assert after == before
    refs = {r[0]: r[1] for r in spark.sql(
        f"SELECT name, snapshot_id FROM {settings.table_name(SMOKE_EVENTS.identifier)}.refs").collect()}
    assert refs[tag] == table["tagged"] and refs[audit] == table["staged"]
    assert current_snapshot_id(spark, settings.table_name(SMOKE_EVENTS.identifier)) != table["tagged"]


def _snapshot_files(settings: LakehouseSettings, snapshot_id: int) -> list[str]:
    table = load_catalog(settings).load_table(SMOKE_EVENTS.identifier)
    return [task.file.file_path for task in table.scan(snapshot_id=snapshot_id).plan_files()]


def test_orphan_removal_refuses_a_cutoff_younger_than_the_floor(spark, local_settings) -> None:  # type: ignore[no-untyped-def]
    too_recent = dt.datetime.now(dt.UTC) - dt.timedelta(hours=23)
    with pytest.raises(LakehouseError, match=r"refusing to delete orphan files .* younger than 24 h"):
        remove_orphan_files(spark, local_settings, SMOKE_EVENTS.identifier, older_than=too_recent)
