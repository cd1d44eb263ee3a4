"""A class-data sharing archive for Spark driver JVMs (JDK AppCDS), so every task starts warmer.

Each ``spark-submit`` and each in-process session starts a JVM that loads, parses and verifies several
thousand Spark, Iceberg, Hadoop and Parquet classes before the first row moves: most of a task's fixed
cost. A dynamic CDS archive holds those classes already parsed and verified; a JVM started with
``-XX:SharedArchiveFile`` maps it instead of loading them again (measured on this project's smoke
workload: 0.65x the wall time of a session start + Iceberg write + read, see the README).

- :func:`build_archive` (``lakehouse jvm-archive``, part of ``make jars``) runs a representative
  workload (Iceberg create / append / merge / branch / read, SQL, windows, Arrow, pandas UDFs,
  CSV and Parquet) in a throw-away local lake with ``-XX:ArchiveClassesAtExit`` and moves the dump
  into place atomically.
- :func:`driver_java_options` adds the archive to the driver's options when it exists and
  ``spark.class_data_sharing`` is on. The JVM itself checks that the archive matches its build and
  class path and silently runs without it when it does not (its warnings are switched off: they
  would reach task logs and the CLI's one-line errors), so a stale archive costs speed, never
  correctness. Executors on a cluster are not given it: the file lives on the driver's host.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from lakehouse.errors import LakehouseError
from lakehouse.settings import LakehouseSettings

log = logging.getLogger(__name__)

# A JVM that cannot use the archive says so on stdout; the archive is an optimisation, so it stays quiet.
QUIET = ("-Xlog:cds=off", "-Xlog:cds+dynamic=off")


def _class_path_files() -> list[str]:
    """Name, size and modification time of every jar on the driver's class path (Spark's own jars).

    The JVM refuses an archive when any of them differs from the dump (a reinstalled virtualenv has new
    modification times): such an archive would be kept, ignored and never rebuilt, so it gets a new key."""
    import pyspark

    jars = Path(pyspark.__file__).parent / "jars"
    return [f"{f.name}:{f.stat().st_size}:{int(f.stat().st_mtime)}" for f in sorted(jars.glob("*.jar"))]


def archive_path(settings: LakehouseSettings) -> Path:
    """Where the archive for this Java, Spark class path and jar lock lives (a new key when any changes)."""
    java = shutil.which("java", path=os.path.join(os.environ["JAVA_HOME"], "bin")) if os.environ.get(
        "JAVA_HOME") else shutil.which("java")
    parts = [str(Path(java).resolve()) if java else "", sys.executable, *_class_path_files(),
             hashlib.sha256(settings.jars.lock_file.read_bytes()).hexdigest() if settings.jars.lock_file.is_file()
             else "", settings.jars.source]
    key = hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
    return settings.spark.class_data_archive_dir / f"spark-driver-{key}.jsa"


def driver_java_options(settings: LakehouseSettings) -> list[str]:
    """The driver JVM's options that map the archive (none when it is off or not built yet)."""
    if not settings.spark.class_data_sharing:
        return []
    path = archive_path(settings)
    return [f"-XX:SharedArchiveFile={path}", *QUIET] if path.is_file() else []


def build_archive(settings: LakehouseSettings, *, force: bool = False, timeout_s: float = 600) -> Path:
    """Build the archive (unless it exists and ``force`` is off) and return its path.

    The workload runs in a child process with its own local lake (nothing of the user's lake is
    touched); the JVM writes the archive when it exits, into a temporary file renamed into place, so
    concurrent builders and running drivers never see half an archive.
    """
    path = archive_path(settings)
    if path.is_file() and not force:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="jvm-archive-") as tmp:
        dump = Path(tmp) / "driver.jsa"
        env = {**os.environ, "LAKEHOUSE_HOME": str(Path(tmp) / "lake"), "LAKEHOUSE_PROFILE": "local",
               "LAKEHOUSE_SPARK__CLASS_DATA_SHARING": "false"}
        for name in [n for n in env if n.startswith(("LAKEHOUSE_CATALOG__", "LAKEHOUSE_S3__"))]:
            env.pop(name)  # the workload's lake is local whatever the caller's profile
        result = subprocess.run([sys.executable, "-m", "lakehouse.jvm", "--dump", str(dump)], env=env,
                                capture_output=True, text=True, timeout=timeout_s, check=False)
        if result.returncode != 0 or not dump.is_file():
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
            raise LakehouseError(f"could not build the JVM class-data archive (exit {result.returncode}): {tail[0]}")
        staged = path.with_name(f".{path.name}.{os.getpid()}")
        shutil.move(str(dump), staged)
        os.replace(staged, path)
    log.info("JVM class-data archive: %s (%.0f MB)", path, path.stat().st_size / 1e6)
    return path


