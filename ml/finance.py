"""Next-bar direction model on gold.ohlcv_1m: LightGBM vs a naive persistence baseline.

Training reads one pinned Gold snapshot (PyIceberg, no Spark), builds features that use only the
bar itself and earlier bars, and splits by time: every training row's label (the next bar) ends
before the first test bar, so nothing from the test period leaks into training. The model, its
metrics, the baseline's metrics on the same split, the Gold snapshot id and the fingerprint of the
bars read go to the registry; ``rebuild_training_set`` + ``retrain`` reproduce it from that record.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakehouse.errors import LakehouseError
from lakehouse.settings import LakehouseSettings

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from lakehouse.pipeline import RunContext
    from ml.registry import TrainingSet

MODEL_NAME = "finance_next_bar_direction"
GOLD_TABLE = "gold.ohlcv_1m"
FEATURES = (
    "log_return", "ret_lag_1", "ret_lag_2", "ret_lag_3", "close_to_sma_5", "close_to_sma_20", "close_to_sma_60",
    "close_to_ema_12", "close_to_vwap", "realized_vol_30", "range_rel", "log_volume", "trade_count", "filled",
    "minute_of_day",
)
PARAMS: dict[str, Any] = {
    "objective": "binary", "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 20,
    "feature_fraction": 0.9, "bagging_fraction": 0.9, "bagging_freq": 1, "seed": 7, "deterministic": True,
    "num_threads": 1, "verbose": -1,
}
NUM_ROUNDS = 150
TEST_FRACTION = 0.3
_TRAINING_KEYS = ("num_boost_round", "features", "lookback_days", "test_fraction")  # recorded params not for LightGBM


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


def _metrics(y_true: Any, prob_up: Any) -> dict[str, float]:
    import numpy as np
    from sklearn.metrics import accuracy_score, log_loss, roc_auc_score

    prob = np.clip(np.asarray(prob_up, dtype=float), 1e-6, 1 - 1e-6)
    out = {"accuracy": float(accuracy_score(y_true, prob > 0.5)), "log_loss": float(log_loss(y_true, prob,
                                                                                           labels=[0, 1]))}
    out["auc"] = float(roc_auc_score(y_true, prob)) if len(set(y_true)) > 1 else float("nan")
    return out


def naive_baseline(train: pd.DataFrame, test: pd.DataFrame) -> Any:
    """Persistence: the next bar moves like this one; flat bars get the training base rate."""
    import numpy as np

    base_rate = float(train["target"].mean()) if len(train) else 0.5
    r = test["log_return"].fillna(0.0).to_numpy()
    return np.where(r > 0, 0.75, np.where(r < 0, 0.25, base_rate))


def fit_and_evaluate(dataset: pd.DataFrame, test_fraction: float = TEST_FRACTION, *,
                     params: dict[str, Any] | None = None, num_rounds: int = NUM_ROUNDS,
                     features: tuple[str, ...] | list[str] = FEATURES) -> tuple[Any, dict[str, Any]]:
    """Train LightGBM on the time-ordered split; metrics of the model and of the naive baseline.
    ``params``/``num_rounds``/``features`` default to this module's (a reproduction passes the recorded ones)."""
    import lightgbm as lgb

    split = time_split(dataset, test_fraction)
    if split.train["target"].nunique() < 2:
        raise LakehouseError("training data has a single label class: not enough price movement to learn from")
    columns = list(features)
    train_set = lgb.Dataset(split.train[columns], label=split.train["target"])
    booster = lgb.train(params or PARAMS, train_set, num_boost_round=num_rounds)
    model = _metrics(split.test["target"], booster.predict(split.test[columns]))
    baseline = _metrics(split.test["target"], naive_baseline(split.train, split.test))
    metrics = {
        **{f"model_{k}": v for k, v in model.items()},
        **{f"baseline_{k}": v for k, v in baseline.items()},
        "accuracy_lift": model["accuracy"] - baseline["accuracy"],
        "train_rows": len(split.train), "test_rows": len(split.test),
        "split_cutoff": str(split.cutoff), "test_up_rate": float(split.test["target"].mean()),
    }
    return booster, metrics


