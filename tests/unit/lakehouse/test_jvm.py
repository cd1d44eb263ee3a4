"""The driver maps the class-data archive only when it is built and wanted, without losing its other options."""

from __future__ import annotations

import json
from pathlib import Path

from lakehouse import jvm
from lakehouse.settings import LakehouseSettings
from lakehouse.spark import spark_conf


def settings_with_archive_dir(tmp_path: Path, **spark: object) -> LakehouseSettings:
    return LakehouseSettings(home=tmp_path, spark={"class_data_archive_dir": tmp_path / "jvm", **spark})


def test_no_archive_no_option(tmp_path: Path) -> None:
    settings = settings_with_archive_dir(tmp_path)
    assert jvm.driver_java_options(settings) == []
    assert "SharedArchiveFile" not in spark_conf(settings)["spark.driver.extraJavaOptions"]


def test_a_built_archive_is_mapped_by_the_driver_only_and_keeps_the_log_config(tmp_path: Path) -> None:
    settings = settings_with_archive_dir(tmp_path)
    archive = jvm.archive_path(settings)
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"archive")
    driver = spark_conf(settings)["spark.driver.extraJavaOptions"].split()
    assert f"-XX:SharedArchiveFile={archive}" in driver
    assert any(option.startswith("-Dlog4j2.configurationFile=") for option in driver)
    # a JVM that cannot use the archive must not print about it (task logs, one-line CLI errors)
    assert {"-Xlog:cds=off", "-Xlog:cds+dynamic=off"} <= set(driver)
    assert "SharedArchiveFile" not in spark_conf(settings)["spark.executor.extraJavaOptions"]


def test_the_setting_turns_it_off(tmp_path: Path) -> None:
    settings = settings_with_archive_dir(tmp_path, class_data_sharing=False)
    archive = jvm.archive_path(settings)
    archive.parent.mkdir(parents=True)
    archive.write_bytes(b"archive")
    assert jvm.driver_java_options(settings) == []


def test_a_new_jar_lock_names_a_new_archive(tmp_path: Path) -> None:
    lock = tmp_path / "jars.lock.json"
    lock.write_text(json.dumps({"jars": []}))
    before = jvm.archive_path(LakehouseSettings(home=tmp_path, jars={"lock_file": lock}))
    lock.write_text(json.dumps({"jars": [{"file": "x.jar"}]}))
    assert jvm.archive_path(LakehouseSettings(home=tmp_path, jars={"lock_file": lock})) != before


def test_a_reinstalled_spark_names_a_new_archive(tmp_path: Path, monkeypatch) -> None:
    """The JVM ignores an archive whose class-path jars changed size or modification time (a recreated
    virtualenv): the old name would keep pointing at an archive that is never used and never rebuilt."""
    import os

    import pyspark

    jars = tmp_path / "pyspark" / "jars"
    jars.mkdir(parents=True)
    (jars / "spark-core.jar").write_bytes(b"jar")
    monkeypatch.setattr(pyspark, "__file__", str(tmp_path / "pyspark" / "__init__.py"))
    settings = LakehouseSettings(home=tmp_path)
    before = jvm.archive_path(settings)
    assert jvm.archive_path(settings) == before
    os.utime(jars / "spark-core.jar", (1_000_000_000, 1_000_000_000))  # same bytes, reinstalled
    assert jvm.archive_path(settings) != before
