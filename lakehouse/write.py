"""The one write path: every job writes a table for one logical date through ``write_for_date``.

A write replaces exactly the rows of its logical date (an Iceberg overwrite-by-filter, one atomic
commit), so reruns never duplicate and other dates are untouched. The run id and logical date
go into the snapshot summary. Publish rules (audit branches, quality gates) hook in here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from lakehouse.errors import LakehouseError
from lakehouse.settings import LakehouseSettings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

    from schemas.base import TableSpec

WriteMode = Literal["replace", "upsert"]
RUN_ID_PROPERTY = "lakehouse.run-id"
LOGICAL_DATE_PROPERTY = "lakehouse.logical-date"


@dataclass(frozen=True)
class WriteResult:
    """What one write committed."""

    table: str
    snapshot_id: int | None
    logical_date: dt.date
    run_id: str
    branch: str | None = None


def align_to_table(df: DataFrame, table_schema: StructType, table: str) -> DataFrame:
    """Select the table's columns in table order, cast to the table's types.

    Missing or unexpected columns are an error: the table schema is declared in ``schemas/``
    and is never inferred from the data.
    """
    from pyspark.sql import functions as F

    incoming = set(df.columns)
    expected = [f.name for f in table_schema.fields]
    missing = [c for c in expected if c not in incoming]
    extra = sorted(incoming - set(expected))
    if missing or extra:
        raise LakehouseError(
            f"data does not match the schema of {table}: missing columns {missing or '[]'}, "
            f"unexpected columns {extra or '[]'}"
        )
    return df.select(*(F.col(f.name).cast(f.dataType).alias(f.name) for f in table_schema.fields))


def table_ref(settings: LakehouseSettings, spec: TableSpec, branch: str | None = None) -> str:
    """Spark identifier of a table, or of one of its branches."""
    name = settings.table_name(spec.identifier)
    return f"{name}.branch_{branch}" if branch else name


def write_for_date(
    spark: SparkSession,
    settings: LakehouseSettings,
    spec: TableSpec,
    df: DataFrame,
    *,
    logical_date: dt.date,
    run_id: str,
    mode: WriteMode = "replace",
    keys: list[str] | None = None,
    branch: str | None = None,
) -> WriteResult:
    """Write ``df`` as the complete content of ``spec`` for ``logical_date``.

    ``replace``: the date's rows become exactly ``df`` (an empty ``df`` clears the date).
    ``upsert``: rows of ``df`` replace existing rows with the same ``keys`` within the date;
    other existing rows of the date are kept.
    Rows of ``df`` that belong to another date are refused by Iceberg's overwrite validation.
    """
    from pyspark.sql import functions as F

    if spec.logical_date_column is None:
        raise LakehouseError(f"{spec.identifier} declares no logical_date_column; it cannot be written by date")
    if mode == "upsert" and not keys:
        raise LakehouseError("upsert needs the key columns that identify a row")
    name = settings.table_name(spec.identifier)
    target_ref = table_ref(settings, spec, branch)
    target = spark.table(target_ref)
    aligned = align_to_table(df, target.schema, spec.identifier)
    date_col = spec.logical_date_column
    in_date = F.col(date_col) == F.lit(logical_date)
    # A row of another date would silently replace that date's partition: fail the write instead
    # (checked lazily inside the write, so it costs no extra pass; nothing is committed on failure).
    aligned = aligned.withColumn(
        date_col,
        F.when(in_date, F.col(date_col)).otherwise(
            F.raise_error(F.concat(F.lit(f"{spec.identifier}: row with {date_col}="),
                                   F.coalesce(F.col(date_col).cast("string"), F.lit("NULL")),
                                   F.lit(f" outside the logical date {logical_date.isoformat()}")))
        ),
    )
    if mode == "upsert":
        kept = target.where(in_date).join(aligned.select(*keys).distinct(), on=keys, how="left_anti")
        aligned = aligned.unionByName(kept)
    (
        aligned.writeTo(target_ref)
        .option(f"snapshot-property.{RUN_ID_PROPERTY}", run_id)
        .option(f"snapshot-property.{LOGICAL_DATE_PROPERTY}", logical_date.isoformat())
        .overwrite(in_date)
    )
    return WriteResult(
        table=name,
        snapshot_id=current_snapshot_id(spark, name, ref=branch or "main"),
        logical_date=logical_date,
        run_id=run_id,
        branch=branch,
    )


def current_snapshot_id(spark: SparkSession, table: str, ref: str = "main") -> int | None:
    """Snapshot id a ref (branch or tag) of ``table`` points at, or None for an empty table."""
    rows = spark.sql(f"SELECT snapshot_id FROM {table}.refs WHERE name = '{ref}'").collect()
    return int(rows[0][0]) if rows else None
