"""Time-ordered split (no leakage), rolling-origin folds, baselines, metrics, and beating them."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from lakehouse.settings import EnergySettings
from ml import energy as M
from spark_jobs.energy import generator, uci
from spark_jobs.energy import transforms as T

TZ = "Europe/Paris"


def frame(days: int, freq: int = 60) -> pd.DataFrame:
    ts = pd.date_range("2024-01-01", periods=days * 24 * 60 // freq, freq=f"{freq}min", tz="UTC")
    return pd.DataFrame({"interval_start_utc": ts, "freq_minutes": freq, "target_kw": 1.0})


def test_holdout_is_the_final_period_and_strictly_later() -> None:
    train, holdout = M.holdout_split(frame(20), holdout_days=7)
    assert len(holdout) == 7 * 24 and len(train) == 13 * 24
    assert train["interval_start_utc"].max() < holdout["interval_start_utc"].min()


def test_rolling_origin_folds_never_look_ahead() -> None:
    ts = frame(20)["interval_start_utc"]
    folds = M.rolling_origin_folds(ts, n_folds=3, fold_days=3)
    assert len(folds) == 3
    previous_end = None
    for train, valid in folds:
        assert ts[train].max() < ts[valid].min()
        assert len(ts[valid]) == 72
        if previous_end is not None:
            assert ts[valid].min() > previous_end
        previous_end = ts[valid].max()
    assert folds[-1][1][-1], "the last fold ends at the end of the series"
    assert folds[0][0].sum() < folds[-1][0].sum(), "expanding window"


def test_baselines_are_persistence_lags() -> None:
    df = pd.DataFrame({"lag_24h": [1.0, 2.0], "lag_168h": [3.0, 4.0]})
    base = M.baseline_predictions(df)
    assert base["same_hour_yesterday"].tolist() == [1.0, 2.0]
    assert base["same_hour_last_week"].tolist() == [3.0, 4.0]


def test_metrics() -> None:
    y, p = np.array([1.0, 2.0, 0.0]), np.array([2.0, 2.0, 0.0])
    assert M.rmse(y, p) == pytest.approx(np.sqrt(1 / 3))
    assert M.mae(y, p) == pytest.approx(1 / 3)
    assert M.smape(y, p) == pytest.approx(100 * (2 / 3) / 3)


def test_model_beats_both_persistence_baselines_on_generated_data() -> None:
    month = dt.date(2024, 1, 1)
    text = generator.household_month("hh_001", month, month, dt.date(2024, 2, 1), seed=7, tz=TZ, country="FR")
    out = T.silver_household(uci.split_lines(text, "f.txt", "hh_001"), month_start=month, tz=TZ,
                             voltage_band=(200, 260), max_interpolate_minutes=60)
    hourly = T.resample(out[out["kind"] == "silver"], 60, TZ)
    features = T.build_features(hourly, freq_minutes=60, tz=TZ, country="FR")
    energy = EnergySettings(num_boost_round=300)
    model = M.train_frequency(features, 60, energy)
    assert len(model.best_iterations) == energy.cv_folds
    assert M.beats_baselines(model.holdout), model.holdout
    assert model.rows["holdout"] == pytest.approx(7 * 24, abs=2)
    assert set(model.importance) == set(M.MODEL_FEATURES) and "lag_1h" not in model.importance
    bundle = M.bundle([model], energy)
    again = M.predict(bundle, features.tail(24), 60)
    assert (again >= 0).all() and np.allclose(again, M.predict(bundle, features.tail(24), 60))


def test_stl_components_are_model_features_only_when_chosen() -> None:
    """`energy.seasonal_features=stl` feeds the STL component to LightGBM (and records it with the model);
    the default keeps the Fourier-only feature list."""
    month = dt.date(2024, 1, 1)
    text = generator.household_month("hh_001", month, month, dt.date(2024, 2, 1), seed=7, tz=TZ, country="FR")
    out = T.silver_household(uci.split_lines(text, "f.txt", "hh_001"), month_start=month, tz=TZ,
                             voltage_band=(200, 260), max_interpolate_minutes=60)
    hourly = T.resample(out[out["kind"] == "silver"], 60, TZ)
    features = T.build_features(hourly, freq_minutes=60, tz=TZ, country="FR", seasonal="stl")
    assert features["seasonal_day"].notna().any()
    assert M.model_features(EnergySettings()) == M.MODEL_FEATURES
    energy = EnergySettings(num_boost_round=60, seasonal_features="stl")
    model = M.train_frequency(features, 60, energy)
    assert {"seasonal_day", "seasonal_week"} <= set(model.importance)
    bundle = M.bundle([model], energy)
    assert bundle["features"][-2:] == ["seasonal_day", "seasonal_week"]
    assert np.isfinite(M.predict(bundle, features.tail(24), 60)).all()
