"""pandas <-> Spark frames shaped by a declared table (the one converter every domain uses)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from lakehouse.settings import LakehouseSettings

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

    from schemas.base import TableSpec

# Iceberg type name (as pyiceberg prints it) -> Spark SQL type name.
_SPARK_TYPES = {"boolean": "boolean", "int": "int", "long": "bigint", "double": "double", "float": "float",
                "string": "string", "date": "date", "timestamptz": "timestamp", "timestamp": "timestamp_ntz",
                "binary": "binary"}


def spark_ddl(spec: TableSpec, columns: Sequence[str], extra: Mapping[str, str] | None = None) -> str:
    """A Spark DDL schema (``"a bigint, b string"``) for ``columns`` of a declared table, plus ``extra``
    ``{name: iceberg type}`` columns: the output schema of ``applyInPandas``/``mapInPandas`` steps."""
    types = {c.name: _SPARK_TYPES[str(c.type)] for c in spec.columns if str(c.type) in _SPARK_TYPES}
    types.update({name: _SPARK_TYPES[kind] for name, kind in (extra or {}).items()})
    return ", ".join(f"{name} {types[name]}" for name in columns)


def enable_arrow(spark: SparkSession) -> None:
    """Arrow for pandas <-> Spark conversion (binary columns move as Arrow buffers)."""
    spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
    spark.conf.set("spark.sql.execution.arrow.pyspark.fallback.enabled", "false")


def to_spark(spark: SparkSession, settings: LakehouseSettings, spec: TableSpec, frame: pd.DataFrame) -> DataFrame:
    """A Spark DataFrame of ``frame`` with the table's exact Spark schema (columns in table order)."""
    schema = spark.table(settings.table_name(spec.identifier)).schema
    enable_arrow(spark)
    frame = frame[[f.name for f in schema.fields]].copy()
    for field in schema.fields:
        if field.dataType.typeName() in ("integer", "long"):
            frame[field.name] = frame[field.name].astype("Int64" if frame[field.name].isna().any() else "int64")
    nullable = schema.__class__([f.__class__(f.name, f.dataType, True) for f in schema.fields])
    if frame.empty:
        return spark.createDataFrame([], nullable)
    return spark.createDataFrame(frame, schema=nullable)
