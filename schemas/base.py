"""Table declarations: each table is declared exactly once, as a PyIceberg schema + partition spec."""

from __future__ import annotations

from dataclasses import dataclass, field

from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC, PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table.sorting import UNSORTED_SORT_ORDER, SortField, SortOrder
from pyiceberg.transforms import IdentityTransform, Transform
from pyiceberg.types import IcebergType, NestedField

NAMESPACES: tuple[str, ...] = ("raw", "silver", "gold", "quarantine", "ml")

DEFAULT_PROPERTIES: dict[str, str] = {
    "format-version": "2",
    "write.parquet.compression-codec": "zstd",
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "50",
}


@dataclass(frozen=True)
class Column:
    """One column: name, Iceberg type, whether it may be null, and a doc string."""

    name: str
    type: IcebergType
    required: bool = False
    doc: str | None = None


@dataclass(frozen=True)
class TableSpec:
    """Everything needed to create a table and to write one logical date of it."""

    identifier: str
    columns: tuple[Column, ...]
    description: str
    partition_by: tuple[tuple[str, Transform], ...] = ()
    sort_by: tuple[str, ...] = ()
    # Column whose value is the job's logical date: a rerun replaces exactly the rows with that value.
    logical_date_column: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    # How a write spreads rows over tasks (Iceberg's distribution-mode, set per write so existing tables
    # follow the declaration). None: Iceberg's default (range for a sorted table: a sampling pass and a
    # shuffle, balanced sorted files); "hash": one shuffle by partition, no sampling (small tables);
    # "none": no shuffle (rows already arrive in the sort order; each task still sorts locally).
    write_distribution: str | None = None

    @property
    def namespace(self) -> str:
        return self.identifier.split(".", 1)[0]

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def schema(self) -> Schema:
        """The PyIceberg schema (field ids assigned in declaration order)."""
        return Schema(
            *(
                NestedField(i, c.name, c.type, required=c.required, doc=c.doc)
                for i, c in enumerate(self.columns, start=1)
            )
        )

    def partition_spec(self) -> PartitionSpec:
        if not self.partition_by:
            return UNPARTITIONED_PARTITION_SPEC
        ids = {c.name: i for i, c in enumerate(self.columns, start=1)}
        return PartitionSpec(
            *(
                PartitionField(source_id=ids[name], field_id=1000 + n, transform=transform,
                               name=name if isinstance(transform, IdentityTransform) else f"{name}_{transform}")
                for n, (name, transform) in enumerate(self.partition_by)
            )
        )

    def sort_order(self) -> SortOrder:
        if not self.sort_by:
            return UNSORTED_SORT_ORDER
        ids = {c.name: i for i, c in enumerate(self.columns, start=1)}
        return SortOrder(*(SortField(source_id=ids[name], transform=IdentityTransform()) for name in self.sort_by))

    def table_properties(self) -> dict[str, str]:
        return {**DEFAULT_PROPERTIES, "comment": self.description, **self.properties}


def identity(name: str) -> tuple[str, Transform]:
    """Partition by the column's value."""
    return (name, IdentityTransform())
