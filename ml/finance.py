"""Next-bar direction model on gold.ohlcv_1m: LightGBM against three baselines, on real bars only.

Training reads one pinned Gold snapshot (PyIceberg, no Spark), builds features that use only the
bar itself and earlier bars, and splits by time: every training row's label (the next bar) ends
before the first test bar, so nothing from the test period leaks into training. The model, its
metrics, the baselines' metrics on the same split, the Gold snapshot id and the fingerprint of the
bars read go to the registry; ``rebuild_training_set`` + ``retrain`` reproduce it from that record.

Evaluation policy (:func:`score`, :meth:`NextBarTrainer.evaluate`):

- **Real bars only.** Gold fills minutes without trades by carrying the close forward; the direction of
  such a bar, or of a bar followed by one, is an artefact of the fill (a flat bar is always "not up"), not
  a price move. The model is trained on rows whose next bar is real and scored on rows where both the bar
  and the next bar are real (:func:`real_bars`); ``eval_rows``/``filled_excluded`` record how many.
- **Baselines**, fitted on the training rows only and scored on the same test rows:
  ``logistic`` (the one to beat) -- a logistic regression on the last four one-minute log returns. It is
  the linear autocorrelation model (momentum, or the mean reversion of bid-ask bounce) that any
  next-bar model must improve on before its non-linear features are worth anything; persistence is the
  same idea with the slope fixed by hand and the probabilities fixed at 0.75/0.25, so it is both weaker
  and badly calibrated. ``persistence`` is kept for continuity with earlier registry entries
  (``baseline_*`` metrics), and ``base_rate`` (the training up-rate as a constant probability) is the
  climatology reference every probabilistic forecast must beat on log-loss.
- **Metrics** of the model and every baseline: accuracy, AUC, log-loss, Brier score and expected
  calibration error (ECE, 10 equal-width probability bins: the gap between predicted and observed
  up-rates, weighted by the bin's share; :func:`reliability` gives the bins themselves).
- **Registration** (``finance.require_beat_baseline``, on by default): the model must beat ``logistic`` on
  accuracy, log-loss and Brier score and ``base_rate`` on log-loss; otherwise the evaluate task fails,
  nothing is registered, and its one-line message names the lost comparisons, then every metric against
  every baseline. On a pure random walk (``lakehouse generate ticks --signal 0``) it must fail: there is
  nothing to learn. The generator's default order-flow signal is what a tree model of these features can
  learn and a linear model of past returns cannot (spark_jobs/finance/generator.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakehouse.errors import LakehouseError
from lakehouse.settings import FinanceSettings, LakehouseSettings

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from lakehouse.pipeline import RunContext
    from lakehouse.training import Evaluation

MODEL_NAME = "finance_next_bar_direction"
GOLD_TABLE = "gold.ohlcv_1m"
FEATURES = (
    "log_return", "ret_lag_1", "ret_lag_2", "ret_lag_3", "close_to_sma_5", "close_to_sma_20", "close_to_sma_60",
    "close_to_ema_12", "close_to_vwap", "realized_vol_30", "range_rel", "log_volume", "trade_count", "filled",
    "minute_of_day",
)


# Recorded parameters that are not LightGBM's.
_TRAINING_KEYS = ("num_boost_round", "features", "lookback_days", "test_fraction", "lightgbm")


def lgb_params(fin: FinanceSettings) -> dict[str, Any]:
    """Deterministic LightGBM parameters from the finance settings (same bars in, same model out)."""
    # A day of bars is a few thousand mostly-noise rows: leaves of 20 rows and no L2 penalty gave
    # overconfident probabilities, which the log-loss/Brier policy rejects even when the direction is right.
    return {
        "objective": "binary", "learning_rate": fin.learning_rate, "num_leaves": fin.num_leaves,
        "min_data_in_leaf": 50, "lambda_l2": 10.0, "feature_fraction": 0.9, "bagging_fraction": 0.9,
        "bagging_freq": 1, "seed": fin.seed, "deterministic": True, "num_threads": fin.training_threads, "verbose": -1,
    }


def build_dataset(bars: pd.DataFrame) -> pd.DataFrame:
    """Features from each bar and earlier bars (per symbol and date) plus the label ``target``:
    1 when the next bar's close is above this bar's close. Rows without a next bar are dropped."""
    import numpy as np

    df = bars.sort_values(["symbol", "trade_date", "minute_ts"]).reset_index(drop=True)
    group = df.groupby(["symbol", "trade_date"], sort=False)
    log_return = df["log_return"].fillna(0.0)
    for lag in (1, 2, 3):
        df[f"ret_lag_{lag}"] = log_return.groupby([df["symbol"], df["trade_date"]]).shift(lag)
    for col in ("sma_5", "sma_20", "sma_60", "ema_12", "vwap"):
        df[f"close_to_{col}"] = df["close"] / df[col] - 1.0
    df["range_rel"] = (df["high"] - df["low"]) / df["close"]
    df["log_volume"] = np.log1p(df["volume"])
    df["filled"] = df["filled"].astype(int)
    minute = pd_to_datetime(df["minute_ts"])
    df["minute_of_day"] = minute.dt.hour * 60 + minute.dt.minute
    next_close = group["close"].shift(-1)
    df["label_ts"] = group["minute_ts"].shift(-1)
    df["label_filled"] = group["filled"].shift(-1).fillna(1).astype(int)
    df["target"] = (next_close > df["close"]).astype(int)
    return df[next_close.notna()].reset_index(drop=True)


def pd_to_datetime(values: pd.Series) -> pd.Series:
    import pandas as pd

    return pd.to_datetime(values, utc=True)


@dataclass(frozen=True)
class Split:
    """Time-ordered split: train rows' labels all end before ``cutoff``; test rows start at it."""

    train: pd.DataFrame
    test: pd.DataFrame
    cutoff: Any


