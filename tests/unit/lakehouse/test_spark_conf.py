"""Spark conf derives from the settings; credentials never go into it."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.settings import LakehouseSettings
from lakehouse.spark import catalog_conf, s3a_conf, session_conf, spark_conf, spark_env


def test_catalog_and_session_conf_follow_settings(tmp_path: Path) -> None:
    settings = LakehouseSettings(home=tmp_path, spark={"master": "local[1]", "conf": {"spark.x": "y"}})
    conf = spark_conf(settings)
    assert conf["spark.master"] == "local[1]"
    assert conf["spark.sql.catalog.lakehouse.uri"] == f"jdbc:sqlite:{tmp_path}/catalog.db"
    assert conf["spark.sql.catalog.lakehouse.warehouse"] == f"file://{tmp_path}/warehouse"
    assert conf["spark.sql.catalog.lakehouse.jdbc.schema-version"] == "V1"
    assert conf["spark.driver.bindAddress"] == "127.0.0.1"
    assert conf["spark.x"] == "y"
    assert "iceberg-spark-runtime" in conf["spark.jars"]
    assert not any(k.startswith("spark.hadoop.fs.s3a") for k in conf)


def test_settings_conf_overrides_the_session_defaults(tmp_path: Path) -> None:
    # Caches keep Spark's compressed batches by default (uncompressed ones are only built where they pay).
    assert "spark.sql.inMemoryColumnarStorage.compressed" not in spark_conf(LakehouseSettings(home=tmp_path))
    settings = LakehouseSettings(home=tmp_path, spark={"conf": {
        "spark.sql.inMemoryColumnarStorage.compressed": "false", "spark.sql.shuffle.partitions": "64"}})
    conf = spark_conf(settings)
    assert conf["spark.sql.inMemoryColumnarStorage.compressed"] == "false"
    assert conf["spark.sql.shuffle.partitions"] == "64"


def test_session_conf_holds_for_its_block_only(spark) -> None:
    unset, preset = "spark.sql.inMemoryColumnarStorage.batchSize", "spark.sql.inMemoryColumnarStorage.partitionPruning"
    assert spark.conf.get(unset, None) is None and spark.conf.get(preset, None) is None  # not set in the session
    spark.conf.set(preset, "false")
    try:
        with session_conf(spark, {unset: "5000", preset: "true"}):
            assert spark.conf.get(unset) == "5000" and spark.conf.get(preset) == "true"
        assert spark.conf.get(unset, None) is None and spark.conf.get(preset) == "false"
        with pytest.raises(RuntimeError), session_conf(spark, {unset: "5000"}):
            raise RuntimeError("the block failed")
        assert spark.conf.get(unset, None) is None
    finally:
        spark.conf.unset(preset)


def test_s3_profile_maps_s3_scheme_to_s3a_without_secrets(tmp_path: Path) -> None:
    settings = LakehouseSettings(profile="s3", home=tmp_path, catalog={"name": "lh"},
                                 s3={"endpoint_url": "http://127.0.0.1:9000", "access_key_id": "AK",
                                     "secret_access_key": "SECRET-123"})
    conf = {**catalog_conf(settings), **s3a_conf(settings)}
    assert conf["spark.hadoop.fs.s3.impl"] == "org.apache.hadoop.fs.s3a.S3AFileSystem"
    assert conf["spark.hadoop.fs.s3a.endpoint"] == "http://127.0.0.1:9000"
    assert conf["spark.hadoop.fs.s3a.path.style.access"] == "true"
    assert conf["spark.sql.catalog.lh.warehouse"] == "s3://lakehouse/warehouse"
    assert "SECRET-123" not in str(conf)
    assert spark_env(settings)["AWS_SECRET_ACCESS_KEY"] == "SECRET-123"


def test_cluster_master_does_not_bind_the_driver_to_loopback(tmp_path: Path) -> None:
    settings = LakehouseSettings(home=tmp_path, spark={"master": "spark://spark-master:7077"})
    conf = spark_conf(settings)
    assert "spark.driver.bindAddress" not in conf
