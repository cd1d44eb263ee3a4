"""Next-bar model: features use only the past, the split leaks nothing, the model beats chance on a
learnable series, and the baseline is evaluated on the same split."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from lakehouse.settings import FinanceSettings
from ml.finance import FEATURES, build_dataset, fit_model, lgb_params, score, time_split


def _bars(n_minutes: int = 300, symbols: tuple[str, ...] = ("A", "B"), seed: int = 0) -> pd.DataFrame:
    """Gold-shaped bars with momentum (returns are autocorrelated, so direction is learnable)."""
    rng = np.random.default_rng(seed)
    frames = []
    for s in symbols:
        r = np.zeros(n_minutes)
        for t in range(1, n_minutes):
            r[t] = 0.6 * r[t - 1] + rng.normal(0, 0.001)
        close = 100 * np.exp(np.cumsum(r))
        df = pd.DataFrame({
            "trade_date": dt.date(2024, 1, 2), "symbol": s,
            "minute_ts": pd.date_range("2024-01-02 14:30", periods=n_minutes, freq="min", tz="UTC"),
            "open": close, "high": close * 1.001, "low": close * 0.999, "close": close, "volume": 100.0,
            "vwap": close, "trade_count": 5, "filled": False,
        })
        c = df["close"]
        df["sma_5"], df["sma_20"], df["sma_60"] = (c.rolling(n).mean() for n in (5, 20, 60))
        df["ema_12"] = c.ewm(span=12).mean()
        df["log_return"] = np.log(c / c.shift())
        df["realized_vol_30"] = np.sqrt((df["log_return"] ** 2).rolling(30).sum())
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def test_features_never_look_ahead() -> None:
    bars = _bars()
    base = build_dataset(bars)
    t = bars["minute_ts"].iloc[150]
    future = bars["minute_ts"] > t
    changed = bars.copy()
    changed.loc[future, ["open", "high", "low", "close", "vwap", "volume"]] *= 1.5
    after = build_dataset(changed)
    past = base["minute_ts"] <= t
    pd.testing.assert_frame_equal(base.loc[past, list(FEATURES)], after.loc[past, list(FEATURES)])


def test_time_split_embargoes_labels_that_reach_the_test_period() -> None:
    split = time_split(build_dataset(_bars()), test_fraction=0.3)
    assert split.train["minute_ts"].max() < split.cutoff
    assert split.train["label_ts"].max() < split.test["minute_ts"].min()
    assert split.test["minute_ts"].min() == split.cutoff
    assert len(split.train) + len(split.test) < len(build_dataset(_bars()))  # the embargoed bar is gone


def _fit_and_score(dataset: pd.DataFrame) -> tuple:  # type: ignore[type-arg]
    split = time_split(dataset, 0.3)
    booster = fit_model(split, lgb_params(FinanceSettings()), 150, FEATURES)
    return booster, score(booster, split, FEATURES)


def test_model_beats_chance_and_reports_the_baseline_on_the_same_split() -> None:
    booster, metrics = _fit_and_score(build_dataset(_bars(400)))
    assert metrics["model_accuracy"] > 0.6
    assert {"baseline_accuracy", "baseline_auc", "accuracy_lift", "split_cutoff"} <= set(metrics)
    assert metrics["test_rows"] > 0 and booster.num_trees() > 0


def test_flat_prices_fail_with_a_clear_message() -> None:
    bars = _bars()
    bars["close"] = 100.0
    from lakehouse.errors import LakehouseError

    with pytest.raises(LakehouseError, match="single label class"):
        _fit_and_score(build_dataset(bars))
