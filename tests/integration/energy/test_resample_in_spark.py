"""Silver's 15-minute and hourly intervals come from one Spark aggregation (hourly rolled up from the
15-minute sums and counts); they must equal the pandas reference :func:`transforms.resample` on generated
months with outages, '?' minutes, interpolated gaps, sparse intervals and a DST switch."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from lakehouse.frames import spark_ddl
from schemas.energy import SILVER_READINGS
from spark_jobs.energy import generator, uci
from spark_jobs.energy import transforms as T

TZ = "Europe/Paris"
MONTH, END = dt.date(2024, 3, 1), dt.date(2024, 4, 1)  # the spring switch day is in March
HOUSEHOLDS = ("hh_a", "hh_b")


def silver_minutes() -> pd.DataFrame:
    """Two households' silver minute rows; short interpolation limit so that outages stay missing, and one
    household with its voltage unknown for a day (a column null while power is measured)."""
    frames = []
    for seed, household in enumerate(HOUSEHOLDS):
        text = generator.household_month(household, MONTH, MONTH, END, seed=seed + 3, tz=TZ, country="FR")
        if household == "hh_b":
            lines = text.splitlines()
            for i, line in enumerate(lines):
                if line.startswith("12/3/2024;"):
                    fields = line.split(";")
                    fields[4] = "?"
                    lines[i] = ";".join(fields)
            text = "\n".join(lines) + "\n"
        out = T.silver_household(uci.split_lines(text, f"{household}.txt", household), month_start=MONTH, tz=TZ,
                                 voltage_band=(200, 260), max_interpolate_minutes=3)
        frames.append(out[out["kind"] == "silver"].drop(columns="kind"))
    return pd.concat(frames, ignore_index=True)


def test_spark_intervals_equal_the_pandas_reference(spark) -> None:  # type: ignore[no-untyped-def]
    minutes = silver_minutes()
    statuses = set(minutes["status"])
    assert statuses == {T.MEASURED, T.INTERPOLATED, T.MISSING}, statuses  # every rule is exercised
    columns = ("meter_read_date", "household_id", "ts_utc", *uci.VALUE_FIELDS, "status")
    schema = spark_ddl(SILVER_READINGS, columns)
    minutes.insert(0, "meter_read_date", END)
    frame = spark.createDataFrame(T.arrow_ready(minutes[list(columns)], schema), schema)
    partials = T.resample_partials(frame).cache()
    try:
        for freq in (15, 60):
            got = T.intervals_from_partials(partials, freq_minutes=freq, tz=TZ).toPandas()
            want = pd.concat([T.resample(minutes[minutes["household_id"] == h], freq, TZ) for h in HOUSEHOLDS],
                             ignore_index=True)
            assert (got["meter_read_date"] == END).all()
            got = T.as_utc(got, "interval_start_utc").sort_values(["household_id", "interval_start_utc"])
            got = got.reset_index(drop=True)[list(T.INTERVAL_COLUMNS)]
            assert len(got) == len(want) and got["household_id"].tolist() == want["household_id"].tolist()
            assert (want["minutes_missing"] * 2 > freq).any(), "no interval too sparse to carry a value"
            for column in T.INTERVAL_COLUMNS:
                mine, theirs = got[column], want[column]
                if column == "household_id":
                    continue  # compared above
                if column.startswith("interval_start"):
                    assert (pd.DatetimeIndex(mine) == pd.DatetimeIndex(theirs)).all(), column
                elif mine.dtype.kind == "f" or theirs.dtype.kind == "f":
                    np.testing.assert_allclose(mine.to_numpy(dtype=float), theirs.to_numpy(dtype=float),
                                               rtol=1e-12, atol=0, equal_nan=True, err_msg=f"{freq} {column}")
                else:
                    assert mine.astype("int64").tolist() == theirs.astype("int64").tolist(), (freq, column)
    finally:
        partials.unpersist()


def test_only_multiples_of_the_base_frequency_roll_up(spark) -> None:  # type: ignore[no-untyped-def]
    partials = spark.createDataFrame([], "household_id string, meter_read_date date, interval_start_utc timestamp")
    with pytest.raises(ValueError, match="cannot be rolled up"):
        T.intervals_from_partials(partials, freq_minutes=20, tz=TZ)
