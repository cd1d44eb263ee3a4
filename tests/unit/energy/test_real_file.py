"""The published UCI file as it really arrives: a logger clock that ignores DST, a first reading in the middle
of a day, one multi-year file; plus the STL/MSTL features' no-leak contract. Pure pandas, no Spark."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from spark_jobs.energy import generator, io, uci
from spark_jobs.energy import transforms as T
from tests.unit.energy.conftest import TZ, civil_minutes, uci_text

PLUS_ONE = uci.clock_zone("+01:00", TZ)
SPRING, AUTUMN = dt.date(2007, 3, 25), dt.date(2007, 10, 28)


def raw_of(text: str, household: str = "hh") -> pd.DataFrame:
    return uci.split_lines(text, "file:///x/hh.txt", household)


def fixed_day(day: dt.date) -> pd.DatetimeIndex:
    """What the published file's logger writes on a day: 1,440 minutes whatever DST does."""
    return pd.date_range(pd.Timestamp(day), periods=1440, freq="min")


def silver_of(local: pd.DatetimeIndex, month: dt.date, clock: object) -> pd.DataFrame:
    out = T.silver_household(raw_of(uci_text(local)), month_start=month, tz=TZ, voltage_band=(200.0, 260.0),
                             max_interpolate_minutes=60, clock=clock)
    return out


# ---- clocks -------------------------------------------------------------------------------------
def test_clock_kinds_are_parsed_and_bad_ones_explained() -> None:
    assert uci.clock_zone("dst", TZ) == TZ
    assert uci.clock_zone("UTC", TZ) == "UTC"
    assert uci.clock_zone("+01:00", TZ).utcoffset(None) == dt.timedelta(hours=1)
    assert uci.clock_zone("-0330", TZ).utcoffset(None) == -dt.timedelta(hours=3, minutes=30)
    with pytest.raises(ValueError, match="use 'dst', 'utc' or a fixed offset"):
        uci.clock_zone("paris", TZ)
    assert uci.standard_offset(TZ) == "+01:00"
    assert [(d.day, d.hours, d.hour) for d in uci.switch_days(dt.date(2007, 1, 1), dt.date(2008, 1, 1), TZ)] == [
        (SPRING, 23, 2), (AUTUMN, 25, 2)]


@pytest.mark.parametrize("day", [SPRING, AUTUMN])
def test_fixed_clock_read_as_dst_is_the_reported_failure(day: dt.date) -> None:
    """Reproduces the bug: the logger's 1,440 lines read as Paris wall time quarantine an hour (spring) or
    leave a one-hour hole that gets interpolated (autumn)."""
    out = silver_of(fixed_day(day), day.replace(day=1), TZ)
    silver, quarantine = out[out["kind"] == "silver"], out[out["kind"] == "quarantine"]
    local_day = silver["ts_local"].dt.normalize() == pd.Timestamp(day)
    on_day = silver[local_day]
    if day == SPRING:
        assert len(quarantine) == 60 and quarantine["reason"].str.contains("duplicate reading").all()
    else:
        assert (on_day["status"] == "interpolated").sum() == 60  # an hour that was never measured


@pytest.mark.parametrize("day", [SPRING, AUTUMN])
def test_fixed_clock_declared_fixed_keeps_every_minute_once(day: dt.date) -> None:
    out = silver_of(fixed_day(day), day.replace(day=1), PLUS_ONE)
    assert (out["kind"] == "silver").all(), "nothing quarantined"
    measured = out[out["status"] == "measured"]
    assert len(measured) == 1440
    expected = pd.date_range(pd.Timestamp(day) - pd.Timedelta(hours=1), periods=1440, freq="min", tz="UTC")
    assert measured["ts_utc"].tolist() == expected.tolist(), "meter time - 1 h, no gap, no duplicate"
    assert (out["status"] != "interpolated").all()
    # the display time is still Paris wall time (DST-aware) from the UTC instant
    offsets = set(measured["utc_offset_minutes"])
    assert offsets == {60, 120}


