"""Pure transforms of the energy pipeline: per-household pandas functions and their Spark wrappers.

The pandas functions take one household's rows and return new rows; they hold no state and never
read the clock. The Spark wrappers run them with ``groupBy(...).applyInPandas`` so a worker only
ever holds one household-month at a time: memory grows with the longest series, not with the
number of households.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from lakehouse.frames import spark_ddl
from schemas.energy import FEATURE_COLUMNS, FOURIER_COLUMNS, SEASONAL_COLUMNS
from spark_jobs.energy import uci

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

MEASURED, INTERPOLATED, MISSING = "measured", "interpolated", "missing"
NUMERIC = uci.VALUE_FIELDS
SILVER_COLUMNS = ("household_id", "ts_utc", "ts_local", "utc_offset_minutes", *NUMERIC, "sub_metering_rest_wh",
                  "status", "gap_minutes",
                  "source_file", "line_number")
INTERVAL_COLUMNS = ("household_id", "interval_start_utc", "interval_start_local", "freq_minutes",
                    "active_power_kw", "energy_kwh", "reactive_power_kw", "voltage", "sub_metering_1_wh",
                    "sub_metering_2_wh", "sub_metering_3_wh", "minutes_expected", "minutes_measured",
                    "minutes_interpolated", "minutes_missing")
FEATURE_OUTPUT_COLUMNS = ("household_id", "freq_minutes", "interval_start_utc", "interval_start_local",
                          "target_kw", *FEATURE_COLUMNS)
HOUR_STEPS = {"lag_1h": 1, "lag_24h": 24, "lag_168h": 168}


def previous_month(day: dt.date) -> dt.date:
    """First day of the month before ``day``'s month (the month a meter-reading run delivers)."""
    first = day.replace(day=1)
    return (first - dt.timedelta(days=1)).replace(day=1)


