"""The `cluster` profile's PostgreSQL catalog: PyIceberg creates, Spark writes, PyIceberg reads."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from lakehouse.catalog import create_tables, load_catalog
from lakehouse.settings import LakehouseSettings
from lakehouse.spark import catalog_conf
from lakehouse.write import write_for_date
from schemas.core import SMOKE_EVENTS
from spark_jobs.smoke.transforms import sensor_events
from tests.support.postgres import postgres_server


@pytest.fixture(scope="module")
def pg_settings(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module) -> Iterator[LakehouseSettings]:
    with postgres_server() as address:
        monkeypatch_module.setenv("LAKEHOUSE_CATALOG__PASSWORD", "test-password")
        home = tmp_path_factory.mktemp("pg-home")
        yield LakehouseSettings(
            profile="cluster", home=home, warehouse=f"{home}/warehouse",
            catalog={"name": "lakehouse_pg", "uri": f"postgresql+psycopg2://{address}/lakehouse",
                     "user": "lakehouse"},
            spark={"master": "local[2]"},
        )


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_postgres_catalog_is_shared_by_spark_and_pyiceberg(spark, pg_settings) -> None:
    assert ("raw.smoke_events", True) in create_tables(pg_settings)
    for key, value in catalog_conf(pg_settings).items():
        spark.conf.set(key, value)
    spark.conf.set(f"spark.sql.catalog.{pg_settings.catalog.name}.jdbc.password",
                   pg_settings.catalog.password.get_secret_value())
    day = dt.date(2023, 11, 1)
    result = write_for_date(spark, pg_settings, SMOKE_EVENTS, sensor_events(spark, day, "pg"),
                            logical_date=day, run_id="pg")
    table = load_catalog(pg_settings).load_table(SMOKE_EVENTS.identifier)
    assert table.current_snapshot().snapshot_id == result.snapshot_id
    assert len(table.scan().to_arrow()) == 100
    assert create_tables(pg_settings)[0][1] is False
