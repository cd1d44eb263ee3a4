"""Evaluation policy of the next-bar model: real (traded) bars only, a logistic baseline, calibration
metrics, and a model that loses is rejected (not registered) with every metric vs every baseline named."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lakehouse.settings import FinanceSettings
from lakehouse.training import ModelRejected, train
from ml.finance import (
    BASELINE_NAMES,
    FEATURES,
    METRIC_NAMES,
    NextBarTrainer,
    _metrics,
    build_dataset,
    comparisons,
    expected_calibration_error,
    fit_model,
    lgb_params,
    real_bars,
    reliability,
    score,
    time_split,
)
from tests.conftest import make_local_settings
from tests.unit.finance.test_model import _bars


def _with_filled_bars(bars: pd.DataFrame, every: int = 4) -> pd.DataFrame:
    """Every ``every``-th bar of each symbol becomes a filled (no-trade) bar: close carried forward."""
    out = bars.sort_values(["symbol", "minute_ts"]).reset_index(drop=True)
    position = out.groupby("symbol").cumcount()
    filled = (position % every == every - 1) & (position > 0)
    previous_close = out.groupby("symbol")["close"].shift(1)
    for column in ("open", "high", "low", "close", "vwap"):
        out.loc[filled, column] = previous_close[filled]
    out.loc[filled, ["volume", "trade_count"]] = 0
    out["filled"] = filled
    out["log_return"] = np.log(out["close"] / out.groupby("symbol")["close"].shift(1))
    return out


def test_evaluation_excludes_filled_bars_and_the_bars_before_them() -> None:
    dataset = build_dataset(_with_filled_bars(_bars(400)))
    split = time_split(dataset, 0.3)
    booster = fit_model(split, lgb_params(FinanceSettings()), 50, FEATURES)
    metrics = score(booster, split, FEATURES)
    real = real_bars(split.test)
    assert metrics["eval_rows"] == len(real) == metrics["test_rows"]
    assert metrics["filled_excluded"] == len(split.test) - len(real) > 0.4 * len(split.test)
    assert not real["filled"].astype(bool).any() and not real["label_filled"].astype(bool).any()
    expected = _metrics(real["target"], booster.predict(real[list(FEATURES)]))
    assert metrics["model_accuracy"] == pytest.approx(expected["accuracy"])
    assert metrics["model_brier"] == pytest.approx(expected["brier"])
    # a filled next bar is never "up": scoring it would reward predicting down after every gap
    assert split.test.loc[split.test["label_filled"] == 1, "target"].eq(0).all()


def test_every_metric_against_every_baseline_with_calibration() -> None:
    booster_split = time_split(build_dataset(_bars(400)), 0.3)
    booster = fit_model(booster_split, lgb_params(FinanceSettings()), 50, FEATURES)
    metrics = score(booster, booster_split, FEATURES)
    for prefix in ("model", *BASELINE_NAMES):
        assert {f"{prefix}_{m}" for m in METRIC_NAMES} <= set(metrics), prefix
    # momentum data: the logistic baseline on the last returns is far better than persistence's fixed 0.75/0.25
    assert metrics["logistic_log_loss"] < metrics["baseline_log_loss"]
    compared = comparisons(metrics)
    assert len(compared) == len(METRIC_NAMES) * len(BASELINE_NAMES)
    assert {(c.metric, c.baseline) for c in compared if c.required} == {
        ("accuracy", "logistic"), ("log_loss", "logistic"), ("brier", "logistic"), ("log_loss", "base_rate")}


def test_reliability_and_ece() -> None:
    y, p = np.array([0, 1, 1, 0, 1]), np.array([0.1, 0.9, 0.95, 0.15, 0.6])
    table = reliability(y, p)
    assert sum(b["rows"] for b in table) == 5
    assert expected_calibration_error(y, p) == pytest.approx((0.1 + 0.15 + 0.1 + 0.05 + 0.4) / 5)
    assert expected_calibration_error(np.array([0, 1]), np.array([0.0, 1.0])) == 0.0


class _SyntheticTrainer(NextBarTrainer):
    """The finance trainer on in-memory bars (no tables): the protocol's fit/evaluate/register as is."""

    bars: pd.DataFrame

    def load(self, run: Any, snapshots: Any) -> pa.Table:
        return pa.Table.from_pandas(self.bars, preserve_index=False)


NOISE = _SyntheticTrainer()


def test_a_model_that_loses_to_the_baselines_is_not_registered_and_every_metric_is_named(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    bars = _bars(500, seed=3)
    for symbol in ("A", "B"):  # a pure random walk: nothing to learn beyond the base rate
        rows = bars["symbol"] == symbol
        close = 100 * np.exp(np.cumsum(rng.normal(0, 0.001, rows.sum())))
        bars.loc[rows, ["open", "high", "low", "close", "vwap"]] = np.column_stack([close] * 5)
        bars.loc[rows, "log_return"] = np.log(close / np.roll(close, 1))
    NOISE.bars = bars
    registered: list[Any] = []
    monkeypatch.setattr("lakehouse.registry.register_model", lambda *a, **k: registered.append(k))
    settings = make_local_settings(tmp_path, finance={"require_beat_baseline": True, "num_boost_round": 300,
                                                      "num_leaves": 31, "min_train_rows": 100})
    with pytest.raises(ModelRejected) as rejected:
        train(settings, f"{__name__}:NOISE", dt.date(2024, 1, 2), "noise__run",
              params={"snapshots": {"gold.ohlcv_1m": 1}})
    message = str(rejected.value)
    assert "\n" not in message and message.startswith("finance_next_bar_direction does not beat its baselines, "
                                                      "not registered: ")
    named = set(re.findall(r"(\w+) [-\d.e+naif]+ vs (\w+) [-\d.e+naif]+ \((?:better|worse)\)", message))
    assert named == {(m, b) for m in METRIC_NAMES for b in BASELINE_NAMES.values()}
    assert registered == []