# ---- silver: minute grid ------------------------------------------------------------------------
def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Length of the True-run each position belongs to, and whether the run touches an edge."""
    n = len(mask)
    lengths = np.zeros(n, dtype=np.int32)
    edge = np.zeros(n, dtype=bool)
    if n == 0 or not mask.any():
        return lengths, edge
    padded = np.concatenate(([False], mask, [False]))
    changes = np.flatnonzero(padded[1:] != padded[:-1])
    for start, stop in zip(changes[::2], changes[1::2], strict=True):
        lengths[start:stop] = stop - start
        edge[start:stop] = start == 0 or stop == n
    return lengths, edge


def minute_grid(readings: pd.DataFrame, start_utc: pd.Timestamp, end_utc: pd.Timestamp, tz: str,
                max_interpolate_minutes: int) -> pd.DataFrame:
    """One household's accepted readings -> a complete UTC minute grid over [start_utc, end_utc).

    Minutes with an active-power value are ``measured``; gaps (absent lines or '?') of at most
    ``max_interpolate_minutes`` with readings on both sides are linearly ``interpolated``; longer
    gaps and gaps at the month's edges stay null and are flagged ``missing``.
    """
    household = str(readings["household_id"].iloc[0]) if len(readings) else ""
    grid = pd.DatetimeIndex(pd.date_range(start_utc, end_utc, freq="min", inclusive="left"), name="ts_utc")
    cols = ["ts_utc", *NUMERIC, "source_file", "line_number"]
    by_minute = readings[cols].dropna(subset=["ts_utc"]).set_index("ts_utc")
    frame = by_minute.reindex(grid)
    has_value = frame["global_active_power"].notna().to_numpy()
    lengths, edge = _runs(~has_value)
    fill = ~has_value & ~edge & (lengths <= max_interpolate_minutes)
    interpolated = frame[list(NUMERIC)].interpolate(method="linear", limit_area="inside")
    for name in NUMERIC:
        values = frame[name].to_numpy(copy=True)
        values[fill] = interpolated[name].to_numpy()[fill]
        values[~has_value & ~fill] = np.nan
        frame[name] = values
    status = np.where(has_value, MEASURED, np.where(fill, INTERPOLATED, MISSING))
    local = grid.tz_convert(tz)
    out = pd.DataFrame({
        "household_id": household,
        "ts_utc": grid,
        "ts_local": local.tz_localize(None),
        "utc_offset_minutes": ((local.tz_localize(None) - grid.tz_localize(None)) // pd.Timedelta(minutes=1))
        .astype("int32"),
        **{name: frame[name].to_numpy() for name in NUMERIC},
        "sub_metering_rest_wh": (frame["global_active_power"] * 1000.0 / 60.0 - frame["sub_metering_1"].fillna(0)
                                 - frame["sub_metering_2"].fillna(0) - frame["sub_metering_3"].fillna(0)).to_numpy(),
        "status": status,
        "gap_minutes": lengths,
        "source_file": frame["source_file"].to_numpy(),
        "line_number": frame["line_number"].astype("Int64").to_numpy(),
    })
    return out.reindex(columns=list(SILVER_COLUMNS))


def silver_household(raw: pd.DataFrame, *, month_start: dt.date, tz: str, voltage_band: tuple[float, float],
                     max_interpolate_minutes: int, clock: str | dt.tzinfo | None = None,
                     coverage: tuple[pd.Timestamp, pd.Timestamp] | None = None) -> pd.DataFrame:
    """Raw rows of one household-month -> silver minute rows and quarantine rows in one frame.

    Rows with a ``reason`` are quarantine rows (``kind='quarantine'``); the rest is the minute grid
    (``kind='silver'``). Unknown households / bad files carry their file error as the reason.
    ``clock``: the zone the meter writes in (:func:`uci.clock_zone`; default ``tz``, a clock following
    DST); the month is the month of the meter's clock. ``coverage``: (first, last) reading of the delivered
    file(s) in meter time; the grid covers only the part of the month between them (a file that starts or
    ends inside the month leaves the rest "not delivered", not missing). ``ts_local`` is wall time in ``tz``.
    """
    zone = tz if clock is None else clock
    parsed = uci.parse_readings(raw, zone, month_start, voltage_band)
    bad = parsed[parsed["reason"].notna()]
    quarantine = pd.DataFrame({
        "kind": "quarantine",
        "household_id": bad["household_id"],
        "source_file": bad["source_file"],
        "line_number": bad["line_number"].astype("int64"),
        "reason": bad["reason"],
        "raw_line": uci.quarantine_line(raw.set_index(["source_file", "line_number"])
                                        .loc[list(zip(bad["source_file"], bad["line_number"], strict=True))]
                                        .reset_index()).to_numpy() if len(bad) else [],
    })
    good = parsed[parsed["reason"].isna()]
    silver = pd.DataFrame(columns=list(SILVER_COLUMNS))
    if len(good) and raw["file_error"].isna().any():
        start, end = uci.delivered_bounds_utc(month_start, zone, coverage)
        silver = minute_grid(good, start, end, tz, max_interpolate_minutes)
    silver.insert(0, "kind", "silver")
    return pd.concat([silver, quarantine], ignore_index=True)


# ---- silver: resampling -------------------------------------------------------------------------
def resample(minutes: pd.DataFrame, freq_minutes: int, tz: str) -> pd.DataFrame:
    """One household's minute grid -> intervals of ``freq_minutes`` (mean kW, kWh, minute counts).

    ``active_power_kw`` is the mean over measured and interpolated minutes; it is null when more
    than half of the interval is missing (a long gap is not turned into a demand value).
    """
    if minutes.empty:
        return pd.DataFrame(columns=list(INTERVAL_COLUMNS))
    df = minutes.sort_values("ts_utc")
    start = df["ts_utc"].dt.floor(f"{freq_minutes}min")
    status = df["status"]
    agg = pd.DataFrame({
        "interval_start_utc": start,
        "kw": df["global_active_power"],
        "kvar": df["global_reactive_power"],
        "voltage": df["voltage"],
        "s1": df["sub_metering_1"], "s2": df["sub_metering_2"], "s3": df["sub_metering_3"],
        "measured": (status == MEASURED).astype(int),
        "interpolated": (status == INTERPOLATED).astype(int),
        "missing": (status == MISSING).astype(int),
    }).groupby("interval_start_utc", sort=True)
    out = pd.DataFrame({
        "active_power_kw": agg["kw"].mean(),
        "energy_kwh": agg["kw"].sum(min_count=1) / 60.0,
        "reactive_power_kw": agg["kvar"].mean(),
        "voltage": agg["voltage"].mean(),
        "sub_metering_1_wh": agg["s1"].sum(min_count=1),
        "sub_metering_2_wh": agg["s2"].sum(min_count=1),
        "sub_metering_3_wh": agg["s3"].sum(min_count=1),
        "minutes_measured": agg["measured"].sum(),
        "minutes_interpolated": agg["interpolated"].sum(),
        "minutes_missing": agg["missing"].sum(),
    }).reset_index()
    out["minutes_expected"] = freq_minutes
    too_sparse = out["minutes_missing"] * 2 > freq_minutes
    out.loc[too_sparse, ["active_power_kw", "energy_kwh"]] = np.nan
    out["household_id"] = str(df["household_id"].iloc[0])
    out["freq_minutes"] = freq_minutes
    out["interval_start_local"] = out["interval_start_utc"].dt.tz_convert(tz).dt.tz_localize(None)
    for name in ("minutes_expected", "minutes_measured", "minutes_interpolated", "minutes_missing"):
        out[name] = out[name].astype("int32")
    return out.reindex(columns=list(INTERVAL_COLUMNS))


# ---- gold: features -----------------------------------------------------------------------------
@lru_cache(maxsize=32)
def _holiday_calendar(country: str, years: tuple[int, ...]) -> frozenset[dt.date]:
    import holidays

    return frozenset(holidays.country_holidays(country, years=list(years)).keys())


def holiday_flags(local_dates: pd.Series, country: str) -> pd.Series:
    """True where the local date is a public holiday of ``country`` (``holidays`` library)."""
    if local_dates.empty:
        return pd.Series(dtype=bool)
    years = tuple(sorted({int(y) for y in pd.DatetimeIndex(local_dates).year}))
    days = _holiday_calendar(country, years)
    return pd.Series([d in days for d in pd.DatetimeIndex(local_dates).date], index=local_dates.index)


def calendar_features(local: pd.Series, country: str) -> pd.DataFrame:
    """Hour, minute of day, day of week (0 = Monday), month, weekend and holiday flags."""
    ts = pd.DatetimeIndex(local)
    return pd.DataFrame({
        "hour": ts.hour.astype("int32"),
        "minute_of_day": (ts.hour * 60 + ts.minute).astype("int32"),
        "day_of_week": ts.dayofweek.astype("int32"),
        "month": ts.month.astype("int32"),
        "is_weekend": ts.dayofweek >= 5,
        "is_holiday": holiday_flags(pd.Series(ts.normalize()), country).to_numpy(),
    }, index=local.index)


def fourier_features(local: pd.Series) -> pd.DataFrame:
    """Daily and weekly (orders 1, 2) and annual (order 1) sine/cosine terms of local time."""
    ts = pd.DatetimeIndex(local)
    minute = (ts.hour * 60 + ts.minute).to_numpy(dtype=float)
    day = minute / 1440.0
    week = (ts.dayofweek.to_numpy(dtype=float) * 1440.0 + minute) / 10080.0
    year = (ts.dayofyear.to_numpy(dtype=float) - 1 + day) / 365.25
    terms = {}
    for name, phase, orders in (("day", day, (1, 2)), ("week", week, (1, 2)), ("year", year, (1,))):
        for k in orders:
            terms[f"{name}_sin{k}"] = np.sin(2 * np.pi * k * phase)
            terms[f"{name}_cos{k}"] = np.cos(2 * np.pi * k * phase)
    return pd.DataFrame(terms, index=local.index)[list(FOURIER_COLUMNS)]


SEASONAL_KINDS = ("fourier", "stl", "mstl")
DECOMPOSITION_LOOKBACK_DAYS = 28  # history each day's decomposition is fitted on (at least two weeks for MSTL)


def decomposition_features(utc: pd.Series, target: pd.Series, kind: str,
                           since: pd.Timestamp | None = None) -> pd.DataFrame:
    """STL (daily period) or MSTL (daily and weekly periods) seasonal components, day-ahead safe.

    For every UTC day D of the grid (from ``since`` on), the decomposition is fitted on the hourly means
    of the target in the ``DECOMPOSITION_LOOKBACK_DAYS`` before D only (short gaps interpolated) and its
    seasonal components are projected onto D: ``seasonal_day`` at hour h of D is the daily component at
    hour h of the day before, ``seasonal_week`` (MSTL) the weekly one at the same hour a week before.
    Nothing at or after D's start is read, so a value changed after a cut-off never changes the features
    of intervals up to it, and a forecast for D built from the history before D gets the same features
    that training saw. Intervals of a day without enough history (two weekly periods for MSTL, two days
    for STL, three quarters of the hours known) get null. ``kind='fourier'``: all null.
    """
    out = pd.DataFrame(np.nan, index=target.index, columns=list(SEASONAL_COLUMNS))
    if kind not in SEASONAL_KINDS:
        raise ValueError(f"unknown seasonal features {kind!r}: choose one of {', '.join(SEASONAL_KINDS)}")
    if kind == "fourier" or target.empty:
        return out
    from statsmodels.tsa.seasonal import MSTL, STL

    stamps = pd.DatetimeIndex(utc)
    hours = stamps.floor("h")
    hourly = pd.Series(target.to_numpy(dtype=float), index=hours).groupby(level=0).mean()
    hourly = hourly.reindex(pd.date_range(hourly.index.min(), hourly.index.max(), freq="h"))
    periods = (24,) if kind == "stl" else (24, 168)
    need = 2 * max(periods) + 24  # MSTL keeps a period only when the series is longer than twice it
    lookback = pd.Timedelta(days=max(DECOMPOSITION_LOOKBACK_DAYS, need // 24))
    days = stamps.floor("D")
    for day in days.unique():
        if since is not None and day + pd.Timedelta(days=1) <= since:
            continue
        history = hourly[(hourly.index >= day - lookback) & (hourly.index < day)]
        if len(history) < need or history.index[-1] != day - pd.Timedelta(hours=1) \
                or history.notna().mean() < 0.75 or history.iloc[-24:].notna().sum() < 12:
            continue
        filled = history.interpolate(limit_direction="both").to_numpy()
        if kind == "stl":
            seasonal = np.asarray(STL(filled, period=24).fit().seasonal).reshape(-1, 1)
        else:
            seasonal = np.asarray(MSTL(filled, periods=periods).fit().seasonal).reshape(len(filled), -1)
        rows = np.flatnonzero(days == day)
        ahead = ((hours[rows] - day) // pd.Timedelta(hours=1)).to_numpy()
        n = len(filled)
        out.iloc[rows, 0] = seasonal[n - 24 + ahead, 0]
        if kind == "mstl":
            out.iloc[rows, 1] = seasonal[n - 168 + ahead, 1]
    return out


def lag_features(target: pd.Series, freq_minutes: int) -> pd.DataFrame:
    """Lags of 1 h, 24 h, 168 h and rolling mean/std over windows that end 24 h before each interval.

    ``target`` must be on a complete regular grid (one row per interval, NaN where unknown), so a
    shift by k rows is a shift by k intervals. The rolling windows end 24 h back so the features
    exist for every hour of a day-ahead forecast (no value from the forecast day leaks in).
    """
    per_hour = 60 // freq_minutes
    day = 24 * per_hour
    out = pd.DataFrame(index=target.index)
    for name, hours in HOUR_STEPS.items():
        out[name] = target.shift(hours * per_hour)
    base = target.shift(day)
    out["roll_mean_24h"] = base.rolling(day, min_periods=day // 2).mean()
    out["roll_std_24h"] = base.rolling(day, min_periods=day // 2).std()
    out["roll_mean_168h"] = base.rolling(7 * day, min_periods=day).mean()
    return out


def regular_grid(series: pd.DataFrame, freq_minutes: int, until: pd.Timestamp | None = None) -> pd.DataFrame:
    """Reindex one household's intervals to a complete grid (optionally extended to ``until``)."""
    idx = pd.DatetimeIndex(series["interval_start_utc"])
    start = idx.min()
    end = max(idx.max(), until - pd.Timedelta(minutes=freq_minutes)) if until is not None else idx.max()
    grid = pd.date_range(start, end, freq=f"{freq_minutes}min", name="interval_start_utc")
    return series.set_index("interval_start_utc").reindex(grid).reset_index()


