"""Silver minute grid, resampling and every gold feature, on tiny hand-made series."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from spark_jobs.energy import transforms as T
from spark_jobs.energy import uci
from tests.unit.energy.conftest import TZ, uci_text


def readings(minutes: list[int], start: str = "2024-01-10 00:00", power: float = 1.0) -> pd.DataFrame:
    utc = pd.Timestamp(start, tz="UTC")
    rows = pd.DataFrame({"household_id": "hh_001", "ts_utc": [utc + pd.Timedelta(minutes=m) for m in minutes],
                         "source_file": "f.txt", "line_number": np.arange(2, 2 + len(minutes))})
    for name in uci.VALUE_FIELDS:
        rows[name] = power
    rows["global_active_power"] = [power + m for m in minutes]
    return rows


def grid(minutes: list[int], length: int = 200, max_gap: int = 60) -> pd.DataFrame:
    start = pd.Timestamp("2024-01-10 00:00", tz="UTC")
    return T.minute_grid(readings(minutes), start, start + pd.Timedelta(minutes=length), TZ, max_gap)


def test_short_gap_is_interpolated_linearly() -> None:
    out = grid([m for m in range(200) if m not in (10, 11, 12)])
    assert out.loc[10:12, "status"].tolist() == ["interpolated"] * 3
    assert out.loc[10:12, "global_active_power"].tolist() == pytest.approx([11.0, 12.0, 13.0])
    assert out.loc[10:12, "gap_minutes"].tolist() == [3, 3, 3]
    assert len(out) == 200 and out["ts_utc"].is_unique


def test_long_gap_is_flagged_not_invented() -> None:
    out = grid([m for m in range(200) if not 50 <= m < 130], max_gap=60)
    gap = out.iloc[50:130]
    assert (gap["status"] == "missing").all() and gap["global_active_power"].isna().all()
    assert (gap["gap_minutes"] == 80).all()
    assert (out.iloc[:50]["status"] == "measured").all()


def test_gap_at_the_month_edge_is_missing() -> None:
    out = grid(list(range(5, 200)))
    assert out.loc[:4, "status"].tolist() == ["missing"] * 5


def test_local_time_and_offset_follow_the_timezone() -> None:
    out = grid(list(range(3)), length=3)
    assert out.loc[0, "ts_local"] == pd.Timestamp("2024-01-10 01:00") and out.loc[0, "utc_offset_minutes"] == 60
    assert out.loc[0, "sub_metering_rest_wh"] == pytest.approx(1.0 * 1000 / 60 - 3.0)


def test_silver_household_splits_silver_and_quarantine() -> None:
    local = pd.date_range("2024-01-01 00:00", "2024-01-01 00:09", freq="min")
    text = uci_text(local) + "1/1/2024;00:10:00;-1;0.1;240;4;0;0;0\n"
    out = T.silver_household(uci.split_lines(text, "f.txt", "hh_001"), month_start=dt.date(2024, 1, 1), tz=TZ,
                             voltage_band=(200, 260), max_interpolate_minutes=60)
    silver, quarantine = out[out["kind"] == "silver"], out[out["kind"] == "quarantine"]
    assert len(silver) == 31 * 1440 and (silver["status"] == "measured").sum() == 10
    assert quarantine["line_number"].tolist() == [12]
    assert quarantine["raw_line"].tolist() == ["1/1/2024;00:10:00;-1;0.1;240;4;0;0;0"]


def test_resample_hourly_and_15_minutes() -> None:
    minutes = grid([m for m in range(120) if not 60 <= m < 100], length=120, max_gap=10)
    hourly = T.resample(minutes, 60, TZ)
    assert hourly["minutes_measured"].tolist() == [60, 20]
    assert hourly["minutes_missing"].tolist() == [0, 40]
    assert hourly.loc[0, "active_power_kw"] == pytest.approx(np.mean(np.arange(60) + 1.0))
    assert hourly.loc[0, "energy_kwh"] == pytest.approx(np.sum(np.arange(60) + 1.0) / 60)
    assert np.isnan(hourly.loc[1, "active_power_kw"]), "an interval more than half missing has no demand value"
    quarter = T.resample(minutes, 15, TZ)
    assert len(quarter) == 8 and (quarter["minutes_expected"] == 15).all()
    assert quarter.loc[0, "interval_start_local"] == pd.Timestamp("2024-01-10 01:00")


def hourly_series(hours: int, start: str = "2024-01-01 00:00") -> pd.DataFrame:
    ts = pd.date_range(start, periods=hours, freq="h", tz="UTC")
    return pd.DataFrame({"household_id": "hh_001", "interval_start_utc": ts,
                         "active_power_kw": np.arange(hours, dtype=float)})


def test_calendar_features_and_french_holidays() -> None:
    local = pd.Series(pd.to_datetime(["2024-05-01 08:15", "2024-07-13 23:00", "2024-07-14 00:00",
                                      "2024-12-25 12:00"]))
    out = T.calendar_features(local, "FR")
    assert out["hour"].tolist() == [8, 23, 0, 12]
    assert out["minute_of_day"].tolist() == [495, 1380, 0, 720]
    assert out["day_of_week"].tolist() == [2, 5, 6, 2]
    assert out["month"].tolist() == [5, 7, 7, 12]
    assert out["is_weekend"].tolist() == [False, True, True, False]
    assert out["is_holiday"].tolist() == [True, False, True, True]
    assert T.calendar_features(local, "US")["is_holiday"].tolist() == [False, False, False, True]


def test_lags_are_exact_shifts() -> None:
    target = pd.Series(np.arange(400, dtype=float))
    out = T.lag_features(target, 60)
    assert out.loc[399, "lag_1h"] == 398 and out.loc[399, "lag_24h"] == 375 and out.loc[399, "lag_168h"] == 231
    assert np.isnan(out.loc[167, "lag_168h"])
    quarter = T.lag_features(target, 15)
    assert quarter.loc[399, "lag_1h"] == 395 and quarter.loc[399, "lag_24h"] == 399 - 96


def test_rolling_windows_end_a_day_before_the_interval() -> None:
    target = pd.Series(np.arange(400, dtype=float))
    out = T.lag_features(target, 60)
    # window of 24 values ending at t-24: t-47 .. t-24
    assert out.loc[300, "roll_mean_24h"] == pytest.approx(np.mean(np.arange(253, 277)))
    assert out.loc[300, "roll_std_24h"] == pytest.approx(np.std(np.arange(253, 277), ddof=1))
    assert out.loc[300, "roll_mean_168h"] == pytest.approx(np.mean(np.arange(109, 277)))
    changed = target.copy()
    changed.loc[277:] = 1e6  # the last 24 h before t=300 must not matter
    assert T.lag_features(changed, 60).loc[300, "roll_mean_24h"] == out.loc[300, "roll_mean_24h"]


def test_fourier_terms() -> None:
    local = pd.Series(pd.to_datetime(["2024-01-01 00:00", "2024-01-01 06:00", "2024-01-04 12:00"]))
    out = T.fourier_features(local)
    assert out.loc[0, "day_sin1"] == pytest.approx(0) and out.loc[0, "day_cos1"] == pytest.approx(1)
    assert out.loc[1, "day_sin1"] == pytest.approx(1) and out.loc[1, "day_cos2"] == pytest.approx(-1)
    assert out.loc[2, "week_sin1"] == pytest.approx(np.sin(2 * np.pi * 3.5 / 7))
    assert out.loc[0, "year_cos1"] == pytest.approx(1)


def test_build_features_fills_the_grid_and_extends_into_the_future() -> None:
    series = hourly_series(200).drop(index=[50])
    out = T.build_features(series, freq_minutes=60, tz=TZ, country="FR",
                           until=pd.Timestamp("2024-01-10 00:00", tz="UTC"))
    assert len(out) == 216 and out["interval_start_utc"].is_monotonic_increasing
    assert np.isnan(out.loc[50, "target_kw"]) and np.isnan(out.loc[51, "lag_1h"])
    future = out[out["interval_start_utc"] >= pd.Timestamp("2024-01-09 08:00", tz="UTC")]
    assert future["target_kw"].isna().all() and future["lag_24h"].notna().all()
    assert out.loc[0, "interval_start_local"] == pd.Timestamp("2024-01-01 01:00")
    assert out.loc[0, "is_holiday"]
