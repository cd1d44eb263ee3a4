"""Silver rules on tiny DataFrames: typing, reason codes, session, duplicates, outliers."""

from __future__ import annotations

import datetime as dt

from spark_jobs.finance.session import session_for
from spark_jobs.finance.transforms import (
    classify_ticks,
    filter_session,
    mark_duplicates,
    mark_outliers,
    sorted_median,
    split_silver_quarantine,
    type_ticks,
)
from tests.unit.finance.conftest import DAY, landed_row, raw_frame


def _reasons(df) -> dict[str, str | None]:
    return {r["trade_id"]: r["reason"] for r in df.select("trade_id", "reason").collect()}


def test_typing_gives_each_bad_row_one_reason(spark) -> None:
    rows = [
        landed_row(trade_id="ok"),
        landed_row(trade_id="ms", ts="1704207600123", source_format="binance", field_count=7),
        landed_row(trade_id="us", ts="1704207600123456", source_format="binance", field_count=7),
        landed_row(trade_id="no_symbol", symbol=None),
        landed_row(trade_id="no_price", price=None),
        landed_row(trade_id="bad_ts", ts="not-a-time"),
        landed_row(trade_id="bad_month", ts="2024-13-45T99:00:00Z"),
        landed_row(trade_id="bad_price", price="12..5"),
        landed_row(trade_id="nan_price", price="NaN"),
        landed_row(trade_id="bad_size", size="N/A"),
        landed_row(trade_id="zero_price", price="0"),
        landed_row(trade_id="neg_price", price="-1.5"),
        landed_row(trade_id="zero_size", size="0"),
        landed_row(trade_id="neg_size", size="-3"),
        landed_row(trade_id="short", symbol=None, ts=None, price=None, size=None, field_count=5,
                   raw_line="AAPL,XNYS,2024-01-02T15:00:00Z,100,10"),
        landed_row(trade_id="empty", symbol=None, ts=None, price=None, size=None, field_count=0,
                   raw_line="empty file"),
        landed_row(trade_id="corrupt", symbol=None, ts=None, price=None, size=None, field_count=0,
                   raw_line="unreadable file: bad magic"),
    ]
    typed = type_ticks(raw_frame(spark, rows))
    assert _reasons(typed) == {
        "ok": None, "ms": None, "us": None, "no_symbol": "missing_field", "no_price": "missing_field",
        "bad_ts": "unparseable_timestamp", "bad_month": "unparseable_timestamp",
        "bad_price": "unparseable_number", "nan_price": "unparseable_number", "bad_size": "unparseable_number",
        "zero_price": "non_positive_price", "neg_price": "non_positive_price",
        "zero_size": "non_positive_size", "neg_size": "non_positive_size",
        "short": "wrong_column_count", "empty": "empty_file", "corrupt": "unreadable_file",
    }
    parsed = {r["trade_id"]: r["ts_parsed"] for r in typed.where("reason IS NULL").collect()}
    expected = dt.datetime(2024, 1, 2, 15, 0)  # session time zone is UTC; Spark returns naive UTC
    assert parsed["ok"] == expected
    assert parsed["ms"] == expected + dt.timedelta(microseconds=123_000)
    assert parsed["us"] == expected + dt.timedelta(microseconds=123_456)


def test_session_filter_uses_the_exchange_time_zone(spark, session) -> None:
    rows = [
        landed_row(trade_id="open", ts="2024-01-02T14:30:00Z"),  # 09:30 New York: first second in
        landed_row(trade_id="before", ts="2024-01-02T14:29:59.999Z"),
        landed_row(trade_id="last", ts="2024-01-02T20:59:59.999999Z"),
        landed_row(trade_id="close", ts="2024-01-02T21:00:00Z"),  # 16:00 is outside (half-open)
        landed_row(trade_id="offset", ts="2024-01-02T10:00:00-05:00"),  # ISO offset honoured
        landed_row(trade_id="next_day", ts="2024-01-03T15:00:00Z"),
    ]
    out = filter_session(type_ticks(raw_frame(spark, rows)), session)
    assert _reasons(out) == {"open": None, "before": "outside_session", "last": None, "close": "outside_session",
                             "offset": None, "next_day": "wrong_date"}
    london = session_for(DAY, "Europe/London", "08:00", "16:30")
    out = filter_session(type_ticks(raw_frame(spark, rows)), london)
    assert _reasons(out)["open"] is None and _reasons(out)["close"] == "outside_session"


def test_exact_duplicates_after_the_first_are_quarantined(spark, session) -> None:
    rows = [
        landed_row(trade_id="a"), landed_row(trade_id="a"), landed_row(trade_id="a", price="100.00"),
        landed_row(trade_id="b"), landed_row(trade_id="b", size="11"),
        landed_row(trade_id="c", price="-1"), landed_row(trade_id="c", price="-1"),
    ]
    out = mark_duplicates(filter_session(type_ticks(raw_frame(spark, rows)), session))
    got = sorted((r["trade_id"], r["record_id"], r["reason"]) for r in out.collect())
    reasons = [g[2] for g in got]
    # "100.00" equals "100.0" once typed; the first row in file order survives.
    assert reasons == [None, "duplicate", "duplicate", None, None, "non_positive_price", "non_positive_price"]
    assert got[0][1] < got[1][1]