def build_features(series: pd.DataFrame, *, freq_minutes: int, tz: str, country: str,
                   until: pd.Timestamp | None = None, seasonal: str = "fourier",
                   since: pd.Timestamp | None = None) -> pd.DataFrame:
    """One household's interval series (``interval_start_utc``, ``active_power_kw``) -> feature rows.

    With ``until`` the grid is extended to future intervals (target null) so the same function
    builds the rows a forecast scores. ``seasonal``: ``fourier`` (the Fourier terms only), ``stl`` or
    ``mstl`` (also :func:`decomposition_features`, computed for the days from ``since`` on: the rows
    the caller keeps).
    """
    if series.empty:
        return pd.DataFrame(columns=list(FEATURE_OUTPUT_COLUMNS))
    household = str(series["household_id"].iloc[0])
    grid = regular_grid(series[["interval_start_utc", "active_power_kw"]].sort_values("interval_start_utc"),
                        freq_minutes, until)
    utc = grid["interval_start_utc"]
    local = pd.Series(pd.DatetimeIndex(utc).tz_convert(tz).tz_localize(None), index=grid.index)
    target = grid["active_power_kw"].astype(float)
    out = pd.concat([calendar_features(local, country), lag_features(target, freq_minutes),
                     fourier_features(local), decomposition_features(utc, target, seasonal, since)], axis=1)
    out.insert(0, "target_kw", target)
    out.insert(0, "interval_start_local", local)
    out.insert(0, "interval_start_utc", utc)
    out.insert(0, "freq_minutes", np.int32(freq_minutes))
    out.insert(0, "household_id", household)
    return out.reindex(columns=list(FEATURE_OUTPUT_COLUMNS))


