"""Landing-format adapters: each maps one delivered file format onto the raw tick columns.

An adapter says which files it reads (by file name) and turns a list of them into a DataFrame with
``RAW_FIELDS`` (all text, as delivered). Add a format by appending an ``Adapter`` to ``ADAPTERS``.
Row-level problems (wrong column count, garbage values) are kept as rows for quarantine; they never
fail the read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

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


@dataclass(frozen=True)
class Adapter:
    """A landing format: which file names it reads and how."""

    name: str
    matches: Callable[[str], bool]
    read: Callable[[SparkSession, list[str]], DataFrame]
    # Parquet-like formats can be checked cheaply on the driver (footer) before Spark reads them.
    binary: bool = False


def _text_lines(spark: SparkSession, uris: list[str]) -> DataFrame:
    """Non-blank lines of text files with the file each came from (CRLF tolerated)."""
    from pyspark.sql import functions as F

    df = spark.read.text(uris).select(
        F.regexp_replace(F.col("value"), "\r$", "").alias("line"),
        F.col("_metadata.file_path").alias("source_file"),
    )
    return df.where(F.trim(F.col("line")) != "")


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
    return _binance_lines(spark, uris, kind="trades", source_format="binance", header="id,",
                          columns=len(BINANCE_COLUMNS), ts_field=4)


def read_binance_agg_csv(spark: SparkSession, uris: list[str]) -> DataFrame:
    """Binance spot aggTrades CSV (no header, or the ``agg_trade_id,price,...`` header of newer files).

    The symbol comes from the file name (``BTCUSDT-aggTrades-2024-01-02.csv``), ``trade_id`` is the
    aggregate trade id and ``ts`` the ``transact_time`` (epoch ms, or us in the files from 2025 on).
    """
    return _binance_lines(spark, uris, kind="aggTrades", source_format="binance_agg", header="agg_trade_id,",
                          columns=len(BINANCE_AGG_COLUMNS), ts_field=5)


def _binance_lines(spark: SparkSession, uris: list[str], *, kind: str, source_format: str, header: str,
                   columns: int, ts_field: int) -> DataFrame:
    """Raw rows of a Binance dump: trade id, price and quantity are its first three fields in both kinds."""
    from pyspark.sql import functions as F

    lines = _text_lines(spark, uris).where(~F.col("line").startswith(header))
    parts = F.split(F.col("line"), ",", -1)
    ok = F.size(parts) == columns
    symbol = F.regexp_extract(F.col("source_file"), rf"([A-Z0-9]+)-{kind}-\d{{4}}-\d{{2}}-\d{{2}}\.csv$", 1)
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


ADAPTERS: tuple[Adapter, ...] = (
    Adapter("binance", lambda uri: bool(BINANCE_FILE.match(_name(uri))), read_binance_csv),
    Adapter("binance_agg", lambda uri: bool(BINANCE_AGG_FILE.match(_name(uri))), read_binance_agg_csv),
    Adapter("csv", lambda uri: _name(uri).lower().endswith(".csv"), read_our_csv),
    Adapter("parquet", lambda uri: _name(uri).lower().endswith(".parquet"), read_parquet, binary=True),
)


def adapter_for(uri: str) -> Adapter | None:
    """The first adapter that reads ``uri`` (None: not a tick file; it is reported, not read)."""
    return next((a for a in ADAPTERS if a.matches(uri)), None)