def time_split(dataset: pd.DataFrame, test_fraction: float = 0.3) -> Split:
    """Split at a timestamp; training rows whose label bar is at/after the cutoff are dropped (embargo)."""
    times = sorted(dataset["minute_ts"].unique())
    if len(times) < 4:
        raise LakehouseError(f"not enough distinct bar times to split ({len(times)})")
    cutoff = times[int(len(times) * (1 - test_fraction))]
    train = dataset[(dataset["minute_ts"] < cutoff) & (dataset["label_ts"] < cutoff)]
    test = dataset[dataset["minute_ts"] >= cutoff]
    return Split(train.reset_index(drop=True), test.reset_index(drop=True), cutoff)


def real_bars(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows whose bar and next (label) bar both had trades: the only rows whose direction is a price move."""
    return rows[(rows["filled"].astype(int) == 0) & (rows["label_filled"].astype(int) == 0)]


def real_labels(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows whose next (label) bar had trades (what the model is trained on)."""
    return rows[rows["label_filled"].astype(int) == 0]


def reliability(y_true: Any, prob_up: Any, bins: int = 10) -> list[dict[str, float]]:
    """Reliability table: per equal-width probability bin with rows, the rows, mean prediction and up-rate."""
    import numpy as np

    y = np.asarray(y_true, dtype=float)
    prob = np.asarray(prob_up, dtype=float)
    index = np.minimum((prob * bins).astype(int), bins - 1)
    return [{"bin": b / bins, "rows": int((index == b).sum()), "predicted": float(prob[index == b].mean()),
             "observed": float(y[index == b].mean())} for b in range(bins) if (index == b).any()]


def expected_calibration_error(y_true: Any, prob_up: Any, bins: int = 10) -> float:
    """ECE: sum over bins of share of rows x |mean prediction - observed up-rate|."""
    table = reliability(y_true, prob_up, bins)
    total = sum(b["rows"] for b in table)
    return float(sum(b["rows"] / total * abs(b["predicted"] - b["observed"]) for b in table)) if total else float("nan")


def _metrics(y_true: Any, prob_up: Any) -> dict[str, float]:
    import numpy as np
    from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, roc_auc_score

    prob = np.clip(np.asarray(prob_up, dtype=float), 1e-6, 1 - 1e-6)
    out = {"accuracy": float(accuracy_score(y_true, prob > 0.5)), "log_loss": float(log_loss(y_true, prob,
                                                                                           labels=[0, 1]))}
    out["auc"] = float(roc_auc_score(y_true, prob)) if len(set(y_true)) > 1 else float("nan")
    out["brier"] = float(brier_score_loss(y_true, prob, pos_label=1))
    out["ece"] = expected_calibration_error(y_true, prob)
    return out


RETURN_FEATURES = ("log_return", "ret_lag_1", "ret_lag_2", "ret_lag_3")


def logistic_baseline(train: pd.DataFrame, test: pd.DataFrame) -> Any:
    """Logistic regression on the last four one-minute log returns, fitted on ``train`` (see the module doc)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    columns = list(RETURN_FEATURES)
    if train["target"].nunique() < 2:
        return np.full(len(test), float(train["target"].mean()) if len(train) else 0.5)
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
    model.fit(train[columns].fillna(0.0).to_numpy(), train["target"].to_numpy())
    return model.predict_proba(test[columns].fillna(0.0).to_numpy())[:, 1]


def base_rate_baseline(train: pd.DataFrame, test: pd.DataFrame) -> Any:
    """Climatology: the training rows' up-rate as the probability of every test row."""
    import numpy as np

    return np.full(len(test), float(train["target"].mean()) if len(train) else 0.5)


def naive_baseline(train: pd.DataFrame, test: pd.DataFrame) -> Any:
    """Persistence: the next bar moves like this one; flat bars get the training base rate."""
    import numpy as np

    base_rate = float(train["target"].mean()) if len(train) else 0.5
    r = test["log_return"].fillna(0.0).to_numpy()
    return np.where(r > 0, 0.75, np.where(r < 0, 0.25, base_rate))


def fit_model(split: Split, params: dict[str, Any], num_rounds: int, features: tuple[str, ...] | list[str]) -> Any:
    """LightGBM on the training part of a time-ordered split."""
    import lightgbm as lgb

    if split.train["target"].nunique() < 2:
        raise LakehouseError("training data has a single label class: not enough price movement to learn from")
    columns = list(features)
    train = real_labels(split.train)
    return lgb.train(params, lgb.Dataset(train[columns], label=train["target"]), num_boost_round=num_rounds)


# metric prefix -> baseline; "baseline_" is persistence (the prefix earlier registry entries use)
BASELINES = {"logistic": logistic_baseline, "baseline": naive_baseline, "base_rate": base_rate_baseline}
BASELINE_NAMES = {"logistic": "logistic", "baseline": "persistence", "base_rate": "base_rate"}
METRIC_NAMES = ("accuracy", "auc", "log_loss", "brier", "ece")


def score(booster: Any, split: Split, features: tuple[str, ...] | list[str]) -> dict[str, Any]:
    """Metrics of the model and of every baseline on the real bars of the test part of the split
    (baselines fitted on the same training rows as the model)."""
    test, train = real_bars(split.test), real_labels(split.train)
    if test.empty:
        raise LakehouseError(f"no real (traded) bars after the split cutoff {split.cutoff} to evaluate on: "
                             "every test bar was filled")
    model = _metrics(test["target"], booster.predict(test[list(features)]))
    out: dict[str, Any] = {f"model_{k}": v for k, v in model.items()}
    for prefix, baseline in BASELINES.items():
        out.update({f"{prefix}_{k}": v for k, v in _metrics(test["target"], baseline(train, test)).items()})
    return {
        **out,
        "accuracy_lift": model["accuracy"] - out["baseline_accuracy"],
        "accuracy_lift_vs_logistic": model["accuracy"] - out["logistic_accuracy"],
        "train_rows": len(train), "test_rows": len(test), "eval_rows": len(test),
        "filled_excluded": len(split.test) - len(test),
        "split_cutoff": str(split.cutoff), "test_up_rate": float(test["target"].mean()),
    }


# (metric, higher is better, baselines it must beat with finance.require_beat_baseline)
POLICY = (("accuracy", True, ("logistic",)), ("log_loss", False, ("logistic", "base_rate")),
          ("brier", False, ("logistic",)), ("auc", True, ()), ("ece", False, ()))


def comparisons(metrics: dict[str, Any]) -> list[Any]:
    """Every metric of the model against every baseline; ``required`` where the policy says it must win."""
    from lakehouse.training import Comparison

    return [Comparison(metric, float(metrics[f"model_{metric}"]), BASELINE_NAMES[prefix],
                       float(metrics[f"{prefix}_{metric}"]), higher_is_better=higher,
                       required=BASELINE_NAMES[prefix] in must_beat)
            for metric, higher, must_beat in POLICY for prefix in BASELINES]


def read_training_bars(settings: LakehouseSettings, snapshot_id: int, logical_date: dt.date,
                       lookback_days: int) -> pa.Table:
    """The Gold bars training reads: the ``lookback_days`` before ``logical_date`` (inclusive) at a snapshot."""
    from lakehouse.registry import read_table_snapshot

    start = logical_date - dt.timedelta(days=lookback_days)
    row_filter = f"trade_date >= '{start.isoformat()}' AND trade_date <= '{logical_date.isoformat()}'"
    return read_table_snapshot(settings, GOLD_TABLE, snapshot_id=snapshot_id, row_filter=row_filter)


class NextBarTrainer:
    """The finance model under the training protocol (lakehouse.training): fit, evaluate, register."""

    framework = "lightgbm"
    model_file = "model.txt"
    volatile_metrics: tuple[str, ...] = ()

    def model_name(self, run: RunContext) -> str:
        return MODEL_NAME

    def reads(self, run: RunContext) -> tuple[str, ...]:
        return (GOLD_TABLE,)

    def params(self, run: RunContext) -> dict[str, Any]:
        """What training uses: recorded ones when reproducing, else from settings."""
        if "recorded" in run.params:
            return dict(run.params["recorded"])
        fin = run.settings.finance
        return {**lgb_params(fin), "num_boost_round": fin.num_boost_round, "features": list(FEATURES),
                "lookback_days": fin.train_lookback_days, "test_fraction": fin.test_fraction,
                "lightgbm": _lgb_version()}

    def load(self, run: RunContext, snapshots: dict[str, int]) -> pa.Table:
        return read_training_bars(run.settings, snapshots[GOLD_TABLE], run.logical_date,
                                  int(self.params(run)["lookback_days"]))

    def _split(self, run: RunContext, rows: pa.Table, params: dict[str, Any]) -> Split:
        dataset = build_dataset(rows.to_pandas())
        minimum = run.settings.finance.min_train_rows
        if len(dataset) < minimum:
            start = run.logical_date - dt.timedelta(days=int(params["lookback_days"]))
            raise LakehouseError(f"only {len(dataset)} labelled bars in {GOLD_TABLE} for {start}..{run.logical_date} "
                                 f"(need {minimum}, LAKEHOUSE_FINANCE__MIN_TRAIN_ROWS)")
        return time_split(dataset, float(params["test_fraction"]))

    def fit(self, run: RunContext, rows: pa.Table, model_path: Path) -> dict[str, Any]:
        params = self.params(run)
        lgb = {k: v for k, v in params.items() if k not in _TRAINING_KEYS}
        booster = fit_model(self._split(run, rows, params), lgb, int(params["num_boost_round"]), params["features"])
        booster.save_model(str(model_path))
        return params

    def evaluate(self, run: RunContext, rows: pa.Table, model_path: Path, params: dict[str, Any]) -> Evaluation:
        import lightgbm as lgb

        from lakehouse.training import Evaluation

        metrics = score(lgb.Booster(model_file=str(model_path)), self._split(run, rows, params), params["features"])
        return Evaluation(metrics, comparisons(metrics))

    def must_beat_baselines(self, run: RunContext) -> bool:
        return run.settings.finance.require_beat_baseline


TRAINER = NextBarTrainer()


def _lgb_version() -> str:
    import lightgbm

    return str(lightgbm.__version__)
