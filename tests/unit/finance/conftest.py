"""Tiny tick DataFrames for the finance transform tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from spark_jobs.finance.adapters import RAW_FIELDS
from spark_jobs.finance.session import Session, session_for

DAY = dt.date(2024, 1, 2)  # a Tuesday; New York session 14:30-21:00 UTC
INGESTED = dt.datetime(2024, 1, 2, 21, 5, tzinfo=dt.UTC)


@pytest.fixture(scope="session")
def session() -> Session:
    return session_for(DAY, "America/New_York", "09:30", "16:00")


def landed_row(symbol: str | None = "AAPL", ts: str | None = "2024-01-02T15:00:00Z", price: str | None = "100.0",
               size: str | None = "10", *, exchange: str = "XNYS", trade_id: str | None = "t",
               source_file: str = "file:///landing/ticks-XNYS.csv", source_format: str = "csv",
               field_count: int = 6, raw_line: str | None = None) -> dict[str, Any]:
    """One landed row with the adapters' columns (defaults: a valid in-session trade)."""
    return {"source_file": source_file, "source_format": source_format, "field_count": field_count,
            "symbol": symbol, "exchange": exchange, "ts": ts, "price": price, "size": size,
            "trade_id": trade_id, "raw_line": raw_line}


def raw_frame(spark: Any, rows: list[dict[str, Any]], trade_date: dt.date = DAY) -> Any:
    """raw.ticks-shaped DataFrame from landed rows (one partition: record ids follow list order)."""
    from pyspark.sql.types import IntegerType, StringType, StructField, StructType

    from spark_jobs.finance.transforms import to_raw

    schema = StructType([StructField(c, IntegerType() if c == "field_count" else StringType())
                         for c in RAW_FIELDS])
    landed = spark.createDataFrame([tuple(r[c] for c in RAW_FIELDS) for r in rows], schema).coalesce(1)
    return to_raw(landed, trade_date, "test-run", INGESTED)
