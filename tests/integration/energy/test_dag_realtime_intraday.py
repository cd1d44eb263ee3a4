"""energy_realtime_forecast through Airflow (`dag.test`, in-process) on generated intra-day deliveries, in the
second half of a month, where the monthly silver has nothing in the 16 days before the scored interval.

One household; a small LightGBM model (15-minute) trained in pandas on February 2025 and registered under its
own model name (other tests' models are untouched); deliveries for 18-19 March 2025, backfilled once. Then:
fresh data -> the 20 March 00:00 UTC interval is forecast from the intra-day rows; a rerun with a re-delivered
interval -> no duplicate silver row, the row replaced; the next day with no delivery -> the run fails with
one readable line.
"""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from pyspark.sql import functions as F

from lakehouse import storage
from lakehouse.errors import LakehouseError
from lakehouse.jobs import JobContext
from lakehouse.settings import EnergySettings
from ml import energy as M
from spark_jobs.energy import generator, intraday, intraday_ingest, io, realtime, uci
from spark_jobs.energy import transforms as T
from tests.support.airflow import run_dag, task_states, xcom_value
from tests.support.gates import with_fast_retries

DAY = dt.date(2025, 3, 20)  # scored interval: 2025-03-20 00:00 UTC, the second half of the month
SINCE = pd.Timestamp("2025-03-18 00:00", tz="UTC")
START = pd.Timestamp("2025-03-20 00:00", tz="UTC")
MODEL = "energy_intraday_test"
TASKS = ("ingest_intraday", "model_registered", "score_interval")
SEED = 3


def _register_model(settings, tmp_path) -> dict:  # type: ignore[no-untyped-def]
    """Train a small 15-minute model on generated February 2025 and register it (no Spark, no Gold)."""
    from lakehouse.registry import register_model

    energy = settings.energy
    month = dt.date(2025, 2, 1)
    text = generator.household_month("hh_001", month, month, dt.date(2025, 3, 1), seed=SEED,
                                     tz=energy.source_timezone, country=energy.holiday_country)
    out = T.silver_household(uci.split_lines(text, "f.txt", "hh_001"), month_start=month, tz=energy.source_timezone,
                             voltage_band=(200, 260), max_interpolate_minutes=60)
    series = T.resample(out[out["kind"] == "silver"], 15, energy.source_timezone)
    features = T.build_features(series, freq_minutes=15, tz=energy.source_timezone, country=energy.holiday_country)
    knobs = EnergySettings(model_name=MODEL, num_boost_round=30, holdout_days=3, cv_folds=2)
    one_thread = {**M.lgb_params(knobs), "num_threads": 1}  # two threads crawl on a busy 2-core machine
    bundle = M.bundle([M.train_frequency(features, 15, knobs, params=one_thread)], knobs)
    path = tmp_path / "model.json"
    path.write_text(json.dumps(bundle, default=float))
    register_model(settings, model_name=MODEL, model_version="intraday-test-v1", logical_date=month,
                   framework="lightgbm", artifact_path=path, metrics={}, params={}, training_snapshots={})
    return bundle


def _silver(spark, settings):  # type: ignore[no-untyped-def]
    return spark.table(settings.table_name("silver.energy_intraday_15min")).where(
        F.col("delivery_date").between(SINCE.date(), DAY))


def _realtime_rows(spark, settings, day: dt.date):  # type: ignore[no-untyped-def]
    return spark.table(settings.table_name("gold.energy_forecast")).where(
        (F.col("forecast_date") == day) & (F.col("kind") == "realtime") & (F.col("model_name") == MODEL))


@pytest.fixture(scope="module")
def delivered(airflow_env, spark, local_settings, tmp_path_factory):  # type: ignore[no-untyped-def]
    energy = local_settings.energy.model_copy(update={"model_name": MODEL})
    settings = with_fast_retries(local_settings.model_copy(update={"energy": energy}), retries=0)
    bundle = _register_model(settings, tmp_path_factory.mktemp("intraday-model"))
    files = intraday.generate_intraday_to_landing(settings, 1, SINCE, START, seed=SEED)
    assert len(files) == 1 + 2 * 96  # the manifest and one file per interval
    backfill = intraday_ingest.main(JobContext(settings, spark, DAY, "intraday-backfill",
                                               {"since": SINCE.isoformat()}))
    assert backfill["files"] == backfill["rows"] == 192 and backfill["intervals"] == 192
    return settings, bundle


