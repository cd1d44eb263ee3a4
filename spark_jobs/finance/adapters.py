"""Landing-format adapters: each maps one delivered file format onto the raw tick columns.

An adapter says which files it reads (by file name) and turns a list of them into a DataFrame with
``RAW_FIELDS`` (all text, as delivered). Add a format by appending an ``Adapter`` to ``ADAPTERS``.
Row-level problems (wrong column count, garbage values) are kept as rows for quarantine; they never
fail the read.

Binance daily dumps are read as data.binance.vision publishes them: ``BTCUSDT-aggTrades-2024-01-01.zip``
holding exactly one CSV of the same name (``-trades-`` files alike). The zip is checked on the driver
before Spark reads it (:func:`zip_problem`: a valid zip, one member of the expected name, unencrypted,
CRC intact) and its CSV is streamed on the workers, line by line (:func:`read_binance_zip`), so nobody
unpacks anything and the delivered zip stays the file ``raw.delivered_files`` accounts for.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from lakehouse.settings import LakehouseSettings

# Columns every adapter returns (all strings except field_count), before ingest metadata is added.
RAW_FIELDS = ("source_file", "source_format", "field_count", "symbol", "exchange", "ts", "price", "size",
              "trade_id", "raw_line")

OUR_CSV_COLUMNS = ("symbol", "exchange", "ts", "price", "size", "trade_id")
BINANCE_COLUMNS = ("id", "price", "qty", "quote_qty", "time", "is_buyer_maker", "is_best_match")
# raw_line of the marker row that stands for a file that delivered no rows (field_count = 0)
EMPTY_FILE = "empty file"
UNREADABLE_FILE = "unreadable file"
BINANCE_FILE = re.compile(r"^(?P<symbol>[A-Z0-9]+)-trades-\d{4}-\d{2}-\d{2}\.csv$")
# Binance spot aggTrades (data.binance.vision daily dumps, unzipped): one row per aggregated trade.
BINANCE_AGG_COLUMNS = ("agg_trade_id", "price", "quantity", "first_trade_id", "last_trade_id", "transact_time",
                       "is_buyer_maker", "is_best_match")
BINANCE_AGG_FILE = re.compile(r"^(?P<symbol>[A-Z0-9]+)-aggTrades-\d{4}-\d{2}-\d{2}\.csv$")
# The published daily archives: one zip per symbol, kind and day, holding the CSV of the same name.
BINANCE_ZIP_FILE = re.compile(r"^(?P<symbol>[A-Z0-9]+)-(?P<kind>trades|aggTrades)-\d{4}-\d{2}-\d{2}\.zip$")
# Lines per pandas batch when a zipped CSV is streamed on a worker (bounds worker memory, not correctness).
ZIP_LINES_PER_BATCH = 200_000
_HEADERS = {"trades": "id,", "aggTrades": "agg_trade_id,"}


@dataclass(frozen=True)
class Adapter:
    """A landing format: which file names it reads and how."""

    name: str
    matches: Callable[[str], bool]
    # (spark, uris) -> rows; zipped adapters also take the settings (workers open the zips through storage)
    read: Callable[..., DataFrame]
    # Parquet-like formats can be checked cheaply on the driver (footer) before Spark reads them.
    binary: bool = False
    # Zipped CSVs are checked on the driver (zip_problem) and unzipped on the workers.
    zipped: bool = False


def _text_lines(spark: SparkSession, uris: list[str]) -> DataFrame:
    """Non-blank lines of text files with the file each came from (CRLF tolerated)."""
    from pyspark.sql import functions as F

    df = spark.read.text(uris).select(
        F.regexp_replace(F.col("value"), "\r$", "").alias("line"),
        F.col("_metadata.file_path").alias("source_file"),
    )
    return df.where(F.trim(F.col("line")) != "")


def zip_member_name(zip_name: str) -> str:
    """The one CSV a published Binance zip holds: the zip's own name with ``.csv`` for ``.zip``."""
    return zip_name.rsplit("/", 1)[-1][: -len(".zip")] + ".csv"