def test_outliers_are_far_from_the_rolling_median_in_mads(spark, session) -> None:
    rows = []
    for minute in range(30):
        for second in (5, 20, 35, 50):
            price = 100 + 0.01 * ((minute * 7 + second) % 5)
            rows.append(landed_row(trade_id=f"n{minute}_{second}", price=f"{price:.2f}",
                                   ts=f"2024-01-02T15:{minute:02d}:{second:02d}Z"))
    rows.append(landed_row(trade_id="spike_up", price="112.00", ts="2024-01-02T15:10:07Z"))
    rows.append(landed_row(trade_id="spike_down", price="91.50", ts="2024-01-02T15:29:59Z"))
    rows.append(landed_row(trade_id="flat", symbol="FLAT", price="50.00", ts="2024-01-02T15:00:00Z"))
    rows.append(landed_row(trade_id="flat2", symbol="FLAT", price="50.02", ts="2024-01-02T15:01:00Z"))
    rows.append(landed_row(trade_id="lonely_spike", symbol="FLAT", price="60.00", ts="2024-01-02T15:02:00Z"))
    rows.append(landed_row(trade_id="flat3", symbol="FLAT", price="50.00", ts="2024-01-02T15:03:00Z"))
    typed = filter_session(type_ticks(raw_frame(spark, rows)), session)
    reasons = _reasons(mark_outliers(typed, k=8.0, window_minutes=5, min_rel_mad=0.0005))
    flagged = sorted(t for t, r in reasons.items() if r == "outlier")
    assert flagged == ["lonely_spike", "spike_down", "spike_up"]


def test_the_median_of_a_sorted_array_is_spark_percentile_to_the_bit(spark) -> None:
    """The outlier statistics read each symbol-minute's prices once and take medians from the sorted arrays;
    they must equal ``percentile(x, 0.5)`` exactly (the seeded-day equivalence depends on it): odd and even
    counts, ties, one value, and magnitudes where the order of Spark's interpolation decides the result."""
    import random

    from pyspark.sql import functions as F

    rng = random.Random(3)
    groups = {f"g{n}": [round(rng.uniform(99, 101), rng.choice((2, 4, 8))) for _ in range(n)] for n in range(1, 40)}
    groups["ties"] = [100.01, 100.01, 100.02, 100.02]
    groups["even_ties"] = [5.0, 7.0, 7.0, 9.0]
    groups["tiny"] = [0.1, 0.2]
    groups["huge"] = [1.7e308, 1.6e308]  # (a + b) / 2 overflows; Spark's interpolation does not
    groups["deviations"] = [abs(x - 100.005) for x in groups["g24"]]
    rows = [(name, float(x)) for name, values in groups.items() for x in rng.sample(values, len(values))]
    df = spark.createDataFrame(rows, "g string, x double")
    got = {r["g"]: (r["spark"], r["ours"]) for r in df.groupBy("g").agg(
        F.percentile("x", 0.5).alias("spark"),
        sorted_median(F.array_sort(F.collect_list("x"))).alias("ours")).collect()}
    assert len(got) == len(groups)
    assert {g: v for g, v in got.items() if v[0] != v[1]} == {}
    assert got["huge"][1] == 0.5 * 1.7e308 + 0.5 * 1.6e308 < float("inf")
    assert got["tiny"][1] == 0.5 * 0.1 + 0.5 * 0.2


def test_silver_plus_quarantine_is_raw(spark, session) -> None:
    rows = [landed_row(trade_id=str(i), ts=f"2024-01-02T15:00:{i:02d}Z") for i in range(20)]
    rows += [landed_row(trade_id="0", ts="2024-01-02T15:00:00Z"), landed_row(trade_id="x", price="oops"),
             landed_row(trade_id="y", ts="2024-01-02T22:00:00Z")]
    raw = raw_frame(spark, rows)
    classified = classify_ticks(raw, session).cache()
    silver, quarantine = split_silver_quarantine(classified, DAY, "run-1")
    silver_ids = [r[0] for r in silver.select("record_id").collect()]
    rejected = {r["record_id"]: r["reason"] for r in quarantine.collect()}
    assert len(silver_ids) == 20 and sorted(rejected.values()) == ["duplicate", "outside_session",
                                                                   "unparseable_number"]
    assert sorted([*silver_ids, *rejected]) == list(range(len(rows)))  # one partition: ids 0..n-1
    assert dict(silver.dtypes)["price"] == "decimal(18,8)" and dict(silver.dtypes)["ts"] == "timestamp"
    classified.unpersist()