def read_training_bars(settings: LakehouseSettings, snapshot_id: int, logical_date: dt.date,
                       lookback_days: int) -> pa.Table:
    """The Gold bars training reads: the ``lookback_days`` before ``logical_date`` (inclusive) at a snapshot."""
    from ml.registry import read_table_snapshot

    start = logical_date - dt.timedelta(days=lookback_days)
    row_filter = f"trade_date >= '{start.isoformat()}' AND trade_date <= '{logical_date.isoformat()}'"
    return read_table_snapshot(settings, GOLD_TABLE, snapshot_id=snapshot_id, row_filter=row_filter)


def train(settings: LakehouseSettings, logical_date: dt.date, run_id: str,
          snapshot_id: int | None = None) -> dict[str, Any]:
    """Train on the Gold snapshot (current main unless given) for the lookback ending at ``logical_date``,
    register the model with that snapshot id and the fingerprint of the bars read; return the registry summary."""
    from ml.registry import current_snapshot_id, fingerprint, register_model

    fin = settings.finance
    snapshot_id = snapshot_id or current_snapshot_id(settings, GOLD_TABLE)
    if snapshot_id is None:
        raise LakehouseError(f"{GOLD_TABLE} has no data yet: run the finance pipeline first")
    start = logical_date - dt.timedelta(days=fin.train_lookback_days)
    bars_read = read_training_bars(settings, snapshot_id, logical_date, fin.train_lookback_days)
    training_set = fingerprint(bars_read)
    dataset = build_dataset(bars_read.to_pandas())
    if len(dataset) < fin.min_train_rows:
        raise LakehouseError(
            f"only {len(dataset)} labelled bars in {GOLD_TABLE} for {start}..{logical_date} "
            f"(need {fin.min_train_rows}, LAKEHOUSE_FINANCE__MIN_TRAIN_ROWS)"
        )
    booster, metrics = fit_and_evaluate(dataset)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.txt"
        booster.save_model(str(path))
        uri = register_model(
            settings, model_name=MODEL_NAME, model_version=run_id, logical_date=logical_date,
            framework=f"lightgbm-{_lgb_version()}", artifact_path=path, metrics=metrics,
            params={**PARAMS, "num_boost_round": NUM_ROUNDS, "features": list(FEATURES),
                    "lookback_days": fin.train_lookback_days, "test_fraction": TEST_FRACTION},
            training_snapshots={GOLD_TABLE: snapshot_id}, training_set=training_set, trainer=__name__,
        )
    return {"model": MODEL_NAME, "version": run_id, "artifact_uri": uri, "gold_snapshot_id": snapshot_id,
            "metrics": metrics, "training_rows": training_set.rows, "training_checksum": training_set.checksum}


# ---- reproduction (lakehouse model reproduce) ---------------------------------------------------
def rebuild_training_set(settings: LakehouseSettings, record: dict[str, Any],
                         snapshots: dict[str, int]) -> tuple[TrainingSet, pa.Table]:
    """The bars a registered model read, from ``snapshots`` (its pinned Gold snapshot), and their fingerprint."""
    from ml.registry import fingerprint

    bars = read_training_bars(settings, snapshots[GOLD_TABLE], record["logical_date"],
                              int(record["params"]["lookback_days"]))
    return fingerprint(bars), bars


def retrain(settings: LakehouseSettings, record: dict[str, Any], bars: pa.Table) -> dict[str, Any]:
    """Fit again on the rebuilt bars with the recorded parameters, rounds, features and split; the metrics."""
    params = record["params"]
    lgb_params = {k: v for k, v in params.items() if k not in _TRAINING_KEYS}
    _, metrics = fit_and_evaluate(build_dataset(bars.to_pandas()), float(params.get("test_fraction", TEST_FRACTION)),
                                  params=lgb_params, num_rounds=int(params.get("num_boost_round", NUM_ROUNDS)),
                                  features=tuple(params.get("features", FEATURES)))
    return metrics


def _lgb_version() -> str:
    import lightgbm

    return str(lightgbm.__version__)


def train_step(run: RunContext) -> dict[str, Any]:
    """The pipeline's training step: :func:`train` for the run, summarised for the task's XCom."""
    summary = train(run.settings, run.logical_date, run.run_id)
    return {k: v for k, v in summary.items() if k != "metrics"} | {
        "model_accuracy": summary["metrics"]["model_accuracy"],
        "baseline_accuracy": summary["metrics"]["baseline_accuracy"],
    }