def binance_zip_bytes(csv_data: bytes, zip_name: str) -> bytes:
    """A zip exactly as data.binance.vision publishes one: ``zip_name`` holding only its CSV (deflated).
    The entry's timestamp is fixed so the same CSV always gives the same bytes (and checksum)."""
    import io

    if not BINANCE_ZIP_FILE.match(zip_name):
        raise ValueError(f"{zip_name!r} is not a Binance daily archive name (SYMBOL-trades|aggTrades-YYYY-MM-DD.zip)")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        info = zipfile.ZipInfo(zip_member_name(zip_name), date_time=(2000, 1, 1, 0, 0, 0))
        info.compress_type = zipfile.ZIP_DEFLATED
        archive.writestr(info, csv_data)
    return out.getvalue()


def agg_trades_from_trades(csv_data: bytes) -> bytes:
    """An aggTrades CSV (no header, the pre-2025 shape) of a trades CSV: one aggregate per trade, so
    ``first_trade_id = last_trade_id``; the aggregate ids continue the trade ids."""
    out = []
    for line in csv_data.decode().splitlines():
        fields = line.split(",")
        if len(fields) != len(BINANCE_COLUMNS) or not fields[0].isdigit():
            continue  # the header of newer trades files
        trade_id, price, qty, _quote, time, maker, best = fields
        out.append(f"{int(trade_id) // 2},{price},{qty},{trade_id},{trade_id},{time},{maker},{best}")
    return ("\n".join(out) + "\n").encode() if out else b""


def checksum_text(data: bytes, file_name: str) -> str:
    """The ``.CHECKSUM`` line Binance ships beside a file: ``<sha256>  <file name>`` (sha256sum output)."""
    import hashlib

    return f"{hashlib.sha256(data).hexdigest()}  {file_name}\n"


def zip_problem(handle: object, zip_name: str) -> str | None:
    """Why a delivered Binance zip cannot be read as published (one line), or None when it can.

    ``handle``: a seekable binary file of the zip's bytes. Checked: a zip at all, exactly one member,
    named like the zip (``X.zip`` holds ``X.csv``, no folders), not encrypted, a compression Python
    reads (stored or deflated), and every byte matching its CRC-32 (the whole member is inflated once,
    streamed, so a truncated or bit-flipped download is caught here rather than half-way through Spark).
    """
    expected = zip_member_name(zip_name)
    try:
        with zipfile.ZipFile(handle) as archive:  # type: ignore[arg-type]
            members = archive.infolist()
            names = [m.filename for m in members]
            if len(members) != 1 or names[0] != expected:
                return (f"zip holds {', '.join(names[:5]) or 'nothing'}"
                        f"{f' and {len(names) - 5} more' if len(names) > 5 else ''}, expected exactly {expected}")
            member = members[0]
            if member.flag_bits & 0x1:
                return f"zip member {expected} is encrypted"
            if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                return (f"zip member {expected} uses compression method {member.compress_type} "
                        "(stored or deflate expected)")
            bad = archive.testzip()
            if bad is not None:
                return f"zip member {bad} fails its CRC check (corrupt or truncated download)"
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, NotImplementedError, zlib.error) as exc:
        # OSError (store unreachable, throttled) is deliberately not caught: it must fail the job, never
        # turn a good file into an unreadable one.
        detail = str(exc).splitlines()[0][:160] if str(exc) else "corrupt"
        return f"not a readable zip ({type(exc).__name__}: {detail})"
    return None


def zip_lines(handle: object, zip_name: str) -> Iterator[str]:
    """Non-blank lines of the CSV a Binance zip holds (CRLF tolerated), streamed without unpacking."""
    import io

    with zipfile.ZipFile(handle) as archive, archive.open(zip_member_name(zip_name)) as member:  # type: ignore[arg-type]
        for line in io.TextIOWrapper(member, encoding="utf-8", errors="replace", newline=""):
            line = line.rstrip("\r\n")
            if line.strip():
                yield line


