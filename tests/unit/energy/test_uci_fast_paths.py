"""The parse's fast paths (Arrow for numbers, one parse per distinct date and time) agree with the exact
cell-by-cell reference on every kind of cell a hostile delivery can hold, alone or among plain values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from spark_jobs.energy import uci

PLAIN_NUMBERS = ["4.216", "0.418", "234.840", "0", "17.000", "?", "", None]
HOSTILE_NUMBERS = [
    " 1.5", "1.5 ", " ? ", "nan", "NaN", "inf", "-inf", "Infinity", "1e3", "1E-2", "+2", "-0", "-0.0", ".5",
    "5.", "0x10", "1_000", "1,5", "\uff11\uff12", "1e400", "-1e400", "1e-400", "4.9e-324", "abc", "--1", "1..2",
    "0.1000000000000000055511151231257827", "123456789012345678901234567890", "\t3", "3\n", "\u0663",
]
PLAIN_DATES, PLAIN_TIMES = ["1/3/2023", "01/03/2023", "31/3/2023", None], ["00:00:00", "0:0:0", "23:59:00", None]
HOSTILE_DATES = [" 1/3/2023", "1/3/2023 ", "31/2/2023", "1/13/2023", "1/3/23", "1-3-2023", "", "?", "1/3/2023;x",
                 "2023-03-01", "1/3/20233", "0/3/2023"]
HOSTILE_TIMES = ["24:00:00", "12:60:00", "12:00", "12:00:00.5", " 12:00:00", "12:00:00 ", "", "?", "12:00:60",
                 "12:00:00 PM", "1200"]


def assert_same_floats(values: list[object]) -> None:
    column = pd.Series(values, dtype=object)
    fast, fast_bad = uci.to_float(column)
    exact, exact_bad = uci.exact_floats(column)
    assert fast_bad.tolist() == exact_bad.tolist(), values
    np.testing.assert_array_equal(fast.to_numpy(), exact.to_numpy(), err_msg=str(values))  # bit for bit, NaN = NaN


def assert_same_times(dates: list[object], times: list[object]) -> None:
    date, time = pd.Series(dates, dtype=object), pd.Series(times, dtype=object)
    pd.testing.assert_series_equal(uci.wall_times(date, time), uci.exact_wall_times(date, time), check_names=False)


def test_plain_numbers_take_the_fast_path_and_match_the_reference() -> None:
    assert uci._plain_floats(pd.Series(PLAIN_NUMBERS * 3, dtype=object)) is not None
    assert_same_floats(PLAIN_NUMBERS * 3)
    rng = np.random.default_rng(7)
    # Up to 14 significant digits (the format carries 3 decimals): bit for bit the reference's values.
    assert_same_floats([f"{v:.{p}f}" for v, p in zip(rng.uniform(0, 300, 5000), rng.integers(0, 12, 5000),
                                                     strict=True)])


def test_every_null_spelling_is_missing_on_both_paths() -> None:
    cells = [*PLAIN_NUMBERS, np.nan, pd.NA, None, *PLAIN_NUMBERS]
    assert uci._plain_floats(pd.Series(cells, dtype=object)) is not None
    assert_same_floats(cells)


def test_long_numbers_are_correctly_rounded() -> None:
    """Beyond 15 significant digits pandas' parser can be a unit or two in the last place off; the fast path
    gives the correctly rounded double (Python's float), within two such units of the reference."""
    rng = np.random.default_rng(7)
    cells = [f"{v:.{p}f}" for v, p in zip(rng.uniform(0, 300, 5000), rng.integers(12, 20, 5000), strict=True)]
    fast, bad = uci.to_float(pd.Series(cells, dtype=object))
    exact, _ = uci.exact_floats(pd.Series(cells, dtype=object))
    assert not bad.any()
    np.testing.assert_array_equal(fast.to_numpy(), np.array([float(c) for c in cells]))
    np.testing.assert_array_max_ulp(fast.to_numpy(), exact.to_numpy(), maxulp=2)


@pytest.mark.parametrize("cell", HOSTILE_NUMBERS)
def test_a_hostile_number_gets_the_reference_value_and_verdict(cell: str) -> None:
    assert_same_floats([cell])
    assert_same_floats([*PLAIN_NUMBERS, cell, *PLAIN_NUMBERS])


def test_plain_dates_and_times_match_the_reference() -> None:
    dates = [d for d in PLAIN_DATES for _ in PLAIN_TIMES]
    times = [t for _ in PLAIN_DATES for t in PLAIN_TIMES]
    assert uci._wall_times_by_value(pd.Series(dates, dtype=object), pd.Series(times, dtype=object)) is not None
    assert_same_times(dates, times)
    minutes = pd.date_range("2023-03-01", "2023-04-01", freq="min", inclusive="left")
    assert_same_times(list(uci.format_uci_date(minutes)), list(minutes.strftime("%H:%M:%S")))


@pytest.mark.parametrize("cell", HOSTILE_DATES)
def test_a_hostile_date_gets_the_reference_time(cell: str) -> None:
    assert_same_times([*PLAIN_DATES, cell], [*PLAIN_TIMES, "10:00:00"])


@pytest.mark.parametrize("cell", HOSTILE_TIMES)
def test_a_hostile_time_gets_the_reference_time(cell: str) -> None:
    assert_same_times([*PLAIN_DATES, "2/3/2023"], [*PLAIN_TIMES, cell])


@pytest.mark.parametrize("date, time", [*[(d, "10:00:00") for d in HOSTILE_DATES + PLAIN_DATES[:3]],
                                        *[("2/3/2023", t) for t in HOSTILE_TIMES + PLAIN_TIMES[:3]]])
def test_file_coverage_reads_a_line_time_as_silver_does(date: str, time: str) -> None:
    """The span a multi-month file covers is read from its first and last lines; a line whose time silver
    would reject must not set the span, and one silver accepts must."""
    silver = uci.exact_wall_times(pd.Series([date]), pd.Series([time])).iloc[0]
    covered = uci.line_timestamp(f"{date};{time};1.0;0.1;240.0;4.0;0;1;17")
    assert (covered is None) if pd.isna(silver) else covered == silver
