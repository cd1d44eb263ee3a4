"""Suite guarding silver.energy_intraday_15min: the rows one intra-day ingest is about to upsert.

Not a pipeline ``Gate`` step: write-audit-publish stages one logical date per run on a branch cut afresh per
write and validates the run's logical date, while one intra-day run upserts the deliveries of up to two UTC
delivery dates (its lookback crosses midnight) that are not its logical date. So
``spark_jobs.energy.intraday_ingest`` runs this suite on its rows before the MERGE and writes nothing to silver
or quarantine when it fails (the same GX run, report and Data Docs as a gate).
"""

from __future__ import annotations

from typing import Any

from lakehouse.quality import GateContext
from spark_jobs.energy.intraday import FREQ_MINUTES, KEYS

# A delivery with more than half of its lines rejected is a broken file, not a few bad lines: the window may
# hold such files (quarantined, their rows all missing), but when fewer than half of its deliveries are
# mostly accepted the feed itself is broken and nothing is upserted.
MOSTLY_ACCEPTED = 0.5


def build(ctx: GateContext) -> list[dict[str, Any]]:
    """One row per household and interval, 15-minute intervals whose minute counts add up, plausible values
    (non-negative power and energy, voltage in ``energy.voltage_min``/``voltage_max``) and at least half of
    the deliveries with most of their lines accepted."""
    energy = ctx.settings.energy
    minutes = {"min_value": 0, "max_value": FREQ_MINUTES}
    return [
        *({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": c}} for c in KEYS),
        {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": list(KEYS)}},
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "freq_minutes",
                                                                 "value_set": [FREQ_MINUTES]}},
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "minutes_expected",
                                                                 "value_set": [FREQ_MINUTES]}},
        *({"type": "expect_column_values_to_be_between", "kwargs": {"column": c, **minutes}}
          for c in ("minutes_measured", "minutes_interpolated", "minutes_missing")),
        *({"type": "expect_column_values_to_be_between", "kwargs": {"column": c, "min_value": 0}}
          for c in ("active_power_kw", "energy_kwh", "sub_metering_1_wh", "sub_metering_2_wh",
                    "sub_metering_3_wh")),
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "voltage", "min_value": energy.voltage_min, "max_value": energy.voltage_max}},
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "lines_rejected", "min_value": 0, "max_value": FREQ_MINUTES // 2,
                    "mostly": MOSTLY_ACCEPTED}},
    ]
