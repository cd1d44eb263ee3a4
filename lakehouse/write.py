"""The one write path: every job writes a table for one logical date through ``write_for_date``.

A write replaces exactly the rows of its logical date, narrowed by an optional ``scope`` (e.g. one
dataset of the date), in one atomic Iceberg commit (overwrite-by-filter): reruns never duplicate,
other dates and other scopes are untouched. The run id, logical date and scope go into the snapshot
summary. Publish rules (audit branches, quality gates) hook in here.

Concurrency: every write is committed with Iceberg's serializable isolation, validated against the
snapshot it started from. If another writer committed rows inside the same date and scope in the
meantime, this write fails with one readable line and commits nothing (a retry then succeeds);
writers of other dates or scopes both land. No write can silently undo another.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from lakehouse import faults
from lakehouse.errors import LakehouseError
from lakehouse.settings import LakehouseSettings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

    from schemas.base import TableSpec

WriteMode = Literal["replace", "upsert"]
RUN_ID_PROPERTY = "lakehouse.run-id"
LOGICAL_DATE_PROPERTY = "lakehouse.logical-date"
SCOPE_PROPERTY = "lakehouse.scope"
# Sentinel for ``write_for_date(conflicts_since=...)``: the target ref's snapshot when the write starts.
AT_START = "at-start"


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
    scope: Mapping[str, Any] | None = None,
    conflicts_since: int | str | None = AT_START,
) -> WriteResult:
    """Write ``df`` as the complete content of ``spec`` for ``logical_date`` (within ``scope``).

    ``replace``: the rows of the date (and scope) become exactly ``df`` (an empty ``df`` clears them).
    ``upsert``: rows of ``df`` replace existing rows with the same ``keys`` within the date and scope;
    other existing rows there are kept.
    ``scope``: ``{column: value}`` equalities that, with the date, delimit the rows this write owns,
    e.g. ``{"dataset": "mnist"}`` when two datasets share a date. Rows of ``df`` outside the date or
    the scope fail the write before anything is committed.
    ``conflicts_since``: the snapshot after which a commit by someone else inside the date and scope
    is a conflict: by default the target ref's snapshot when this call starts; ``None`` means the
    table's whole history (used when replaying rows staged while the table was empty).
    """
    from pyspark.sql import functions as F

    if spec.logical_date_column is None:
        raise LakehouseError(f"{spec.identifier} declares no logical_date_column; it cannot be written by date")
    if mode == "upsert" and not keys:
        raise LakehouseError("upsert needs the key columns that identify a row")
    scope = dict(scope or {})
    name = settings.table_name(spec.identifier)
    target_ref = table_ref(settings, spec, branch)
    # Taken before anything of the target is read: whatever commits after it inside our rows is a conflict.
    base = current_snapshot_id(spark, name, ref=branch or "main") if conflicts_since == AT_START else conflicts_since
    target = spark.table(target_ref)
    aligned = align_to_table(df, target.schema, spec.identifier)
    owned = F.col(spec.logical_date_column) == F.lit(logical_date)
    for column, value in scope.items():
        owned = owned & (F.col(column) == F.lit(value))
    aligned = _refuse_rows_outside(aligned, spec, logical_date, scope)
    if mode == "upsert":
        kept = target.where(owned).join(aligned.select(*keys).distinct(), on=keys, how="left_anti")
        aligned = aligned.unionByName(kept)
    writer = (
        aligned.writeTo(target_ref)
        .option(f"snapshot-property.{RUN_ID_PROPERTY}", run_id)
        .option(f"snapshot-property.{LOGICAL_DATE_PROPERTY}", logical_date.isoformat())
        .option(f"snapshot-property.{SCOPE_PROPERTY}", json.dumps(scope, sort_keys=True, default=str))
        .option("isolation-level", "serializable")
    )
    if spec.write_distribution is not None:
        writer = writer.option("distribution-mode", spec.write_distribution)
    if base is not None:
        writer = writer.option("validate-from-snapshot-id", str(base))
    faults.point("write.before_commit")
    writer.overwrite(owned)
    faults.point("write.after_commit")
    return WriteResult(
        table=name,
        snapshot_id=current_snapshot_id(spark, name, ref=branch or "main"),
        logical_date=logical_date,
        run_id=run_id,
        branch=branch,
    )


def _refuse_rows_outside(df: DataFrame, spec: TableSpec, logical_date: dt.date, scope: Mapping[str, Any]) -> DataFrame:
    """``df`` with a lazy guard: a row of another date or scope would silently replace rows this write
    does not own, so it fails the write instead (checked inside the write: no extra pass, nothing
    committed on failure)."""
    from pyspark.sql import functions as F

    owned_values = {spec.logical_date_column: (logical_date, f"the logical date {logical_date.isoformat()}"),
                    **{column: (value, f"the scope {column} = {value}") for column, value in scope.items()}}
    for column, (value, what) in owned_values.items():
        inside = F.col(column) == F.lit(value)
        df = df.withColumn(column, F.when(inside, F.col(column)).otherwise(F.raise_error(F.concat(
            F.lit(f"{spec.identifier}: row with {column}="),
            F.coalesce(F.col(column).cast("string"), F.lit("NULL")),
            F.lit(f" outside {what}"),
        ))))
    return df


def current_snapshot_id(spark: SparkSession, table: str, ref: str = "main") -> int | None:
    """Snapshot id a ref (branch or tag) of ``table`` points at, or None for an empty table."""
    from lakehouse import table_state

    found = table_state.refs(spark, table).get(ref)
    return found.snapshot_id if found else None