# ---- Spark wrappers -----------------------------------------------------------------------------
def as_utc(pdf: pd.DataFrame, column: str) -> pd.DataFrame:
    """Spark hands timestamps to pandas as naive values in the session time zone (UTC here)."""
    values = pd.to_datetime(pdf[column])
    pdf[column] = values.dt.tz_localize("UTC") if values.dt.tz is None else values.dt.tz_convert("UTC")
    return pdf


def arrow_ready(pdf: pd.DataFrame, schema: str) -> pd.DataFrame:
    """Give each column the pandas dtype Arrow converts cleanly to the declared Spark type
    (strings as object with None, integers as int64 when complete, else float with NaN)."""
    out = pd.DataFrame(index=pdf.index)
    for item in schema.split(", "):
        name, kind = item.split(" ", 1)
        col = pdf[name] if name in pdf.columns else pd.Series(None, index=pdf.index, dtype=object)
        if kind == "string":
            col = col.astype(object).where(col.notna(), None)
        elif kind in ("int", "bigint"):
            numeric = pd.to_numeric(col, errors="coerce")
            col = numeric.astype("int64") if numeric.notna().all() else numeric.astype("float64")
        elif kind == "double":
            col = pd.to_numeric(col, errors="coerce").astype("float64")
        elif kind == "boolean":
            col = col.astype(bool) if col.notna().all() else col.astype(object).where(col.notna(), None)
        out[name] = col.to_numpy() if not isinstance(col.dtype, pd.DatetimeTZDtype) else col
    return out.reset_index(drop=True)


