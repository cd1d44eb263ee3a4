"""Every delivered file accounted for: ingested, quarantined with a reason, or ignored with a reason.

Each domain's landing job (finance raw, energy ingest, vision raw) lists its delivery folder, decides
the outcome of every file it finds and reports all of them twice: in the job's one-line JSON summary
(:func:`summary`) and as rows of ``raw.delivered_files`` (:func:`record`, through the one write path,
scoped to the run's domain and dataset for its logical date). The rules every domain shares
live here: which names are never data (:func:`ignore_reason`) and what an empty file is
(:data:`EMPTY_FILE`, always quarantined, never silently dropped).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from lakehouse import storage
from lakehouse.settings import LakehouseSettings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from lakehouse.write import WriteResult

Outcome = Literal["ingested", "quarantined", "ignored"]
EMPTY_FILE = "empty_file"
_DOCUMENTATION = frozenset({"readme", "license", "licence", "changelog", "notice"})


@dataclass(frozen=True)
class DeliveredFile:
    """One delivered file and what the landing job did with it."""

    uri: str
    name: str  # relative to the delivery folder
    size: int
    outcome: Outcome
    reason: str | None = None  # required for quarantined and ignored files
    rows: int | None = None  # rows the file has in the domain's raw table; None when ignored
    sha256: str | None = None

    def __post_init__(self) -> None:
        if self.outcome not in ("ingested", "quarantined", "ignored"):
            raise ValueError(f"unknown outcome {self.outcome!r}")
        if self.outcome != "ingested" and not self.reason:
            raise ValueError(f"{self.uri}: a {self.outcome} file needs a reason")


def ignore_reason(name: str) -> str | None:
    """Why a file is never data, judged by its name alone, or None.

    Hidden files (``.DS_Store``), metadata files whose name starts with ``_`` (``_manifest.json``,
    ``_SUCCESS``) and documentation (``README``, ``readme.html``, ``LICENSE``, any extension).
    """
    base = name.rstrip("/").rsplit("/", 1)[-1]
    if base.startswith("."):
        return "hidden file"
    if base.startswith("_"):
        return "metadata file (name starts with '_')"
    if base.split(".", 1)[0].lower() in _DOCUMENTATION:
        return "documentation file"
    return None


def ignored(file: storage.StoredFile, reason: str) -> DeliveredFile:
    return DeliveredFile(file.uri, file.name, file.size, "ignored", reason)


def quarantined(file: storage.StoredFile, reason: str, rows: int = 0) -> DeliveredFile:
    return DeliveredFile(file.uri, file.name, file.size, "quarantined", reason, rows)


def ingested(file: storage.StoredFile, rows: int) -> DeliveredFile:
    return DeliveredFile(file.uri, file.name, file.size, "ingested", None, rows)


def with_hashes(settings: LakehouseSettings, files: Iterable[DeliveredFile],
                known: dict[str, str] | None = None) -> list[DeliveredFile]:
    """The files with the SHA-256 of their delivered bytes (``known``: uri -> hash already computed;
    the others are streamed, byte for byte)."""
    known = known or {}
    return [f if f.sha256 else replace(f, sha256=known.get(f.uri) or storage.sha256_of(settings, f.uri))
            for f in files]


def summary(files: Iterable[DeliveredFile]) -> dict[str, Any]:
    """The part of a landing job's JSON summary that accounts for every delivered file."""
    files = sorted(files, key=lambda f: f.name)
    counts = {o: sum(f.outcome == o for f in files) for o in ("ingested", "quarantined", "ignored")}
    return {
        "delivered": counts,
        "delivered_files": [{"file": f.name, "outcome": f.outcome, "reason": f.reason, "rows": f.rows}
                            for f in files],
    }


def record(spark: SparkSession, settings: LakehouseSettings, files: Iterable[DeliveredFile], *, domain: str,
           dataset: str, logical_date: dt.date, run_id: str) -> WriteResult:
    """Write the run's files as the complete rows of ``domain``/``dataset`` in ``raw.delivered_files`` for
    the logical date: one commit through ``write_for_date`` with that scope, so other domains' and
    datasets' rows of the date are untouched (and a concurrent run of another scope both lands)."""
    from lakehouse.write import write_for_date
    from schemas.deliveries import DELIVERED_FILES, scope

    owned = scope(domain, dataset)
    target = spark.table(settings.table_name(DELIVERED_FILES.identifier)).schema
    values = [{
        "logical_date": logical_date, **owned, "run_id": run_id, "file_uri": f.uri, "file_name": f.name,
        "size_bytes": f.size, "sha256": f.sha256, "outcome": f.outcome, "reason": f.reason, "rows": f.rows,
    } for f in files]
    nullable = target.__class__([field.__class__(field.name, field.dataType, True) for field in target.fields])
    df = spark.createDataFrame([tuple(v[field.name] for field in target.fields) for v in values], nullable)
    return write_for_date(spark, settings, DELIVERED_FILES, df, logical_date=logical_date, run_id=run_id,
                          scope=owned)
