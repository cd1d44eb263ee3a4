"""energy_realtime_forecast through Airflow (`dag.test`, in-process) on generated intra-day deliveries, in the
second half of a month, where the monthly silver has nothing in the 16 days before the scored interval.

One household; a small LightGBM model (15-minute) trained in pandas on February 2025 and registered under its
own model name (other tests' models are untouched); deliveries for 18-19 March 2025, backfilled once. Then:
fresh data -> the 20 March 00:00 UTC interval is forecast from the intra-day rows; a rerun with a re-delivered
interval -> no duplicate silver row, the row replaced; the next day with no delivery -> the run fails with
one readable line.

Then the project's standard for input on 22 March 2025: a delivery with bad lines keeps its good rows,
quarantines the rest with reason codes and accounts every file in raw.delivered_files; a rerun accounts nothing
twice and a re-delivered fixed file is recorded as such; a delivery that fails the suite
silver_energy_intraday_15min fails the ingest with one line and leaves silver and quarantine at their previous
snapshots.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pandas as pd
import pytest
from pyspark.sql import functions as F

from lakehouse import storage
from lakehouse.errors import LakehouseError
from lakehouse.jobs import JobContext
from lakehouse.settings import EnergySettings
from lakehouse.write import current_snapshot_id
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
    bundle = M.bundle([M.train_frequency(features, 15, knobs)], knobs)
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


# ---- the project's standard for input ------------------------------------------------------------------
BAD_DAY = dt.date(2025, 3, 22)
BAD_SINCE = pd.Timestamp("2025-03-22 10:00", tz="UTC")
BAD_UNTIL = BAD_SINCE + 4 * intraday.INTERVAL
BAD_INTERVAL = BAD_SINCE + intraday.INTERVAL  # 10:15: the file with bad lines
EMPTY_INTERVAL = BAD_SINCE + 3 * intraday.INTERVAL  # 10:45: an empty file


def _texts(settings, since: pd.Timestamp, until: pd.Timestamp) -> dict[pd.Timestamp, str]:  # type: ignore[no-untyped-def]
    energy = settings.energy
    return intraday.interval_texts("hh_001", since, until, seed=SEED, tz=energy.source_timezone,
                                   country=energy.holiday_country)


def _with_bad_lines(text: str, foreign: str) -> tuple[str, dict[int, str], int]:
    """``text`` with a negative power, a garbage line, a duplicate minute and ``foreign`` (a line of another
    interval) -> (new text, line number -> reason code, data lines)."""
    header, *data = text.splitlines()
    good = [i for i, line in enumerate(data) if "?" not in line]
    negative, garbage, repeated = good[:3]
    lines = list(data)
    fields = lines[negative].split(";")
    lines[negative] = ";".join([*fields[:2], "-1.000", *fields[3:]])
    lines[garbage] = "garbage;line"
    lines.insert(repeated + 1, data[repeated])
    lines.append(foreign)
    codes = {negative + 2: "negative_power", garbage + 2: "field_count", repeated + 3: "duplicate_minute",
             len(lines) + 1: "outside_interval"}
    return "\n".join([header, *lines]) + "\n", codes, len(lines)


def _accounting(spark, settings, day: dt.date) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    rows = spark.table(settings.table_name("raw.delivered_files")).where(
        (F.col("logical_date") == F.lit(day)) & (F.col("domain") == "energy")
        & (F.col("dataset") == intraday.DATASET)).collect()
    names = [r["file_name"] for r in rows]
    assert len(names) == len(set(names)), f"a file accounted twice: {sorted(names)}"
    return {r["file_name"]: r.asDict() for r in rows}


def _silver_on(spark, settings, day: dt.date):  # type: ignore[no-untyped-def]
    return spark.table(settings.table_name("silver.energy_intraday_15min")).where(F.col("delivery_date") == F.lit(day))


def _quarantine(spark, settings, day: dt.date):  # type: ignore[no-untyped-def]
    return spark.table(settings.table_name("quarantine.energy_intraday_readings")).where(
        F.col("delivery_date") == F.lit(day))


def _name(start: pd.Timestamp) -> str:
    return intraday.interval_path(start, "hh_001").split(f"{intraday.INTRADAY_DIR}/", 1)[1]


@pytest.fixture(scope="module")
def bad_delivery(delivered):  # type: ignore[no-untyped-def]
    """10:00-11:00 UTC on 22 March: 10:15 with four bad lines, 10:45 empty, a README in the day folder."""
    settings, _ = delivered
    texts = _texts(settings, BAD_SINCE, BAD_UNTIL)
    foreign = texts[BAD_SINCE].splitlines()[1]  # 10:00's first reading, delivered again in 10:15's file
    bad, codes, lines = _with_bad_lines(texts[BAD_INTERVAL], foreign)
    texts[BAD_INTERVAL], texts[EMPTY_INTERVAL] = bad, ""
    for start, text in texts.items():
        io.write_text(settings, io.landing_uri(settings, intraday.interval_path(start, "hh_001")), text)
    io.write_text(settings, io.landing_uri(settings, f"{intraday.day_path(BAD_DAY)}/README.md"), "# deliveries\n")
    return settings, texts, codes, lines


def _ingest(spark, settings, run_id: str) -> dict:  # type: ignore[no-untyped-def]
    return intraday_ingest.main(JobContext(settings, spark, BAD_DAY, run_id, {"interval": BAD_UNTIL.isoformat()}))


def test_bad_lines_are_quarantined_the_good_rows_kept_and_every_file_accounted(spark, bad_delivery) -> None:
    settings, texts, codes, lines = bad_delivery
    summary = _ingest(spark, settings, "intraday-bad-lines")
    assert summary["delivered"] == {"ingested": 3, "quarantined": 1, "ignored": 1}, summary
    silver = {pd.Timestamp(r["interval_start_utc"]).tz_localize("UTC"): r
              for r in _silver_on(spark, settings, BAD_DAY).collect()}
    assert sorted(silver) == list(texts), "one row per delivered interval, the one with bad lines included"
    assert silver[BAD_INTERVAL]["lines_rejected"] == 4 and silver[BAD_INTERVAL]["active_power_kw"] is not None
    quarantined = _quarantine(spark, settings, BAD_DAY).collect()
    bad_uri = io.landing_uri(settings, intraday.interval_path(BAD_INTERVAL, "hh_001"))
    assert {r["line_number"]: r["reason_code"] for r in quarantined} == codes
    assert all(r["source_file"] == bad_uri and r["reason"] and r["raw_line"] and r["run_id"] == "intraday-bad-lines"
               for r in quarantined)
    assert any(r["raw_line"] == "garbage;line" for r in quarantined)

    table = _accounting(spark, settings, BAD_DAY)
    assert set(table) == {*map(_name, texts), "2025-03-22/README.md"}
    readme = table["2025-03-22/README.md"]
    assert (readme["outcome"], readme["reason"], readme["rows"]) == ("ignored", "documentation file", None)
    assert readme["sha256"] == hashlib.sha256(b"# deliveries\n").hexdigest()
    assert (table[_name(EMPTY_INTERVAL)]["outcome"], table[_name(EMPTY_INTERVAL)]["reason"]) == \
        ("quarantined", "empty_file")
    row = table[_name(BAD_INTERVAL)]
    assert row["outcome"] == "ingested" and row["rows"] == lines - 4
    assert row["reason"].startswith(f"4 of {lines} lines quarantined")
    for start, text in texts.items():
        data = text.encode()
        account = table[_name(start)]
        assert (account["size_bytes"], account["sha256"]) == (len(data), hashlib.sha256(data).hexdigest())
    assert table[_name(BAD_SINCE)]["reason"] is None
    assert table[_name(BAD_SINCE)]["rows"] == len(texts[BAD_SINCE].splitlines()) - 1


def test_a_rerun_accounts_nothing_twice_and_a_redelivered_file_is_recorded(spark, bad_delivery) -> None:
    settings, texts, codes, _ = bad_delivery
    before = _accounting(spark, settings, BAD_DAY)
    _ingest(spark, settings, "intraday-bad-lines-rerun")
    again = _accounting(spark, settings, BAD_DAY)
    assert set(again) == set(before) and _quarantine(spark, settings, BAD_DAY).count() == len(codes)
    assert _silver_on(spark, settings, BAD_DAY).count() == len(texts)

    fixed = _texts(settings, BAD_INTERVAL, BAD_INTERVAL + intraday.INTERVAL)[BAD_INTERVAL]
    io.write_text(settings, io.landing_uri(settings, intraday.interval_path(BAD_INTERVAL, "hh_001")), fixed)
    _ingest(spark, settings, "intraday-redelivered")
    after = _accounting(spark, settings, BAD_DAY)
    assert set(after) == set(before), "the re-delivered file keeps its one row"
    row = after[_name(BAD_INTERVAL)]
    assert row["sha256"] == hashlib.sha256(fixed.encode()).hexdigest() != before[_name(BAD_INTERVAL)]["sha256"]
    assert row["outcome"] == "ingested" and row["run_id"] == "intraday-redelivered"
    assert row["reason"] == (f"re-delivered: replaces sha256 {before[_name(BAD_INTERVAL)]['sha256'][:12]} "
                             "accounted by run intraday-bad-lines-rerun")
    assert _quarantine(spark, settings, BAD_DAY).count() == 0, "the fixed file's old lines leave quarantine"
    silver = _silver_on(spark, settings, BAD_DAY).where(
        F.col("interval_start_utc") == F.lit(BAD_INTERVAL.to_pydatetime()))
    assert [r["lines_rejected"] for r in silver.collect()] == [0]


def test_a_delivery_failing_the_suite_changes_nothing_and_fails_with_one_line(spark, bad_delivery, capfd) -> None:
    settings, *_ = bad_delivery
    day = BAD_DAY + dt.timedelta(days=1)  # its window: 22 March 23:00-24:00 UTC
    since = pd.Timestamp("2025-03-22 23:00", tz="UTC")
    texts = _texts(settings, since, since + 4 * intraday.INTERVAL)
    for start, text in texts.items():  # comma-separated: every line of every file is rejected
        io.write_text(settings, io.landing_uri(settings, intraday.interval_path(start, "hh_001")),
                      text.replace(";", ","))
    tables = [settings.table_name(t) for t in ("silver.energy_intraday_15min", "quarantine.energy_intraday_readings")]
    snapshots = [current_snapshot_id(spark, t) for t in tables]
    capfd.readouterr()

    dag_run = run_dag("energy_realtime_forecast", day, settings)
    assert task_states(dag_run) == {"ingest_intraday": "failed", "model_registered": "upstream_failed",
                                    "score_interval": "upstream_failed"}
    assert [current_snapshot_id(spark, t) for t in tables] == snapshots, "silver and quarantine untouched"
    err = capfd.readouterr().err
    failures = [line for line in err.splitlines() if "quality gate silver_energy_intraday_15min failed" in line]
    assert failures and all("lines_rejected" in line and "nothing published" in line for line in failures), err
    assert _silver_on(spark, settings, BAD_DAY).where(
        F.col("interval_start_utc") >= F.lit(since.to_pydatetime())).count() == 0
    table = _accounting(spark, settings, BAD_DAY)
    for start in texts:
        account = table[_name(start)]
        assert account["outcome"] == "quarantined" and account["reason"].startswith(
            "held back: quality gate silver_energy_intraday_15min failed"), account
    assert table[_name(BAD_SINCE)]["outcome"] == "ingested", "files ingested before stay accounted as they were"
