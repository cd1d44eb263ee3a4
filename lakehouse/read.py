"""The one read path: every job, gate and training step reads a table's rows through ``read_for_date``.

Contract: the rows of ``spec`` whose logical date is ``logical_date`` (one date, a list of dates, or
``None`` for every date), narrowed by ``scope`` equalities (e.g. ``{"dataset": "mnist"}``), as of
``ref``: ``"main"`` (published, the default), a branch or tag name (a run's audit branch, a training
tag), or a snapshot id (``int``: time travel). An unknown ref or snapshot is an error, never an empty
frame. Writes have their own single path (``lakehouse.write``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from lakehouse import table_state
from lakehouse.errors import LakehouseError
from lakehouse.settings import LakehouseSettings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from schemas.base import TableSpec

Ref = str | int


def read_for_date(
    spark: SparkSession,
    settings: LakehouseSettings,
    spec: TableSpec,
    logical_date: dt.date | Sequence[dt.date] | None,
    *,
    ref: Ref = "main",
    scope: Mapping[str, Any] | None = None,
    columns: Sequence[str] | None = None,
) -> DataFrame:
    """Rows of ``spec`` for ``logical_date`` (and ``scope``) as of ``ref`` (see the module contract)."""
    from pyspark.sql import functions as F

    name = settings.table_name(spec.identifier)
    if isinstance(ref, int):
        df = spark.sql(f"SELECT * FROM {name} VERSION AS OF {ref}")
    elif ref == "main":
        df = spark.table(name)
    else:
        found = table_state.refs(spark, name).get(ref)
        if found is None:
            raise LakehouseError(f"{spec.identifier} has no branch or tag {ref!r}")
        # Iceberg's own identifiers for refs (table.branch_<name> / table.tag_<name>) load the ref fresh.
        df = spark.table(f"{name}.{found.kind.lower()}_{ref}")
    if logical_date is not None:
        if spec.logical_date_column is None:
            raise LakehouseError(f"{spec.identifier} declares no logical_date_column: it cannot be read by date")
        column = F.col(spec.logical_date_column)
        if isinstance(logical_date, dt.date):
            df = df.where(column == F.lit(logical_date))
        else:
            df = df.where(column.isin([F.lit(d) for d in logical_date]))
    for key, value in (scope or {}).items():
        df = df.where(F.col(key) == F.lit(value))
    return df.select(*columns) if columns is not None else df