@pytest.mark.parametrize("day", [SPRING, AUTUMN])
def test_dst_clock_declared_dst_keeps_every_minute_once(day: dt.date) -> None:
    local = civil_minutes(str(day), str(day + dt.timedelta(days=1)))
    out = silver_of(local, day.replace(day=1), TZ)
    assert (out["kind"] == "silver").all()
    measured = out[out["status"] == "measured"]
    assert len(measured) == len(local) == (23 if day == SPRING else 25) * 60
    start = pd.Timestamp(day).tz_localize(TZ).tz_convert("UTC")
    assert measured["ts_utc"].tolist() == pd.date_range(start, periods=len(local), freq="min").tolist()


def test_utc_clock() -> None:
    out = silver_of(fixed_day(SPRING), SPRING.replace(day=1), "UTC")
    measured = out[out["status"] == "measured"]
    assert measured["ts_utc"].iloc[0] == pd.Timestamp("2007-03-25 00:00", tz="UTC") and len(measured) == 1440


def test_switch_days_reveal_the_clock_and_a_contradiction_is_one_readable_line() -> None:
    fixed = pd.Series(fixed_day(SPRING).append(fixed_day(AUTUMN)))
    assert [e.verdict for e in uci.clock_evidence(fixed, TZ)] == ["fixed", "fixed"]
    assert [e.rows_on_day for e in uci.clock_evidence(fixed, TZ)] == [1440, 1440]
    civil = pd.Series(civil_minutes(str(SPRING), "2007-03-26").append(civil_minutes(str(AUTUMN), "2007-10-29")))
    assert [e.verdict for e in uci.clock_evidence(civil, TZ)] == ["dst", "dst"]

    evidence = uci.clock_evidence(fixed, TZ)
    line = uci.clock_problem(evidence, follows=True, household="hh", clock="dst", tz=TZ)
    assert line is not None and "\n" not in line
    assert "ignores daylight saving time" in line and "1,440 readings on 2007-03-25" in line
    assert "LAKEHOUSE_ENERGY__METER_CLOCK=+01:00" in line
    assert uci.clock_problem(evidence, follows=False, household="hh", clock="+01:00", tz=TZ) is None
    line = uci.clock_problem(uci.clock_evidence(civil, TZ), follows=False, household="hh", clock="+01:00", tz=TZ)
    assert line is not None and "follows daylight saving time" in line and "METER_CLOCK=dst" in line
    # an outage over the switch hour proves nothing either way
    hole = fixed[(fixed.dt.date != SPRING) | (fixed.dt.hour < 1) | (fixed.dt.hour > 4)]
    assert uci.clock_evidence(hole, TZ)[0].verdict is None


# ---- partial months -------------------------------------------------------------------------------
def test_a_file_starting_mid_month_leaves_the_rest_not_delivered_not_missing() -> None:
    first = pd.Timestamp("2006-12-16 17:24")
    local = pd.date_range(first, "2006-12-31 23:59", freq="min")
    out = T.silver_household(raw_of(uci_text(local)), month_start=dt.date(2006, 12, 1), tz=TZ,
                             voltage_band=(200.0, 260.0), max_interpolate_minutes=60, clock=PLUS_ONE,
                             coverage=(first, pd.Timestamp("2010-11-26 21:02")))
    assert (out["status"] == "measured").all(), "no missing minute before the file's first reading"
    assert len(out) == len(local)
    assert out["ts_utc"].iloc[0] == pd.Timestamp("2006-12-16 16:24", tz="UTC")
    start, end = uci.delivered_bounds_utc(dt.date(2006, 12, 1), PLUS_ONE, (first, pd.Timestamp("2010-11-26 21:02")))
    assert (start, end) == (pd.Timestamp("2006-12-16 16:24", tz="UTC"), pd.Timestamp("2006-12-31 23:00", tz="UTC"))
    # the last month: the file ends on 26 Nov 21:02
    start, end = uci.delivered_bounds_utc(dt.date(2010, 11, 1), PLUS_ONE, (first, pd.Timestamp("2010-11-26 21:02")))
    assert end == pd.Timestamp("2010-11-26 20:03", tz="UTC")
    # without coverage (a monthly landing delivery) the same readings leave the first half missing
    whole = T.silver_household(raw_of(uci_text(local)), month_start=dt.date(2006, 12, 1), tz=TZ,
                               voltage_band=(200.0, 260.0), max_interpolate_minutes=60, clock=PLUS_ONE)
    assert (whole["status"] == "missing").sum() == 31 * 1440 - len(local)


