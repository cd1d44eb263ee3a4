"""Suite guarding silver.energy_readings (staged minute grid) before silver and quarantine publish."""

from __future__ import annotations

from typing import Any

from lakehouse.quality import GateContext
from spark_jobs.energy.uci import SUB_METER_TOLERANCE_WH


def build(ctx: GateContext) -> list[dict[str, Any]]:
    """Active power >= 0, voltage in the plausible band, sub-meters within the total, one row per
    household and UTC minute, gap ratio (missing minutes) under ``energy.max_gap_ratio``."""
    energy = ctx.settings.energy
    return [
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "ts_utc"}},
        {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["household_id", "ts_utc"]}},
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "global_active_power", "min_value": 0}},
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "voltage", "min_value": energy.voltage_min, "max_value": energy.voltage_max}},
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "sub_metering_rest_wh", "min_value": -SUB_METER_TOLERANCE_WH}},
        {"type": "expect_column_values_to_be_in_set",
         "kwargs": {"column": "status", "value_set": ["measured", "interpolated", "missing"]}},
        # Missing (long-gap) minutes are exactly the rows without active power.
        {"type": "expect_column_values_to_not_be_null",
         "kwargs": {"column": "global_active_power", "mostly": round(1.0 - energy.max_gap_ratio, 6)}},
    ]
