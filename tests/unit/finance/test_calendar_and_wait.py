"""Exchange calendars (24/7 days, holidays, early closes) and the landing wait (Wait step, sensor trigger),
without Spark. The S3 case runs the same condition against the moto server of the test session."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import threading
import time

import pytest

from lakehouse import storage
from lakehouse.errors import LakehouseError
from lakehouse.pipeline import Pipeline, Readiness, RunContext, Stage, Wait, wait_timeout_message
from lakehouse.settings import FinanceSettings
from spark_jobs.finance.checks import landing_ready, session_step
from spark_jobs.finance.io import landing_dir
from spark_jobs.finance.session import NoSession, Session, session_for, session_of, trading_session
from tests.conftest import make_local_settings, make_s3_settings

BINANCE_DAY = dt.date(2024, 1, 2)
JULY_4TH, CHRISTMAS, BLACK_FRIDAY = dt.date(2024, 7, 4), dt.date(2024, 12, 25), dt.date(2024, 11, 29)


# ---- sessions ------------------------------------------------------------------------------------
def test_a_binance_day_is_one_continuous_utc_session_of_1440_minutes() -> None:
    session = session_of(FinanceSettings(calendar="24/7"), BINANCE_DAY)
    assert isinstance(session, Session) and session.minutes == 1440
    assert session.open_utc == dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    assert session.close_utc == dt.datetime(2024, 1, 3, tzinfo=dt.UTC)  # 23:59:59.999 is in session


def test_a_session_may_close_at_24_00_and_continuous_follows_daylight_saving_time() -> None:
    assert session_for(BINANCE_DAY, "UTC", "00:00", "24:00").minutes == 1440
    spring = session_of(FinanceSettings(calendar="continuous", exchange_timezone="America/New_York"),
                        dt.date(2024, 3, 10))
    assert isinstance(spring, Session) and spring.minutes == 23 * 60
    with pytest.raises(LakehouseError, match="use HH:MM"):
        session_for(BINANCE_DAY, "UTC", "00:00", "24:30")


@pytest.mark.parametrize(("day", "reason"), [(JULY_4TH, "July 4th"), (CHRISTMAS, "Christmas"),
                                             (dt.date(2024, 7, 6), "weekend")])
def test_xnys_has_no_session_on_holidays_and_weekends(day: dt.date, reason: str) -> None:
    found = session_of(FinanceSettings(calendar="XNYS"), day)
    assert found == NoSession(day, "XNYS", reason)
    with pytest.raises(LakehouseError, match=f"not a XNYS trading session \\({reason}\\)"):
        trading_session(FinanceSettings(calendar="XNYS"), day)


def test_an_early_close_ends_the_session_at_the_early_close() -> None:
    session = session_of(FinanceSettings(calendar="XNYS"), BLACK_FRIDAY)
    assert isinstance(session, Session) and session.early_close
    assert session.close_utc == dt.datetime(2024, 11, 29, 18, 0, tzinfo=dt.UTC)  # 13:00 New York
    assert session.minutes == 210
    regular = session_of(FinanceSettings(calendar="XNYS"), dt.date(2024, 11, 26))
    assert isinstance(regular, Session) and regular.minutes == 390 and not regular.early_close


def test_fixed_calendar_keeps_the_configured_hours_and_unknown_calendars_fail_in_one_line() -> None:
    fixed = session_of(FinanceSettings(calendar="fixed", session_open="08:00", session_close="16:30",
                                       exchange_timezone="Europe/London"), JULY_4TH)
    assert isinstance(fixed, Session) and fixed.minutes == 510
    with pytest.raises(LakehouseError, match=r"unknown finance\.calendar 'NOPE'"):
        session_of(FinanceSettings(calendar="NOPE"), JULY_4TH)


def _run(settings, day: dt.date) -> RunContext:  # type: ignore[no-untyped-def]
    return RunContext(settings, day, f"test__{day}")


def test_session_step_skips_a_holiday_and_names_it(tmp_path, caplog) -> None:
    settings = make_local_settings(tmp_path)
    with caplog.at_level(logging.WARNING, logger="lakehouse.finance"):
        assert not session_step(_run(settings, JULY_4TH))
    assert "2024-07-04 is not a XNYS trading session (July 4th): skipping the run" in caplog.text
    early = session_step(_run(settings, BLACK_FRIDAY))
    assert early and early["minutes"] == 210 and early["early_close"] is True
    crypto = session_step(_run(make_local_settings(tmp_path, finance={"calendar": "24/7"}), JULY_4TH))
    assert crypto and crypto["minutes"] == 1440


# ---- the landing wait ---------------------------------------------------------------------------
def _land(settings, day: dt.date, name: str, data: bytes = b"x") -> None:  # type: ignore[no-untyped-def]
    uri = storage.join(landing_dir(settings, day), name)
    fs, path = storage.filesystem(settings, uri)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    storage.write_bytes(settings, uri, data)


def test_landing_ready_wants_a_data_file_or_the_marker(tmp_path) -> None:
    settings = make_local_settings(tmp_path)
    day = dt.date(2024, 1, 3)
    found = landing_ready(_run(settings, day))
    assert not found.ready and f"no landing files for finance ticks on {day}" in found.detail
    _land(settings, day, "_manifest.json")  # metadata only: still nothing to ingest
    assert not landing_ready(_run(settings, day)).ready
    _land(settings, day, "binance/BTCUSDT-trades-2024-01-03.zip.CHECKSUM")  # its zip is still on its way
    assert not landing_ready(_run(settings, day)).ready
    _land(settings, day, "binance/BTCUSDT-trades-2024-01-03.csv")
    assert landing_ready(_run(settings, day)) == Readiness(True, f"1 data file(s) under {landing_dir(settings, day)}",
                                                          {"files": 1})
    marked = make_local_settings(tmp_path, finance={"landing_marker": "_SUCCESS"})
    assert "no marker file _SUCCESS" in landing_ready(_run(marked, day)).detail
    _land(marked, day, "_SUCCESS", b"")
    assert landing_ready(_run(marked, day)).ready


def test_landing_ready_on_s3(tmp_path, s3) -> None:
    settings = make_s3_settings(tmp_path, s3)
    day = dt.date(2024, 1, 4)
    assert not landing_ready(_run(settings, day)).ready
    _land(settings, day, "BTCUSDT-trades-2024-01-04.csv")
    assert landing_ready(_run(settings, day)).ready


def _trigger(settings, day: dt.date, *, timeout_s: float, interval_s: float):  # type: ignore[no-untyped-def]
    from lakehouse.sensors import ReadinessTrigger
    from tests.support.airflow import use_settings

    use_settings(settings)  # the triggerer resolves settings from its environment
    return ReadinessTrigger(target="spark_jobs.finance.checks:landing_ready", arguments={},
                            logical_date=day.isoformat(), run_id="test", params={}, poke_interval_s=interval_s,
                            deadline=time.time() + timeout_s)


async def _first_event(trigger):  # type: ignore[no-untyped-def]
    async for event in trigger.run():
        return event.payload
    return None


def test_the_trigger_fires_when_a_late_file_lands_while_it_waits(tmp_path) -> None:
    settings = make_local_settings(tmp_path)
    day = dt.date(2024, 1, 5)
    late = threading.Timer(1.0, _land, (settings, day, "BTCUSDT-trades-2024-01-05.csv"))
    late.start()
    started = time.monotonic()
    event = asyncio.run(_first_event(_trigger(settings, day, timeout_s=20, interval_s=0.2)))
    late.join()
    assert event["status"] == "ready" and event["summary"] == {"files": 1}
    assert 0.9 < time.monotonic() - started < 10


def test_the_trigger_times_out_with_what_is_missing_and_the_sensor_says_so_in_one_line(tmp_path) -> None:
    from airflow.sdk.exceptions import AirflowSensorTimeout

    from lakehouse.sensors import WaitSensor

    settings = make_local_settings(tmp_path)
    day = dt.date(2024, 1, 8)
    started = time.monotonic()
    event = asyncio.run(_first_event(_trigger(settings, day, timeout_s=1.0, interval_s=0.3)))
    assert 0.9 < time.monotonic() - started < 5
    assert event["status"] == "timeout" and "no landing files for finance ticks on 2024-01-08" in event["detail"]
    sensor = WaitSensor(task_id="wait_for_landing", target="spark_jobs.finance.checks:landing_ready",
                        poke_interval=0.3, timeout=1.0)
    with pytest.raises(AirflowSensorTimeout) as failure:
        sensor.execute_complete({}, event)
    message = str(failure.value)
    assert message == wait_timeout_message("wait_for_landing", 1.0, 0.3, event["detail"])
    assert message.startswith("wait_for_landing: gave up after waiting 1s (poking every 0.3s): no landing files")
    assert "\n" not in message


def test_a_wait_step_is_declared_data_and_lakehouse_run_checks_it_once(tmp_path) -> None:
    from lakehouse.runner import run_pipeline

    settings = make_local_settings(tmp_path)
    wait = Wait("wait", "spark_jobs.finance.checks:landing_ready", doc="landing files",
                timeout_s=lambda s: 5.0, poke_interval_s=lambda s: 1.0)
    pipeline = Pipeline("waits", "test", "d", "d", steps=(wait, Stage("after", "spark_jobs.finance.raw", doc="x")))
    outcome = run_pipeline(pipeline, settings, dt.date(2024, 1, 9), emit=False)
    assert [s.state for s in outcome.steps] == ["failed", "upstream_failed"]
    assert outcome.steps[0].error is not None and "wait: not ready: no landing files" in outcome.steps[0].error
    assert "checks once; the DAG waits up to 5s" in outcome.steps[0].error


def test_a_poking_sensor_goes_on_when_the_file_lands_and_times_out_in_one_line(tmp_path) -> None:
    from airflow.sdk.exceptions import AirflowSensorTimeout

    from lakehouse.sensors import WaitSensor
    from tests.support.airflow import use_settings

    settings = make_local_settings(tmp_path)
    use_settings(settings)
    day = dt.date(2024, 1, 10)

    def sensor(timeout: float) -> WaitSensor:
        made = WaitSensor(task_id="wait_for_landing", target="spark_jobs.finance.checks:landing_ready",
                          poke_interval=0.2, timeout=timeout, defer_wait=False)
        made.logical_date_text, made.run_id_text = day.isoformat(), "test"  # what Airflow renders
        return made

    with pytest.raises(AirflowSensorTimeout, match=r"^wait_for_landing: gave up after waiting 0\.6s \(poking every "
                                                    r"0\.2s\): no landing files for finance ticks on 2024-01-10"):
        sensor(0.6).execute({"params": {}})
    late = threading.Timer(0.5, _land, (settings, day, "BTCUSDT-trades-2024-01-10.csv"))
    late.start()
    assert sensor(20).execute({"params": {}}) == {"detail": f"1 data file(s) under {landing_dir(settings, day)}",
                                                  "files": 1}
    late.join()
