"""Spark configuration and sessions derived from the settings.

``spark_conf`` is the single source of Spark configuration: in-process sessions, the
``spark-submit`` conf used by Airflow and the standalone-cluster test all use it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from lakehouse import jars, storage
from lakehouse.jvm import driver_java_options
from lakehouse.settings import PROJECT_ROOT, LakehouseSettings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

LOG4J_CONFIG = PROJECT_ROOT / "infra" / "log4j2.properties"
_LOOPBACK_MASTERS = ("local", "spark://127.0.0.1", "spark://localhost")
# Spark's default plus the names our own settings and the AWS SDK use; matching conf and environment
# entries are shown as *********(redacted) in the UI, event logs and conf dumps.
REDACTION_REGEX = r"(?i)secret|password|passwd|token|access[._]?key|credential|session[._]?key|auth"


def catalog_conf(settings: LakehouseSettings) -> dict[str, str]:
    """Spark conf that registers the Iceberg JDBC catalog named in the settings."""
    prefix = f"spark.sql.catalog.{settings.catalog.name}"
    conf = {
        prefix: "org.apache.iceberg.spark.SparkCatalog",
        f"{prefix}.catalog-impl": "org.apache.iceberg.jdbc.JdbcCatalog",
        f"{prefix}.uri": settings.jdbc_uri(),
        # V1 adds the view/table type column PyIceberg's SqlCatalog tolerates: both engines share tables.
        f"{prefix}.jdbc.schema-version": "V1",
        f"{prefix}.warehouse": storage.to_uri(settings.warehouse),
        f"{prefix}.cache-enabled": "false",
        # PyIceberg creates the catalog tables (lakehouse.catalog.load_catalog). Java's own
        # initialisation leaves a metadata cursor open on SQLite, which pins a stale read
        # snapshot and makes later commits fail with SQLITE_BUSY_SNAPSHOT.
        f"{prefix}.jdbc.init-catalog-tables": "false",
    }
    if settings.catalog_is_sqlite:
        conf[f"{prefix}.jdbc.busy_timeout"] = str(settings.catalog.busy_timeout_ms)
    if settings.catalog.user:
        conf[f"{prefix}.jdbc.user"] = settings.catalog.user
    return conf


def s3a_conf(settings: LakehouseSettings) -> dict[str, str]:
    """Hadoop S3A conf; ``s3://`` is mapped to S3A so every engine uses one URI scheme.

    Credentials are not in the conf: the JVM reads them from AWS_* environment variables,
    which keeps them out of spark-submit command lines and logs.

    Timeouts and retries come from ``S3Settings``. S3A retries in two layers: its AWS SDK retries each
    request (``attempts.maximum`` counts retries, so ``max_attempts - 1``: throttling, 5xx, dropped
    connections, timeouts), and S3A's own policy wraps each call in further rounds of SDK attempts.
    Throttling (503 SlowDown) gets ``max_attempts - 1`` more rounds, since the store asks to be called
    again; any other retryable failure gets one more round, so a store that stays silent costs at most
    ``2 * max_attempts * request_timeout_s`` per call instead of Hadoop's default 8 x 11 x 200 s.
    """
    h = "spark.hadoop.fs.s3a"
    s3 = settings.s3
    endpoint = s3.endpoint_url
    conf = {
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        f"{h}.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        f"{h}.path.style.access": str(s3.path_style_access).lower(),
        f"{h}.aws.credentials.provider": "com.amazonaws.auth.EnvironmentVariableCredentialsProvider",
        f"{h}.connection.establish.timeout": str(s3.connect_timeout_s * 1000),
        f"{h}.connection.timeout": str(s3.request_timeout_s * 1000),  # socket read timeout
        f"{h}.attempts.maximum": str(s3.max_attempts - 1),
        f"{h}.retry.limit": "1",
        f"{h}.retry.interval": f"{s3.retry_interval_ms}ms",
        f"{h}.retry.throttle.limit": str(s3.max_attempts - 1),
        f"{h}.retry.throttle.interval": f"{s3.retry_interval_ms}ms",
    }
    if endpoint:
        conf[f"{h}.endpoint"] = endpoint
        conf[f"{h}.connection.ssl.enabled"] = str(endpoint.startswith("https")).lower()
    return conf


def jar_conf(settings: LakehouseSettings) -> dict[str, str]:
    """``spark.jars`` from the verified cache, or ``spark.jars.packages`` in Maven mode."""
    if settings.jars.source == "maven":
        return {"spark.jars.packages": jars.maven_packages(settings)}
    return {"spark.jars": ",".join(str(p) for p in jars.verified_jars(settings))}


def spark_conf(settings: LakehouseSettings, *, app_name: str = "lakehouse") -> dict[str, str]:
    """The complete Spark conf for this settings object (verifies jars)."""
    master = settings.spark.master
    conf = {
        "spark.master": master,
        "spark.app.name": app_name,
        "spark.driver.memory": settings.spark.driver_memory,
        "spark.executor.memory": settings.spark.executor_memory,
        "spark.sql.extensions": "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
        "spark.sql.defaultCatalog": settings.catalog.name,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(settings.spark.shuffle_partitions),
        "spark.sql.storeAssignmentPolicy": "ANSI",
        "spark.ui.enabled": str(settings.spark.ui_enabled).lower(),
        "spark.ui.showConsoleProgress": "false",
        "spark.pyspark.python": sys.executable,
        # Ad-hoc SQL safety for every session (lakehouse.sqlguard re-applies them): `${...}` is text,
        # never a variable, and `format.`path`` never reads files outside the catalog.
        "spark.sql.variable.substitute": "false",
        "spark.sql.runSQLOnFiles": "false",
        "spark.redaction.regex": REDACTION_REGEX,
        "spark.driver.extraJavaOptions": " ".join([f"-Dlog4j2.configurationFile=file:{LOG4J_CONFIG}",
                                                   *driver_java_options(settings)]),
        "spark.executor.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{LOG4J_CONFIG}",
    }
    if master.startswith(_LOOPBACK_MASTERS):
        conf["spark.driver.bindAddress"] = "127.0.0.1"
        conf["spark.driver.host"] = "127.0.0.1"
    conf.update(catalog_conf(settings))
    conf.update(jar_conf(settings))
    if settings.uses_s3 or settings.landing.startswith("s3"):
        conf.update(s3a_conf(settings))
    conf.update(settings.spark.conf)
    return conf


# Cached column batches stored as they are, for a cache that lives on disk for one job: compressing them doubled
# the cost of building finance silver's cache of the prepared ticks (5M: 14.2 s -> 8.1 s; README). Not a session
# default: uncompressed batches of a memory-and-disk cache held on the heap ran a 2 GiB driver out of memory.
UNCOMPRESSED_CACHE = {"spark.sql.inMemoryColumnarStorage.compressed": "false"}


@contextlib.contextmanager
def session_conf(spark: SparkSession, conf: Mapping[str, str]) -> Iterator[None]:
    """Runtime SQL settings of ``spark`` for the block only: each is restored afterwards (or unset when it was
    not set before), also when the block raises. A cache keeps the storage settings of the moment it is
    declared (``persist``), so the declaration belongs in the block."""
    previous = {key: spark.conf.get(key, None) for key in conf}
    for key, value in conf.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in previous.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def spark_env(settings: LakehouseSettings) -> dict[str, str]:
    """Environment for a Spark driver process (credentials and loopback binding)."""
    env = {"PYSPARK_PYTHON": sys.executable}
    if settings.spark.master.startswith(_LOOPBACK_MASTERS):
        env["SPARK_LOCAL_IP"] = "127.0.0.1"
    if settings.uses_s3 or settings.landing.startswith("s3"):
        env.update(storage.s3_credentials_env(settings))
    if settings.catalog.password is not None:
        # JdbcCatalog reads jdbc.password from the conf; keep it out of argv by passing it via env.
        env["LAKEHOUSE_CATALOG__PASSWORD"] = settings.catalog.password.get_secret_value()
    return env


def get_spark(settings: LakehouseSettings, *, app_name: str = "lakehouse") -> SparkSession:
    """Start (or return the running) Spark session for ``settings`` after fast preflight checks.

    Nothing secret goes through the builder: PySpark turns every builder entry into a
    ``spark-submit --conf`` argument, visible to anyone who can list processes. The catalog
    password is handed to the catalog when it initialises (:func:`_open_catalog`).
    """
    from lakehouse.catalog import load_catalog

    storage.preflight(settings)
    load_catalog(settings)  # creates the catalog tables on first use (see catalog_conf)
    conf = spark_conf(settings, app_name=app_name)
    os.environ.update(spark_env(settings))
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    _open_catalog(spark, settings)
    return spark


def _open_catalog(spark: SparkSession, settings: LakehouseSettings) -> None:
    """Initialise the Iceberg catalog, giving it the password only for the moment it reads its conf.

    JdbcCatalog reads ``jdbc.password`` from the session conf once, when the catalog is first loaded,
    and keeps it in its connection pool; the conf entry is removed right after, so ``SET``, conf
    dumps and the Spark UI never hold it.
    """
    if settings.catalog.password is None:
        return
    key = f"spark.sql.catalog.{settings.catalog.name}.jdbc.password"
    py4j_log = logging.getLogger("py4j")
    level = py4j_log.level
    py4j_log.setLevel(max(level, logging.INFO))  # py4j logs every command it sends at DEBUG
    try:
        spark.conf.set(key, settings.catalog.password.get_secret_value())
        spark._jsparkSession.sessionState().catalogManager().catalog(settings.catalog.name)  # type: ignore[attr-defined]
    finally:
        spark.conf.unset(key)
        py4j_log.setLevel(level)
