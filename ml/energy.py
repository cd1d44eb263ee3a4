"""Household demand forecasting: LightGBM with rolling-origin CV, persistence baselines, registry.

Training reads the pinned Gold snapshot of ``gold.energy_features`` (PyIceberg, no Spark), splits
strictly by time (a final hold-out period the model never sees, rolling-origin folds before it
for early stopping), and compares the model with the two persistence baselines on the hold-out:
same hour yesterday (``lag_24h``) and same hour last week (``lag_168h``). One model per frequency
(hourly and 15-minute) is kept in one JSON bundle. The model uses only features known a day
ahead (``lag_1h`` stays in Gold for short-horizon use), so it can forecast a whole day. The registry
record carries the fingerprint of the feature rows read and the training knobs, so
``rebuild_training_set`` + ``retrain`` reproduce the model from it.

Loss policy (``energy.require_beat_baselines``, on by default): the model must beat both baselines on RMSE
*and* MAE at both frequencies. A candidate that loses any one comparison is rejected: the evaluate task fails
with one line listing the lost comparisons and every compared metric, nothing is registered (the register
step refuses it even when run on its own), Gold stays published, and the outcome is kept in
``last_evaluation.json`` so the realtime forecast keeps scoring with the last registered model and says so
(``rejected_candidate_note``).
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lakehouse.errors import LakehouseError
from lakehouse.settings import EnergySettings, LakehouseSettings
from schemas.energy import SEASONAL_COLUMNS

if TYPE_CHECKING:
    import lightgbm as lgb
    import pyarrow as pa

    from lakehouse.pipeline import RunContext
    from lakehouse.training import Evaluation

FEATURES_TABLE = "gold.energy_features"
MODEL_FEATURES = (
    "hour", "minute_of_day", "day_of_week", "month", "is_weekend", "is_holiday",
    "lag_24h", "lag_168h", "roll_mean_24h", "roll_std_24h", "roll_mean_168h",
    "day_sin1", "day_cos1", "day_sin2", "day_cos2", "week_sin1", "week_cos1", "week_sin2", "week_cos2",
    "year_sin1", "year_cos1",
)
FREQUENCIES = (60, 15)
BASELINES = {"same_hour_yesterday": "lag_24h", "same_hour_last_week": "lag_168h"}
# EnergySettings fields that shape training besides the LightGBM parameters (recorded with the model).
HOLDOUT_SERIES_FILE = "holdout.json"  # beside the candidate: the compared hold-out rows, for the run report
LAST_EVALUATION_FILE = "last_evaluation.json"  # beside the candidates: the latest outcome, for the realtime job
TRAINING_KNOBS = ("holdout_days", "cv_folds", "num_boost_round", "early_stopping_rounds", "learning_rate",
                  "num_leaves")


# ---- metrics and baselines (pure) ---------------------------------------------------------------
def rmse(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(y) - np.asarray(p)) ** 2)))


def mae(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(y) - np.asarray(p))))


def smape(y: np.ndarray, p: np.ndarray) -> float:
    """Symmetric MAPE in percent (0 where both are 0)."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    denom = np.abs(y) + np.abs(p)
    ratio = np.where(denom == 0, 0.0, 2 * np.abs(y - p) / np.where(denom == 0, 1, denom))
    return float(100 * np.mean(ratio))


def scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {"rmse": rmse(y, p), "mae": mae(y, p), "smape": smape(y, p)}


def baseline_predictions(frame: pd.DataFrame) -> dict[str, pd.Series]:
    """Persistence forecasts: the value 24 h and 168 h before each interval."""
    return {name: frame[column] for name, column in BASELINES.items()}


