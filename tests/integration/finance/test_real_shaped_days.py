"""finance_tick_processor through Airflow (dag.test, in-process) on days as they really arrive: a Binance
24-hour day under the continuous calendar whose files land while the sensor waits, an XNYS holiday that
skips, and a delivery that never comes (the sensor times out)."""

from __future__ import annotations

import collections
import datetime as dt

import numpy as np

from lakehouse import storage
from spark_jobs.finance import adapters, checks
from spark_jobs.finance.io import landing_dir
from tests.support.airflow import run_dag, task_states, xcom_value

BINANCE_DAY = dt.date(2024, 3, 16)  # a Saturday: crypto trades, XNYS would have no session
ZIPPED_DAY = dt.date(2024, 3, 17)  # a Sunday, delivered as data.binance.vision publishes it (zips)
HOLIDAY = dt.date(2024, 7, 4)  # XNYS: Independence Day
NEVER_DELIVERED = dt.date(2024, 7, 9)
TASKS = ("check_session", "wait_for_landing", "ingest_raw", "build_silver", "gate_silver", "build_gold",
         "gate_gold", "train", "evaluate", "register", "report")
GAP = range(1200, 1205)  # ETHUSDT has no trades in these minutes (filled bars, after the split cutoff)


def binance_day(day: dt.date, seed: int = 5) -> dict[str, bytes]:
    """A Binance spot day as data.binance.vision ships it (unzipped): BTCUSDT trades (epoch ms, with the
    newer files' header) and ETHUSDT aggTrades (epoch us, no header), two trades in every UTC minute
    (ETHUSDT none in ``GAP``), the last ones in 23:59."""
    rng = np.random.default_rng(seed)
    midnight_ms = int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp() * 1000)
    btc, eth = ["id,price,qty,quote_qty,time,is_buyer_maker,is_best_match"], []
    btc_price, eth_price = 67_000.0, 3_600.0
    for minute in range(1440):
        for k, offset_ms in enumerate(sorted(rng.integers(0, 60_000, size=2))):
            ms = midnight_ms + minute * 60_000 + int(offset_ms)
            btc_price *= float(np.exp(rng.normal(0, 4e-4)))
            qty = round(float(rng.lognormal(-4, 1)) + 1e-5, 5)
            btc.append(f"{3_500_000_000 + 2 * minute + k},{btc_price:.2f},{qty:.5f},{btc_price * qty:.8f},{ms},"
                       f"{'True' if rng.random() < 0.5 else 'False'},True")
            if minute in GAP:
                continue
            eth_price *= float(np.exp(rng.normal(0, 5e-4)))
            first = 1_800_000_000 + 3 * (2 * minute + k)
            eth.append(f"{900_000_000 + 2 * minute + k},{eth_price:.2f},{qty * 10:.4f},{first},{first + 2},"
                       f"{ms * 1000 + int(rng.integers(0, 1000))},{'True' if rng.random() < 0.5 else 'False'},True")
    return {f"BTCUSDT-trades-{day}.csv": ("\n".join(btc) + "\n").encode(),
            f"ETHUSDT-aggTrades-{day}.csv": ("\n".join(eth) + "\n").encode()}


def zipped_day(day: dt.date, seed: int = 5) -> dict[str, bytes]:
    """:func:`binance_day` exactly as published: each CSV in a zip of the same name, with the
    ``.zip.CHECKSUM`` file Binance ships beside it."""
    out: dict[str, bytes] = {}
    for csv_name, data in binance_day(day, seed).items():
        name = csv_name.removesuffix(".csv") + ".zip"
        out[name] = adapters.binance_zip_bytes(data, name)
        out[name + ".CHECKSUM"] = adapters.checksum_text(out[name], name).encode()
    return out


def land(settings, day: dt.date, files: dict[str, bytes]) -> None:  # type: ignore[no-untyped-def]
    for name, data in files.items():
        uri = storage.join(landing_dir(settings, day), name)
        fs, path = storage.filesystem(settings, uri)
        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        storage.write_bytes(settings, uri, data)


def _finance(settings, **values):  # type: ignore[no-untyped-def]
    return settings.model_copy(update={"finance": settings.finance.model_copy(update=values)})


