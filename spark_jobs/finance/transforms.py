"""Pure DataFrame transforms of the finance pipeline (no I/O, no wall clock).

raw:    ``to_raw`` adds ingest metadata and a per-date record id to the landed rows.
silver: ``classify_ticks`` types every raw row and gives each rejected row exactly one reason code
        (first failing rule wins); ``split_silver_quarantine`` turns that into silver and quarantine,
        so silver + quarantine = raw by construction.
gold:   ``minute_bars`` -> ``fill_session_gaps`` -> ``add_features`` (all Spark window functions).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from spark_jobs.finance.adapters import EMPTY_FILE
from spark_jobs.finance.session import Session

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

# Reason codes in the order the rules are applied (first failing rule wins).
REASONS = (
    "empty_file", "unreadable_file", "wrong_column_count", "missing_field", "unparseable_timestamp",
    "unparseable_number", "non_positive_price", "non_positive_size", "wrong_date", "outside_session",
    "duplicate", "outlier",
)
PRICE_SQL_TYPE = "decimal(18,8)"
SIZE_SQL_TYPE = "decimal(18,8)"
MAD_SCALE = 1.4826  # MAD * 1.4826 estimates the standard deviation of normal data
DUPLICATE_KEY = ("symbol", "exchange", "ts_parsed", "price_parsed", "size_parsed", "trade_id")
SMA_WINDOWS = (5, 20, 60)
# raw.ticks columns no silver or quarantine column is built from.
_INGEST_ONLY = ("trade_date", "field_count", "ingested_at", "run_id")
# Fields per line of the text formats (Parquet has named columns: a missing one is a missing field).
EXPECTED_FIELDS = {"csv": 6, "binance": 7, "binance_agg": 8}


# ---- raw ------------------------------------------------------------------------------------
def to_raw(landed: DataFrame, trade_date: dt.date, run_id: str, ingested_at: dt.datetime) -> DataFrame:
    """Landed rows (adapters.RAW_FIELDS) -> raw.ticks rows: trade date, record id, ingest metadata.

    ``record_id`` is unique within the date and increasing in file order for a given set of files
    (Spark's monotonically increasing id over a deterministic read), so reruns number rows alike.
    """
    from pyspark.sql import functions as F

    return landed.select(
        F.lit(trade_date).alias("trade_date"),
        "source_file", "source_format",
        F.monotonically_increasing_id().alias("record_id"),
        "field_count", "symbol", "exchange", "ts", "price", "size", "trade_id", "raw_line",
        F.lit(ingested_at).cast("timestamp").alias("ingested_at"),
        F.lit(run_id).alias("run_id"),
    )


# ---- silver: typing and rules -----------------------------------------------------------------
def parse_timestamp(name: str) -> Column:
    """ISO-8601 text (UTC unless an offset is given) or epoch milliseconds/microseconds -> timestamp."""
    from pyspark.sql import functions as F

    text = F.col(name)
    digits = text.rlike(r"^\d{10,17}$")
    epoch = F.when(digits & (F.length(text) >= 15), F.expr(f"timestamp_micros(try_cast({name} AS BIGINT))")) \
        .when(digits, F.expr(f"timestamp_millis(try_cast({name} AS BIGINT))"))
    # The ISO branch is only evaluated for non-numeric text.
    iso = F.expr(f"try_to_timestamp({name})")
    return F.when(text.isNull(), F.lit(None).cast("timestamp")).when(digits, epoch).otherwise(iso)


def _number(name: str, sql_type: str) -> Column:
    """Text -> decimal; NaN/Infinity and garbage -> null (``try_cast`` never raises)."""
    from pyspark.sql import functions as F

    as_double = F.expr(f"try_cast({name} AS DOUBLE)")
    finite = as_double.isNotNull() & ~F.isnan(as_double) & (F.abs(as_double) < 1e10)
    return F.when(finite, F.expr(f"try_cast({name} AS {sql_type})"))


def _first_reason(current: Column, condition: Column, reason: str) -> Column:
    from pyspark.sql import functions as F

    return F.coalesce(current, F.when(condition, F.lit(reason)))


def type_ticks(raw: DataFrame) -> DataFrame:
    """Add ``ts_parsed``, ``price_parsed``, ``size_parsed`` and the first row-level ``reason`` (or null)."""
    from pyspark.sql import functions as F

    df = raw.select(
        *raw.columns,
        parse_timestamp("ts").alias("ts_parsed"),
        _number("price", PRICE_SQL_TYPE).alias("price_parsed"),
        _number("size", SIZE_SQL_TYPE).alias("size_parsed"),
    )
    reason = F.lit(None).cast("string")
    reason = _first_reason(reason, (F.col("field_count") == 0) & (F.col("raw_line") == EMPTY_FILE), "empty_file")
    reason = _first_reason(reason, F.col("field_count") == 0, "unreadable_file")
    expected = F.coalesce(
        F.element_at(F.create_map(*(F.lit(x) for kv in EXPECTED_FIELDS.items() for x in kv)),
                     F.col("source_format")),
        F.col("field_count"))
    reason = _first_reason(reason, F.col("field_count") != expected, "wrong_column_count")
    reason = _first_reason(reason, F.col("symbol").isNull() | F.col("ts").isNull() | F.col("price").isNull()
                           | F.col("size").isNull(), "missing_field")
    reason = _first_reason(reason, F.col("ts_parsed").isNull(), "unparseable_timestamp")
    reason = _first_reason(reason, F.col("price_parsed").isNull() | F.col("size_parsed").isNull(),
                           "unparseable_number")
    reason = _first_reason(reason, F.col("price_parsed") <= 0, "non_positive_price")
    reason = _first_reason(reason, F.col("size_parsed") <= 0, "non_positive_size")
    return df.withColumn("reason", reason)


def filter_session(df: DataFrame, session: Session) -> DataFrame:
    """Reject still-valid rows whose exchange-local date is not the trade date, or outside [open, close)."""
    from pyspark.sql import functions as F

    local = F.from_utc_timestamp(F.col("ts_parsed"), session.timezone)
    wrong_date = F.to_date(local) != F.lit(session.trade_date)
    epoch_s = F.col("ts_parsed").cast("double")
    outside = (epoch_s < session.open_epoch_s) | (epoch_s >= session.close_epoch_s)
    reason = _first_reason(F.col("reason"), F.col("reason").isNull() & wrong_date, "wrong_date")
    reason = _first_reason(reason, F.col("reason").isNull() & outside, "outside_session")
    return df.withColumn("reason", reason)


def mark_duplicates(df: DataFrame) -> DataFrame:
    """Among still-valid rows, exact duplicates (same typed values) after the first in file order."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    window = Window.partitionBy(F.col("reason").isNull(), *DUPLICATE_KEY).orderBy("source_file", "record_id")
    nth = F.row_number().over(window)
    return df.withColumn("reason", _first_reason(F.col("reason"), F.col("reason").isNull() & (nth > 1),
                                                 "duplicate"))


def _rolling_median(stats: DataFrame, value: str, out: str, window_minutes: int) -> DataFrame:
    """Median of ``value`` over +-window_minutes minutes per symbol (a centred, time-based frame)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    frame = (Window.partitionBy("symbol").orderBy(F.col("minute").cast("long"))
             .rangeBetween(-60 * window_minutes, 60 * window_minutes))
    return stats.withColumn(out, F.percentile(F.col(value), 0.5).over(frame))


def sorted_median(values: Column) -> Column:
    """The median of a sorted, non-empty array of doubles, to the bit what ``percentile(x, 0.5)`` gives for the
    same values: position (n - 1) / 2, and between two different neighbours Spark's linear interpolation
    ``(higher - position) * lower_value + (position - lower) * higher_value``, in that order of operations."""
    from pyspark.sql import functions as F

    position = (F.size(values) - 1).cast("double") * F.lit(0.5)
    lower, higher = F.floor(position), F.ceil(position)
    lower_value, higher_value = F.get(values, lower.cast("int")), F.get(values, higher.cast("int"))
    interpolated = ((higher.cast("double") - position) * lower_value
                    + (position - lower.cast("double")) * higher_value)
    return F.when((lower == higher) | (lower_value == higher_value), lower_value).otherwise(interpolated)


def outlier_statistics(df: DataFrame, *, window_minutes: int) -> DataFrame:
    """Per symbol and minute: ``ref_price`` (rolling median price) and ``ref_mad`` (rolling MAD) of the
    still-valid ticks of ``df``, one row per symbol-minute that has one (small: symbols x minutes).

    One aggregation of ``df`` keeps each symbol-minute's prices, sorted; their median, a rolling median of
    those over +-``window_minutes`` (a few hundred rows per symbol), then the median of the same prices'
    absolute deviations from it and its rolling median (the MAD) are computed from those arrays, so ``df`` is
    read once. The medians are exactly ``percentile(x, 0.5)``'s (:func:`sorted_median`); jobs materialise the
    result once and broadcast it to every write (:func:`flag_outliers`).
    """
    from pyspark.sql import functions as F

    minute = F.date_trunc("minute", F.col("ts_parsed"))
    valid = df.where(F.col("reason").isNull()).select("symbol", minute.alias("minute"),
                                                      F.col("price_parsed").cast("double").alias("p"))
    prices = valid.groupBy("symbol", "minute").agg(F.array_sort(F.collect_list("p")).alias("prices"))
    medians = _rolling_median(prices.withColumn("m", sorted_median(F.col("prices"))), "m", "ref_price",
                              window_minutes)
    # A column of its own: sorted_median reads the array three times.
    deviations = medians.select("symbol", "minute", "ref_price", F.array_sort(
        F.transform("prices", lambda p: F.abs(p - F.col("ref_price")))).alias("deviations"))
    per_minute = deviations.select("symbol", "minute", "ref_price", sorted_median(F.col("deviations")).alias("mad_m"))
    return _rolling_median(per_minute, "mad_m", "ref_mad", window_minutes).select("symbol", "minute", "ref_price",
                                                                                 "ref_mad")


def flag_outliers(df: DataFrame, stats: DataFrame, *, k: float, min_rel_mad: float) -> DataFrame:
    """Reject still-valid ticks farther than ``k`` scaled MADs from the symbol's rolling median price
    (``stats`` from :func:`outlier_statistics`; broadcast, so this is a narrow pass over ``df``).

    The MAD is floored at ``min_rel_mad`` x price so flat markets do not flag every tick.
    """
    from pyspark.sql import functions as F

    minute = F.date_trunc("minute", F.col("ts_parsed"))
    joined = df.withColumn("minute", minute).join(F.broadcast(stats), ["symbol", "minute"], "left")
    scale = F.greatest(F.col("ref_mad"), F.col("ref_price") * F.lit(min_rel_mad)) * F.lit(MAD_SCALE)
    is_outlier = (F.col("reason").isNull()
                  & (F.abs(F.col("price_parsed").cast("double") - F.col("ref_price")) > F.lit(k) * scale))
    return (joined.withColumn("reason", _first_reason(F.col("reason"), is_outlier, "outlier"))
            .drop("minute", "ref_price", "ref_mad"))


def mark_outliers(df: DataFrame, *, k: float, window_minutes: int, min_rel_mad: float) -> DataFrame:
    """Reject still-valid ticks farther than ``k`` scaled MADs from the symbol's rolling median price
    (:func:`outlier_statistics` then :func:`flag_outliers`)."""
    return flag_outliers(df, outlier_statistics(df, window_minutes=window_minutes), k=k, min_rel_mad=min_rel_mad)


def prepare_ticks(raw: DataFrame, session: Session) -> DataFrame:
    """Every row rule but the outlier rule: typing, session filter and duplicates (one shuffle).

    Raw's ingest metadata and field count are dropped once the rules that need them ran: the duplicate
    shuffle and the jobs' cache of these rows carry only what silver and quarantine are built from.
    """
    typed = filter_session(type_ticks(raw), session)
    return mark_duplicates(typed.drop(*(c for c in _INGEST_ONLY if c in typed.columns)))


def classify_ticks(raw: DataFrame, session: Session, *, k: float = 8.0, window_minutes: int = 5,
                   min_rel_mad: float = 0.0005) -> DataFrame:
    """Raw rows with typed columns and a reason code for every rejected row (null = goes to silver).

    Jobs persist :func:`prepare_ticks` themselves, materialise :func:`outlier_statistics` once and
    apply :func:`flag_outliers` per write, so no classified copy of the rows is ever cached.
    """
    return mark_outliers(prepare_ticks(raw, session), k=k, window_minutes=window_minutes, min_rel_mad=min_rel_mad)


def split_silver_quarantine(classified: DataFrame, trade_date: dt.date, run_id: str) -> tuple[DataFrame, DataFrame]:
    """(silver rows, quarantine rows) in the tables' column layout."""
    from pyspark.sql import functions as F

    good = classified.where(F.col("reason").isNull())
    silver = good.select(
        F.lit(trade_date).alias("trade_date"), "symbol", "exchange",
        F.col("ts_parsed").alias("ts"), F.col("price_parsed").alias("price"), F.col("size_parsed").alias("size"),
        "trade_id", "source_file", "record_id",
    )
    quarantine = classified.where(F.col("reason").isNotNull()).select(
        F.lit(trade_date).alias("trade_date"), "reason", "source_file", "source_format", "record_id", "symbol",
        "exchange", "ts", "price", "size", "trade_id", "raw_line", F.lit(run_id).alias("run_id"),
    )
    return silver, quarantine


# ---- gold -------------------------------------------------------------------------------------
def minute_bars(silver: DataFrame) -> DataFrame:
    """OHLCV + VWAP + trade count per symbol and minute (exact decimal sums, deterministic ties)."""
    from pyspark.sql import functions as F

    order = F.struct("ts", "source_file", "record_id")  # total order: ties broken by lineage
    return silver.groupBy("symbol", F.date_trunc("minute", "ts").alias("minute_ts")).agg(
        F.min_by("price", order).alias("open"),
        F.max("price").alias("high"),
        F.min("price").alias("low"),
        F.max_by("price", order).alias("close"),
        F.sum("size").alias("volume"),
        F.sum(F.col("price") * F.col("size")).alias("notional"),
        F.count(F.lit(1)).alias("trade_count"),
    )


def session_grid(spark_df: DataFrame, session: Session) -> DataFrame:
    """Every session minute for every symbol of ``spark_df`` (column ``symbol``)."""
    from pyspark.sql import functions as F

    spark = spark_df.sparkSession
    minutes = spark.range(session.minutes).select(
        F.timestamp_seconds(F.lit(session.open_epoch_s) + F.col("id") * 60).alias("minute_ts"))
    return spark_df.select("symbol").distinct().crossJoin(minutes)


def fill_session_gaps(bars: DataFrame, session: Session) -> DataFrame:
    """One row per symbol and session minute. Minutes without trades: close carried forward (the first
    open before any trade), open=high=low=close=vwap, volume 0, trade_count 0, ``filled`` true."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    grid = session_grid(bars, session)
    df = grid.join(bars, ["symbol", "minute_ts"], "left")
    by_time = Window.partitionBy("symbol").orderBy("minute_ts")
    before = by_time.rowsBetween(Window.unboundedPreceding, -1)
    after = by_time.rowsBetween(0, Window.unboundedFollowing)
    carried = F.coalesce(F.last("close", ignorenulls=True).over(before),
                         F.first("open", ignorenulls=True).over(after)).cast("double")
    filled = F.col("trade_count").isNull()
    vwap = (F.col("notional").cast("double") / F.col("volume").cast("double"))
    # Clamp only guards against the last-bit rounding of the division; VWAP is always within [low, high].
    vwap = F.least(F.greatest(vwap, F.col("low").cast("double")), F.col("high").cast("double"))
    return df.select(
        F.lit(session.trade_date).alias("trade_date"), "symbol", "minute_ts",
        *(F.when(filled, carried).otherwise(F.col(c).cast("double")).alias(c) for c in ("open", "high", "low",
                                                                                         "close")),
        F.when(filled, F.lit(0.0)).otherwise(F.col("volume").cast("double")).alias("volume"),
        F.when(filled, carried).otherwise(vwap).alias("vwap"),
        F.coalesce(F.col("trade_count"), F.lit(0)).cast("long").alias("trade_count"),
        filled.alias("filled"),
    )


def add_features(bars: DataFrame, *, ema_span: int = 12, volatility_window: int = 30) -> DataFrame:
    """SMAs (5/20/60, null until the window is full), adjusted EMA, log return, realised volatility.

    Windows run per symbol within the trade date (they reset each day, so a date is self-contained
    and reruns of one date never depend on another). EMA uses the closed form
    ema_t = sum_i w^(t-i) x_i / sum_i w^(t-i), w = 1 - 2/(span+1), as two running sums.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    by_time = Window.partitionBy("symbol", "trade_date").orderBy("minute_ts")
    running = by_time.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    out = bars.withColumn("_i", F.row_number().over(by_time) - 1)
    for n in SMA_WINDOWS:
        frame = by_time.rowsBetween(-(n - 1), Window.currentRow)
        out = out.withColumn(f"sma_{n}", F.when(F.count("close").over(frame) == n, F.avg("close").over(frame)))
    decay = 1 - 2 / (ema_span + 1)
    growth = F.pow(F.lit(1 / decay), F.col("_i"))  # w^-i; ratio of running sums gives w^(t-i) weights
    out = out.withColumn("ema_12",
                         F.sum(F.col("close") * growth).over(running) / F.sum(growth).over(running))
    out = out.withColumn("log_return", F.log(F.col("close") / F.lag("close").over(by_time)))
    vol_frame = by_time.rowsBetween(-(volatility_window - 1), Window.currentRow)
    out = out.withColumn(
        "realized_vol_30",
        F.when(F.count("log_return").over(vol_frame) == volatility_window,
               F.sqrt(F.sum(F.col("log_return") * F.col("log_return")).over(vol_frame))),
    )
    return out.drop("_i")


def build_gold(silver: DataFrame, session: Session, *, ema_span: int = 12, volatility_window: int = 30) -> DataFrame:
    """silver.ticks rows of one date -> gold.ohlcv_1m rows."""
    return add_features(fill_session_gaps(minute_bars(silver), session), ema_span=ema_span,
                        volatility_window=volatility_window)
