"""Deterministic household power data written in exactly the UCI text format.

Each household gets its own scale and habits; demand follows daily (morning and evening peaks),
weekly (weekends, later mornings), annual (winter heating) cycles and public holidays (treated
like Sundays), with autocorrelated noise and appliance bursts. Clocks follow local civil time
(Europe/Paris by default): the spring-forward hour is absent and the autumn hour appears twice,
as a DST-aware meter writes it. Some minutes are '?' (as in the published file), some lines are
absent, and multi-hour outages occur. Same arguments in, same bytes out.

:func:`uci_multi_year_text` writes one multi-year file shaped like the published UCI file instead: a logger
clock that ignores DST (1,440 lines every day), a first reading in the middle of a day, '?' minutes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from spark_jobs.energy import uci

if TYPE_CHECKING:
    from lakehouse.settings import LakehouseSettings


@dataclass(frozen=True)
class HouseholdProfile:
    """The habits of one generated household."""

    household_id: str
    base_kw: float
    morning_kw: float
    evening_kw: float
    heating_kw: float
    weekend_kw: float
    noise: float


def household_ids(n: int) -> list[str]:
    """``hh_001`` ... ``hh_{n}``."""
    return [f"hh_{i:03d}" for i in range(1, n + 1)]


def _rng(*parts: object) -> np.random.Generator:
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def profile(household_id: str, seed: int) -> HouseholdProfile:
    """Deterministic habits of a household."""
    rng = _rng("profile", household_id, seed)
    return HouseholdProfile(
        household_id=household_id,
        base_kw=float(rng.uniform(0.25, 0.5)),
        morning_kw=float(rng.uniform(0.8, 1.6)),
        evening_kw=float(rng.uniform(1.2, 2.4)),
        heating_kw=float(rng.uniform(0.4, 1.2)),
        weekend_kw=float(rng.uniform(0.3, 0.9)),
        noise=float(rng.uniform(0.12, 0.22)),
    )


def month_starts(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    """First days of the months overlapping [start, end)."""
    current = start.replace(day=1)
    while current < end:
        yield current
        current = (pd.Timestamp(current) + pd.offsets.MonthBegin(1)).date()


def _bump(hour: np.ndarray, centre: float, width: float) -> np.ndarray:
    return np.exp(-0.5 * ((hour - centre) / width) ** 2)


def demand_kw(local: pd.DatetimeIndex, prof: HouseholdProfile, holidays_: frozenset[dt.date],
              rng: np.random.Generator) -> np.ndarray:
    """Minute demand (kW) for local wall-clock times: cycles x habits x noise (never negative)."""
    hour = (local.hour + local.minute / 60.0).to_numpy(dtype=float)
    dow = local.dayofweek.to_numpy()
    dates = local.date
    off = (dow >= 5) | np.fromiter((d in holidays_ for d in dates), dtype=bool, count=len(dates))
    doy = local.dayofyear.to_numpy(dtype=float)
    winter = 0.5 * (1 + np.cos(2 * np.pi * (doy - 15) / 365.25))  # 1 in mid-January, 0 in mid-July
    morning = np.where(off, _bump(hour, 9.5, 1.5), _bump(hour, 7.3, 0.9))
    midday = np.where(off, prof.weekend_kw * _bump(hour, 13.0, 2.5), 0.0)
    evening = _bump(hour, 19.8, 1.6)
    night = (hour < 6) | (hour >= 23)
    heating = prof.heating_kw * winter * np.where(night, 0.6, 1.0)
    level = prof.base_kw + prof.morning_kw * morning + midday + prof.evening_kw * evening + heating
    # autocorrelated multiplicative noise (AR(1) per minute) plus short appliance bursts
    shocks = rng.normal(0.0, prof.noise, len(local))
    phi = 0.97
    ar = lfilter([np.sqrt(1 - phi**2)], [1.0, -phi], shocks)
    bursts = (rng.random(len(local)) < 0.004).astype(float)
    bursts = np.convolve(bursts, np.ones(20), mode="same") * rng.uniform(1.0, 2.0)
    return np.clip(level * np.exp(ar) + bursts, 0.076, None)


def household_month(household_id: str, month_start: dt.date, start: dt.date, end: dt.date, *, seed: int,
                    tz: str, country: str) -> str:
    """The UCI text (header included) of one household for the part of a month inside [start, end)."""
    import holidays

    first = max(start, month_start)
    last = min(end, (pd.Timestamp(month_start) + pd.offsets.MonthBegin(1)).date())
    rng = _rng("month", household_id, month_start.isoformat(), seed)
    prof = profile(household_id, seed)
    utc = pd.date_range(pd.Timestamp(first).tz_localize(tz), pd.Timestamp(last).tz_localize(tz),
                        freq="min", inclusive="left").tz_convert("UTC")
    local = utc.tz_convert(tz).tz_localize(None)
    days = frozenset(holidays.country_holidays(country, years=sorted(set(local.year))).keys())
    kw = demand_kw(pd.DatetimeIndex(local), prof, days, rng)
    n = len(kw)
    voltage = 240.5 + 2.5 * np.sin(2 * np.pi * (local.hour.to_numpy() - 4) / 24) - 1.2 * kw + rng.normal(0, 0.8, n)
    reactive = np.clip(0.05 + 0.08 * kw + rng.normal(0, 0.03, n), 0.0, None)
    intensity = kw * 1000.0 / voltage
    total_wh = kw * 1000.0 / 60.0
    share = rng.dirichlet([1.0, 1.0, 2.0, 3.0], n)  # kitchen, laundry, heater, rest
    subs = np.floor(total_wh[:, None] * share[:, :3])
    # missing data: single '?' minutes, absent lines, and one or two multi-hour outages
    missing = rng.random(n) < 0.002
    absent = rng.random(n) < 0.0005
    for _ in range(int(rng.integers(1, 3))):
        length = int(rng.integers(120, 6 * 60))
        begin = int(rng.integers(0, max(1, n - length)))
        missing[begin : begin + length] = True
    dates = uci.format_uci_date(pd.DatetimeIndex(local))
    times = pd.DatetimeIndex(local).strftime("%H:%M:%S")
    frame = pd.DataFrame({
        "Date": dates, "Time": times,
        "Global_active_power": np.round(kw, 3), "Global_reactive_power": np.round(reactive, 3),
        "Voltage": np.round(voltage, 2), "Global_intensity": np.round(intensity, 1),
        "Sub_metering_1": subs[:, 0], "Sub_metering_2": subs[:, 1], "Sub_metering_3": subs[:, 2],
    })
    body = frame.to_csv(sep=";", header=False, index=False, float_format="%.3f", lineterminator="\n")
    lines = body.split("\n")[:-1]
    out = []
    for i, line in enumerate(lines):
        if absent[i]:
            continue
        if missing[i]:
            out.append(f"{dates[i]};{times[i]};?;?;?;?;?;?;")  # the published file leaves Sub_metering_3 empty
        else:
            out.append(line)
    return uci.HEADER + "\n" + "\n".join(out) + "\n"


# The published file: 16/12/2006 17:24:00 to 26/11/2010 21:02:00, one line per minute, logger clock without DST.
UCI_FIRST_READING = pd.Timestamp("2006-12-16 17:24")
UCI_LAST_READING = pd.Timestamp("2010-11-26 21:02")
UCI_FILE_NAME = "household_power_consumption.txt"


def uci_multi_year_text(ranges: list[tuple[pd.Timestamp, pd.Timestamp]] | None = None, *, seed: int = 7,
                        household_id: str = "household_power_consumption", country: str = "FR",
                        outage_days: float = 0.0) -> str:
    """A multi-year file shaped like the published ``household_power_consumption.txt``.

    Exactly the official format (header, ``;``, ``16/12/2006``, ``17:24:00``, three decimals, missing
    minutes as ``?;?;?;?;?;?;`` with an empty Sub_metering_3), one line per minute of a logger clock that
    ignores daylight saving: every day has 1,440 lines, DST-switch days included, and no line is absent.
    ``ranges``: the [start, end] meter-time spans written (inclusive, chronological; default: the whole
    published span, ~2.07 M lines), so tests write e.g. a partial first month and a DST month only.
    ``outage_days``: one '?' outage of that length in the middle of the first range (besides single '?').
    """
    import holidays

    ranges = ranges or [(UCI_FIRST_READING, UCI_LAST_READING)]
    prof = profile(household_id, seed)
    chunks = [uci.HEADER]
    for number, (first, last) in enumerate(ranges):
        local = pd.date_range(pd.Timestamp(first).floor("min"), pd.Timestamp(last).floor("min"), freq="min")
        if len(local) == 0:
            continue
        rng = _rng("uci-file", household_id, seed, number)
        days = frozenset(holidays.country_holidays(country, years=sorted(set(local.year))).keys())
        kw = demand_kw(local, prof, days, rng)
        n = len(kw)
        voltage = 240.5 + 2.5 * np.sin(2 * np.pi * (local.hour.to_numpy() - 4) / 24) - 1.2 * kw + rng.normal(0, .8, n)
        reactive = np.clip(0.05 + 0.08 * kw + rng.normal(0, 0.03, n), 0.0, None)
        subs = np.floor((kw * 1000.0 / 60.0)[:, None] * rng.dirichlet([1.0, 1.0, 2.0, 3.0], n)[:, :3])
        missing = rng.random(n) < 0.002
        if number == 0 and outage_days > 0:
            length = min(n, int(outage_days * 1440))
            missing[n // 2 - length // 2 : n // 2 - length // 2 + length] = True
        dates = np.asarray(uci.format_uci_date(local))
        times = np.asarray(local.strftime("%H:%M:%S"))
        frame = pd.DataFrame({
            "Date": dates, "Time": times, "Global_active_power": np.round(kw, 3),
            "Global_reactive_power": np.round(reactive, 3), "Voltage": np.round(voltage, 2),
            "Global_intensity": np.round(kw * 1000.0 / voltage / 0.2) * 0.2,
            "Sub_metering_1": subs[:, 0], "Sub_metering_2": subs[:, 1], "Sub_metering_3": subs[:, 2],
        })
        lines = np.asarray(frame.to_csv(sep=";", header=False, index=False, float_format="%.3f",
                                        lineterminator="\n").split("\n")[:-1], dtype=object)
        lines[missing] = dates[missing] + ";" + times[missing] + ";?;?;?;?;?;?;"
        chunks.append("\n".join(lines))
    return "\n".join(chunks) + "\n"


def write_uci_multi_year(settings: LakehouseSettings, relative: str = f"energy/uci/{UCI_FILE_NAME}",
                         ranges: list[tuple[pd.Timestamp, pd.Timestamp]] | None = None, *, seed: int = 7,
                         outage_days: float = 0.0) -> str:
    """Write :func:`uci_multi_year_text` under the landing zone; return its URI (what the DAG's ``source``
    param names)."""
    from spark_jobs.energy import io

    uri = io.landing_uri(settings, relative)
    io.write_text(settings, uri, uci_multi_year_text(ranges, seed=seed, country=settings.energy.holiday_country,
                                                     outage_days=outage_days))
    return uri


def landing_path(month_start: dt.date, household_id: str) -> str:
    """Relative landing path of a household-month file: ``energy/YYYY-MM/<household>.txt``."""
    return f"energy/{month_start:%Y-%m}/{household_id}.txt"




def generate_to_landing(settings: LakehouseSettings, households: int, start: dt.date, end: dt.date, *,
                        seed: int = 7) -> list[str]:
    """Write every household-month file for [start, end) plus the household manifest; return URIs."""
    from lakehouse.errors import LakehouseError
    from spark_jobs.energy import io

    if households < 1:
        raise LakehouseError("--households must be at least 1")
    if end <= start:
        raise LakehouseError(f"--end {end} must be after --start {start}")
    energy = settings.energy
    ids = household_ids(households)
    written = []
    manifest = io.landing_uri(settings, io.HOUSEHOLDS_MANIFEST)
    io.write_text(settings, manifest, "household_id,source\n" + "".join(f"{h},generated\n" for h in ids))
    written.append(manifest)
    for month in month_starts(start, end):
        for hid in ids:
            uri = io.landing_uri(settings, landing_path(month, hid))
            io.write_text(settings, uri, household_month(hid, month, start, end, seed=seed,
                                                         tz=energy.source_timezone, country=energy.holiday_country))
            written.append(uri)
    return written
