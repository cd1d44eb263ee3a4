"""All I/O of the finance pipeline: landing-zone listing and reads, and table reads by date.

Writes go through ``lakehouse.write.write_for_date`` (raw) and ``lakehouse.publish.stage_for_date``
(silver, quarantine, gold) in the job entry points.

File-level problems never fail the whole batch: an empty or unreadable landing file becomes one
marker row (``field_count = 0``) that silver quarantines as ``empty_file`` / ``unreadable_file``,
so every landed file is accounted for in raw. Every other file of the folder (``_manifest.json``,
hidden files, names no adapter reads) is ignored with a reason; ``LandingRead.delivered`` lists every
file with its outcome for ``raw.delivered_files``. A day with no landing files at all is an error.

Published Binance zips (``BTCUSDT-aggTrades-2024-01-01.zip``) are read as they are: a zip that is not
exactly one intact CSV of its own name is an unreadable file (one marker row, quarantined with the
reason, the rest of the day goes on). The ``<name>.zip.CHECKSUM`` file Binance ships beside each zip
(``<sha256>  <name>.zip``) is verified when it is delivered: a zip whose bytes do not match it (or
whose checksum file does not parse or names another file) is quarantined as unreadable, never
ingested; the checksum file itself is ignored with the verdict as its reason. A zip without one is
read as is (checksums are optional: Binance's own mirrors and many downloads drop them). An unzipped
``X.csv`` delivered beside ``X.zip`` is ignored (the zip is read), so no trade is ingested twice.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from lakehouse import deliveries, storage
from lakehouse.errors import LakehouseError
from lakehouse.settings import LakehouseSettings
from spark_jobs.finance.adapters import (
    EMPTY_FILE,
    RAW_FIELDS,
    UNREADABLE_FILE,
    adapter_for,
    zip_data_lines,
    zip_problem,
)

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


SMALL_FILE_BYTES = 64 * 1024
CHECKSUM_SUFFIX = ".CHECKSUM"
# Binance's checksum files: "<64 hex digits><two spaces or ' *'><file name>" (sha256sum output).
_CHECKSUM_LINE = re.compile(r"^(?P<sha>[0-9a-fA-F]{64}) [ *](?P<name>\S.*)$")


def landing_dir(settings: LakehouseSettings, trade_date: dt.date) -> str:
    """Landing folder (URI) of one trade date."""
    return storage.join(storage.to_uri(settings.landing), settings.finance.landing_prefix,
                        f"trade_date={trade_date.isoformat()}")


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
    # every file of the folder with its outcome (rows are filled in once raw is written: with_rows)
    delivered: list[deliveries.DeliveredFile] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        problems = {u: k for u, k in self.files.items() if k in ("empty", "unreadable")}
        return {"files": len(self.files), "problem_files": problems, "ignored_files": self.ignored}

    def with_rows(self, rows_by_file: dict[str, int]) -> list[deliveries.DeliveredFile]:
        """``delivered`` with each read file's row count in raw (marker rows of empty or unreadable
        files included: they are that file's rows)."""
        return [d if d.outcome == "ignored" else replace(d, rows=rows_by_file.get(d.uri, 0)) for d in self.delivered]


def list_delivery(settings: LakehouseSettings, trade_date: dt.date) -> list[storage.StoredFile]:
    """Every file of the date's landing folder (recursive), metadata and hidden files included."""
    return storage.list_files(settings, landing_dir(settings, trade_date))


def list_landing(settings: LakehouseSettings, trade_date: dt.date) -> list[LandingFile]:
    """Data files of the date's landing folder (recursive; hidden, '_' metadata and documentation files
    skipped: ``deliveries.ignore_reason``)."""
    return [LandingFile(f.uri, f.size) for f in list_delivery(settings, trade_date)
            if deliveries.ignore_reason(f.name) is None]