def zip_data_lines(handle: object, zip_name: str, limit: int = 1) -> list[str]:
    """Up to ``limit`` data lines of a Binance zip's CSV (its header skipped): [] means an empty file."""
    out: list[str] = []
    for line in zip_lines(handle, zip_name):
        if not line.startswith(tuple(_HEADERS.values())):
            out.append(line)
            if len(out) >= limit:
                break
    return out


def _zip_text_lines(spark: SparkSession, uris: list[str], settings: LakehouseSettings) -> DataFrame:
    """Like :func:`_text_lines`, for published Binance zips: each zip is opened on a worker (one file per
    task, through ``lakehouse.storage``: local or S3) and its CSV streamed in batches of
    ``ZIP_LINES_PER_BATCH`` lines, so neither the driver nor a worker holds a whole day's CSV."""
    from lakehouse import storage

    def unzip(batches):  # type: ignore[no-untyped-def]
        import pandas as pd

        for batch in batches:
            for uri in batch["uri"]:
                with storage.open_random_access(settings, uri) as handle:
                    chunk: list[str] = []
                    for line in zip_lines(handle, uri):
                        chunk.append(line)
                        if len(chunk) >= ZIP_LINES_PER_BATCH:
                            yield pd.DataFrame({"line": chunk, "source_file": uri})
                            chunk = []
                    if chunk:
                        yield pd.DataFrame({"line": chunk, "source_file": uri})

    files = spark.createDataFrame([(u,) for u in uris], "uri string")
    return files.repartition(max(1, min(len(uris), spark.sparkContext.defaultParallelism * 2))).mapInPandas(
        unzip, "line string, source_file string")


def _field(parts: Column, i: int, ok: Column) -> Column:
    from pyspark.sql import functions as F

    value = F.trim(parts.getItem(i))
    return F.when(ok & (value != ""), value)


def read_our_csv(spark: SparkSession, uris: list[str]) -> DataFrame:
    """Our CSV: header ``symbol,exchange,ts,price,size,trade_id``; ts ISO-8601 UTC."""
    from pyspark.sql import functions as F

    lines = _text_lines(spark, uris).where(F.col("line") != ",".join(OUR_CSV_COLUMNS))
    parts = F.split(F.col("line"), ",", -1)
    ok = F.size(parts) == len(OUR_CSV_COLUMNS)
    return lines.select(
        F.col("source_file"),
        F.lit("csv").alias("source_format"),
        F.size(parts).alias("field_count"),
        *(_field(parts, i, ok).alias(name) for i, name in enumerate(OUR_CSV_COLUMNS)),
        F.col("line").alias("raw_line"),
    )


def read_binance_csv(spark: SparkSession, uris: list[str]) -> DataFrame:
    """Binance spot trades CSV (no header, or the newer files' ``id,price,...`` header).

    The symbol comes from the file name (``BTCUSDT-trades-2024-01-02.csv``); ``time`` is epoch
    milliseconds or microseconds and stays text in raw (silver decides by magnitude).
    """
    return _binance_lines(_text_lines(spark, uris), kind="trades", source_format="binance", header="id,",
                          columns=len(BINANCE_COLUMNS), ts_field=4)


def read_binance_agg_csv(spark: SparkSession, uris: list[str]) -> DataFrame:
    """Binance spot aggTrades CSV (no header, or the ``agg_trade_id,price,...`` header of newer files).

    The symbol comes from the file name (``BTCUSDT-aggTrades-2024-01-02.csv``), ``trade_id`` is the
    aggregate trade id and ``ts`` the ``transact_time`` (epoch ms, or us in the files from 2025 on).
    """
    return _binance_lines(_text_lines(spark, uris), kind="aggTrades", source_format="binance_agg",
                          header="agg_trade_id,", columns=len(BINANCE_AGG_COLUMNS), ts_field=5)


def read_binance_zip(spark: SparkSession, uris: list[str], settings: LakehouseSettings) -> DataFrame:
    """Published Binance trades zips (``BTCUSDT-trades-2024-01-02.zip``): the CSV inside, read like
    :func:`read_binance_csv` (``source_format`` names the CSV dialect; ``source_file`` is the zip)."""
    return _binance_lines(_zip_text_lines(spark, uris, settings), kind="trades", source_format="binance", header="id,",
                          columns=len(BINANCE_COLUMNS), ts_field=4)