@dataclass(frozen=True)
class SilverMonth:
    """The rules of one month's silver, as :func:`silver_household` takes them, for every household of the
    run: ``clocks``/``default_clock`` give each household's meter clock zone, ``coverage`` per household the
    (first, last) reading of its delivered file(s). Pickled to the Python workers."""

    month_start: dt.date
    tz: str
    voltage_band: tuple[float, float]
    max_interpolate_minutes: int
    clocks: Mapping[str, str | dt.tzinfo] = field(default_factory=dict)
    default_clock: str | dt.tzinfo | None = None
    coverage: Mapping[str, tuple[pd.Timestamp, pd.Timestamp]] = field(default_factory=dict)

    @staticmethod
    def schema() -> str:
        """Spark DDL of the rows :meth:`household` returns: ``kind`` ('silver' | 'quarantine'), the silver
        columns, ``reason`` and ``raw_line``."""
        from schemas.energy import SILVER_READINGS

        columns = ("kind", *SILVER_COLUMNS, "reason", "raw_line")
        return spark_ddl(SILVER_READINGS, columns, {"kind": "string", "reason": "string", "raw_line": "string"})

    def household(self, raw: pd.DataFrame) -> pd.DataFrame:
        """:func:`silver_household` of one household's raw rows, ready for Arrow (:meth:`schema`)."""
        household = str(raw["household_id"].iloc[0]) if len(raw) else ""
        out = silver_household(raw, month_start=self.month_start, tz=self.tz, voltage_band=self.voltage_band,
                               max_interpolate_minutes=self.max_interpolate_minutes,
                               clock=self.clocks.get(household, self.default_clock),
                               coverage=self.coverage.get(household))
        return arrow_ready(out, self.schema())