def parse_checksum(text: str) -> tuple[str, str] | None:
    """(sha256 hex, file name) of a Binance ``.CHECKSUM`` file's one line, or None when it does not parse."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    found = _CHECKSUM_LINE.match(lines[0]) if len(lines) == 1 else None
    return (found["sha"].lower(), found["name"].strip()) if found else None


def verify_checksums(settings: LakehouseSettings, delivered: list[storage.StoredFile]
                     ) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Check every ``<name>.CHECKSUM`` of a delivery against the file it names.

    Returns (checksum file uri -> why it is ignored, data file uri -> why it fails verification,
    data file uri -> its verified sha256). A checksum whose file was not delivered is ignored as such.
    """
    by_name = {f.name: f for f in delivered}
    ignored: dict[str, str] = {}
    failed: dict[str, str] = {}
    verified: dict[str, str] = {}
    for file in delivered:
        if not file.name.endswith(CHECKSUM_SUFFIX):
            continue
        target_name = file.name[: -len(CHECKSUM_SUFFIX)]
        target = by_name.get(target_name)
        if target is None:
            ignored[file.uri] = f"checksum file without its data file {target_name}"
            continue
        parsed = parse_checksum(storage.read_bytes(settings, file.uri).decode("utf-8", "replace"))
        base = target_name.rsplit("/", 1)[-1]
        if parsed is None or parsed[1].rsplit("/", 1)[-1] != base:
            why = "does not parse" if parsed is None else f"names {parsed[1]!r}"
            ignored[file.uri] = f"checksum of {target_name}: {why}, so {target_name} is not ingested"
            failed[target.uri] = f"{file.name.rsplit('/', 1)[-1]} {why} (expected '<sha256>  {base}')"
            continue
        actual = storage.sha256_of(settings, target.uri)
        if actual != parsed[0]:
            ignored[file.uri] = f"checksum of {target_name}: does not match, so {target_name} is not ingested"
            failed[target.uri] = (f"sha256 {actual} does not match {file.name.rsplit('/', 1)[-1]} ({parsed[0]}): "
                                  "corrupt or incomplete download")
            continue
        ignored[file.uri] = f"checksum of {target_name}: verified"
        verified[target.uri] = actual
    return ignored, failed, verified


def _check_file(settings: LakehouseSettings, file: LandingFile, binary: bool,
                zipped: bool = False) -> tuple[str, str] | None:
    """('empty'|'unreadable', detail) for a file that cannot contribute rows, else None."""
    if file.size == 0:
        return "empty", EMPTY_FILE
    if zipped:
        with storage.open_random_access(settings, file.uri) as handle:
            problem = zip_problem(handle, file.uri)
            if problem is not None:
                return "unreadable", f"{UNREADABLE_FILE}: {problem}"
            handle.seek(0)
            # a zip of a header-only (or blank) CSV delivers no rows: empty, like the CSV itself
            return None if zip_data_lines(handle, file.uri) else ("empty", EMPTY_FILE)
    if binary:
        import pyarrow.parquet as pq

        with storage.open_random_access(settings, file.uri) as handle:
            try:
                meta = pq.ParquetFile(handle).metadata
            except ValueError as exc:  # ArrowInvalid: not Parquet. I/O errors (OSError) fail the job instead:
                # a throttled or unreachable store must never turn a good file into an "unreadable" one.
                return "unreadable", f"{UNREADABLE_FILE}: {str(exc).splitlines()[0][:200]}"
        return ("empty", EMPTY_FILE) if meta.num_rows == 0 else None
    if file.size <= SMALL_FILE_BYTES:  # a CSV with only a header (or blank lines) is empty too
        lines = [ln.strip() for ln in storage.read_bytes(settings, file.uri).decode("utf-8", "replace").splitlines()]
        data = [ln for ln in lines if ln and not ln.startswith(("symbol,", "id,", "agg_trade_id,"))]
        if not data:
            return "empty", EMPTY_FILE
    return None


