"""All energy I/O in one place: landing files, Iceberg reads, staged writes, model artifacts."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import TYPE_CHECKING

from lakehouse import storage
from lakehouse.errors import LakehouseError
from lakehouse.settings import LakehouseSettings
from spark_jobs.energy import uci

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

# The household registry a delivery may carry (meter id, source), under the landing zone.
HOUSEHOLDS_MANIFEST = "energy/households.csv"



def landing_uri(settings: LakehouseSettings, relative: str) -> str:
    """URI of a path under the landing zone."""
    return storage.join(storage.to_uri(settings.landing), relative)


def month_dir(settings: LakehouseSettings, month_start: dt.date) -> str:
    """``{landing}/energy/YYYY-MM``: where a month's household files land."""
    return landing_uri(settings, f"energy/{month_start:%Y-%m}")


def write_text(settings: LakehouseSettings, uri: str, text: str) -> None:
    """Write a text file to the landing zone (local disk or S3), UTF-8, byte for byte."""
    storage.write_bytes(settings, uri, text.encode())


def read_text(settings: LakehouseSettings, uri: str) -> tuple[str, str]:
    """Text and SHA-256 of a landing file's stored bytes (decoded as UTF-8, undecodable bytes replaced)."""
    data = storage.read_bytes(settings, uri)
    return data.decode("utf-8", errors="replace"), hashlib.sha256(data).hexdigest()


def file_span(settings: LakehouseSettings, uri: str, chunk: int = 65536) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """(first, last) meter time of a chronological UCI file, from its first and last dated lines (reads
    only the file's head and tail); None when neither end has a dated line."""
    with storage.open_random_access(settings, uri) as handle:
        size = handle.size()
        head = handle.read(min(size, chunk)).decode("utf-8", errors="replace")
        handle.seek(max(0, size - chunk))
        tail = handle.read().decode("utf-8", errors="replace")
    head_lines = head.splitlines()[:-1] if size > chunk else head.splitlines()  # the last may be cut
    tail_lines = tail.splitlines()[1:] if size > chunk else tail.splitlines()  # the first may be cut
    first = next((t for t in map(uci.line_timestamp, head_lines) if t is not None), None)
    last = next((t for t in map(uci.line_timestamp, reversed(tail_lines)) if t is not None), None)
    return (first, last) if first is not None and last is not None else None


def is_uci_file(name: str) -> bool:
    """A UCI text file by its name: ``.txt`` in any case (``HH_002.TXT`` too)."""
    return name.lower().endswith(".txt")


def list_delivery(settings: LakehouseSettings, location: str) -> list[storage.StoredFile]:
    """Every file directly under the folder ``location`` (sorted; hidden and metadata files included, the
    ingest accounts for each), or the one file ``location`` names; [] if there is nothing there."""
    import pyarrow.fs as pafs

    fs, path = storage.filesystem(settings, location)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.File:
        return [storage.StoredFile(storage.to_uri(location), info.base_name, int(info.size or 0))]
    return storage.list_files(settings, location, recursive=False)


def list_files(settings: LakehouseSettings, directory: str) -> list[str]:
    """URIs of the UCI text files (``.txt``, any case) directly under ``directory`` (sorted); [] if it
    does not exist."""
    return [f.uri for f in storage.list_files(settings, directory, recursive=False) if is_uci_file(f.name)]


def known_households(settings: LakehouseSettings) -> set[str] | None:
    """Meter ids the pipeline accepts: the setting, else the landing manifest; None = accept any."""
    if settings.energy.households:
        return set(settings.energy.households)
    uri = landing_uri(settings, HOUSEHOLDS_MANIFEST)
    fs, path = storage.filesystem(settings, uri)
    import pyarrow.fs as pafs

    if fs.get_file_info(path).type != pafs.FileType.File:
        return None
    text, _ = read_text(settings, uri)
    rows = [line.split(",", 1)[0].strip() for line in text.splitlines()[1:]]
    return {r for r in rows if r}


def file_plan(settings: LakehouseSettings, files: list[str], household: str | None
              ) -> list[tuple[str, str, str | None]]:
    """(uri, household id, file error) per file: the id from the option or the file name."""
    known = known_households(settings)
    plan = []
    for uri in files:
        hid = household or uci.household_from_filename(uri)
        error = None
        if hid is None:
            hid = uri.rsplit("/", 1)[-1]
            error = f"cannot derive a household id from the file name {hid!r}"
        elif known is not None and hid not in known:
            error = f"unknown household {hid!r} (not in the household registry: energy.households / " \
                    f"{HOUSEHOLDS_MANIFEST})"
        plan.append((uri, hid, error))
    return plan


def raw_lines(spark: SparkSession, settings: LakehouseSettings, plan: list[tuple[str, str, str | None]]
              ) -> DataFrame:
    """Parse the planned files on the workers (one file per task slot) into raw rows (Arrow batches straight
    to the JVM: no pandas object per cell)."""
    from lakehouse.frames import spark_ddl
    from schemas.energy import RAW_READINGS

    columns = (*uci.RAW_COLUMNS, "file_sha256")
    schema = spark_ddl(RAW_READINGS, columns)

    def parse(batches):  # type: ignore[no-untyped-def]
        for batch in batches:
            for uri, hid, error in zip(*(batch.column(i).to_pylist() for i in range(3)), strict=True):
                text, sha = read_text(settings, uri)
                table = uci.split_lines_table(text, uri, hid, error, extra={"file_sha256": sha})
                yield from table.select(list(columns)).to_batches()

    files = spark.createDataFrame(plan, "uri string, household_id string, file_error string")
    return files.repartition(max(1, min(len(plan), spark.sparkContext.defaultParallelism * 2))).mapInArrow(
        parse, schema)


def require_rows(df: DataFrame, what: str) -> None:
    """Fail with one line when ``df`` is empty."""
    if df.limit(1).count() == 0:
        raise LakehouseError(what)