def test_fresh_deliveries_forecast_the_next_interval_from_the_intraday_rows(spark, delivered) -> None:
    settings, bundle = delivered
    dag_run = run_dag("energy_realtime_forecast", DAY, settings)
    assert task_states(dag_run) == dict.fromkeys(TASKS, "success")
    summary = xcom_value(dag_run, "score_interval")
    assert summary["lag_minutes"] == 0 and summary["model_version"] == "intraday-test-v1", summary
    assert "model_note" not in summary
    rows = _realtime_rows(spark, settings, DAY).collect()
    assert [(r["household_id"], pd.Timestamp(r["interval_start_utc"]).tz_localize("UTC")) for r in rows] == \
        [("hh_001", START)]
    assert pd.Timestamp(rows[0]["origin_utc"]).tz_localize("UTC") == START, "origin: end of the freshest row"
    # The same forecast, computed in pandas from the intra-day silver rows alone: the lags came from them.
    series = T.as_utc(_silver(spark, settings).select(*realtime.HISTORY_COLUMNS).toPandas(), "interval_start_utc")
    expected = T.forecast_household(series, bundle, freq_minutes=15, start=START, end=START + intraday.INTERVAL,
                                    tz=settings.energy.source_timezone, country=settings.energy.holiday_country)
    assert rows[0]["forecast_kw"] == pytest.approx(float(expected["forecast_kw"].iloc[0]))


def test_rerun_with_a_redelivered_interval_never_duplicates(spark, delivered) -> None:
    settings, _ = delivered
    last = START - intraday.INTERVAL
    uri = io.landing_uri(settings, intraday.interval_path(last, "hh_001"))
    text, _ = io.read_text(settings, uri)
    header, *lines = text.splitlines()
    fixed = [";".join([*line.split(";")[:2], "9.000", *line.split(";")[3:]]) if "?" not in line else line
             for line in lines]
    io.write_text(settings, uri, "\n".join([header, *fixed]) + "\n")  # the meter operator re-delivers it
    rejected = {"model_name": MODEL, "run_id": "monthly-2025-04", "logical_date": "2025-04-01", "rejected": True,
                "losses": ["mae@15min 0.31 vs same_hour_yesterday 0.3 (worse)"], "compared": []}
    storage.write_bytes(settings, M.last_evaluation_uri(settings), json.dumps(rejected).encode())

    dag_run = run_dag("energy_realtime_forecast", DAY, settings)
    assert task_states(dag_run) == dict.fromkeys(TASKS, "success")
    silver = _silver(spark, settings)
    assert silver.count() == silver.select(*intraday.KEYS).distinct().count() == 192
    row = silver.where(F.col("interval_start_utc") == F.lit(last.to_pydatetime())).first()
    assert row["active_power_kw"] == pytest.approx(9.0) and row["run_id"] == dag_run.run_id
    assert _realtime_rows(spark, settings, DAY).count() == 1, "the interval's forecast is replaced"
    note = xcom_value(dag_run, "score_interval")["model_note"]
    assert "monthly-2025-04" in note and "last registered version intraday-test-v1" in note


def test_late_data_fails_the_run_with_one_readable_line(spark, delivered, capfd) -> None:
    settings, _ = delivered
    late_day = DAY + dt.timedelta(days=1)  # nothing delivered after 2025-03-20 00:00 UTC
    dag_run = run_dag("energy_realtime_forecast", late_day, settings)
    assert task_states(dag_run) == {"ingest_intraday": "success", "model_registered": "success",
                                    "score_interval": "failed"}
    assert str(dag_run.state) == "failed"
    assert _realtime_rows(spark, settings, late_day).count() == 0
    line = ("energy intra-day data late for 1 of 1 household(s) scoring 2025-03-21 00:00 UTC (more than "
            "energy.realtime_max_lag_minutes = 90 min): hh_001: freshest reading ends 2025-03-20 00:00 UTC, "
            "1440 min before; nothing scored")
    assert line in capfd.readouterr().err
    with pytest.raises(LakehouseError, match=r"^energy intra-day data late for 1 of 1 household\(s\)"):
        realtime.main(JobContext(settings, spark, late_day, "late", {"interval": "2025-03-21T00:00:00+00:00"}))