# ---- the generator and the file's span ------------------------------------------------------------
def test_generated_multi_year_file_is_shaped_like_the_published_one(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ranges = [(pd.Timestamp("2006-12-16 17:24"), pd.Timestamp("2006-12-18 23:59")),
              (pd.Timestamp("2007-03-24 00:00"), pd.Timestamp("2007-03-26 23:59")),
              (pd.Timestamp("2007-10-28 00:00"), pd.Timestamp("2007-10-28 21:02"))]
    text = generator.uci_multi_year_text(ranges, seed=1, outage_days=0.1)
    assert text == generator.uci_multi_year_text(ranges, seed=1, outage_days=0.1)
    lines = text.splitlines()
    assert lines[0] == uci.HEADER
    assert lines[1].startswith("16/12/2006;17:24:00;") and lines[-1].startswith("28/10/2007;21:02:00;")
    fields = [line.split(";") for line in lines[1:]]
    assert all(len(f) == 9 for f in fields)
    missing = [line for line in lines[1:] if ";?;" in line]
    assert len(missing) >= 144 and all(line.endswith(";?;?;?;?;?;?;") for line in missing)
    ok = [f for f in fields if f[2] != "?"]
    assert all(len(f[4].split(".")[1]) == 3 for f in ok), "Voltage with three decimals (234.840)"
    per_day = pd.Series([f[0] for f in fields]).value_counts()
    assert per_day["25/3/2007"] == 1440 and per_day["17/12/2006"] == 1440, "the logger ignores DST"
    raw = raw_of(text)
    assert (raw["raw_line"].isna()).all() and raw["file_error"].isna().all()

    class Local:  # io.file_span only needs storage's filesystem for a file:// URI
        pass

    path = tmp_path / "household_power_consumption.txt"
    path.write_text(text)
    span = io.file_span(Local(), f"file://{path}", chunk=200)  # type: ignore[arg-type]
    assert span == (pd.Timestamp("2006-12-16 17:24"), pd.Timestamp("2007-10-28 21:02"))


# ---- STL / MSTL ------------------------------------------------------------------------------------
def hourly_series(days: int = 40, seed: int = 0) -> pd.DataFrame:
    utc = pd.date_range("2024-01-01", periods=days * 24, freq="h", tz="UTC")
    rng = np.random.default_rng(seed)
    hour, dow = utc.hour.to_numpy(), utc.dayofweek.to_numpy()
    kw = 1.0 + 0.6 * np.sin(2 * np.pi * hour / 24) + 0.3 * (dow >= 5) + rng.normal(0, 0.05, len(utc))
    return pd.DataFrame({"household_id": "hh", "interval_start_utc": utc, "active_power_kw": kw})


@pytest.mark.parametrize("kind", ["stl", "mstl"])
def test_decomposition_features_never_read_past_the_cutoff(kind: str) -> None:
    series = hourly_series(22)
    cutoff = pd.Timestamp("2024-01-20 13:00", tz="UTC")  # the training window ends here
    since = pd.Timestamp("2024-01-18", tz="UTC")  # decompositions for the last days only (MSTL is slow)
    before = T.build_features(series, freq_minutes=60, tz=TZ, country="FR", seasonal=kind, since=since)
    changed = series.copy()
    after = changed["interval_start_utc"] > cutoff
    changed.loc[after, "active_power_kw"] = changed.loc[after, "active_power_kw"] * 5 + 3
    again = T.build_features(changed, freq_minutes=60, tz=TZ, country="FR", seasonal=kind, since=since)
    upto = before["interval_start_utc"] <= cutoff
    columns = ["seasonal_day", "seasonal_week"]
    pd.testing.assert_frame_equal(before.loc[upto, columns], again.loc[upto, columns])
    assert before.loc[upto, "seasonal_day"].notna().sum() == 24 * 2 + 14
    assert (before.loc[upto, "seasonal_week"].notna().sum() > 0) == (kind == "mstl")
    # the day after the cut-off's day does see the change (the features are not constant)
    next_day = before["interval_start_utc"] >= pd.Timestamp("2024-01-21", tz="UTC")
    assert not np.allclose(before.loc[next_day, "seasonal_day"], again.loc[next_day, "seasonal_day"])


@pytest.mark.parametrize("kind", ["stl", "mstl"])
def test_forecast_rows_use_only_the_past_and_match_training_features(kind: str) -> None:
    """What forecast_household builds for day D from the history before D equals what the feature step
    computed for D with the whole month at hand (no train/serve skew, no peeking)."""
    series = hourly_series(20)
    day = pd.Timestamp("2024-01-18", tz="UTC")
    training = T.build_features(series, freq_minutes=60, tz=TZ, country="FR", seasonal=kind, since=day)
    history = series[series["interval_start_utc"] < day]
    serving = T.build_features(history, freq_minutes=60, tz=TZ, country="FR", seasonal=kind,
                               until=day + pd.Timedelta(days=1), since=day)
    columns = ["seasonal_day", "seasonal_week"]
    a = training[training["interval_start_utc"].between(day, day + pd.Timedelta(hours=23))][columns]
    b = serving[serving["interval_start_utc"].between(day, day + pd.Timedelta(hours=23))][columns]
    assert len(a) == len(b) == 24 and a["seasonal_day"].notna().all()
    np.testing.assert_allclose(a.to_numpy(dtype=float), b.to_numpy(dtype=float), equal_nan=True)


def test_fourier_default_leaves_the_decomposition_columns_null() -> None:
    out = T.build_features(hourly_series(10), freq_minutes=60, tz=TZ, country="FR")
    assert out[["seasonal_day", "seasonal_week"]].isna().all().all()
    with pytest.raises(ValueError, match="unknown seasonal features"):
        T.build_features(hourly_series(3), freq_minutes=60, tz=TZ, country="FR", seasonal="prophet")


def test_an_older_features_table_gets_the_decomposition_columns(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A deployment whose gold.energy_features predates seasonal_day/seasonal_week: the feature step adds
    them (optional, null for older rows) instead of failing on the write."""
    import dataclasses

    from lakehouse import storage
    from lakehouse.catalog import load_catalog
    from lakehouse.settings import LakehouseSettings
    from schemas.energy import GOLD_FEATURES, SEASONAL_COLUMNS
    from spark_jobs.energy.features import add_missing_columns

    settings = LakehouseSettings(profile="local", home=tmp_path)
    storage.ensure_local_dirs(settings)
    older = dataclasses.replace(GOLD_FEATURES, columns=tuple(c for c in GOLD_FEATURES.columns
                                                             if c.name not in SEASONAL_COLUMNS))
    catalog = load_catalog(settings)
    catalog.create_namespace("gold")
    catalog.create_table(older.identifier, schema=older.schema(), partition_spec=older.partition_spec())
    assert add_missing_columns(settings, GOLD_FEATURES) == list(SEASONAL_COLUMNS)
    names = load_catalog(settings).load_table(GOLD_FEATURES.identifier).schema().column_names
    assert names[-2:] == list(SEASONAL_COLUMNS)
    assert add_missing_columns(settings, GOLD_FEATURES) == []
