"""Model registry: artifacts on the warehouse storage, pinned training snapshots survive new writes."""

from __future__ import annotations

import datetime as dt

from lakehouse import registry
from lakehouse.write import write_for_date
from schemas.core import SMOKE_EVENTS
from spark_jobs.smoke.transforms import sensor_events


def test_register_pins_and_reproduces_the_training_snapshot(spark, lake, tmp_path) -> None:
    day = dt.date(2023, 6, 1)
    first = write_for_date(spark, lake, SMOKE_EVENTS, sensor_events(spark, day, "a"), logical_date=day, run_id="a")
    artifact = tmp_path / "model.txt"
    artifact.write_text("weights")
    uri = registry.register_model(
        lake, model_name="smoke_model", model_version="v1", logical_date=day, framework="none",
        artifact_path=artifact, metrics={"acc": 0.5}, params={"depth": 3},
        training_snapshots={SMOKE_EVENTS.identifier: first.snapshot_id},
    )
    # The table moves on; the pinned snapshot still reads the training rows.
    write_for_date(spark, lake, SMOKE_EVENTS, sensor_events(spark, day, "b").limit(3), logical_date=day, run_id="b")
    model = registry.latest_model(lake, "smoke_model")
    assert model is not None and model["artifact_uri"] == uri and model["metrics"] == {"acc": 0.5}
    pinned = model["training_snapshots"][SMOKE_EVENTS.identifier]
    rows = registry.read_table_snapshot(lake, SMOKE_EVENTS.identifier, snapshot_id=pinned).to_pylist()
    assert sum(1 for r in rows if r["event_date"] == day) == 100
    tags = spark.sql(f"SELECT name, snapshot_id FROM {lake.table_name(SMOKE_EVENTS.identifier)}.refs "
                     "WHERE type = 'TAG'").collect()
    assert (registry.training_tag("smoke_model", "v1"), first.snapshot_id) in [tuple(t) for t in tags]
    copy = registry.download_artifact(lake, uri, tmp_path / "back" / "model.txt")
    assert copy.read_text() == "weights"

    # Re-registering the same version replaces its record instead of duplicating it.
    registry.register_model(
        lake, model_name="smoke_model", model_version="v1", logical_date=day, framework="none",
        artifact_path=artifact, metrics={"acc": 0.6}, params={}, training_snapshots={},
    )
    versions = registry.list_models(lake, "smoke_model")
    assert len(versions) == 1 and versions[0]["metrics"] == {"acc": 0.6}
