"""Suite guarding gold.energy_features (staged) before it is published and before training."""

from __future__ import annotations

from typing import Any

from lakehouse.quality import GateContext


def build(ctx: GateContext) -> list[dict[str, Any]]:
    """One row per household, frequency and interval, reconciled with the published silver series;
    non-negative target; feature completeness above ``energy.min_feature_completeness`` (weekly
    features get 0.25 less: the first delivered month has no previous week)."""
    energy = ctx.settings.energy
    expected = (ctx.read("silver.energy_readings_hourly", staged=False).count()
                + ctx.read("silver.energy_readings_15min", staged=False).count())
    complete = round(energy.min_feature_completeness, 6)
    weekly = round(max(0.0, energy.min_feature_completeness - 0.25), 6)
    expectations: list[dict[str, Any]] = [
        {"type": "expect_table_row_count_to_equal", "kwargs": {"value": expected}},
        {"type": "expect_compound_columns_to_be_unique",
         "kwargs": {"column_list": ["household_id", "freq_minutes", "interval_start_utc"]}},
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "freq_minutes", "value_set": [15, 60]}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "target_kw", "min_value": 0}},
        {"type": "expect_column_values_to_not_be_null",
         "kwargs": {"column": "target_kw", "mostly": round(1.0 - energy.max_gap_ratio, 6)}},
    ]
    for column in ("hour", "day_of_week", "month", "is_holiday", "day_sin1", "week_sin1", "year_sin1"):
        expectations.append({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": column}})
    for column in ("lag_1h", "lag_24h", "roll_mean_24h", "roll_std_24h"):
        expectations.append({"type": "expect_column_values_to_not_be_null",
                             "kwargs": {"column": column, "mostly": complete}})
    for column in ("lag_168h", "roll_mean_168h"):
        expectations.append({"type": "expect_column_values_to_not_be_null",
                             "kwargs": {"column": column, "mostly": weekly}})
    return expectations
