"""Forecast scoring helpers: run month, realtime interval, and no look-ahead at forecast time."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from lakehouse.errors import LakehouseError
from lakehouse.settings import EnergySettings
from ml import energy as M
from spark_jobs.energy import transforms as T
from spark_jobs.energy.common import delivered_month
from spark_jobs.energy.realtime import target_interval


def test_a_run_on_the_first_delivers_the_previous_month() -> None:
    assert delivered_month(dt.date(2024, 3, 1)) == dt.date(2024, 2, 1)
    assert delivered_month(dt.date(2024, 1, 1)) == dt.date(2023, 12, 1)
    with pytest.raises(LakehouseError, match="meter-reading day"):
        delivered_month(dt.date(2024, 3, 2))


def test_realtime_interval_is_floored_to_15_minutes_in_utc() -> None:
    start, end = target_interval("2024-02-01T10:07:00+01:00")
    assert start == pd.Timestamp("2024-02-01 09:00", tz="UTC") and end - start == pd.Timedelta(minutes=15)
    assert target_interval("2024-02-01")[0] == pd.Timestamp("2024-02-01 00:00", tz="UTC")
    with pytest.raises(LakehouseError, match="not an ISO timestamp"):
        target_interval("yesterday")


def test_forecast_uses_only_history_before_its_origin() -> None:
    rng = np.random.default_rng(0)
    ts = pd.date_range("2024-01-01", periods=24 * 30, freq="h", tz="UTC")
    kw = 1 + np.sin(np.arange(len(ts)) * 2 * np.pi / 24) * 0.5 + rng.normal(0, 0.05, len(ts))
    series = pd.DataFrame({"household_id": "hh_001", "interval_start_utc": ts, "active_power_kw": kw})
    features = T.build_features(series, freq_minutes=60, tz="Europe/Paris", country="FR")
    model = M.train_frequency(features, 60, EnergySettings(num_boost_round=50, holdout_days=3))
    bundle = M.bundle([model], EnergySettings())
    start, end = ts[24 * 25], ts[24 * 26]
    first = T.forecast_household(series, bundle, freq_minutes=60, start=start, end=end, tz="Europe/Paris",
                                 country="FR")
    future_changed = series.assign(active_power_kw=np.where(series["interval_start_utc"] >= start, 99.0, kw))
    second = T.forecast_household(future_changed, bundle, freq_minutes=60, start=start, end=end,
                                  tz="Europe/Paris", country="FR")
    assert len(first) == 24 and first["forecast_kw"].tolist() == second["forecast_kw"].tolist()
