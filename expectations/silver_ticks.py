"""Suite guarding silver.ticks before it (and quarantine.ticks) is published.

Reconciliation: every raw row of the date is either in silver or in quarantine (staged by the
same run), so silver's row count must equal raw - quarantine.
"""

from __future__ import annotations

from typing import Any

from lakehouse.quality import GateContext

DUPLICATE_KEY = ["symbol", "exchange", "ts", "price", "size", "trade_id"]


def build(ctx: GateContext) -> list[dict[str, Any]]:
    """Typed, positive, unique ticks; at least one; silver + quarantine = raw."""
    raw_rows = ctx.read("raw.ticks", staged=False).count()
    quarantined = ctx.read("quarantine.ticks", staged=True).count()
    return [
        *({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": c}}
          for c in ("symbol", "ts", "price", "size", "source_file", "record_id")),
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "price", "min_value": 0, "strict_min": True}},
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "size", "min_value": 0, "strict_min": True}},
        {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": DUPLICATE_KEY}},
        {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["source_file", "record_id"]}},
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
        {"type": "expect_table_row_count_to_equal", "kwargs": {"value": raw_rows - quarantined},
         "meta": {"reconciliation": f"raw {raw_rows} - quarantine {quarantined}"}},
    ]