# ---- time-ordered splits (pure) -----------------------------------------------------------------
def holdout_split(frame: pd.DataFrame, holdout_days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, hold-out): the hold-out is the final ``holdout_days`` of the series; all training rows
    are strictly earlier than every hold-out row."""
    ts = frame["interval_start_utc"]
    cutoff = ts.max() + pd.Timedelta(minutes=int(frame["freq_minutes"].iloc[0])) - pd.Timedelta(days=holdout_days)
    return frame[ts < cutoff], frame[ts >= cutoff]


def rolling_origin_folds(ts: pd.Series, n_folds: int, fold_days: float) -> list[tuple[np.ndarray, np.ndarray]]:
    """Expanding-window folds: fold k trains on everything before origin k and validates on the
    ``fold_days`` after it; origins step forward so the last fold ends at the series' end."""
    values = pd.DatetimeIndex(ts)
    end = values.max() + pd.Timedelta(seconds=1)
    width = pd.Timedelta(days=fold_days)
    folds = []
    for k in range(n_folds, 0, -1):
        origin = end - k * width
        train = np.asarray(values < origin)
        valid = np.asarray((values >= origin) & (values < origin + width))
        if train.sum() > 0 and valid.sum() > 0:
            folds.append((train, valid))
    return folds


# ---- training -----------------------------------------------------------------------------------
@dataclass
class FrequencyModel:
    """One trained frequency: booster, CV record and hold-out comparison."""

    freq_minutes: int
    booster: lgb.Booster
    best_iterations: list[int]
    holdout: dict[str, dict[str, float]]
    importance: dict[str, float]
    rows: dict[str, int]


def lgb_params(energy: EnergySettings) -> dict[str, Any]:
    """Deterministic LightGBM parameters (same data in, same model out)."""
    return {
        "objective": "regression", "learning_rate": energy.learning_rate, "num_leaves": energy.num_leaves,
        "min_data_in_leaf": 20, "feature_fraction": 0.9, "bagging_fraction": 0.8, "bagging_freq": 1,
        "lambda_l2": 1.0, "seed": 42, "deterministic": True, "force_row_wise": True,
        "num_threads": energy.training_threads,
        "verbose": -1,
    }


def model_features(energy: EnergySettings) -> tuple[str, ...]:
    """The columns the model reads: calendar, lag, rolling and Fourier features, plus the STL/MSTL seasonal
    components of ``gold.energy_features`` when ``energy.seasonal_features`` computes them."""
    return MODEL_FEATURES if energy.seasonal_features == "fourier" else (*MODEL_FEATURES, *SEASONAL_COLUMNS)


