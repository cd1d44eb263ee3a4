"""silver's meter-clock check on the raw month (Spark DataFrames, the shared session): a declared clock that
the DST switch days contradict is refused with one line naming the setting; an agreeing one passes."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from lakehouse.errors import LakehouseError
from spark_jobs.energy import uci
from spark_jobs.energy.silver import check_clocks
from tests.unit.energy.conftest import TZ, civil_minutes, uci_text

MARCH = dt.date(2007, 3, 1)


def raw_frame(spark, local: pd.DatetimeIndex):  # type: ignore[no-untyped-def]
    rows = uci.split_lines(uci_text(local), "file:///x/hh.txt", "hh")
    return spark.createDataFrame(rows[["household_id", "date", "time", "file_error"]].astype(object)
                                 .where(rows[["household_id", "date", "time", "file_error"]].notna(), None),
                                 "household_id string, date string, time string, file_error string")


def test_a_fixed_clock_declared_dst_is_refused_and_agreeing_clocks_pass(spark) -> None:  # type: ignore[no-untyped-def]
    fixed = raw_frame(spark, pd.date_range("2007-03-24", "2007-03-26 23:59", freq="min"))
    with pytest.raises(LakehouseError) as caught:
        check_clocks(fixed, MARCH, TZ, TZ, {})
    line = str(caught.value)
    assert "\n" not in line and line.startswith("hh: the meter clock ignores daylight saving time")
    assert "1,440 readings on 2007-03-25" in line and "LAKEHOUSE_ENERGY__METER_CLOCK=+01:00" in line
    plus_one = uci.clock_zone("+01:00", TZ)
    assert check_clocks(fixed, MARCH, TZ, plus_one, {}) == ["hh 2007-03-25: fixed"]
    # a per-household entry overrides the default
    assert check_clocks(fixed, MARCH, TZ, TZ, {"hh": plus_one}) == ["hh 2007-03-25: fixed"]

    civil = raw_frame(spark, civil_minutes("2007-03-24", "2007-03-27"))
    assert check_clocks(civil, MARCH, TZ, TZ, {}) == ["hh 2007-03-25: dst"]
    with pytest.raises(LakehouseError, match=r"follows daylight saving time.*METER_CLOCK=dst"):
        check_clocks(civil, MARCH, TZ, plus_one, {})
    assert check_clocks(civil, dt.date(2007, 4, 1), TZ, plus_one, {}) == [], "no switch day in April"
