"""Write-audit-publish with Iceberg branches.

A run stages its rows on the table's audit branch (named after the run id), the quality gate
validates what is on the branch, and only a passing gate fast-forwards ``main`` to it. Readers of
``main`` never see unvalidated data; a failed run leaves ``main`` at its previous snapshot and the
branch in place for inspection (the next attempt of the run recreates it from ``main``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import TYPE_CHECKING

from lakehouse.errors import LakehouseError
from lakehouse.settings import LakehouseSettings
from lakehouse.write import WriteMode, WriteResult, current_snapshot_id, write_for_date

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from schemas.base import TableSpec


def audit_branch(run_id: str) -> str:
    """Deterministic, identifier-safe branch name for a run (same run id -> same branch)."""
    return "audit_" + hashlib.sha1(run_id.encode()).hexdigest()[:16]


def branch_exists(spark: SparkSession, table: str, branch: str) -> bool:
    rows = spark.sql(f"SELECT 1 FROM {table}.refs WHERE name = '{branch}' AND type = 'BRANCH'").collect()
    return bool(rows)


def stage_for_date(
    spark: SparkSession,
    settings: LakehouseSettings,
    spec: TableSpec,
    df: DataFrame,
    *,
    logical_date: dt.date,
    run_id: str,
    mode: WriteMode = "replace",
    keys: list[str] | None = None,
) -> WriteResult:
    """Write ``df`` for ``logical_date`` onto the run's audit branch, freshly cut from ``main``."""
    table = settings.table_name(spec.identifier)
    branch = audit_branch(run_id)
    if branch_exists(spark, table, branch):
        spark.sql(f"ALTER TABLE {table} DROP BRANCH {branch}")
    spark.sql(f"ALTER TABLE {table} CREATE BRANCH {branch}")
    return write_for_date(spark, settings, spec, df, logical_date=logical_date, run_id=run_id,
                          mode=mode, keys=keys, branch=branch)


def read_staged(
    spark: SparkSession, settings: LakehouseSettings, spec: TableSpec, run_id: str, logical_date: dt.date
) -> DataFrame:
    """The logical date's rows as staged on the run's audit branch."""
    from pyspark.sql import functions as F

    table = settings.table_name(spec.identifier)
    branch = audit_branch(run_id)
    if not branch_exists(spark, table, branch):
        raise LakehouseError(f"nothing staged for run {run_id!r} on {spec.identifier}: run the build task first")
    df = spark.table(f"{table}.branch_{branch}")
    if spec.logical_date_column:
        df = df.where(F.col(spec.logical_date_column) == F.lit(logical_date))
    return df


def publish(spark: SparkSession, settings: LakehouseSettings, spec: TableSpec, run_id: str) -> int | None:
    """Fast-forward ``main`` to the run's audit branch, drop the branch; return main's snapshot id."""
    table = settings.table_name(spec.identifier)
    branch = audit_branch(run_id)
    if not branch_exists(spark, table, branch):
        raise LakehouseError(f"nothing staged for run {run_id!r} on {spec.identifier}: run the build task first")
    namespace_table = spec.identifier
    spark.sql(f"CALL {settings.catalog.name}.system.fast_forward('{namespace_table}', 'main', '{branch}')")
    spark.sql(f"ALTER TABLE {table} DROP BRANCH {branch}")
    return current_snapshot_id(spark, table)


def discard(spark: SparkSession, settings: LakehouseSettings, spec: TableSpec, run_id: str) -> None:
    """Drop the run's audit branch if it exists (main is untouched either way)."""
    table = settings.table_name(spec.identifier)
    branch = audit_branch(run_id)
    if branch_exists(spark, table, branch):
        spark.sql(f"ALTER TABLE {table} DROP BRANCH {branch}")
