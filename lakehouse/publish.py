"""Write-audit-publish with Iceberg branches.

A run stages its rows on each table's audit branch (named after the run id), the quality gate
validates what is on the branches, and only a passing gate publishes them: ``main`` of every table
the run publishes together is fast-forwarded to the run's branch.

Contract of :func:`publish_all` (what makes a gate safe to kill and retry at any point):

- Nothing is published until every table of the set can be: a branch whose ``main`` moved on since it
  was cut (another run published in between) is first replayed onto the new ``main``, with Iceberg's
  serializable validation against the snapshot the branch was cut from. If the other run changed the
  same rows (same date and scope), the whole set fails with one line and nothing of this run is
  published; if it changed other dates or scopes, both runs' rows are kept.
- Fast-forwards then happen table by table, and branches are dropped only after the last one. A crash
  in between leaves the remaining branches in place; running the gate again (Airflow's retry)
  re-validates the same staged rows and completes the set. It never fails with "nothing staged" for a
  table it already published, and never publishes twice.
- Readers of ``main`` never see unvalidated rows. Between two fast-forwards of one set a reader can see
  the first table published before the second; a retry of the gate repairs that state.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lakehouse import faults, table_state
from lakehouse.errors import LakehouseError
from lakehouse.write import (
    LOGICAL_DATE_PROPERTY,
    RUN_ID_PROPERTY,
    SCOPE_PROPERTY,
    WriteMode,
    WriteResult,
    current_snapshot_id,
    write_for_date,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from lakehouse.settings import LakehouseSettings
    from schemas.base import TableSpec

# Another run may publish between our replay and our fast-forward: replay again, a few times.
PUBLISH_ATTEMPTS = 3
METADATA_COMMIT_ATTEMPTS = 6


def audit_branch(run_id: str) -> str:
    """Deterministic, identifier-safe branch name for a run (same run id -> same branch)."""
    return "audit_" + hashlib.sha1(run_id.encode()).hexdigest()[:16]


def branch_exists(spark: SparkSession, table: str, branch: str) -> bool:
    """Whether ``table`` has the branch ``branch`` (as committed now)."""
    ref = table_state.refs(spark, table).get(branch)
    return ref is not None and ref.kind == "BRANCH"


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
    scope: dict[str, Any] | None = None,
) -> WriteResult:
    """Write ``df`` for ``logical_date`` (and ``scope``) onto the run's audit branch, freshly cut from
    ``main``; a retry of the build task starts the branch over."""
    table = settings.table_name(spec.identifier)
    branch = audit_branch(run_id)
    if branch_exists(spark, table, branch):
        _metadata_commit(spark, f"ALTER TABLE {table} DROP BRANCH {branch}")
    _metadata_commit(spark, f"ALTER TABLE {table} CREATE BRANCH {branch}")
    return write_for_date(spark, settings, spec, df, logical_date=logical_date, run_id=run_id,
                          mode=mode, keys=keys, branch=branch, scope=scope)


def read_staged(
    spark: SparkSession, settings: LakehouseSettings, spec: TableSpec, run_id: str, logical_date: dt.date
) -> DataFrame:
    """The logical date's rows as staged on the run's audit branch (or, when a crashed gate already
    published them and dropped the branch, as this run published them)."""
    from lakehouse.read import read_for_date

    table = settings.table_name(spec.identifier)
    branch = audit_branch(run_id)
    ref: str | int | None = branch if branch_exists(spark, table, branch) else _published_snapshot(
        _lineage(spark, table), run_id)
    if ref is None:
        raise LakehouseError(f"nothing staged for run {run_id!r} on {spec.identifier}: run the build task first")
    return read_for_date(spark, settings, spec, logical_date if spec.logical_date_column else None, ref=ref)


def publish_all(spark: SparkSession, settings: LakehouseSettings, specs: Sequence[TableSpec],
                run_id: str) -> dict[str, int | None]:
    """Publish the run's staged rows of every table in ``specs`` (see the module contract); return
    each table's ``main`` snapshot id afterwards."""
    for spec in specs:
        _make_fast_forwardable(spark, settings, spec, run_id)
    faults.point("publish.before_fast_forward")
    for spec in specs:
        _fast_forward(spark, settings, spec, run_id)
        faults.point("publish.after_fast_forward")
    faults.point("publish.before_drop")
    for spec in specs:
        table = settings.table_name(spec.identifier)
        if branch_exists(spark, table, audit_branch(run_id)):
            _metadata_commit(spark, f"ALTER TABLE {table} DROP BRANCH {audit_branch(run_id)}")
    return {spec.identifier: current_snapshot_id(spark, settings.table_name(spec.identifier)) for spec in specs}


def publish(spark: SparkSession, settings: LakehouseSettings, spec: TableSpec, run_id: str) -> int | None:
    """Publish one table (:func:`publish_all` of a single table)."""
    return publish_all(spark, settings, [spec], run_id)[spec.identifier]


def discard(spark: SparkSession, settings: LakehouseSettings, spec: TableSpec, run_id: str) -> None:
    """Drop the run's audit branch if it exists (main is untouched either way)."""
    table = settings.table_name(spec.identifier)
    branch = audit_branch(run_id)
    if branch_exists(spark, table, branch):
        _metadata_commit(spark, f"ALTER TABLE {table} DROP BRANCH {branch}")


def _metadata_commit(spark: SparkSession, statement: str) -> None:
    """Run a branch DDL or fast-forward, retrying when another writer committed to the table's
    metadata in between (Iceberg then asks for a refresh; the statement is simply run again)."""
    import tenacity

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(lambda exc: "CommitFailedException" in str(exc)),
        stop=tenacity.stop_after_attempt(METADATA_COMMIT_ATTEMPTS),
        wait=tenacity.wait_random_exponential(multiplier=0.2, max=5),
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            spark.sql(statement)


