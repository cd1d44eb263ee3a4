"""Frozen reference: the finance silver classification as it was before the single-pass silver job
(commit e395b55, ``spark_jobs/finance/transforms.py``), kept verbatim so that
``tests/integration/finance/test_silver_equivalence.py`` can prove the production job quarantines the
same ticks with the same reasons on a seeded day. Never edit the rules here to make a test pass: a
change of semantics is a change of this reference, made on purpose and reviewed as such.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from spark_jobs.finance.adapters import EMPTY_FILE
from spark_jobs.finance.session import Session

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

PRICE_SQL_TYPE = "decimal(18,8)"
SIZE_SQL_TYPE = "decimal(18,8)"
MAD_SCALE = 1.4826
DUPLICATE_KEY = ("symbol", "exchange", "ts_parsed", "price_parsed", "size_parsed", "trade_id")
EXPECTED_FIELDS = {"csv": 6, "binance": 7, "binance_agg": 8}


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


def mark_outliers(df: DataFrame, *, k: float, window_minutes: int, min_rel_mad: float) -> DataFrame:
    """Reject still-valid ticks farther than ``k`` scaled MADs from the symbol's rolling median price.

    Robust and cheap at scale: per symbol-minute medians (one aggregation), a rolling median of those
    over +-``window_minutes`` (a few hundred rows per symbol), then the same for absolute deviations
    (the MAD). The MAD is floored at ``min_rel_mad`` x price so flat markets do not flag every tick.
    """
    from pyspark.sql import functions as F

    minute = F.date_trunc("minute", F.col("ts_parsed"))
    valid = df.where(F.col("reason").isNull()).select("symbol", minute.alias("minute"),
                                                      F.col("price_parsed").cast("double").alias("p"))
    medians = _rolling_median(valid.groupBy("symbol", "minute").agg(F.percentile("p", 0.5).alias("m")),
                              "m", "ref_price", window_minutes).select("symbol", "minute", "ref_price")
    dev = (valid.join(F.broadcast(medians), ["symbol", "minute"])
           .select("symbol", "minute", F.abs(F.col("p") - F.col("ref_price")).alias("d")))
    mads = _rolling_median(dev.groupBy("symbol", "minute").agg(F.percentile("d", 0.5).alias("mad_m")),
                           "mad_m", "ref_mad", window_minutes).select("symbol", "minute", "ref_mad")
    stats = medians.join(mads, ["symbol", "minute"])
    joined = df.withColumn("minute", minute).join(F.broadcast(stats), ["symbol", "minute"], "left")
    scale = F.greatest(F.col("ref_mad"), F.col("ref_price") * F.lit(min_rel_mad)) * F.lit(MAD_SCALE)
    is_outlier = (F.col("reason").isNull()
                  & (F.abs(F.col("price_parsed").cast("double") - F.col("ref_price")) > F.lit(k) * scale))
    return (joined.withColumn("reason", _first_reason(F.col("reason"), is_outlier, "outlier"))
            .drop("minute", "ref_price", "ref_mad"))


def prepare_ticks(raw: DataFrame, session: Session) -> DataFrame:
    """Every row rule but the outlier rule: typing, session filter and duplicates (one shuffle)."""
    return mark_duplicates(filter_session(type_ticks(raw), session))


def classify_ticks(raw: DataFrame, session: Session, *, k: float = 8.0, window_minutes: int = 5,
                   min_rel_mad: float = 0.0005) -> DataFrame:
    """Raw rows with typed columns and a reason code for every rejected row (null = goes to silver).

    The outlier rule reads the prepared rows three times (medians, MADs, flags); jobs persist
    :func:`prepare_ticks` themselves and call :func:`mark_outliers` on it, so they can release it.
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