def silver_frames(raw: DataFrame, month: SilverMonth) -> DataFrame:
    """Raw rows -> one DataFrame of silver minute rows (kind='silver') and quarantine rows, per household
    (grouped: every raw row of a household goes to one Python worker)."""
    # only the delivered columns travel to the Python workers (not the file hash, run id, ...)
    def run(pdf: pd.DataFrame) -> pd.DataFrame:  # a plain function: Spark counts a method's `self` as a key
        return month.household(pdf)

    return raw.select(*uci.RAW_COLUMNS).groupBy("household_id").applyInPandas(run, month.schema())


# The finest resampled frequency: coarser intervals are rolled up from its sums and counts.
BASE_FREQ_MINUTES = 15
_VALUES = {"kw": "global_active_power", "kvar": "global_reactive_power", "v": "voltage", "s1": "sub_metering_1",
           "s2": "sub_metering_2", "s3": "sub_metering_3"}
_STATUS_COUNTS = {"measured": MEASURED, "interpolated": INTERPOLATED, "missing": MISSING}


def _interval_start(ts: Any, freq_minutes: int) -> Any:
    from pyspark.sql import functions as F

    seconds = freq_minutes * 60
    return F.timestamp_seconds(F.floor(F.unix_seconds(ts) / seconds) * seconds)


def resample_partials(minutes: DataFrame) -> DataFrame:
    """Silver minute rows -> per household, meter-read date and 15-minute interval: the sums and counts of
    non-null values and the minutes per status that :func:`resample` derives every value from (Spark's own
    aggregation: no Python worker, and hourly intervals roll up from these without reading minutes again)."""
    from pyspark.sql import functions as F

    # NaN counts as missing, as in pandas (silver stores nulls; a NaN must not turn a sum into NaN either)
    values = {name: F.when(~F.isnan(column), F.col(column)) for name, column in _VALUES.items()}
    sums = [F.sum(value).alias(f"{name}_sum") for name, value in values.items()]
    counts = [F.count(value).alias(f"{name}_n") for name, value in values.items()]
    statuses = [F.count(F.when(F.col("status") == status, 1)).alias(name) for name, status in _STATUS_COUNTS.items()]
    start = _interval_start(F.col("ts_utc"), BASE_FREQ_MINUTES).alias("interval_start_utc")
    return minutes.groupBy("household_id", "meter_read_date", start).agg(*sums, *counts, *statuses)


def intervals_from_partials(partials: DataFrame, *, freq_minutes: int, tz: str) -> DataFrame:
    """The ``freq_minutes`` intervals (a multiple of 15) of :func:`resample_partials`' output, with the
    columns and the rules of :func:`resample`: means over the available minutes, kWh and sub-meter sums null
    when no minute had a value, kW and kWh null when more than half of the interval is missing."""
    from pyspark.sql import functions as F

    if freq_minutes % BASE_FREQ_MINUTES:
        raise ValueError(f"{freq_minutes}-minute intervals cannot be rolled up from {BASE_FREQ_MINUTES}-minute ones")
    parts = partials
    if freq_minutes != BASE_FREQ_MINUTES:
        summed = [c for c in partials.columns if c not in ("household_id", "meter_read_date", "interval_start_utc")]
        start = _interval_start(F.col("interval_start_utc"), freq_minutes).alias("interval_start_utc")
        parts = partials.groupBy("household_id", "meter_read_date", start).agg(
            *[(F.sum(c) if c.endswith("_sum") else F.sum(c).cast("long")).alias(c) for c in summed])

    def mean(name: str) -> Any:
        return F.when(F.col(f"{name}_n") > 0, F.col(f"{name}_sum") / F.col(f"{name}_n"))

    sparse = F.col("missing") * 2 > freq_minutes
    local = F.from_utc_timestamp(F.col("interval_start_utc"), tz).cast("timestamp_ntz")
    return parts.select(
        "meter_read_date", "household_id", "interval_start_utc", local.alias("interval_start_local"),
        F.lit(freq_minutes).cast("int").alias("freq_minutes"),
        F.when(~sparse, mean("kw")).alias("active_power_kw"),
        F.when(~sparse, F.col("kw_sum") / 60.0).alias("energy_kwh"),
        mean("kvar").alias("reactive_power_kw"), mean("v").alias("voltage"),
        *[F.col(f"s{i}_sum").alias(f"sub_metering_{i}_wh") for i in (1, 2, 3)],
        F.lit(freq_minutes).cast("int").alias("minutes_expected"),
        *[F.col(name).cast("int").alias(f"minutes_{name}") for name in _STATUS_COUNTS])


