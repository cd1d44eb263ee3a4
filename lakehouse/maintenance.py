"""Table maintenance: expire old snapshots, compact manifests, remove orphan files.

Snapshots referenced by a branch or tag are never expired, so the snapshots pinned by the model
registry (``train_*`` tags) stay readable however aggressive the expiry settings are.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from lakehouse.settings import LakehouseSettings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def maintain_table(
    spark: SparkSession,
    settings: LakehouseSettings,
    identifier: str,
    *,
    older_than: dt.datetime,
    retain_last: int = 1,
    remove_orphans: bool = False,
) -> dict[str, Any]:
    """Run the maintenance procedures on one table; returns what each removed or rewrote."""
    catalog = settings.catalog.name
    cutoff = older_than.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    expired = spark.sql(
        f"CALL {catalog}.system.expire_snapshots(table => '{identifier}', "
        f"older_than => TIMESTAMP '{cutoff}', retain_last => {int(retain_last)})"
    ).collect()[0].asDict()
    result: dict[str, Any] = {"table": identifier, "expired": expired}
    if spark.sql(f"SELECT count(*) FROM {settings.table_name(identifier)}.snapshots").collect()[0][0]:
        rewritten = spark.sql(f"CALL {catalog}.system.rewrite_manifests('{identifier}')").collect()[0].asDict()
        result["manifests"] = rewritten
    if remove_orphans:
        orphans = spark.sql(
            f"CALL {catalog}.system.remove_orphan_files(table => '{identifier}', older_than => TIMESTAMP '{cutoff}')"
        ).collect()
        result["orphan_files_removed"] = len(orphans)
    return result
