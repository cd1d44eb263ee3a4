"""A table's refs and snapshot lineage as committed, read in the driver through Iceberg's Java API.

Spark's metadata tables (``<table>.refs``, ``<table>.snapshots``) give the same answers, but each query is
parsed, planned and run as a Spark job, and the write and publish protocols ask these questions dozens of
times per run (about a third of a finance run's Spark jobs were such lookups). The Iceberg catalog is not
cached (``cache-enabled=false``, :mod:`lakehouse.spark`), so every call loads the table's current metadata:
a commit another process made a moment ago is seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass(frozen=True)
class Ref:
    """A branch or tag of a table."""

    kind: str  # BRANCH or TAG (as Spark's refs metadata table spells it)
    snapshot_id: int


@dataclass(frozen=True)
class Snapshot:
    """One snapshot of a table: its parent and its summary."""

    snapshot_id: int
    parent_id: int | None
    summary: dict[str, str]


def _load(spark: SparkSession, table: str) -> Any:
    """The table's current metadata (``org.apache.iceberg.Table``); a missing table raises Spark's
    ``AnalysisException`` (TABLE_OR_VIEW_NOT_FOUND), as a query of its metadata tables would."""
    jvm = spark._jvm  # type: ignore[attr-defined]
    return jvm.org.apache.iceberg.spark.Spark3Util.loadIcebergTable(spark._jsparkSession, table)


def _refs_of(loaded: Any) -> dict[str, Ref]:
    return {str(name): Ref("BRANCH" if ref.isBranch() else "TAG", int(ref.snapshotId()))
            for name, ref in dict(loaded.refs()).items()}


def refs(spark: SparkSession, table: str) -> dict[str, Ref]:
    """Every branch and tag of ``table``: name -> :class:`Ref`."""
    return _refs_of(_load(spark, table))


def snapshots_and_refs(spark: SparkSession, table: str) -> tuple[list[Snapshot], dict[str, Ref]]:
    """Every snapshot still in ``table``'s metadata and every ref, from one load of the metadata."""
    loaded = _load(spark, table)
    snapshots = []
    for snapshot in loaded.snapshots():
        parent = snapshot.parentId()
        snapshots.append(Snapshot(int(snapshot.snapshotId()), int(parent) if parent is not None else None,
                                  {str(k): str(v) for k, v in dict(snapshot.summary()).items()}))
    return snapshots, _refs_of(loaded)
