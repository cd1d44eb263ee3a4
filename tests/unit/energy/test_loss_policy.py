"""The loss policy: a candidate that wins on RMSE but loses on MAE is rejected with every compared metric in
one line, is never registered (not even by a register step run on its own), and the realtime forecast says
it keeps the last registered model."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lakehouse import storage, training
from lakehouse.pipeline import RunContext
from lakehouse.settings import LakehouseSettings
from ml import energy as M
from spark_jobs.energy import transforms as T

TRAINER_TARGET = f"{__name__}:TRAINER"
DAY = dt.date(2024, 2, 1)


class InMemoryTrainer(M.DemandTrainer):
    """The energy trainer on feature rows built in memory (no Gold table)."""

    def load(self, run: RunContext, snapshots: Any) -> pa.Table:
        return pa.Table.from_pandas(_features(), preserve_index=False)


TRAINER = InMemoryTrainer()


def _features() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    frames = []
    for freq in (60, 15):
        ts = pd.date_range("2024-01-01", periods=24 * 60 // freq * 20, freq=f"{freq}min", tz="UTC")
        kw = 1 + 0.5 * np.sin(np.arange(len(ts)) * 2 * np.pi * freq / 1440) + rng.normal(0, 0.05, len(ts))
        series = pd.DataFrame({"household_id": "hh_001", "interval_start_utc": ts, "active_power_kw": kw})
        frames.append(T.build_features(series, freq_minutes=freq, tz="Europe/Paris", country="FR"))
    return pd.concat(frames, ignore_index=True)


def _wins_rmse_loses_mae(booster: Any, holdout: pd.DataFrame) -> tuple[dict[str, dict[str, float]], pd.DataFrame]:
    """Hold-out scores where the model beats both baselines on RMSE but loses to same-hour-yesterday on MAE."""
    _, comparable = REAL_HOLDOUT_SCORES(booster, holdout)
    return {"model": {"rmse": 0.30, "mae": 0.25, "smape": 20.0},
            "same_hour_yesterday": {"rmse": 0.40, "mae": 0.20, "smape": 25.0},
            "same_hour_last_week": {"rmse": 0.45, "mae": 0.35, "smape": 30.0}}, comparable


REAL_HOLDOUT_SCORES = M.holdout_scores


@pytest.fixture
def settings(tmp_path) -> LakehouseSettings:  # type: ignore[no-untyped-def]
    base = LakehouseSettings(profile="local", home=tmp_path)
    energy = base.energy.model_copy(update={"num_boost_round": 20, "holdout_days": 3, "cv_folds": 2})
    return base.model_copy(update={"energy": energy})


def test_a_model_losing_on_one_metric_is_rejected_with_every_metric_and_not_registered(settings, monkeypatch) -> None:
    from lakehouse.registry import list_models

    monkeypatch.setattr(M, "holdout_scores", _wins_rmse_loses_mae)
    run = RunContext(settings, DAY, "monthly-2024-02", {"snapshots": {M.FEATURES_TABLE: 1}})
    training.fit_step(run, TRAINER_TARGET)
    with pytest.raises(training.ModelRejected) as rejected:
        training.evaluate_step(run, TRAINER_TARGET)
    message = str(rejected.value)
    assert "\n" not in message
    assert message.startswith("energy_demand does not beat its baselines, not registered: lost 2 of 8 comparisons "
                              "(mae@60min 0.25 vs same_hour_yesterday 0.2 (worse); "
                              "mae@15min 0.25 vs same_hour_yesterday 0.2 (worse)); every compared metric: ")
    listed = re.findall(r"(rmse|mae)@(60|15)min [\d.]+ vs (same_hour_\w+) [\d.]+ \((better|worse)\)", message)
    assert len(listed) == 2 + 8
    assert {(m, f, b) for m, f, b, _ in listed} == {(m, f, b) for m in ("rmse", "mae") for f in ("60", "15")
                                                    for b in ("same_hour_yesterday", "same_hour_last_week")}

    folder = training.candidate_dir(run, "energy_demand")
    evaluation = json.loads(storage.read_bytes(settings, storage.join(folder, "evaluation.json")))
    assert evaluation["rejected"] is True and evaluation["beats_baselines"] is False
    with pytest.raises(training.ModelRejected, match="was rejected by its evaluation"):
        training.register_step(run, TRAINER_TARGET)  # e.g. the register task cleared on its own
    assert list_models(settings, "energy_demand") == []

    outcome = M.last_evaluation(settings)
    assert outcome["rejected"] is True and outcome["run_id"] == "monthly-2024-02"
    assert len(outcome["compared"]) == 8 and len(outcome["losses"]) == 2
    registered = {"model_version": "monthly-2024-01", "logical_date": dt.date(2024, 1, 1)}
    note = M.rejected_candidate_note(outcome, registered)
    assert note is not None and note.startswith("candidate monthly-2024-02 (2024-02-01) was rejected (mae@60min")
    assert note.endswith("scoring with the last registered version monthly-2024-01 (2024-01-01)")


def test_no_note_unless_a_newer_candidate_was_rejected() -> None:
    registered = {"model_version": "monthly-2024-03", "logical_date": dt.date(2024, 3, 1)}
    rejected = {"run_id": "monthly-2024-02", "logical_date": "2024-02-01", "rejected": True, "losses": ["x"]}
    assert M.rejected_candidate_note(None, registered) is None
    assert M.rejected_candidate_note(rejected, registered) is None, "an older rejected rerun changes nothing"
    assert M.rejected_candidate_note({**rejected, "rejected": False, "logical_date": "2024-04-01"}, registered) is None
    assert M.rejected_candidate_note({**rejected, "logical_date": "2024-04-01"}, registered) is not None
