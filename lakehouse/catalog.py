"""PyIceberg access to the shared catalog: table creation (`lakehouse init`) and metadata reads.

Spark's JdbcCatalog and PyIceberg's SqlCatalog point at the same database, so tables created
here are the ones Spark writes into (Spark never infers or creates a schema).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lakehouse import storage
from lakehouse.settings import LakehouseSettings

if TYPE_CHECKING:
    from pyiceberg.catalog.sql import SqlCatalog
    from pyiceberg.table import Table

    from schemas.base import TableSpec


def catalog_properties(settings: LakehouseSettings) -> dict[str, str]:
    """PyIceberg catalog properties for the settings (S3 credentials from the environment only)."""
    props = {
        "type": "sql",
        "uri": settings.sqlalchemy_uri(),
        "warehouse": storage.to_uri(settings.warehouse),
        "init_catalog_tables": "true",
    }
    if settings.uses_s3 or settings.landing.startswith("s3"):
        env = storage.s3_credentials_env(settings)
        props.update(
            {
                "s3.region": settings.s3.region,
                "s3.connect-timeout": str(settings.s3.connect_timeout_s),
                "s3.request-timeout": str(settings.s3.request_timeout_s),
                "s3.force-virtual-addressing": str(not settings.s3.path_style_access).lower(),
            }
        )
        if settings.s3.endpoint_url:
            props["s3.endpoint"] = settings.s3.endpoint_url
        if "AWS_ACCESS_KEY_ID" in env:
            props["s3.access-key-id"] = env["AWS_ACCESS_KEY_ID"]
            props["s3.secret-access-key"] = env.get("AWS_SECRET_ACCESS_KEY", "")
    return props


def load_catalog(settings: LakehouseSettings) -> SqlCatalog:
    """The PyIceberg catalog for ``settings``."""
    from pyiceberg.catalog.sql import SqlCatalog

    storage.check_catalog_db(settings)
    return SqlCatalog(settings.catalog.name, **catalog_properties(settings))


def create_tables(settings: LakehouseSettings, specs: list[TableSpec] | None = None) -> list[tuple[str, bool]]:
    """Create namespaces and declared tables that do not exist yet. Returns (identifier, created)."""
    from pyiceberg.exceptions import NamespaceAlreadyExistsError

    from lakehouse.pipeline import declared_tables
    from schemas import NAMESPACES

    storage.preflight(settings)
    storage.ensure_local_dirs(settings)
    catalog = load_catalog(settings)
    for namespace in NAMESPACES:
        with contextlib.suppress(NamespaceAlreadyExistsError):
            catalog.create_namespace(namespace)
    results = []
    for spec in specs if specs is not None else list(declared_tables(settings).values()):
        if catalog.table_exists(spec.identifier):
            results.append((spec.identifier, False))
            continue
        catalog.create_table(
            spec.identifier,
            schema=spec.schema(),
            partition_spec=spec.partition_spec(),
            sort_order=spec.sort_order(),
            properties=spec.table_properties(),
        )
        results.append((spec.identifier, True))
    return results


@dataclass(frozen=True)
class TableSummary:
    """What `lakehouse tables` prints for one table."""

    identifier: str
    snapshot_id: int | None
    snapshot_count: int
    row_count: int
    location: str


def summarize(table: Table) -> TableSummary:
    """Current snapshot, snapshot count and row count (from snapshot metadata, no data scan)."""
    snapshot = table.current_snapshot()
    rows = 0
    if snapshot is not None and snapshot.summary is not None:
        rows = int(snapshot.summary.additional_properties.get("total-records", 0))
    return TableSummary(
        identifier=".".join(table.name()[-2:]),
        snapshot_id=snapshot.snapshot_id if snapshot else None,
        snapshot_count=len(table.metadata.snapshots),
        row_count=rows,
        location=table.location(),
    )


def list_tables(settings: LakehouseSettings) -> list[TableSummary]:
    """Summaries of every table in every namespace of the catalog."""
    catalog = load_catalog(settings)
    summaries = []
    for namespace in sorted(catalog.list_namespaces()):
        for identifier in sorted(catalog.list_tables(namespace)):
            summaries.append(summarize(catalog.load_table(identifier)))
    return summaries


def snapshot_history(settings: LakehouseSettings, identifier: str) -> list[dict[str, Any]]:
    """Snapshots of a table, oldest first, with the run metadata recorded in their summaries."""
    table = load_catalog(settings).load_table(identifier)
    refs: dict[int, list[str]] = {}
    for name, ref in table.metadata.refs.items():
        refs.setdefault(ref.snapshot_id, []).append(name)
    rows = []
    for snap in table.metadata.snapshots:
        summary = snap.summary.additional_properties if snap.summary else {}
        rows.append(
            {
                "snapshot_id": snap.snapshot_id,
                "parent_id": snap.parent_snapshot_id,
                "committed_at_ms": snap.timestamp_ms,
                "operation": str(snap.summary.operation.value) if snap.summary else None,
                "added_records": summary.get("added-records", "0"),
                "total_records": summary.get("total-records", "0"),
                "run_id": summary.get("lakehouse.run-id"),
                "logical_date": summary.get("lakehouse.logical-date"),
                "refs": ",".join(sorted(refs.get(snap.snapshot_id, []))),
            }
        )
    return rows
