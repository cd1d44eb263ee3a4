"""The vision pipeline against inputs that lie: a published silver row edited to point outside the
warehouse, and deliveries whose bytes must be kept exactly as delivered. Both profiles."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from lakehouse import storage
from lakehouse.jobs import JobContext, run_job
from lakehouse.settings import LakehouseSettings
from lakehouse.write import current_snapshot_id
from schemas.vision import GOLD_IMAGE_TRAINING_SET, RAW_IMAGE_MANIFEST, SILVER_IMAGE_MANIFEST
from spark_jobs.vision import generator, gold, io
from tests.integration.vision.test_pipeline import run_pipeline

EDITED_DAY = dt.date(2022, 3, 1)


def _spy_opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every storage URI anything resolves to a filesystem while the spy is on."""
    opened: list[str] = []
    real = storage.filesystem

    def spy(settings: LakehouseSettings, uri: str) -> Any:
        opened.append(storage.to_uri(uri))
        return real(settings, uri)

    monkeypatch.setattr(storage, "filesystem", spy)
    return opened


def _set_uri(spark: Any, settings: LakehouseSettings, identifier: str, where: str, uri: str) -> None:
    spark.sql(f"UPDATE {settings.table_name(identifier)} SET source_uri = '{uri}' "
              f"WHERE ingest_date = DATE'{EDITED_DAY}' AND dataset = 'mnist' AND {where}")


def test_gold_refuses_a_published_silver_row_edited_to_point_outside_the_warehouse(
        spark, lake, tmp_path, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """Silver confined every URI when it validated them; an UPDATE afterwards must not make gold read
    /etc/passwd, a valid copy of the file outside the warehouse, or a '..' path. Gold fails with one
    line naming the row's URI and why; gold's main is unchanged and nothing is staged."""
    files = generator.generate_files("mnist", 100, seed=21)
    generator.write_files(lake, io.landing_dir(lake, "mnist"), files)
    run_pipeline(spark, lake, EDITED_DAY, "edited_run")
    gold_table = lake.table_name(GOLD_IMAGE_TRAINING_SET.identifier)
    published = current_snapshot_id(spark, gold_table)
    raw_zone = io.raw_zone_dir(lake, "mnist", EDITED_DAY)
    original = f"{raw_zone}/train-images-idx3-ubyte.gz"
    warehouse = storage.to_uri(lake.warehouse).rstrip("/")
    # A byte-identical copy of the delivered file outside the warehouse: readable and decodable, so
    # only confinement can stop it.
    outside_dir = (storage.join(storage.to_uri(lake.landing), "outside") if lake.uses_s3
                   else storage.to_uri(str(tmp_path / "outside")))
    outside = f"{outside_dir}/train-images-idx3-ubyte.gz"
    generator.write_files(lake, outside_dir, {"train-images-idx3-ubyte.gz": files["train-images-idx3-ubyte.gz"]})
    edits = {
        "file:///etc/passwd": "scheme" if lake.uses_s3 else "outside the warehouse",
        outside: "outside the warehouse",
        f"{warehouse}/raw_files/../../outside/train-images-idx3-ubyte.gz": "'..'",
    }
    for edited, why in edits.items():
        _set_uri(spark, lake, SILVER_IMAGE_MANIFEST.identifier, "record_index = 0 AND source_uri LIKE '%train-images%'",
                 edited)
        # the raw manifest edited the same way, so gold finds a format for the URI and would read it
        _set_uri(spark, lake, RAW_IMAGE_MANIFEST.identifier, f"source_uri = '{original}' AND record_index = 0", edited)
        opened = _spy_opened(monkeypatch)
        with pytest.raises(SystemExit) as exit_info:
            run_job(gold.main, app_name="vision-gold", settings=lake, spark=spark,
                    argv=["--logical-date", EDITED_DAY.isoformat(), "--run-id", "edited_gold",
                          "--option", "dataset=mnist"])
        monkeypatch.undo()
        assert exit_info.value.code == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        assert edited in err[0] and why in err[0], err[0]
        outside_reads = [u for u in opened if not u.startswith(warehouse + "/") or "/../" in u]
        assert outside_reads == [], f"gold opened {outside_reads}"
        assert current_snapshot_id(spark, gold_table) == published, "gold main unchanged"
        _set_uri(spark, lake, SILVER_IMAGE_MANIFEST.identifier, f"source_uri = '{edited}'", original)
        _set_uri(spark, lake, RAW_IMAGE_MANIFEST.identifier, f"source_uri = '{edited}'", original)
    # restored rows read again: the refusal was about the URIs, nothing else
    summary = gold.main(JobContext(lake, spark, EDITED_DAY, "edited_gold_ok", {"dataset": "mnist"}))
    assert summary["images"] > 0
    assert current_snapshot_id(spark, gold_table) == published, "gold main changes only through the gate"

