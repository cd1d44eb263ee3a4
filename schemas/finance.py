"""Finance tick pipeline tables: raw.ticks -> silver.ticks (+ quarantine.ticks) -> gold.ohlcv_1m.

Prices and sizes are DECIMAL in silver so that sums (volume, VWAP numerators) are exact and a
rerun of the same date gives bit-identical Gold whatever order Spark happens to add the rows in.
"""

from pyiceberg.types import (
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    TimestamptzType,
)

from schemas.base import Column, TableSpec, identity

PRICE_TYPE = DecimalType(18, 8)
SIZE_TYPE = DecimalType(18, 8)

RAW_TICKS = TableSpec(
    identifier="raw.ticks",
    description="Every landed tick row exactly as delivered (text fields), with its source file and ingest "
    "metadata. Append-only; a rerun replaces exactly its trade date.",
    columns=(
        Column("trade_date", DateType(), required=True, doc="logical (trade) date of the landing batch"),
        Column("source_file", StringType(), required=True, doc="landing file URI the row came from"),
        Column("source_format", StringType(), required=True, doc="adapter that read it: csv, parquet, binance"),
        Column("record_id", LongType(), required=True,
               doc="ordinal of the row in this date's landing read (unique per date, increasing in file order)"),
        Column("field_count", IntegerType(), doc="number of fields the row had (0 marks an unreadable/empty file)"),
        Column("symbol", StringType()),
        Column("exchange", StringType()),
        Column("ts", StringType(), doc="trade time as delivered (ISO-8601, or epoch ms/us for Binance)"),
        Column("price", StringType(), doc="price as delivered"),
        Column("size", StringType(), doc="quantity as delivered"),
        Column("trade_id", StringType()),
        Column("raw_line", StringType(), doc="the delivered CSV line (null for Parquet rows)"),
        Column("ingested_at", TimestamptzType(), doc="when the ingest job ran (metadata only)"),
        Column("run_id", StringType(), doc="Airflow/CLI run that ingested the row"),
    ),
    partition_by=(identity("trade_date"),),
    # No declared sort order: each task writes the rows of one landing file split as read, which is already
    # (source_file, record_id) order, and silver sorts them by its own key anyway. Sorting them again
    # spilled 0.8 GiB at 20M ticks (raw 29.8 / 30.2 s sorted vs 26.6 / 26.9 s unordered; README). Lakes
    # created before keep their sort order until `ALTER TABLE raw.ticks WRITE UNORDERED`.
    logical_date_column="trade_date",
    # No shuffle or sampling pass: the rows are written where they were read.
    write_distribution="none",
)

SILVER_TICKS = TableSpec(
    identifier="silver.ticks",
    description="Typed, deduplicated, session-filtered ticks with outliers removed (robust MAD rule), sorted "
    "by symbol and time. silver + quarantine = raw for every date.",
    columns=(
        Column("trade_date", DateType(), required=True),
        Column("symbol", StringType(), required=True),
        Column("exchange", StringType()),
        Column("ts", TimestamptzType(), required=True, doc="trade time (UTC instant)"),
        Column("price", PRICE_TYPE, required=True),
        Column("size", SIZE_TYPE, required=True),
        Column("trade_id", StringType()),
        Column("source_file", StringType(), required=True, doc="lineage: raw.ticks source_file"),
        Column("record_id", LongType(), required=True, doc="lineage: raw.ticks record_id"),
    ),
    partition_by=(identity("trade_date"),),
    sort_by=("symbol", "ts"),
    logical_date_column="trade_date",
    # Read whole per date (gold, training): each file sorted by symbol and time is enough, so the write
    # skips range distribution's sampling pass and shuffle (measured at 5M ticks: about 10 s of executor time).
    write_distribution="none",
)

QUARANTINE_TICKS = TableSpec(
    identifier="quarantine.ticks",
    description="Raw tick rows rejected on the way to silver, each with a reason code.",
    columns=(
        Column("trade_date", DateType(), required=True),
        Column("reason", StringType(), required=True,
               doc="unreadable_file, empty_file, wrong_column_count, missing_field, unparseable_timestamp, "
                   "unparseable_number, non_positive_price, non_positive_size, wrong_date, outside_session, "
                   "duplicate, outlier"),
        Column("source_file", StringType(), required=True),
        Column("source_format", StringType()),
        Column("record_id", LongType(), required=True),
        Column("symbol", StringType()),
        Column("exchange", StringType()),
        Column("ts", StringType()),
        Column("price", StringType()),
        Column("size", StringType()),
        Column("trade_id", StringType()),
        Column("raw_line", StringType()),
        Column("run_id", StringType()),
    ),
    partition_by=(identity("trade_date"), identity("reason")),
    sort_by=("source_file", "record_id"),
    logical_date_column="trade_date",
    # A few rejected rows per date: one file per reason, no range-sampling pass over silver's input.
    write_distribution="hash",
)

GOLD_OHLCV_1M = TableSpec(
    identifier="gold.ohlcv_1m",
    description="One-minute bars per symbol over the exchange session: OHLCV, VWAP, trade count; minutes "
    "without trades filled (close carried forward, volume 0, filled=true); SMAs, EMA, log returns and "
    "rolling realised volatility (windows reset each trade date).",
    columns=(
        Column("trade_date", DateType(), required=True),
        Column("symbol", StringType(), required=True),
        Column("minute_ts", TimestamptzType(), required=True, doc="bar start (UTC instant)"),
        Column("open", DoubleType(), required=True),
        Column("high", DoubleType(), required=True),
        Column("low", DoubleType(), required=True),
        Column("close", DoubleType(), required=True),
        Column("volume", DoubleType(), required=True),
        Column("vwap", DoubleType(), required=True, doc="volume-weighted average price (close when filled)"),
        Column("trade_count", LongType(), required=True),
        Column("filled", BooleanType(), required=True, doc="true when the minute had no trades"),
        Column("sma_5", DoubleType(), doc="5-bar simple moving average of close (null until 5 bars)"),
        Column("sma_20", DoubleType()),
        Column("sma_60", DoubleType()),
        Column("ema_12", DoubleType(), doc="exponential moving average of close, span 12 (adjusted)"),
        Column("log_return", DoubleType(), doc="ln(close / previous close); null on the first bar"),
        Column("realized_vol_30", DoubleType(), doc="sqrt of the sum of squared log returns over 30 bars"),
    ),
    partition_by=(identity("trade_date"),),
    sort_by=("symbol", "minute_ts"),
    logical_date_column="trade_date",
    write_distribution="hash",  # symbols x session minutes per date: one file, no sampling pass
)

TABLES = (RAW_TICKS, SILVER_TICKS, QUARANTINE_TICKS, GOLD_OHLCV_1M)
