"""Suite guarding raw.smoke_events (used by the smoke job and the write-audit-publish tests)."""

from __future__ import annotations

from typing import Any

from lakehouse.quality import GateContext


def build(ctx: GateContext) -> list[dict[str, Any]]:
    """Values in [0, 100], known sensors, unique ids within the date, no null keys."""
    return [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "event_id"}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "event_id"}},
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "value", "min_value": 0, "max_value": 100}},
        {"type": "expect_column_values_to_be_in_set",
         "kwargs": {"column": "sensor", "value_set": ["north", "south", "east", "west"]}},
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
    ]
