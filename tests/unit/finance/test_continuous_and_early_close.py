"""Silver and gold on real-shaped days (Spark): a Binance 24-hour day keeps its last minute, Binance
aggTrades files are read, and an XNYS early close ends the bars at 13:00."""

from __future__ import annotations

import collections
import datetime as dt

from lakehouse.settings import FinanceSettings
from spark_jobs.finance.adapters import adapter_for
from spark_jobs.finance.session import session_of
from spark_jobs.finance.transforms import build_gold, classify_ticks, split_silver_quarantine
from tests.unit.finance.conftest import landed_row, raw_frame

DAY = dt.date(2024, 1, 2)
CRYPTO = FinanceSettings(calendar="24/7")
# Binance spot files as data.binance.vision ships them (unzipped): trades (ms) and aggTrades (us, 2025 format)
TRADES = "BTCUSDT-trades-2024-01-02.csv"
AGG = "ETHUSDT-aggTrades-2024-01-02.csv"
TRADE_LINES = ["id,price,qty,quote_qty,time,is_buyer_maker,is_best_match",
               "3350000001,42283.58,0.00042,17.7591036,1704153600012,True,True",  # 00:00:00.012
               "3350000002,42283.59,0.01200,507.40308,1704239999987,False,True"]  # 23:59:59.987
AGG_LINES = ["agg_trade_id,price,quantity,first_trade_id,last_trade_id,transact_time,is_buyer_maker,is_best_match",
             "1200000001,2352.10,0.5012,1500000001,1500000003,1704153600000123,False,True",
             "1200000002,2352.11,1.2500,1500000004,1500000004,1704239999999999,True,True"]


def test_binance_trades_and_aggtrades_files_are_read(spark, tmp_path) -> None:
    folder = tmp_path / "binance-dump"
    folder.mkdir()
    (folder / TRADES).write_text("\n".join(TRADE_LINES) + "\n")
    (folder / AGG).write_text("\n".join(AGG_LINES[1:]) + "\n")  # older aggTrades files have no header
    rows = []
    for name in (TRADES, AGG):
        uri = (folder / name).as_uri()
        adapter = adapter_for(uri)
        assert adapter is not None and adapter.name == ("binance" if name == TRADES else "binance_agg")
        rows += adapter.read(spark, [uri]).collect()
    got = {(r["symbol"], r["trade_id"]): (r["ts"], r["price"], r["size"], r["field_count"]) for r in rows}
    assert got == {
        ("BTCUSDT", "3350000001"): ("1704153600012", "42283.58", "0.00042", 7),
        ("BTCUSDT", "3350000002"): ("1704239999987", "42283.59", "0.01200", 7),
        ("ETHUSDT", "1200000001"): ("1704153600000123", "2352.10", "0.5012", 8),
        ("ETHUSDT", "1200000002"): ("1704239999999999", "2352.11", "1.2500", 8),
    }


def _binance_row(trade_id: str, ts: str, source_format: str = "binance") -> dict:
    return landed_row("BTCUSDT", ts, "42000.5", "0.01", exchange="BINANCE", trade_id=trade_id,
                      source_format=source_format, field_count=7 if source_format == "binance" else 8,
                      source_file=f"file:///landing/{TRADES}")


def test_a_24_hour_day_keeps_its_first_and_last_minute_and_builds_1440_bars(spark) -> None:
    session = session_of(CRYPTO, DAY)
    rows = [_binance_row("first", "1704153600012"), _binance_row("last", "1704239999987"),
            _binance_row("last_us", "1704239999999999", "binance_agg"),
            _binance_row("next_day", "1704240000000")]  # 2024-01-03 00:00:00.000 UTC
    classified = classify_ticks(raw_frame(spark, rows), session)
    reasons = {r["trade_id"]: r["reason"] for r in classified.collect()}
    assert reasons == {"first": None, "last": None, "last_us": None, "next_day": "wrong_date"}
    silver, _ = split_silver_quarantine(classified, DAY, "run")
    gold = build_gold(silver.select("trade_date", "symbol", "exchange", "ts", "price", "size", "trade_id",
                                    "source_file", "record_id"), session)
    bars = gold.orderBy("minute_ts").collect()
    assert len(bars) == 1440 and sum(b["trade_count"] for b in bars) == 3
    assert bars[-1]["minute_ts"] == dt.datetime(2024, 1, 2, 23, 59) and bars[-1]["trade_count"] == 2


def test_an_early_close_quarantines_trades_after_13_00_and_has_210_bars(spark) -> None:
    session = session_of(FinanceSettings(calendar="XNYS"), dt.date(2024, 11, 29))
    day = dt.date(2024, 11, 29)
    rows = [landed_row(trade_id="open", ts="2024-11-29T14:30:05Z"),
            landed_row(trade_id="last", ts="2024-11-29T17:59:59Z"),
            landed_row(trade_id="after_early_close", ts="2024-11-29T18:00:00Z"),
            landed_row(trade_id="regular_hours", ts="2024-11-29T20:30:00Z")]
    classified = classify_ticks(raw_frame(spark, rows, day), session)
    reasons = collections.Counter(r["reason"] for r in classified.collect())
    assert reasons == {None: 2, "outside_session": 2}
    silver, _ = split_silver_quarantine(classified, day, "run")
    gold = build_gold(silver, session)
    assert gold.count() == 210
