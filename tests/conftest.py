"""Shared fixtures: per-session settings for the local and S3 profiles, one Spark session, moto S3.

The single Spark session registers two Iceberg catalogs: ``lakehouse`` (local profile: SQLite +
local warehouse) and ``lakehouse_s3`` (S3 profile: SQLite + warehouse on the S3 endpoint), so
every integration test can run against both profiles without a second JVM.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakehouse.settings import LakehouseSettings
from tests.support.servers import S3Endpoint, s3_endpoint

# Keep the machine's own profile/env out of the tests' settings.
for _key in [k for k in os.environ if k.startswith("LAKEHOUSE_") and not k.startswith("LAKEHOUSE_TEST_")]:
    del os.environ[_key]
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
_BASELINE_LAKEHOUSE_ENV = {k: v for k, v in os.environ.items() if k.startswith("LAKEHOUSE_")}


def _reset_lakehouse_env() -> None:
    from lakehouse.settings import get_settings

    for key in [k for k in os.environ if k.startswith("LAKEHOUSE_")]:
        del os.environ[key]
    os.environ.update(_BASELINE_LAKEHOUSE_ENV)
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _isolated_lakehouse_env() -> Iterator[None]:
    """Running a DAG exports settings as LAKEHOUSE_* variables (also from module-scoped fixtures);
    every test starts and ends with the session's clean baseline instead."""
    _reset_lakehouse_env()
    yield
    _reset_lakehouse_env()


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Endpoint]:
    """An S3 endpoint (moto on 127.0.0.1, or LAKEHOUSE_TEST_S3_ENDPOINT) with a fresh bucket."""
    with s3_endpoint() as endpoint:
        yield endpoint


def make_local_settings(home: Path, **overrides: object) -> LakehouseSettings:
    """Settings for the local profile rooted at ``home``."""
    return LakehouseSettings(profile="local", home=home, **overrides)


def make_s3_settings(home: Path, endpoint: S3Endpoint, **overrides: object) -> LakehouseSettings:
    """Settings for the s3 profile against ``endpoint`` (catalog named lakehouse_s3)."""
    base = f"s3://{endpoint.bucket}"
    values: dict[str, object] = {
        "profile": "s3",
        "home": home,
        "warehouse": f"{base}/warehouse",
        "landing": f"{base}/landing",
        "artifacts": f"{base}/artifacts",
        "catalog": {"name": "lakehouse_s3", "uri": f"sqlite:///{home}/catalog-s3.db"},
        "s3": {"endpoint_url": endpoint.url, "access_key_id": endpoint.access_key,
               "secret_access_key": endpoint.secret_key},
    }
    values.update(overrides)
    return LakehouseSettings(**values)


@pytest.fixture(scope="session")
def airflow_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A migrated, isolated Airflow home (SQLite) whose dags folder is the project's dags/."""
    from tests.support.airflow import prepare_airflow_home

    return prepare_airflow_home(tmp_path_factory.mktemp("airflow-home"))


@pytest.fixture(scope="session")
def local_settings(tmp_path_factory: pytest.TempPathFactory) -> LakehouseSettings:
    return make_local_settings(tmp_path_factory.mktemp("local-home"))


@pytest.fixture(scope="session")
def s3_settings(tmp_path_factory: pytest.TempPathFactory, s3: S3Endpoint) -> LakehouseSettings:
    return make_s3_settings(tmp_path_factory.mktemp("s3-home"), s3)


@pytest.fixture(scope="session")
def spark(local_settings: LakehouseSettings, s3_settings: LakehouseSettings):  # type: ignore[no-untyped-def]
    """The one Spark session of the test run, with both profiles' catalogs registered."""
    from pyspark.sql import SparkSession

    from lakehouse import spark as lakehouse_spark
    from lakehouse.catalog import create_tables

    create_tables(local_settings)
    create_tables(s3_settings)
    conf = lakehouse_spark.spark_conf(local_settings, app_name="lakehouse-tests")
    conf.update(lakehouse_spark.catalog_conf(s3_settings))
    conf.update(lakehouse_spark.s3a_conf(s3_settings))
    os.environ.update(lakehouse_spark.spark_env(s3_settings))
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that touches S3 (so `make test-s3` can select them with -m s3)."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = callspec.params if callspec is not None else {}
        direct = set(getattr(getattr(item, "_fixtureinfo", None), "argnames", ()))
        ids = callspec.id.split("-") if callspec is not None else []
        profile = params.get("lake", params.get("profile")) or ("s3" if "s3" in ids else None)
        uses_s3 = profile == "s3" or (profile is None and bool(direct & {"s3", "s3_settings"}))
        if uses_s3:
            item.add_marker(pytest.mark.s3)
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(params=["local", "s3"])
def lake(request: pytest.FixtureRequest, spark, local_settings, s3_settings) -> LakehouseSettings:  # type: ignore[no-untyped-def]
    """Settings of each profile in turn (both catalogs live in the shared Spark session)."""
    return s3_settings if request.param == "s3" else local_settings