def _matrix(frame: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    return frame[list(features)].astype(float)


def train_frequency(frame: pd.DataFrame, freq_minutes: int, energy: EnergySettings,
                    params: dict[str, Any] | None = None) -> FrequencyModel:
    """Rolling-origin CV with early stopping picks the rounds; fit on all pre-hold-out rows; score the
    hold-out against both persistence baselines. ``params`` default to ``lgb_params(energy)``."""
    import lightgbm as lgb

    data = frequency_rows(frame, freq_minutes)
    train, holdout = holdout_split(data, energy.holdout_days)
    if train.empty or holdout.empty:
        raise LakehouseError(f"not enough {freq_minutes}-minute feature rows to train ({len(data)} rows): need more "
                             f"than {energy.holdout_days} days of gold.energy_features")
    params = params or lgb_params(energy)
    features = model_features(energy)
    span_days = (train["interval_start_utc"].max() - train["interval_start_utc"].min()) / pd.Timedelta(days=1)
    fold_days = min(float(energy.holdout_days), max(1.0, span_days / (energy.cv_folds + 1)))
    best: list[int] = []
    for train_mask, valid_mask in rolling_origin_folds(train["interval_start_utc"], energy.cv_folds, fold_days):
        fit = lgb.Dataset(_matrix(train[train_mask], features), train[train_mask]["target_kw"], free_raw_data=True)
        val = lgb.Dataset(_matrix(train[valid_mask], features), train[valid_mask]["target_kw"], reference=fit)
        booster = lgb.train(params, fit, num_boost_round=energy.num_boost_round, valid_sets=[val],
                            callbacks=[lgb.early_stopping(energy.early_stopping_rounds, verbose=False)])
        best.append(int(booster.best_iteration or energy.num_boost_round))
    rounds = int(np.median(best)) if best else energy.num_boost_round // 4
    booster = lgb.train(params, lgb.Dataset(_matrix(train, features), train["target_kw"]),
                        num_boost_round=max(rounds, 10))
    result, comparable = holdout_scores(booster, holdout)
    gain = booster.feature_importance(importance_type="gain")
    importance = {f: round(float(g), 4) for f, g in sorted(zip(features, gain, strict=True),
                                                            key=lambda kv: -kv[1])}
    return FrequencyModel(freq_minutes, booster, best, result, importance,
                          {"train": len(train), "holdout": len(holdout), "holdout_compared": len(comparable)})


def frequency_rows(frame: pd.DataFrame, freq_minutes: int) -> pd.DataFrame:
    """One frequency's labelled feature rows in time order (what training and evaluation split)."""
    data = frame[(frame["freq_minutes"] == freq_minutes) & frame["target_kw"].notna()]
    return data.sort_values(["interval_start_utc", "household_id"]).reset_index(drop=True)


def holdout_scores(booster: Any, holdout: pd.DataFrame) -> tuple[dict[str, dict[str, float]], pd.DataFrame]:
    """Model and persistence-baseline scores on the hold-out rows where every baseline has a value."""
    comparable = holdout.dropna(subset=list(BASELINES.values()))
    y = comparable["target_kw"].to_numpy()
    result = {"model": scores(y, booster.predict(_matrix(comparable, booster.feature_name())))}
    for name, pred in baseline_predictions(comparable).items():
        result[name] = scores(y, pred.to_numpy())
    return result, comparable


def holdout_series(booster: Any, comparable: pd.DataFrame) -> dict[str, list[Any]]:
    """The compared hold-out rows as columns (what the scores were computed on): interval start (UTC, ISO),
    household, local hour, actual kW, the model's prediction and each persistence baseline's."""
    columns: dict[str, list[Any]] = {
        "interval_start_utc": [pd.Timestamp(t).isoformat() for t in comparable["interval_start_utc"]],
        "household_id": [str(h) for h in comparable["household_id"]],
        "hour": [int(h) for h in comparable["hour"]],
        "actual": [float(v) for v in comparable["target_kw"]],
        "model": ([float(v) for v in booster.predict(_matrix(comparable, booster.feature_name()))]
                  if len(comparable) else []),
    }
    for name, pred in baseline_predictions(comparable).items():
        columns[name] = [float(v) for v in pred]
    return columns


def holdout_series_uri(run: RunContext) -> str:
    """``{artifacts}/candidates/<model>/<run>/holdout.json``: the evaluated hold-out series of a run's candidate."""
    from lakehouse import storage
    from lakehouse.training import candidate_dir

    return storage.join(candidate_dir(run, run.settings.energy.model_name), HOLDOUT_SERIES_FILE)


def keep_holdout_series(run: RunContext, series: dict[str, Any]) -> str:
    """Store the hold-out series per frequency beside the candidate (read by the run report); returns its URI."""
    from lakehouse import storage

    uri = holdout_series_uri(run)
    document = {"model_name": run.settings.energy.model_name, "run_id": run.run_id, "frequencies": series}
    storage.write_bytes(run.settings, uri, json.dumps(document, sort_keys=True).encode())
    return uri


def last_evaluation_uri(settings: LakehouseSettings) -> str:
    """``{artifacts}/candidates/<model>/last_evaluation.json``: the outcome of the latest evaluated candidate."""
    from lakehouse import storage

    return storage.join(storage.to_uri(settings.artifacts), "candidates",
                        storage.safe_segment(settings.energy.model_name), LAST_EVALUATION_FILE)


def keep_last_evaluation(run: RunContext, evaluation: Evaluation, *, rejected: bool) -> str:
    """Record the candidate's outcome (run, logical date, rejected or not, every comparison) where the realtime
    job finds it (:func:`rejected_candidate_note`); returns its URI."""
    from lakehouse import storage

    uri = last_evaluation_uri(run.settings)
    document = {"model_name": run.settings.energy.model_name, "run_id": run.run_id,
                "logical_date": run.logical_date.isoformat(), "rejected": rejected,
                "losses": [c.describe() for c in evaluation.losses()],
                "compared": [c.describe() for c in evaluation.comparisons]}
    storage.write_bytes(run.settings, uri, json.dumps(document, sort_keys=True).encode())
    return uri


def last_evaluation(settings: LakehouseSettings) -> dict[str, Any] | None:
    """The outcome :func:`keep_last_evaluation` recorded, or None when no candidate was evaluated yet."""
    from lakehouse import storage

    try:
        return json.loads(storage.read_bytes(settings, last_evaluation_uri(settings)))  # type: ignore[no-any-return]
    except storage.ObjectNotFoundError:
        return None


def rejected_candidate_note(evaluation: dict[str, Any] | None, record: dict[str, Any]) -> str | None:
    """One line when the latest evaluated candidate was rejected and is not older than the registered model
    ``record`` that scores instead (the loss policy: keep forecasting with the last registered model, and say
    so); None otherwise."""
    if not evaluation or not evaluation.get("rejected") or evaluation.get("run_id") == record["model_version"]:
        return None
    if str(evaluation.get("logical_date", "")) < str(record["logical_date"]):
        return None
    losses = "; ".join(evaluation.get("losses") or []) or "see its evaluation"
    return (f"candidate {evaluation['run_id']} ({evaluation['logical_date']}) was rejected ({losses}): scoring with "
            f"the last registered version {record['model_version']} ({record['logical_date']})")


def beats_baselines(holdout: dict[str, dict[str, float]]) -> bool:
    """True when the model's RMSE and MAE are below those of every baseline."""
    return all(holdout["model"][m] < holdout[b][m] for b in BASELINES for m in ("rmse", "mae"))


def bundle(models: list[FrequencyModel], energy: EnergySettings) -> dict[str, Any]:
    """Everything needed to forecast and to audit: boosters as text, features, metrics, snapshot."""
    return {
        "model_name": energy.model_name,
        "features": list(model_features(energy)),
        "params": lgb_params(energy),
        "training": {knob: getattr(energy, knob) for knob in TRAINING_KNOBS},
        "models": {str(m.freq_minutes): m.booster.model_to_string() for m in models},
        "metrics": {str(m.freq_minutes): {"holdout": m.holdout, "cv_best_iterations": m.best_iterations,
                                          "rows": m.rows, "beats_baselines": beats_baselines(m.holdout)}
                    for m in models},
        "feature_importance": {str(m.freq_minutes): m.importance for m in models},
    }


def predict(model_bundle: dict[str, Any], frame: pd.DataFrame, freq_minutes: int) -> np.ndarray:
    """Forecast kW for feature rows of one frequency (never negative)."""
    import lightgbm as lgb

    booster = lgb.Booster(model_str=model_bundle["models"][str(freq_minutes)])
    return np.clip(booster.predict(frame[model_bundle["features"]].astype(float)), 0.0, None)


# ---- I/O: snapshot, run artifacts, registry -----------------------------------------------------
def read_features(settings: LakehouseSettings, logical_date: dt.date, snapshot_id: int) -> pa.Table:
    """All feature rows delivered up to ``logical_date`` at the pinned snapshot, as Arrow."""
    from pyiceberg.expressions import LessThanOrEqual

    from lakehouse.registry import read_table_snapshot

    table = read_table_snapshot(settings, FEATURES_TABLE, snapshot_id,
                                row_filter=LessThanOrEqual("meter_read_date", logical_date.isoformat()))
    if table.num_rows == 0:
        raise LakehouseError(f"{FEATURES_TABLE} snapshot {snapshot_id} has no rows up to {logical_date}")
    return table


class DemandTrainer:
    """The energy model under the training protocol (lakehouse.training): both frequencies, fit with
    rolling-origin CV, evaluated on the hold-out against same-hour-yesterday and same-hour-last-week."""

    framework = "lightgbm"
    model_file = "energy_demand_lightgbm.json"
    volatile_metrics: tuple[str, ...] = ()

    def model_name(self, run: RunContext) -> str:
        return run.settings.energy.model_name

    def reads(self, run: RunContext) -> tuple[str, ...]:
        return (FEATURES_TABLE,)

    def _energy(self, run: RunContext) -> EnergySettings:
        recorded = run.params.get("recorded", {}).get("training", {})
        return run.settings.energy.model_copy(update={k: v for k, v in recorded.items() if k in TRAINING_KNOBS})

    def load(self, run: RunContext, snapshots: dict[str, int]) -> pa.Table:
        return read_features(run.settings, run.logical_date, snapshots[FEATURES_TABLE])

    def fit(self, run: RunContext, rows: pa.Table, model_path: Path) -> dict[str, Any]:
        energy = self._energy(run)
        recorded = dict(run.params.get("recorded", {}))
        recorded.pop("training", None)
        params = recorded or lgb_params(energy)
        frame = rows.to_pandas()
        models = [train_frequency(frame, freq, energy, params=params) for freq in FREQUENCIES]
        model_path.write_text(json.dumps(bundle(models, energy), sort_keys=True, default=float))
        return {**params, "training": {knob: getattr(energy, knob) for knob in TRAINING_KNOBS}}

    def evaluate(self, run: RunContext, rows: pa.Table, model_path: Path, params: dict[str, Any]) -> Evaluation:
        import lightgbm as lgb

        from lakehouse.training import Comparison, Evaluation

        candidate = json.loads(model_path.read_text())
        energy = self._energy(run)
        frame = rows.to_pandas()
        holdout_report: dict[str, Any] = {}
        comparisons = []
        series: dict[str, Any] = {}
        for freq in FREQUENCIES:
            _, holdout = holdout_split(frequency_rows(frame, freq), energy.holdout_days)
            booster = lgb.Booster(model_str=candidate["models"][str(freq)])
            report, comparable = holdout_scores(booster, holdout)
            holdout_report[str(freq)] = report
            series[str(freq)] = holdout_series(booster, comparable)
            comparisons += [
                Comparison(f"{metric}@{freq}min", report["model"][metric], baseline, report[baseline][metric])
                for baseline in BASELINES for metric in ("rmse", "mae")]
        metrics = {"holdout": holdout_report,
                   "cv_best_iterations": {f: m["cv_best_iterations"] for f, m in candidate["metrics"].items()},
                   "rows": {f: m["rows"] for f, m in candidate["metrics"].items()},
                   "feature_importance": candidate["feature_importance"]}
        evaluation = Evaluation(metrics, comparisons)
        if "recorded" not in run.params:  # a training run (not `model reproduce`): keep the series for its report
            keep_holdout_series(run, series)
            keep_last_evaluation(run, evaluation, rejected=bool(evaluation.losses()) and self.must_beat_baselines(run))
        return evaluation

    def must_beat_baselines(self, run: RunContext) -> bool:
        return run.settings.energy.require_beat_baselines


TRAINER = DemandTrainer()


def latest_bundle(settings: LakehouseSettings, model_version: str | None = None
                  ) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(registry record, bundle) of the latest (or the named) registered model; None if none."""
    from lakehouse.registry import latest_model, list_models

    if model_version:
        records = [r for r in list_models(settings, settings.energy.model_name) if r["model_version"] == model_version]
        record = records[0] if records else None
    else:
        record = latest_model(settings, settings.energy.model_name)
    if record is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        from lakehouse.registry import download_artifact

        path = download_artifact(settings, record["artifact_uri"], Path(tmp) / "model.json")
        return record, json.loads(path.read_text())


def model_available(settings: LakehouseSettings) -> bool:
    """True once a model of ``energy.model_name`` is registered (the realtime DAG skips otherwise)."""
    from lakehouse.catalog import load_catalog
    from lakehouse.registry import latest_model

    if not load_catalog(settings).table_exists("ml.model_registry"):
        return False
    return latest_model(settings, settings.energy.model_name) is not None


# ---- pipeline steps (spark_jobs/energy/pipeline.py) -------------------------------------------------
def model_available_step(run: RunContext) -> bool:
    """Whether a model is registered (the realtime DAG skips scoring, not fails, until one is)."""
    return model_available(run.settings)
