"""Settings resolution: profiles, environment overrides, secrets handling, derived URIs."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.errors import LakehouseError
from lakehouse.settings import LakehouseSettings, get_settings


def test_local_profile_is_the_default_and_expands_home(tmp_path: Path) -> None:
    settings = LakehouseSettings(home=tmp_path)
    assert settings.profile == "local"
    assert settings.warehouse == f"{tmp_path}/warehouse"
    assert settings.catalog.uri == f"sqlite:///{tmp_path}/catalog.db"
    assert settings.jdbc_uri() == f"jdbc:sqlite:{tmp_path}/catalog.db"
    assert not settings.uses_s3 and settings.warehouse_bucket is None


def test_environment_selects_profile_and_overrides_nested_values(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LAKEHOUSE_PROFILE", "s3")
    monkeypatch.setenv("LAKEHOUSE_HOME", str(tmp_path))
    monkeypatch.setenv("LAKEHOUSE_S3__ENDPOINT_URL", "http://minio.internal:9000")
    monkeypatch.setenv("LAKEHOUSE_SPARK__SHUFFLE_PARTITIONS", "7")
    settings = LakehouseSettings()
    assert settings.profile == "s3"
    assert settings.s3.endpoint_url == "http://minio.internal:9000"
    assert settings.s3.path_style_access is True
    assert settings.warehouse == "s3://lakehouse/warehouse" and settings.warehouse_bucket == "lakehouse"
    assert settings.spark.shuffle_partitions == 7
    assert settings.catalog.uri == f"sqlite:///{tmp_path}/catalog-s3.db"


def test_keyword_arguments_beat_environment(monkeypatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_SPARK__MASTER", "local[1]")
    assert LakehouseSettings(spark={"master": "local[2]"}).spark.master == "local[2]"


def test_cluster_profile_uses_postgres_and_a_master_url(monkeypatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_CATALOG__PASSWORD", "s3cr3t-pw")
    settings = LakehouseSettings(profile="cluster")
    assert settings.spark.master == "spark://127.0.0.1:7077"
    assert settings.jdbc_uri() == "jdbc:postgresql://127.0.0.1:5432/lakehouse"
    assert settings.sqlalchemy_uri() == "postgresql+psycopg2://lakehouse:s3cr3t-pw@127.0.0.1:5432/lakehouse"


def test_gpu_training_profile_trains_with_gpu_sized_batches() -> None:
    """The cluster profile trains in a GPU pod, where batch 128 leaves the card waiting on kernel launches;
    local CPU training keeps the small batch."""
    cluster, local = LakehouseSettings(profile="cluster").vision, LakehouseSettings(profile="local").vision
    assert cluster.trains_on_kubernetes("cluster") and cluster.batch_size >= 1024
    assert not local.trains_on_kubernetes("local") and local.batch_size == 128


def test_unknown_profile_is_one_readable_error(monkeypatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_PROFILE", "prod")
    get_settings.cache_clear()
    with pytest.raises(LakehouseError, match=r"unknown profile 'prod': choose one of local, s3, cluster"):
        get_settings()
    get_settings.cache_clear()


def test_secrets_never_show_in_repr_or_description(monkeypatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_S3__SECRET_ACCESS_KEY", "very-secret-value")
    monkeypatch.setenv("LAKEHOUSE_S3__ACCESS_KEY_ID", "AKIDVALUE")
    settings = LakehouseSettings(profile="s3")
    assert "very-secret-value" not in repr(settings)
    assert "very-secret-value" not in str(settings.describe())
    assert settings.s3.secret_access_key is not None
    assert settings.s3.secret_access_key.get_secret_value() == "very-secret-value"


def test_aws_standard_variables_are_a_fallback(monkeypatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-aws-env")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret")
    settings = LakehouseSettings(profile="s3")
    assert settings.s3.access_key_id is not None and settings.s3.access_key_id.get_secret_value() == "from-aws-env"


def test_to_env_round_trips(monkeypatch, tmp_path: Path) -> None:
    original = LakehouseSettings(profile="s3", home=tmp_path, s3={"endpoint_url": "http://x:1", "access_key_id": "k"},
                                 spark={"conf": {"spark.foo": "bar"}})
    for key, value in original.to_env().items():
        monkeypatch.setenv(key, value)
    again = LakehouseSettings()
    assert again.model_dump() == original.model_dump()
    assert again.s3.access_key_id is not None and again.s3.access_key_id.get_secret_value() == "k"


def test_settings_file_can_be_replaced(monkeypatch, tmp_path: Path) -> None:
    custom = tmp_path / "settings.yaml"
    custom.write_text("profiles:\n  local:\n    warehouse: /data/wh\n    catalog: {name: other}\n")
    monkeypatch.setenv("LAKEHOUSE_SETTINGS_FILE", str(custom))
    settings = LakehouseSettings()
    assert settings.warehouse == "/data/wh" and settings.catalog.name == "other"
