"""Maintenance never removes the snapshots a model was trained on."""

from __future__ import annotations

import datetime as dt

from lakehouse import registry
from lakehouse.maintenance import maintain_table
from lakehouse.write import write_for_date
from schemas.core import SMOKE_EVENTS
from spark_jobs.smoke.transforms import sensor_events


def test_expiry_keeps_tagged_training_snapshots_readable(spark, lake, tmp_path) -> None:
    day = dt.date(2023, 10, 1)
    pinned = write_for_date(spark, lake, SMOKE_EVENTS, sensor_events(spark, day, "p"), logical_date=day, run_id="p")
    unpinned = write_for_date(spark, lake, SMOKE_EVENTS, sensor_events(spark, day, "u").limit(50),
                              logical_date=day, run_id="u")
    artifact = tmp_path / "m.bin"
    artifact.write_bytes(b"m")
    registry.register_model(lake, model_name="maint_model", model_version="v1", logical_date=day, framework="none",
                            artifact_path=artifact, metrics={}, params={},
                            training_snapshots={SMOKE_EVENTS.identifier: pinned.snapshot_id})
    write_for_date(spark, lake, SMOKE_EVENTS, sensor_events(spark, day, "c").limit(10), logical_date=day, run_id="c")

    future = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    result = maintain_table(spark, lake, SMOKE_EVENTS.identifier, older_than=future, retain_last=1)
    assert result["expired"]["deleted_manifest_lists_count"] >= 1

    table = lake.table_name(SMOKE_EVENTS.identifier)
    alive = {r[0] for r in spark.sql(f"SELECT snapshot_id FROM {table}.snapshots").collect()}
    assert pinned.snapshot_id in alive and unpinned.snapshot_id not in alive
    rows = registry.read_table_snapshot(lake, SMOKE_EVENTS.identifier, snapshot_id=pinned.snapshot_id).to_pylist()
    assert sum(1 for r in rows if r["event_date"] == day and r["run_id"] == "p") == 100