def read_landing(spark: SparkSession, settings: LakehouseSettings, trade_date: dt.date) -> LandingRead:
    """Read every landing file of ``trade_date`` into RAW_FIELDS columns (text, as delivered)."""
    from functools import reduce

    from pyspark.sql import functions as F
    from pyspark.sql.types import IntegerType, StringType, StructField, StructType

    delivered = list_delivery(settings, trade_date)
    if not delivered:
        raise LakehouseError(
            f"no landing files for finance ticks on {trade_date} under {landing_dir(settings, trade_date)}: "
            f"land them first (e.g. `lakehouse generate ticks --date {trade_date}`)"
        )
    read = LandingRead(df=None)  # type: ignore[arg-type]
    by_adapter: dict[str, tuple[Any, list[str]]] = {}
    markers: list[tuple[Any, ...]] = []
    checksum_files, checksum_failed, verified = verify_checksums(settings, delivered)
    # an unzipped copy next to its published zip would ingest every trade twice: the zip is read
    zips = {f.name[: -len(".zip")] for f in delivered if f.name.endswith(".zip")}
    for stored in delivered:
        why_not = deliveries.ignore_reason(stored.name)
        if why_not is not None:
            read.delivered.append(deliveries.ignored(stored, why_not))
            continue
        if stored.uri in checksum_files:
            read.delivered.append(deliveries.ignored(stored, checksum_files[stored.uri]))
            continue
        if stored.name.endswith(".csv") and stored.name[: -len(".csv")] in zips:
            read.ignored.append(stored.uri)
            read.delivered.append(deliveries.ignored(stored, f"also delivered as {stored.name[:-len('.csv')]}.zip, "
                                                             "which is read instead"))
            continue
        file = LandingFile(stored.uri, stored.size)
        adapter = adapter_for(file.uri)
        if adapter is None:
            read.ignored.append(file.uri)
            read.delivered.append(deliveries.ignored(stored, "no tick adapter reads this file name "
                                                             "(csv, parquet, Binance trades/aggTrades csv or zip)"))
            continue
        if stored.uri in checksum_failed:
            problem: tuple[str, str] | None = ("unreadable", f"{UNREADABLE_FILE}: {checksum_failed[stored.uri]}")
        else:
            problem = _check_file(settings, file, adapter.binary, adapter.zipped)
        if problem is not None:
            kind, detail = problem
            read.files[file.uri] = kind
            markers.append((file.uri, adapter.name, 0, None, None, None, None, None, None, detail))
            # the reason code silver quarantines the marker row with (empty_file / unreadable_file: ...)
            reason = deliveries.EMPTY_FILE if kind == "empty" else "unreadable_file" + detail[len(UNREADABLE_FILE):]
            read.delivered.append(deliveries.quarantined(stored, reason))
            continue
        read.files[file.uri] = adapter.name
        entry = deliveries.ingested(stored, rows=0)
        read.delivered.append(replace(entry, sha256=verified[file.uri]) if file.uri in verified else entry)
        by_adapter.setdefault(adapter.name, (adapter, []))[1].append(file.uri)
    if not read.files:
        raise LakehouseError(
            f"no tick files for {trade_date} under {landing_dir(settings, trade_date)} "
            f"(found only: {', '.join(f'{d.name} ({d.reason})' for d in read.delivered)})"
        )
    frames: list[DataFrame] = []
    for adapter, uris in by_adapter.values():
        # Binary formats are read one file at a time so one file's schema never affects another's.
        groups = [[u] for u in uris] if adapter.binary else [uris]
        for group in groups:
            df = adapter.read(spark, group, settings) if adapter.zipped else adapter.read(spark, group)
            frames.append(df.select(*RAW_FIELDS))
    if markers:
        schema = StructType([StructField(c, IntegerType() if c == "field_count" else StringType())
                             for c in RAW_FIELDS])
        frames.append(spark.createDataFrame(markers, schema))
    df = reduce(lambda a, b: a.unionByName(b), frames)
    # Spark reports local files as file:/path; keep the URI form used everywhere else.
    read.df = df.withColumn("source_file", F.regexp_replace("source_file", r"^file:/+", "file:///"))
    return read


