"""The training-set checksum: independent of row order and chunking, sensitive to any change of content;
and the metric comparison behind `lakehouse model reproduce`."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest

from lakehouse.registry import fingerprint
from ml.reproduce import compare_metrics


def table(n: int = 50) -> pa.Table:
    rng = np.random.default_rng(0)
    return pa.table({
        "symbol": pa.array([f"S{i % 3}" for i in range(n)]),
        "minute_ts": pa.array([dt.datetime(2024, 1, 2, 14, 30, tzinfo=dt.UTC) + dt.timedelta(minutes=i)
                               for i in range(n)], pa.timestamp("us", tz="UTC")),
        "trade_date": pa.array([dt.date(2024, 1, 2)] * n),
        "close": pa.array(rng.normal(100, 1, n)),
        "trade_count": pa.array(rng.integers(0, 9, n), pa.int64()),
        "filled": pa.array([i % 5 == 0 for i in range(n)]),
        "sma_5": pa.array([None if i < 4 else float(i) for i in range(n)], pa.float64()),
        "pixels": pa.array([bytes([i % 256]) * 4 for i in range(n)], pa.binary()),
        "norm_mean": pa.array([[0.1, 0.2]] * n, pa.list_(pa.float64())),
    })


def test_same_rows_in_any_order_or_chunking_give_the_same_checksum() -> None:
    base = fingerprint(table())
    assert base.rows == 50 and base.checksum.startswith("sha256:") and len(base.checksum) == 7 + 64
    shuffled = table().take(np.random.default_rng(1).permutation(50))
    assert fingerprint(shuffled) == base
    chunked = pa.concat_tables([table().slice(0, 20), table().slice(20)])
    assert fingerprint(chunked) == base
    reordered_columns = table().select(list(reversed(table().column_names)))
    assert fingerprint(reordered_columns) == base


@pytest.mark.parametrize("change", ["value", "null", "dropped", "duplicated", "renamed", "timestamp", "bytes"])
def test_any_change_of_content_changes_the_checksum(change: str) -> None:
    t = table()
    base = fingerprint(t)
    if change == "value":
        close = t.column("close").to_pylist()
        close[7] = np.nextafter(close[7], np.inf)  # one ulp
        t = t.set_column(t.schema.get_field_index("close"), "close", pa.array(close))
    elif change == "null":
        sma = t.column("sma_5").to_pylist()
        sma[10] = None
        t = t.set_column(t.schema.get_field_index("sma_5"), "sma_5", pa.array(sma, pa.float64()))
    elif change == "dropped":
        t = t.slice(1)
    elif change == "duplicated":
        t = pa.concat_tables([t, t.slice(3, 1)])
    elif change == "renamed":
        t = t.rename_columns(["ticker", *t.column_names[1:]])
    elif change == "timestamp":
        ts = t.column("minute_ts").to_pylist()
        ts[0] = ts[0] + dt.timedelta(microseconds=1)
        t = t.set_column(1, "minute_ts", pa.array(ts, pa.timestamp("us", tz="UTC")))
    else:
        px = t.column("pixels").to_pylist()
        px[2] = px[2][:-1] + b"\xff"
        t = t.set_column(t.schema.get_field_index("pixels"), "pixels", pa.array(px, pa.binary()))
    assert fingerprint(t).checksum != base.checksum


def test_swapping_values_between_rows_changes_the_checksum() -> None:
    """Order-independent over rows, not over values: moving a value to another row is a different set."""
    t = table()
    close = t.column("close").to_pylist()
    close[0], close[1] = close[1], close[0]
    swapped = t.set_column(t.schema.get_field_index("close"), "close", pa.array(close))
    assert fingerprint(swapped) != fingerprint(t)


def test_null_is_not_zero_and_empty_tables_are_fine() -> None:
    zero = pa.table({"x": pa.array([0.0])})
    null = pa.table({"x": pa.array([None], pa.float64())})
    assert fingerprint(zero) != fingerprint(null)
    assert fingerprint(table().slice(0, 0)).rows == 0


def test_metric_comparison_within_tolerance() -> None:
    recorded = {"acc": 0.5, "nested": {"rmse": 1.0, "n": 10}, "cm": [[1, 2], [3, 4]], "cut": "2024-01-02",
                "nan": float("nan"), "seconds": 3.0}
    same = {"acc": 0.5 + 1e-9, "nested": {"rmse": 1.0, "n": 10}, "cm": [[1, 2], [3, 4]], "cut": "2024-01-02",
            "nan": float("nan"), "seconds": 9.0}
    checks = compare_metrics(recorded, same, 1e-6, ignore=("seconds",))
    assert all(c.ok for c in checks) and "seconds" not in {c.name for c in checks}
    assert {c.name for c in checks} == {"acc", "nested.rmse", "nested.n", "cm[0][0]", "cm[0][1]", "cm[1][0]",
                                       "cm[1][1]", "cut", "nan"}
    off = compare_metrics(recorded, {**same, "acc": 0.51, "cm": [[1, 2], [4, 3]], "extra": 1}, 1e-6, ("seconds",))
    assert sorted(c.name for c in off if not c.ok) == ["acc", "cm[1][0]", "cm[1][1]", "extra"]
