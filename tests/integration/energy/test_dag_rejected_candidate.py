"""The energy loss policy through Airflow (`dag.test`, in-process): a month whose candidate loses to the
persistence baselines publishes its Gold, registers nothing, forecasts the next day with the last registered
model (flagged), writes a report that names the rejection, and the DAG run ends failed.

Own household (``hh_loss``), model name and months (2005), so the shared lake's other energy tests never
train on these rows (training reads every month up to its date): the household is removed from every energy
table afterwards. The "last registered" model is trained in pandas on generated January 2005 and registered
directly; the DAG run is for February 2005 (meter-reading day 2005-03-01) with a candidate that cannot win
(a near-constant LightGBM: learning rate 0.001 on two leaves).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pyspark.sql import functions as F

from lakehouse import reports, storage
from lakehouse.registry import list_models
from lakehouse.settings import EnergySettings
from ml import energy as M
from schemas.energy import TABLES as ENERGY_TABLES
from spark_jobs.energy import generator, io, uci
from spark_jobs.energy import transforms as T
from tests.support.airflow import run_dag, task_states, xcom_value
from tests.support.gates import task_tries, with_fast_retries

HOUSEHOLD = "hh_loss"
MODEL = "energy_demand_loss_test"
PREVIOUS = "loss-test-v1"
JANUARY, FEBRUARY, DAY = dt.date(2005, 1, 1), dt.date(2005, 2, 1), dt.date(2005, 3, 1)
SEED = 5


def _register_previous_model(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Train both frequencies on generated January 2005 in pandas and register them (no Spark, no Gold)."""
    from lakehouse.registry import register_model

    energy = settings.energy
    text = generator.household_month(HOUSEHOLD, JANUARY, JANUARY, FEBRUARY, seed=SEED, tz=energy.source_timezone,
                                     country=energy.holiday_country)
    out = T.silver_household(uci.split_lines(text, "f.txt", HOUSEHOLD), month_start=JANUARY,
                             tz=energy.source_timezone, voltage_band=(200, 260), max_interpolate_minutes=60)
    knobs = EnergySettings(model_name=MODEL, num_boost_round=30, holdout_days=3, cv_folds=2)
    one_thread = {**M.lgb_params(knobs), "num_threads": 1}
    models = []
    for freq in M.FREQUENCIES:
        series = T.resample(out[out["kind"] == "silver"], freq, energy.source_timezone)
        features = T.build_features(series, freq_minutes=freq, tz=energy.source_timezone,
                                    country=energy.holiday_country)
        models.append(M.train_frequency(features, freq, knobs, params=one_thread))
    path = tmp_path / "model.json"
    path.write_text(json.dumps(M.bundle(models, knobs), default=float))
    register_model(settings, model_name=MODEL, model_version=PREVIOUS, logical_date=FEBRUARY, framework="lightgbm",
                   artifact_path=path, metrics={}, params={}, training_snapshots={})


@pytest.fixture
def losing_lake(airflow_env, spark, local_settings, tmp_path):  # type: ignore[no-untyped-def]
    """The shared lake with a registered previous model and February 2005 landed for ``hh_loss``, under
    settings whose candidate must lose; afterwards the household is removed from every energy table again."""
    energy = local_settings.energy.model_copy(update={
        "households": [HOUSEHOLD], "model_name": MODEL, "require_beat_baselines": True, "start_date": "2005-01-01",
        # a near-constant model: persistence beats it, so evaluate rejects it
        "learning_rate": 0.001, "num_leaves": 2, "num_boost_round": 20, "early_stopping_rounds": 5,
        "holdout_days": 3, "cv_folds": 2, "training_threads": 1})
    # one retry with a short delay: shows that the rejection and the report's verdict are final (not retried)
    settings = with_fast_retries(local_settings.model_copy(update={"energy": energy}), retries=1, retry_delay_s=1)
    _register_previous_model(settings, tmp_path)
    text = generator.household_month(HOUSEHOLD, FEBRUARY, FEBRUARY, DAY, seed=SEED,
                                     tz=energy.source_timezone, country=energy.holiday_country)
    io.write_text(settings, io.landing_uri(settings, generator.landing_path(FEBRUARY, HOUSEHOLD)), text)
    yield settings
    for table in ENERGY_TABLES:
        spark.sql(f"DELETE FROM {settings.table_name(table.identifier)} WHERE household_id = '{HOUSEHOLD}'")


def test_a_rejected_candidate_still_forecasts_with_the_last_registered_model(spark, losing_lake) -> None:
    settings = losing_lake
    run = run_dag("energy_demand_forecast", DAY, settings)
    states = task_states(run)
    assert states == {"ingest": "success", "silver": "success", "gate_silver": "success", "features": "success",
                      "gate_features": "success", "train": "success", "evaluate": "failed",
                      "register": "upstream_failed", "forecast": "success", "report": "failed"}, states
    assert str(run.state) == "failed", "a rejected candidate fails the DAG run"
    tries = task_tries(run)
    assert tries["evaluate"] == 1 and tries["report"] == 1, f"a rejection is final, never retried: {tries}"

    # gold published, model not registered
    features = spark.table(settings.table_name("gold.energy_features")).where(
        (F.col("meter_read_date") == DAY) & (F.col("household_id") == HOUSEHOLD))
    assert features.where(F.col("freq_minutes") == 60).count() == 28 * 24
    assert [m["model_version"] for m in list_models(settings, MODEL)] == [PREVIOUS]
    evaluation_uri = storage.join(storage.to_uri(settings.artifacts), "candidates", MODEL,
                                  storage.safe_segment(run.run_id), "evaluation.json")
    evaluation = json.loads(storage.read_bytes(settings, evaluation_uri))
    assert evaluation["rejected"] is True

    # the next day forecast by the last registered model, flagged as such
    forecast = spark.table(settings.table_name("gold.energy_forecast")).where(
        (F.col("forecast_date") == DAY) & (F.col("kind") == "day_ahead") & (F.col("household_id") == HOUSEHOLD))
    rows = forecast.collect()
    assert sorted({(r["freq_minutes"], sum(1 for s in rows if s["freq_minutes"] == r["freq_minutes"]))
                   for r in rows}) == [(15, 96), (60, 24)]
    assert {(r["model_name"], r["model_version"], r["run_id"]) for r in rows} == {(MODEL, PREVIOUS, run.run_id)}
    summary = xcom_value(run, "forecast")
    assert summary["model_version"] == PREVIOUS
    assert "rejected" in summary["model_note"] and PREVIOUS in summary["model_note"], summary

    # the report was written and names the rejection, every compared metric and the forecasting model
    page = storage.read_bytes(settings, reports.report_uri(
        settings, reports.RunInfo("energy_demand_forecast", DAY, run.run_id))).decode("utf-8")
    assert "Candidate rejected" in page
    for comparison in evaluation["comparisons"]:
        assert comparison["metric"] in page and comparison["baseline"] in page
    assert f"{MODEL} {PREVIOUS}" in page and "last registered" in page
