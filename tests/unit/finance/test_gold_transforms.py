"""Gold: minute bars, gap filling and window features on tiny DataFrames."""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import pytest

from spark_jobs.finance.session import session_for
from spark_jobs.finance.transforms import add_features, build_gold, fill_session_gaps, minute_bars
from tests.unit.finance.conftest import DAY

SHORT = session_for(DAY, "America/New_York", "09:30", "09:36")  # 6 minutes: 14:30..14:35 UTC


def _silver(spark, rows):
    """rows: (symbol, 'HH:MM:SS' UTC, price, size, record_id)."""
    from pyspark.sql import functions as F

    data = [(DAY, s, "X", f"2024-01-02 {t}", Decimal(str(p)), Decimal(str(q)), f"t{i}", "f", i)
            for s, t, p, q, i in rows]
    df = spark.createDataFrame(data, "trade_date date, symbol string, exchange string, ts string, "
                                     "price decimal(18,8), size decimal(18,8), trade_id string, "
                                     "source_file string, record_id long")
    return df.withColumn("ts", F.to_timestamp("ts"))


TICKS = [
    ("AAPL", "14:31:10", 10.0, 1, 1), ("AAPL", "14:31:50", 12.0, 3, 2), ("AAPL", "14:31:20", 9.0, 2, 3),
    ("AAPL", "14:31:50", 11.0, 1, 4),  # same ts as record 2: record order breaks the tie -> close 11
    ("AAPL", "14:33:05", 13.0, 4, 5),
    ("MSFT", "14:30:00", 50.0, 1, 6),
]


def test_minute_bars_ohlcv_vwap(spark) -> None:
    bars = {(r["symbol"], r["minute_ts"].minute): r for r in minute_bars(_silver(spark, TICKS)).collect()}
    a = bars[("AAPL", 31)]
    assert (a["open"], a["high"], a["low"], a["close"]) == (10, 12, 9, 11)
    assert a["volume"] == 7 and a["trade_count"] == 4 and a["notional"] == 10 + 36 + 18 + 11
    assert len(bars) == 3


def test_gaps_are_filled_inside_the_session(spark) -> None:
    out = fill_session_gaps(minute_bars(_silver(spark, TICKS)), SHORT).orderBy("symbol", "minute_ts").collect()
    aapl = [r for r in out if r["symbol"] == "AAPL"]
    assert [r["minute_ts"].minute for r in aapl] == [30, 31, 32, 33, 34, 35]
    assert [r["filled"] for r in aapl] == [True, False, True, False, True, True]
    # before the first trade: the first open; later gaps: previous close carried forward
    assert [r["close"] for r in aapl] == [10, 11, 11, 13, 13, 13]
    gap = aapl[2]
    assert (gap["open"], gap["high"], gap["low"], gap["vwap"], gap["volume"], gap["trade_count"]) == \
        (11, 11, 11, 11, 0, 0)
    assert aapl[1]["vwap"] == pytest.approx(75 / 7)
    assert len([r for r in out if r["symbol"] == "MSFT"]) == 6
    assert all(r["low"] <= r["vwap"] <= r["high"] for r in out)


def test_window_features_match_their_definitions(spark) -> None:
    closes = [100.0, 101.0, 99.5, 102.0, 103.0, 101.5, 104.0, 105.0]
    rows = [(DAY, "S", dt.datetime(2024, 1, 2, 14, 30 + i), c, c, c, c) for i, c in enumerate(closes)]
    bars = spark.createDataFrame(rows, "trade_date date, symbol string, minute_ts timestamp, open double, "
                                       "high double, low double, close double")
    out = add_features(bars, ema_span=3, volatility_window=3).orderBy("minute_ts").collect()
    assert [r["sma_5"] for r in out][:4] == [None] * 4
    assert out[4]["sma_5"] == pytest.approx(sum(closes[:5]) / 5)
    assert out[7]["sma_5"] == pytest.approx(sum(closes[3:8]) / 5)
    assert all(r["sma_20"] is None for r in out)
    ema, alpha = [], 0.5  # adjusted EMA, span 3
    for t in range(len(closes)):
        weights = [(1 - alpha) ** (t - i) for i in range(t + 1)]
        ema.append(sum(w * c for w, c in zip(weights, closes, strict=False)) / sum(weights))
    assert [r["ema_12"] for r in out] == pytest.approx(ema)
    returns = [None] + [math.log(closes[i] / closes[i - 1]) for i in range(1, len(closes))]
    assert out[0]["log_return"] is None
    assert [r["log_return"] for r in out][1:] == pytest.approx(returns[1:])
    assert [r["realized_vol_30"] for r in out][:3] == [None] * 3
    assert out[3]["realized_vol_30"] == pytest.approx(math.sqrt(sum(r * r for r in returns[1:4])))


def test_gold_is_identical_whatever_the_input_order(spark) -> None:
    silver = _silver(spark, TICKS)
    first = build_gold(silver, SHORT).orderBy("symbol", "minute_ts").collect()
    second = build_gold(silver.repartition(3).orderBy("price"), SHORT).orderBy("symbol", "minute_ts").collect()
    assert first == second and len(first) == 12


def test_a_symbol_without_trades_gets_no_bars(spark) -> None:
    silver = _silver(spark, TICKS).where("symbol = 'MSFT'")
    gold = build_gold(silver, SHORT)
    assert {r["symbol"] for r in gold.collect()} == {"MSFT"}
    assert build_gold(silver.limit(0), SHORT).count() == 0