def read_binance_agg_zip(spark: SparkSession, uris: list[str], settings: LakehouseSettings) -> DataFrame:
    """Published Binance aggTrades zips (``BTCUSDT-aggTrades-2024-01-02.zip``), read like
    :func:`read_binance_agg_csv`."""
    return _binance_lines(_zip_text_lines(spark, uris, settings), kind="aggTrades", source_format="binance_agg",
                          header="agg_trade_id,", columns=len(BINANCE_AGG_COLUMNS), ts_field=5)


def _binance_lines(lines: DataFrame, *, kind: str, source_format: str, header: str,
                   columns: int, ts_field: int) -> DataFrame:
    """Raw rows of a Binance dump: trade id, price and quantity are its first three fields in both kinds."""
    from pyspark.sql import functions as F

    lines = lines.where(~F.col("line").startswith(header))
    parts = F.split(F.col("line"), ",", -1)
    ok = F.size(parts) == columns
    symbol = F.regexp_extract(F.col("source_file"), rf"([A-Z0-9]+)-{kind}-\d{{4}}-\d{{2}}-\d{{2}}\.(csv|zip)$", 1)
    return lines.select(
        F.col("source_file"),
        F.lit(source_format).alias("source_format"),
        F.size(parts).alias("field_count"),
        F.when(symbol != "", symbol).alias("symbol"),
        F.lit("BINANCE").alias("exchange"),
        _field(parts, ts_field, ok).alias("ts"),
        _field(parts, 1, ok).alias("price"),
        _field(parts, 2, ok).alias("size"),
        _field(parts, 0, ok).alias("trade_id"),
        F.col("line").alias("raw_line"),
    )


def read_parquet(spark: SparkSession, uris: list[str]) -> DataFrame:
    """Typed Parquet with our column names; values become text as in the other formats.

    Missing columns become nulls (quarantined as missing fields); timestamps are rendered in UTC.
    """
    from pyspark.sql import functions as F

    df = spark.read.parquet(*uris)
    present = set(df.columns)

    def text(name: str) -> Column:
        if name not in present:
            return F.lit(None).cast("string")
        col = F.col(name)
        if name == "ts":
            col = F.date_format(col, "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX")
        return col.cast("string")

    return df.select(
        F.col("_metadata.file_path").alias("source_file"),
        F.lit("parquet").alias("source_format"),
        F.lit(len([c for c in OUR_CSV_COLUMNS if c in present])).alias("field_count"),
        *(text(name).alias(name) for name in OUR_CSV_COLUMNS),
        F.lit(None).cast("string").alias("raw_line"),
    )


def _name(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def _zip_kind(uri: str) -> str | None:
    found = BINANCE_ZIP_FILE.match(_name(uri))
    return found["kind"] if found else None


ADAPTERS: tuple[Adapter, ...] = (
    Adapter("binance", lambda uri: bool(BINANCE_FILE.match(_name(uri))), read_binance_csv),
    Adapter("binance_agg", lambda uri: bool(BINANCE_AGG_FILE.match(_name(uri))), read_binance_agg_csv),
    Adapter("binance_zip", lambda uri: _zip_kind(uri) == "trades", read_binance_zip, zipped=True),
    Adapter("binance_agg_zip", lambda uri: _zip_kind(uri) == "aggTrades", read_binance_agg_zip, zipped=True),
    Adapter("csv", lambda uri: _name(uri).lower().endswith(".csv"), read_our_csv),
    Adapter("parquet", lambda uri: _name(uri).lower().endswith(".parquet"), read_parquet, binary=True),
)


def adapter_for(uri: str) -> Adapter | None:
    """The first adapter that reads ``uri`` (None: not a tick file; it is reported, not read)."""
    return next((a for a in ADAPTERS if a.matches(uri)), None)
