"""A real driver JVM loads Spark's classes from the class-data archive, and a stale or broken archive costs
speed only: the job still runs and nothing about it reaches the output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lakehouse import jvm
from lakehouse.settings import LakehouseSettings

pytestmark = pytest.mark.integration

# A driver started exactly as every lakehouse driver is (spark_conf), plus a class-loading log.
DRIVER = """
import sys
import zipfile
from pyspark.sql import SparkSession
from lakehouse.settings import LakehouseSettings
from lakehouse.catalog import load_catalog
from lakehouse.spark import spark_conf
settings = LakehouseSettings()
load_catalog(settings)
conf = spark_conf(settings, app_name="archive-test")
conf["spark.driver.extraJavaOptions"] += " -Xlog:class+load=info:file=" + sys.argv[1]
builder = SparkSession.builder
for key, value in conf.items():
    builder = builder.config(key, value)
spark = builder.getOrCreate()
print("rows", spark.range(1000).selectExpr("id % 3 AS k").groupBy("k").count().count())
spark.stop()
"""


def start_driver(tmp_path: Path, archive_dir: Path,
                 extra_env: dict[str, str] | None = None) -> tuple[subprocess.CompletedProcess[str], str]:
    log = tmp_path / "classes.log"
    env = {**os.environ, "LAKEHOUSE_HOME": str(tmp_path / "lake"), "LAKEHOUSE_PROFILE": "local",
           "LAKEHOUSE_SPARK__CLASS_DATA_ARCHIVE_DIR": str(archive_dir), **(extra_env or {})}
    result = subprocess.run([sys.executable, "-c", DRIVER, str(log)], env=env, capture_output=True, text=True,
                            timeout=300, cwd=Path(jvm.__file__).parents[1], check=False)
    return result, log.read_text() if log.exists() else ""


def test_the_driver_loads_sparks_classes_from_the_archive(tmp_path: Path) -> None:
    archive = jvm.build_archive(LakehouseSettings())  # built by `make jars`; built here if missing
    result, classes = start_driver(tmp_path, archive.parent)
    assert result.returncode == 0 and "rows 3" in result.stdout, result.stderr[-2000:]
    from_archive = [line for line in classes.splitlines()
                    if "org.apache.spark." in line and "shared objects file (top)" in line]
    assert len(from_archive) > 1000, classes[-2000:]


def test_a_stale_archive_is_ignored_quietly(tmp_path: Path) -> None:
    """An archive recorded for another class path (here: a jar put in front of Spark's, as an upgrade would)
    is refused by the JVM, which then runs without it and, with the archive's options, says nothing."""
    archive = jvm.build_archive(LakehouseSettings())
    fake_jar = tmp_path / "upgraded.jar"
    with zipfile.ZipFile(fake_jar, "w") as jar:
        jar.writestr("META-INF/MANIFEST.MF", "Manifest-Version: 1.0\n")
    extra = {"LAKEHOUSE_SPARK__CONF": json.dumps({"spark.driver.extraClassPath": str(fake_jar)})}
    result, classes = start_driver(tmp_path, archive.parent, extra)
    assert result.returncode == 0 and "rows 3" in result.stdout, result.stderr[-2000:]
    assert "shared objects file (top)" not in classes
    assert "archive" not in (result.stdout + result.stderr).lower()