def test_binance_24_hour_day_lands_late_and_runs_end_to_end(airflow_env, spark, local_settings, monkeypatch) -> None:
    settings = _finance(local_settings, calendar="24/7", exchange_timezone="UTC", landing_poke_interval_s=0.5,
                        landing_wait_timeout_s=120.0, require_beat_baseline=False)
    files = binance_day(BINANCE_DAY)
    ready = checks.landing_ready
    asked: list[bool] = []

    def files_land_after_two_looks(run):  # type: ignore[no-untyped-def]
        found = ready(run)
        asked.append(found.ready)
        if not found.ready and len(asked) >= 2:  # the delivery arrives while the sensor waits
            land(settings, run.logical_date, files)
        return found

    monkeypatch.setattr(checks, "landing_ready", files_land_after_two_looks)
    dag_run = run_dag("finance_tick_processor", BINANCE_DAY, settings)
    assert task_states(dag_run) == dict.fromkeys(TASKS, "success")
    assert asked[:3] == [False, False, True], "the sensor looked, waited, and went on once the files landed"
    assert xcom_value(dag_run, "check_session")["minutes"] == 1440
    assert xcom_value(dag_run, "wait_for_landing")["files"] == 2

    def rows(table: str):  # type: ignore[no-untyped-def]
        return spark.table(settings.table_name(table)).where(f"trade_date = DATE'{BINANCE_DAY}'")

    quarantined = collections.Counter(r["reason"] for r in rows("quarantine.ticks").collect())
    assert quarantined == {}, "nothing outside the session, nothing lost"
    assert rows("silver.ticks").count() == 2880 + 2880 - 2 * len(GAP)
    gold = rows("gold.ohlcv_1m")
    per_symbol = {r["symbol"]: r["count"] for r in gold.groupBy("symbol").count().collect()}
    assert per_symbol == {"BTCUSDT": 1440, "ETHUSDT": 1440}
    last = gold.where("minute_ts = TIMESTAMP'2024-03-16 23:59:00'").collect()
    assert {r["symbol"]: r["trade_count"] for r in last} == {"BTCUSDT": 2, "ETHUSDT": 2}
    assert gold.where("filled").count() == len(GAP)
    evaluation = xcom_value(dag_run, "evaluate")["metrics"]
    assert evaluation["filled_excluded"] > 0 and {"model_brier", "logistic_log_loss"} <= set(evaluation)


def test_a_zipped_binance_day_as_published_runs_end_to_end(airflow_env, spark, local_settings) -> None:
    """The zips and their CHECKSUM files land untouched; the run reads the CSVs inside, verifies the
    checksums and accounts for all four files in raw.delivered_files."""
    settings = _finance(local_settings, calendar="24/7", exchange_timezone="UTC", require_beat_baseline=False)
    land(settings, ZIPPED_DAY, zipped_day(ZIPPED_DAY))
    dag_run = run_dag("finance_tick_processor", ZIPPED_DAY, settings)
    assert task_states(dag_run) == dict.fromkeys(TASKS, "success")
    ingest = xcom_value(dag_run, "ingest_raw")
    assert ingest["delivered"] == {"ingested": 2, "quarantined": 0, "ignored": 2}, ingest

    def rows(table: str):  # type: ignore[no-untyped-def]
        return spark.table(settings.table_name(table)).where(f"trade_date = DATE'{ZIPPED_DAY}'")

    assert rows("quarantine.ticks").count() == 0
    assert rows("silver.ticks").count() == 2880 + 2880 - 2 * len(GAP)
    sources = rows("raw.ticks").select("source_file").distinct().collect()
    raw_files = {r["source_file"].rsplit("/", 1)[-1] for r in sources}
    assert raw_files == {f"BTCUSDT-trades-{ZIPPED_DAY}.zip", f"ETHUSDT-aggTrades-{ZIPPED_DAY}.zip"}
    delivered = spark.table(settings.table_name("raw.delivered_files")).where(
        f"logical_date = DATE'{ZIPPED_DAY}' AND domain = 'finance'").collect()
    by_name = {r["file_name"]: (r["outcome"], r["reason"], r["rows"]) for r in delivered}
    assert by_name[f"BTCUSDT-trades-{ZIPPED_DAY}.zip"] == ("ingested", None, 2880)
    assert by_name[f"ETHUSDT-aggTrades-{ZIPPED_DAY}.zip"] == ("ingested", None, 2880 - 2 * len(GAP))
    assert by_name[f"BTCUSDT-trades-{ZIPPED_DAY}.zip.CHECKSUM"][:2] == (
        "ignored", f"checksum of BTCUSDT-trades-{ZIPPED_DAY}.zip: verified")
    gold = rows("gold.ohlcv_1m")
    assert {r["symbol"]: r["count"] for r in gold.groupBy("symbol").count().collect()} == {"BTCUSDT": 1440,
                                                                                            "ETHUSDT": 1440}


def test_an_exchange_holiday_skips_the_run(airflow_env, local_settings) -> None:
    dag_run = run_dag("finance_tick_processor", HOLIDAY, local_settings)
    states = task_states(dag_run)
    assert states == {"check_session": "success", **dict.fromkeys(TASKS[1:], "skipped")}
    assert str(dag_run.state) == "success"


def test_a_delivery_that_never_comes_fails_the_sensor(airflow_env, local_settings) -> None:
    settings = _finance(local_settings, landing_poke_interval_s=0.5, landing_wait_timeout_s=2.0)
    dag_run = run_dag("finance_tick_processor", NEVER_DELIVERED, settings)
    states = task_states(dag_run)
    assert states["check_session"] == "success" and states["wait_for_landing"] == "failed"
    assert {states[t] for t in TASKS[2:]} == {"upstream_failed"}