# ---- lineage ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Lineage:
    """Snapshots of a table (id -> parent id, summary) and its refs (name -> snapshot id)."""

    parents: dict[int, int | None]
    summaries: dict[int, dict[str, str]]
    refs: dict[str, int]

    def ancestors(self, snapshot_id: int | None) -> list[int]:
        """``snapshot_id`` and its ancestors, newest first."""
        out = []
        while snapshot_id is not None and snapshot_id in self.parents:
            out.append(snapshot_id)
            snapshot_id = self.parents[snapshot_id]
        return out


def _lineage(spark: SparkSession, table: str) -> _Lineage:
    snapshots, refs = table_state.snapshots_and_refs(spark, table)
    return _Lineage(
        parents={s.snapshot_id: s.parent_id for s in snapshots},
        summaries={s.snapshot_id: s.summary for s in snapshots},
        refs={name: ref.snapshot_id for name, ref in refs.items()},
    )


def _published_snapshot(lineage: _Lineage, run_id: str) -> int | None:
    """The newest snapshot of ``main``'s history that this run committed, if any."""
    for snapshot in lineage.ancestors(lineage.refs.get("main")):
        if lineage.summaries[snapshot].get(RUN_ID_PROPERTY) == run_id:
            return snapshot
    return None


# ---- publishing ------------------------------------------------------------------------------------
def _make_fast_forwardable(spark: SparkSession, settings: LakehouseSettings, spec: TableSpec, run_id: str) -> None:
    """Ensure ``main`` is an ancestor of the run's branch (replaying the branch if main moved on), or
    that the table is already published for this run."""
    table = settings.table_name(spec.identifier)
    branch = audit_branch(run_id)
    lineage = _lineage(spark, table)
    head = lineage.refs.get(branch)
    if head is None:
        if _published_snapshot(lineage, run_id) is None:
            raise LakehouseError(f"nothing staged for run {run_id!r} on {spec.identifier}: run the build task first")
        return  # published by an earlier attempt of this gate
    main = lineage.refs.get("main")
    if main is None or main in lineage.ancestors(head) or head in lineage.ancestors(main):
        return
    _replay(spark, settings, spec, run_id, lineage, head)


def _replay(spark: SparkSession, settings: LakehouseSettings, spec: TableSpec, run_id: str, lineage: _Lineage,
            head: int) -> None:
    """Re-cut the run's branch from the current ``main`` and write the staged rows onto it again,
    failing if ``main`` changed the same rows since the branch was first cut."""
    from pyspark.sql import functions as F

    table = settings.table_name(spec.identifier)
    branch = audit_branch(run_id)
    summary = lineage.summaries[head]
    if RUN_ID_PROPERTY not in summary or LOGICAL_DATE_PROPERTY not in summary:
        raise LakehouseError(f"{spec.identifier}: the head of branch {branch} was not written by write_for_date; "
                             "rerun the run from its build task")
    logical_date = dt.date.fromisoformat(summary[LOGICAL_DATE_PROPERTY])
    scope = json.loads(summary.get(SCOPE_PROPERTY) or "{}")
    # The staged snapshot stays in the table's metadata after its branch is re-cut: read it by id.
    rows = spark.sql(f"SELECT * FROM {table} VERSION AS OF {head}")
    rows = rows.where(F.col(spec.logical_date_column) == F.lit(logical_date))  # type: ignore[arg-type]
    for column, value in scope.items():
        rows = rows.where(F.col(column) == F.lit(value))
    _metadata_commit(spark, f"ALTER TABLE {table} DROP BRANCH {branch}")
    _metadata_commit(spark, f"ALTER TABLE {table} CREATE BRANCH {branch}")
    # Conflicts count from the newest snapshot both histories share (a branch cut from an empty table
    # starts at a snapshot of its own: then main's whole history counts).
    on_main = set(lineage.ancestors(lineage.refs.get("main")))
    shared = next((s for s in lineage.ancestors(lineage.parents[head]) if s in on_main), None)
    try:
        write_for_date(spark, settings, spec, rows, logical_date=logical_date, run_id=run_id, branch=branch,
                       scope=scope, conflicts_since=shared)
    except Exception as exc:
        from lakehouse.errors import explain

        if "commit conflict" in explain(exc):
            raise LakehouseError(
                f"{spec.identifier}: another run published rows of {logical_date}"
                f"{' ' + json.dumps(scope) if scope else ''} after this run staged its own; nothing of this "
                "run was published: rerun it from its build task to recompute on top of the newer rows"
            ) from exc
        raise


def _fast_forward(spark: SparkSession, settings: LakehouseSettings, spec: TableSpec, run_id: str) -> None:
    table = settings.table_name(spec.identifier)
    branch = audit_branch(run_id)
    for _ in range(PUBLISH_ATTEMPTS):
        lineage = _lineage(spark, table)
        head = lineage.refs.get(branch)
        main = lineage.refs.get("main")
        if head is None or head == main or head in lineage.ancestors(main):
            return  # already published (by this attempt or an earlier one)
        if main is not None and main not in lineage.ancestors(head):
            _replay(spark, settings, spec, run_id, lineage, head)  # another run published since phase one
            continue
        try:
            _metadata_commit(spark, f"CALL {settings.catalog.name}.system.fast_forward("
                                    f"'{spec.identifier}', 'main', '{branch}')")
            return
        except Exception as exc:  # main moved between our check and the call: look again
            if "ancestor" not in str(exc):
                raise
    raise LakehouseError(f"{spec.identifier}: main kept moving while this run published; retry the gate")