def _workload(dump: Path) -> None:
    """Exercise the classes the pipelines' drivers load, then exit so the JVM writes ``dump``."""
    import pandas as pd
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from lakehouse.spark import get_spark, spark_conf

    settings = LakehouseSettings()
    # The session exactly as every driver gets it, plus the option that records the archive at exit.
    options = f"{spark_conf(settings)['spark.driver.extraJavaOptions']} -XX:ArchiveClassesAtExit={dump} "
    options += " ".join(QUIET)
    conf = {**settings.spark.conf, "spark.driver.extraJavaOptions": options}
    spark = get_spark(settings.model_copy(update={"spark": settings.spark.model_copy(update={"conf": conf})}),
                      app_name="jvm-archive")
    scratch = Path(os.environ["LAKEHOUSE_HOME"]) / "files"
    spark.sql("CREATE NAMESPACE IF NOT EXISTS archive")
    spark.sql("CREATE TABLE archive.rows (id BIGINT, k INT, v DOUBLE, ts TIMESTAMP, s STRING) USING iceberg "
              "PARTITIONED BY (days(ts)) TBLPROPERTIES ('write.wap.enabled'='true')")
    rows = spark.range(20_000).selectExpr("id", "CAST(id % 7 AS INT) AS k", "id * 1.5 AS v",
                                          "timestamp_micros(id * 60000000) AS ts", "CAST(id AS STRING) AS s")
    rows.writeTo("archive.rows").append()
    spark.sql("ALTER TABLE archive.rows CREATE BRANCH staged")
    rows.limit(10).writeTo("archive.rows.branch_staged").append()
    spark.sql("CALL system.fast_forward('archive.rows', 'main', 'staged')").collect()
    spark.sql("MERGE INTO archive.rows t USING (SELECT id, k, v + 1 AS v, ts, s FROM archive.rows LIMIT 100) u "
              "ON t.id = u.id WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *")
    table = spark.table("archive.rows")
    window = Window.partitionBy("k").orderBy("ts").rowsBetween(-5, 5)
    table.withColumn("median", F.percentile_approx("v", 0.5).over(window)).groupBy("k").agg(
        F.count("*"), F.countDistinct("s"), F.max("median")).join(table.select("k").distinct(), "k").collect()
    spark.sql("SELECT * FROM archive.rows.snapshots").collect()
    table.write.mode("overwrite").parquet(str(scratch / "parquet"))
    table.limit(100).write.mode("overwrite").option("header", "true").csv(str(scratch / "csv"))
    spark.read.option("header", "true").csv(str(scratch / "csv")).count()
    spark.read.parquet(str(scratch / "parquet")).groupBy("k").applyInPandas(
        lambda frame: pd.DataFrame({"k": frame["k"].head(1), "n": [len(frame)]}), "k int, n long").toPandas()
    gateway = spark.sparkContext._gateway
    spark.stop()
    # The JVM writes the archive when it exits: close its stdin (it then exits) and wait for it.
    proc = getattr(gateway, "proc", None)
    if proc is not None:
        proc.stdin.close()
        proc.wait(timeout=300)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="internal: the workload that records the class-data archive")
    parser.add_argument("--dump", type=Path, required=True)
    _workload(parser.parse_args().dump)
