"""All I/O of the finance pipeline: landing-zone listing and reads, and table reads by date.

Writes go through ``lakehouse.write.write_for_date`` (raw) and ``lakehouse.publish.stage_for_date``
(silver, quarantine, gold) in the job entry points.

File-level problems never fail the whole batch: an empty or unreadable landing file becomes one
marker row (``field_count = 0``) that silver quarantines as ``empty_file`` / ``unreadable_file``,
so every landed file is accounted for in raw. A day with no landing files at all is an error.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lakehouse import storage
from lakehouse.errors import LakehouseError
from lakehouse.settings import LakehouseSettings
from spark_jobs.finance.adapters import EMPTY_FILE, RAW_FIELDS, UNREADABLE_FILE, adapter_for
from spark_jobs.finance.generator import landing_dir

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from schemas.base import TableSpec

SMALL_FILE_BYTES = 64 * 1024


@dataclass(frozen=True)
class LandingFile:
    """A file in the landing folder of a trade date."""

    uri: str
    size: int


@dataclass
class LandingRead:
    """What the landing read found: the rows and the files by outcome."""

    df: DataFrame
    files: dict[str, str] = field(default_factory=dict)  # uri -> adapter name / "empty" / "unreadable"
    ignored: list[str] = field(default_factory=list)  # files no adapter reads

    def summary(self) -> dict[str, Any]:
        problems = {u: k for u, k in self.files.items() if k in ("empty", "unreadable")}
        return {"files": len(self.files), "problem_files": problems, "ignored_files": self.ignored}


def list_landing(settings: LakehouseSettings, trade_date: dt.date) -> list[LandingFile]:
    """Data files of the date's landing folder (recursive; names starting with '_' or '.' skipped)."""
    import pyarrow.fs as pafs

    folder = landing_dir(settings, trade_date)
    fs, path = storage.filesystem(settings, folder)
    if fs.get_file_info(path).type != pafs.FileType.Directory:
        return []
    infos = fs.get_file_info(pafs.FileSelector(path, recursive=True))
    scheme = storage.to_uri(folder).split("://", 1)[0]
    files = []
    for info in infos:
        if info.type != pafs.FileType.File or info.base_name.startswith(("_", ".")):
            continue
        files.append(LandingFile(f"{scheme}://{info.path}", int(info.size or 0)))
    return sorted(files, key=lambda f: f.uri)


def _check_file(settings: LakehouseSettings, file: LandingFile, binary: bool) -> tuple[str, str] | None:
    """('empty'|'unreadable', detail) for a file that cannot contribute rows, else None."""
    if file.size == 0:
        return "empty", EMPTY_FILE
    fs, path = storage.filesystem(settings, file.uri)
    if binary:
        import pyarrow.parquet as pq

        try:
            with fs.open_input_file(path) as handle:
                meta = pq.ParquetFile(handle).metadata
        except Exception as exc:
            return "unreadable", f"{UNREADABLE_FILE}: {str(exc).splitlines()[0][:200]}"
        return ("empty", EMPTY_FILE) if meta.num_rows == 0 else None
    if file.size <= SMALL_FILE_BYTES:  # a CSV with only a header (or blank lines) is empty too
        with fs.open_input_stream(path) as handle:
            lines = [ln.strip() for ln in handle.read().decode("utf-8", "replace").splitlines()]
        data = [ln for ln in lines if ln and not ln.startswith(("symbol,", "id,"))]
        if not data:
            return "empty", EMPTY_FILE
    return None


def read_landing(spark: SparkSession, settings: LakehouseSettings, trade_date: dt.date) -> LandingRead:
    """Read every landing file of ``trade_date`` into RAW_FIELDS columns (text, as delivered)."""
    from functools import reduce

    from pyspark.sql import functions as F
    from pyspark.sql.types import IntegerType, StringType, StructField, StructType

    files = list_landing(settings, trade_date)
    if not files:
        raise LakehouseError(
            f"no landing files for finance ticks on {trade_date} under {landing_dir(settings, trade_date)}: "
            f"land them first (e.g. `lakehouse generate ticks --date {trade_date}`)"
        )
    read = LandingRead(df=None)  # type: ignore[arg-type]
    by_adapter: dict[str, tuple[Any, list[str]]] = {}
    markers: list[tuple[Any, ...]] = []
    for file in files:
        adapter = adapter_for(file.uri)
        if adapter is None:
            read.ignored.append(file.uri)
            continue
        problem = _check_file(settings, file, adapter.binary)
        if problem is not None:
            kind, detail = problem
            read.files[file.uri] = kind
            markers.append((file.uri, adapter.name, 0, None, None, None, None, None, None, detail))
            continue
        read.files[file.uri] = adapter.name
        by_adapter.setdefault(adapter.name, (adapter, []))[1].append(file.uri)
    if not read.files:
        raise LakehouseError(
            f"no tick files for {trade_date} under {landing_dir(settings, trade_date)} "
            f"(found only: {', '.join(u.rsplit('/', 1)[-1] for u in read.ignored)})"
        )
    frames: list[DataFrame] = []
    for adapter, uris in by_adapter.values():
        # Binary formats are read one file at a time so one file's schema never affects another's.
        groups = [[u] for u in uris] if adapter.binary else [uris]
        frames.extend(adapter.read(spark, group).select(*RAW_FIELDS) for group in groups)
    if markers:
        schema = StructType([StructField(c, IntegerType() if c == "field_count" else StringType())
                             for c in RAW_FIELDS])
        frames.append(spark.createDataFrame(markers, schema))
    df = reduce(lambda a, b: a.unionByName(b), frames)
    # Spark reports local files as file:/path; keep the URI form used everywhere else.
    read.df = df.withColumn("source_file", F.regexp_replace("source_file", r"^file:/+", "file:///"))
    return read


def read_date(spark: SparkSession, settings: LakehouseSettings, spec: TableSpec, trade_date: dt.date) -> DataFrame:
    """The published (main) rows of ``spec`` for one trade date."""
    from pyspark.sql import functions as F

    if spec.logical_date_column is None:
        raise LakehouseError(f"{spec.identifier} has no logical date column")
    return spark.table(settings.table_name(spec.identifier)).where(
        F.col(spec.logical_date_column) == F.lit(trade_date))