def feature_frames(intervals: DataFrame, *, tz: str, country: str, seasonal: str = "fourier",
                   since: pd.Timestamp | None = None) -> DataFrame:
    """Interval series (both frequencies, any months) -> feature rows per household and frequency
    (``seasonal``/``since``: see :func:`build_features`)."""
    from schemas.energy import GOLD_FEATURES

    schema = spark_ddl(GOLD_FEATURES, FEATURE_OUTPUT_COLUMNS)

    def run(pdf: pd.DataFrame) -> pd.DataFrame:
        freq = int(pdf["freq_minutes"].iloc[0])
        rows = build_features(as_utc(pdf, "interval_start_utc"), freq_minutes=freq, tz=tz, country=country,
                              seasonal=seasonal, since=since)
        return arrow_ready(rows, schema)

    cols = ["household_id", "freq_minutes", "interval_start_utc", "active_power_kw"]
    return intervals.select(*cols).groupBy("household_id", "freq_minutes").applyInPandas(run, schema)


# ---- forecasting ---------------------------------------------------------------------------------
FORECAST_COLUMNS = ("household_id", "freq_minutes", "interval_start_utc", "forecast_kw")


def forecast_household(series: pd.DataFrame, model_bundle: dict[str, Any], *, freq_minutes: int,
                       start: pd.Timestamp, end: pd.Timestamp, tz: str, country: str,
                       seasonal: str = "fourier") -> pd.DataFrame:
    """Forecast one household's intervals in [start, end) from its history before ``start``.

    Only rows before ``start`` are used (anything later is dropped first), so the forecast sees
    exactly what was known at its origin (the STL/MSTL components too: fitted on that history).
    """
    from ml.energy import predict

    history = series[series["interval_start_utc"] < start]
    if history.empty:
        return pd.DataFrame(columns=list(FORECAST_COLUMNS))
    rows = build_features(history, freq_minutes=freq_minutes, tz=tz, country=country, until=end,
                          seasonal=seasonal, since=start)
    rows = rows[(rows["interval_start_utc"] >= start) & (rows["interval_start_utc"] < end)].copy()
    rows["forecast_kw"] = predict(model_bundle, rows, freq_minutes) if len(rows) else []
    return rows.reindex(columns=list(FORECAST_COLUMNS))


def forecast_frames(intervals: DataFrame, model_bundle: dict[str, Any], *, start: pd.Timestamp,
                    end: pd.Timestamp, tz: str, country: str, seasonal: str = "fourier") -> DataFrame:
    """Forecasts per household and frequency for [start, end) (model shipped in the closure)."""
    schema = "household_id string, freq_minutes int, interval_start_utc timestamp, forecast_kw double"

    def run(pdf: pd.DataFrame) -> pd.DataFrame:
        freq = int(pdf["freq_minutes"].iloc[0])
        if str(freq) not in model_bundle["models"]:
            return arrow_ready(pd.DataFrame(columns=list(FORECAST_COLUMNS)), schema)
        rows = forecast_household(as_utc(pdf, "interval_start_utc"), model_bundle, freq_minutes=freq,
                                  start=start, end=end, tz=tz, country=country, seasonal=seasonal)
        return arrow_ready(rows, schema)

    cols = ["household_id", "freq_minutes", "interval_start_utc", "active_power_kw"]
    return intervals.select(*cols).groupBy("household_id", "freq_minutes").applyInPandas(run, schema)
