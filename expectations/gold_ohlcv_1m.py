"""Suite guarding gold.ohlcv_1m before it is published (and before training reads it).

Bars are consistent (low <= open, close, vwap <= high; volume >= 0), there is exactly one bar per
symbol and session minute, and the bars account for every published silver tick of the date.
"""

from __future__ import annotations

from typing import Any

from lakehouse.quality import GateContext
from spark_jobs.finance.session import trading_session


def _ge(a: str, b: str) -> dict[str, Any]:
    return {"type": "expect_column_pair_values_a_to_be_greater_than_b",
            "kwargs": {"column_A": a, "column_B": b, "or_equal": True}}


def build(ctx: GateContext) -> list[dict[str, Any]]:
    """Bar consistency, one row per symbol-minute in the session, reconciliation with silver."""
    fin = ctx.settings.finance
    session = trading_session(fin, ctx.logical_date)
    silver = ctx.read("silver.ticks", staged=False)
    ticks = silver.count()
    symbols = silver.select("symbol").distinct().count()
    return [
        _ge("high", "open"), _ge("high", "close"), _ge("open", "low"), _ge("close", "low"),
        _ge("vwap", "low"), _ge("high", "vwap"),
        *({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": c}}
          for c in ("symbol", "minute_ts", "open", "high", "low", "close", "vwap", "filled")),
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "volume", "min_value": 0}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "trade_count", "min_value": 0}},
        {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["symbol", "minute_ts"]}},
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
        {"type": "expect_table_row_count_to_equal", "kwargs": {"value": symbols * session.minutes},
         "meta": {"reconciliation": f"{symbols} symbols x {session.minutes} session minutes"}},
        {"type": "expect_column_sum_to_be_between",
         "kwargs": {"column": "trade_count", "min_value": ticks, "max_value": ticks},
         "meta": {"reconciliation": f"{ticks} published silver ticks"}},
    ]
