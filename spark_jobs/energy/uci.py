"""The UCI "Individual household electric power consumption" text format: split, parse, localise.

Exactly as published: ``;``-separated, header line
``Date;Time;Global_active_power;Global_reactive_power;Voltage;Global_intensity;Sub_metering_1;
Sub_metering_2;Sub_metering_3``, Date as d/m/yyyy, Time as hh:mm:ss, ``?`` for a missing value,
one line per minute. Everything here is pure pandas so it is unit-tested without Spark; the Spark
jobs call these functions per file / per household group.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    import pyarrow as pa

HEADER_FIELDS = (
    "Date", "Time", "Global_active_power", "Global_reactive_power", "Voltage", "Global_intensity",
    "Sub_metering_1", "Sub_metering_2", "Sub_metering_3",
)
HEADER = ";".join(HEADER_FIELDS)
RAW_FIELDS = ("date", "time", "global_active_power", "global_reactive_power", "voltage", "global_intensity",
              "sub_metering_1", "sub_metering_2", "sub_metering_3")
VALUE_FIELDS = RAW_FIELDS[2:]
# raw column -> the name the file uses (for messages)
SOURCE_NAMES = dict(zip(RAW_FIELDS, HEADER_FIELDS, strict=True))
RAW_COLUMNS = ("household_id", "source_file", "line_number", *RAW_FIELDS, "raw_line", "file_error")
MISSING = "?"
HOUSEHOLD_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_DATE_LIKE = re.compile(r"^\d{1,2}/\d{1,2}/\d{4}$")
SUB_METER_TOLERANCE_WH = 1.0  # the file rounds to 3 decimals; allow rounding noise


def household_from_filename(name: str) -> str | None:
    """``hh_001.txt`` -> ``hh_001``; None when the stem is not a valid household id."""
    stem = name.rsplit("/", 1)[-1].split(".", 1)[0]
    return stem if HOUSEHOLD_ID.fullmatch(stem) else None


def check_header(first_line: str) -> str | None:
    """None if ``first_line`` is the UCI header, else a readable reason (delimiter, missing header)."""
    line = first_line.strip().lstrip("\ufeff")
    if line == HEADER:
        return None
    if not line:
        return "empty file or blank first line: expected the UCI header " + repr(HEADER)
    for delimiter, label in ((",", "comma"), ("\t", "tab"), ("|", "pipe")):
        if delimiter in line and ";" not in line:
            return (f"wrong delimiter: line 1 is {label}-separated, the UCI format is ';'-separated "
                    f"(expected header {HEADER!r})")
    fields = line.split(";")
    if fields and _DATE_LIKE.match(fields[0]):
        return f"missing header: line 1 is data ({line[:60]!r}), expected {HEADER!r}"
    if [f.strip().lower() for f in fields] == [f.lower() for f in HEADER_FIELDS]:
        return None
    return f"unexpected header {line[:80]!r}: expected {HEADER!r}"


def _constant(value: str | None, n: int) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    return pa.nulls(n, pa.string()) if value is None else pc.fill_null(pa.nulls(n, pa.string()), value)


def split_lines_table(text: str, source_file: str, household_id: str, file_error: str | None = None,
                      extra: Mapping[str, str | None] | None = None) -> pa.Table:
    """Split a UCI file's text into raw rows (strings as delivered) with 1-based line numbers, as an Arrow
    table with the columns ``RAW_COLUMNS`` (+ ``extra``: constant string columns, e.g. the file's hash).

    The header line (line 1) is not a row. Lines that do not have exactly 9 fields keep the whole
    line in ``raw_line``; blank lines are skipped. If the header is wrong the rows still come back,
    each marked with ``file_error`` (the file is quarantined as a whole, nothing is guessed). Arrow end to
    end: the Spark ingest hands these batches to the JVM without a Python object per cell.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    header_error = check_header(lines[0]) if lines else "empty file"
    file_error = file_error or header_error
    # With a proper header the data starts on line 2; without one, line 1 is data too.
    start = 1 if header_error is None or not header_error.startswith("missing header") else 0
    body = lines[start:]
    keep = np.fromiter((bool(line.strip()) for line in body), dtype=bool, count=len(body))  # Python's blanks
    numbers = np.arange(start + 1, start + 1 + len(body), dtype=np.int64)[keep]
    delivered = pa.array(body, type=pa.string()).filter(pa.array(keep))
    n = len(delivered)
    parts = pc.split_pattern(delivered, ";")
    ok = pc.equal(pc.list_value_length(parts), len(RAW_FIELDS))
    flat = pc.list_flatten(parts.filter(ok))
    ok_rows = ok.to_numpy(zero_copy_only=False)
    first_field = np.zeros(n, dtype=np.int64)
    first_field[ok_rows] = np.arange(int(ok_rows.sum()), dtype=np.int64) * len(RAW_FIELDS)
    columns: dict[str, pa.Array] = {
        "household_id": _constant(household_id, n), "source_file": _constant(source_file, n),
        "line_number": pa.array(numbers, type=pa.int64())}
    for i, name in enumerate(RAW_FIELDS):  # field i of a line that has all 9; null for one that has not
        columns[name] = pc.take(flat, pa.array(first_field + i, mask=~ok_rows))
    columns["raw_line"] = pc.if_else(ok, pa.scalar(None, pa.string()), delivered)
    columns["file_error"] = _constant(file_error, n)
    for name, value in (extra or {}).items():
        columns[name] = _constant(value, n)
    return pa.table(columns)


def split_lines(text: str, source_file: str, household_id: str, file_error: str | None = None) -> pd.DataFrame:
    """:func:`split_lines_table` as a pandas frame (strings as objects, None for null)."""
    return split_lines_table(text, source_file, household_id, file_error).to_pandas()


def _plain_floats(values: pd.Series) -> pd.Series | None:
    """The column as floats, parsed by Arrow, when every cell is a plain finite number or missing ('?', ''
    or null); None when any cell is anything else (whitespace, 'nan', 'inf', words): the caller's exact path
    then decides. A delivered month is almost always all plain numbers, and this is ~10x faster."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        text = pa.array(values, type=pa.string(), from_pandas=True)  # None, NaN and pd.NA are nulls
        text = pc.if_else(pc.is_in(text, value_set=pa.array(["", MISSING])), pa.scalar(None, pa.string()), text)
        numbers = pc.cast(text, pa.float64())
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None
    if pc.all(pc.is_finite(numbers)).as_py() is False:
        return None
    return pd.Series(numbers.to_numpy(zero_copy_only=False), index=values.index, dtype=float)


def to_float(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse numbers; returns (floats, malformed mask). '?' and '' are missing, not malformed."""
    plain = _plain_floats(values)
    if plain is not None:
        return plain, pd.Series(False, index=values.index)
    return exact_floats(values)


def exact_floats(values: pd.Series) -> tuple[pd.Series, pd.Series]:
    """:func:`to_float` cell by cell with pandas (the reference its Arrow fast path must agree with)."""
    numbers = pd.to_numeric(values, errors="coerce").astype(float)
    malformed = pd.Series(False, index=values.index)
    unparsed = numbers.isna() & values.notna()
    if unparsed.any():  # only the few non-numeric cells get the slower string handling
        text = values[unparsed].astype(str).str.strip()
        missing = text.isin(["", MISSING]).to_numpy(dtype=bool)
        retry = pd.to_numeric(text.where(~missing, None), errors="coerce").astype(float)
        numbers.loc[retry.index] = retry.to_numpy()
        malformed.loc[retry.index] = retry.isna().to_numpy(dtype=bool) & ~missing
    return numbers, malformed


STAMP_FORMAT = "%d/%m/%Y %H:%M:%S"


def _wall_times_by_value(date: pd.Series, time: pd.Series) -> pd.Series | None:
    """Meter times from the distinct dates and times (a month has ~31 and 1,440 of them) when every date
    reads as d/m/yyyy and every time as hh:mm:ss (a missing one gives NaT); None otherwise (the caller's
    exact path then decides)."""
    date_codes, dates = pd.factorize(date)
    time_codes, times = pd.factorize(time)
    days = pd.to_datetime(pd.Index(dates, dtype=object), format=STAMP_FORMAT.split(" ")[0], errors="coerce")
    clocks = pd.to_datetime(pd.Index(times, dtype=object), format=STAMP_FORMAT.split(" ")[1], errors="coerce")
    if days.isna().any() or clocks.isna().any():
        return None
    missing = (date_codes < 0) | (time_codes < 0)
    # one NaT at the end of each lookup serves the missing values (code -1)
    day_of = np.append(days.to_numpy(dtype="datetime64[ns]"), np.datetime64("NaT", "ns"))
    time_of = np.append((clocks - clocks.normalize()).to_numpy(dtype="timedelta64[ns]"), np.timedelta64("NaT", "ns"))
    stamps = day_of[date_codes] + time_of[time_codes]
    stamps[missing] = np.datetime64("NaT", "ns")
    return pd.Series(stamps, index=date.index)


def wall_times(date: pd.Series, time: pd.Series) -> pd.Series:
    """The meter's timestamps as written (naive), NaT where a date or time does not read as d/m/yyyy and
    hh:mm:ss (blanks around them tolerated)."""
    by_value = _wall_times_by_value(date, time)
    return by_value if by_value is not None else exact_wall_times(date, time)


def exact_wall_times(date: pd.Series, time: pd.Series) -> pd.Series:
    """:func:`wall_times` line by line (the reference its by-value fast path must agree with)."""
    stamp = date.astype(str) + " " + time.astype(str)
    local = pd.to_datetime(stamp, format=STAMP_FORMAT, errors="coerce")
    if local.isna().any():  # tolerate surrounding blanks before calling a date malformed
        local = local.fillna(pd.to_datetime(date.astype(str).str.strip() + " " + time.astype(str).str.strip(),
                                            format=STAMP_FORMAT, errors="coerce"))
    return local


def localize(local_ts: pd.Series, tz: str | dt.tzinfo) -> tuple[pd.Series, pd.Series]:
    """Local wall-clock times (in delivery order) -> (UTC timestamps, UTC offset in minutes).

    Daylight saving: a repeated local hour (autumn) maps its first occurrence to summer time and
    its second to winter time, in the order the lines were delivered; a local time that does not
    exist (spring) is read on the clock that had not yet jumped (shifted forward by the gap), so
    no reading is dropped or invented. Later collisions are reported as duplicates by the caller.
    """
    if local_ts.empty:
        empty = pd.Series(pd.DatetimeIndex([], tz="UTC"), index=local_ts.index)
        return empty, pd.Series(dtype="int32", index=local_ts.index)
    occurrence = local_ts.groupby(local_ts).cumcount()
    index = pd.DatetimeIndex(local_ts)
    aware = index.tz_localize(tz, ambiguous=(occurrence == 0).to_numpy(), nonexistent=pd.Timedelta(hours=1))
    utc = aware.tz_convert("UTC")
    offset = ((aware.tz_localize(None) - utc.tz_localize(None)) / pd.Timedelta(minutes=1)).astype("int32")
    return pd.Series(utc, index=local_ts.index), pd.Series(np.asarray(offset), index=local_ts.index)


def month_bounds_utc(month_start: dt.date, tz: str | dt.tzinfo) -> tuple[pd.Timestamp, pd.Timestamp]:
    """UTC instants of local midnight on the month's first day and the next month's first day (``tz``: a
    zone name or a meter clock's zone from :func:`clock_zone`)."""
    nxt = (pd.Timestamp(month_start) + pd.offsets.MonthBegin(1)).normalize()
    start = pd.Timestamp(month_start).tz_localize(tz).tz_convert("UTC")
    end = nxt.tz_localize(tz).tz_convert("UTC")
    return start, end


def parse_readings(raw: pd.DataFrame, tz: str | dt.tzinfo, month_start: dt.date,
                   voltage_band: tuple[float, float]) -> pd.DataFrame:
    """Type raw rows and decide each row's fate: a ``reason`` (quarantine) or None (accepted).

    ``tz`` is the meter clock's zone (:func:`clock_zone`): the tz database zone for a clock that follows
    DST, a fixed offset otherwise. Returns the raw columns plus ts_local (the meter's time as written),
    ts_utc, utc_offset_minutes, the seven values as floats and ``reason``. Checks (first failure wins):
    rejected file, field count, date/time format, month, number format, negative active power, voltage
    band, sub-meters above the total, duplicate reading. An all-'?' line is an accepted missing reading
    (it becomes a gap).
    """
    # delivery order (file, line); sorting the file names' codes rather than the names is ~5x faster
    files = pd.factorize(raw["source_file"], sort=True)[0]
    raw = raw.iloc[np.lexsort((raw["line_number"].to_numpy(), files))].reset_index(drop=True)
    out = raw.copy()
    reason = pd.Series(None, index=raw.index, dtype=object)
    unflagged = np.ones(len(raw), dtype=bool)  # reason.isna(), kept as an array (isna of objects is slow)

    def flag(mask: pd.Series, text: Callable[[pd.Series], pd.Series] | str) -> None:
        # messages are only built for the flagged rows (most months have none)
        new = mask.to_numpy(dtype=bool) & unflagged
        if new.any():
            reason.loc[new] = text if isinstance(text, str) else text(pd.Series(new, index=raw.index))
            unflagged[new] = False

    flag(raw["file_error"].notna(), lambda m: "file rejected: " + raw["file_error"][m].astype(str))
    flag(raw["raw_line"].notna(), lambda m: "expected 9 ';'-separated fields, got "
         + (raw["raw_line"][m].astype(str).str.count(";") + 1).astype(str))
    def stamp(m: pd.Series) -> pd.Series:  # the delivered date and time, for messages
        return raw["date"][m].astype(str) + " " + raw["time"][m].astype(str)

    local = wall_times(raw["date"], raw["time"])
    flag(local.isna() & raw["raw_line"].isna(), lambda m: "malformed date/time " + stamp(m).str.slice(0, 40).map(repr))
    month_end = (pd.Timestamp(month_start) + pd.offsets.MonthBegin(1)).normalize()
    outside = local.notna() & ((local < pd.Timestamp(month_start)) | (local >= month_end))
    flag(outside, lambda m: "reading dated " + local[m].dt.strftime("%Y-%m-%d") +
         f" is outside the month {month_start:%Y-%m}")
    for name in VALUE_FIELDS:
        values, malformed = to_float(raw[name])
        out[name] = values
        flag(malformed, lambda m, name=name: f"malformed {SOURCE_NAMES[name]} "
             + raw[name][m].astype(str).str.slice(0, 20).map(repr))
    power = out["global_active_power"]
    flag(power < 0, lambda m: "negative Global_active_power " + power[m].astype(str))
    low, high = voltage_band
    volt = out["voltage"]
    flag((volt < low) | (volt > high), lambda m: f"Voltage outside [{low:g}, {high:g}] V: " + volt[m].astype(str))
    subs = out["sub_metering_1"].fillna(0) + out["sub_metering_2"].fillna(0) + out["sub_metering_3"].fillna(0)
    total_wh = power * 1000.0 / 60.0
    flag(subs > total_wh + SUB_METER_TOLERANCE_WH,
         lambda m: "sub-meters " + subs[m].round(3).astype(str) + " Wh exceed the total "
         + total_wh[m].round(3).astype(str) + " Wh")

    out["ts_local"] = local
    good = pd.Series(unflagged.copy(), index=raw.index)
    # each household's accepted readings localised in delivery order (positions, not a grouped copy)
    utc_ns = np.full(len(raw), np.datetime64("NaT", "ns"))
    offsets = np.zeros(len(raw), dtype=np.int32)
    localized = np.zeros(len(raw), dtype=bool)
    accepted = np.flatnonzero(unflagged)
    households = raw["household_id"].to_numpy()[accepted]
    for household in pd.unique(households):
        if pd.isna(household):  # no household, no clock: left unlocalised
            continue
        rows = accepted[households == household]
        utc, offset = localize(local.iloc[rows], tz)
        utc_ns[rows] = utc.dt.tz_localize(None).to_numpy(dtype="datetime64[ns]")
        offsets[rows] = offset.to_numpy(dtype=np.int32)
        localized[rows] = True
    out["ts_utc"] = pd.Series(utc_ns, index=raw.index).dt.tz_localize("UTC")
    out["utc_offset_minutes"] = pd.Series(pd.arrays.IntegerArray(offsets, ~localized), index=raw.index)
    dup = good & out.duplicated(["household_id", "ts_utc"], keep="first") & out["ts_utc"].notna()
    flag(dup, lambda m: "duplicate reading for " + stamp(m) + " (same UTC minute as an earlier line)")
    out["reason"] = reason
    return out


def quarantine_line(raw: pd.DataFrame) -> pd.Series:
    """The delivered line for a quarantine row: ``raw_line`` or the fields joined with ';'."""
    joined = raw[list(RAW_FIELDS)].astype(object).where(raw[list(RAW_FIELDS)].notna(), "").astype(str)
    text = joined.apply(lambda col: col).agg(";".join, axis=1) if len(raw) else pd.Series(dtype=object)
    return raw["raw_line"].where(raw["raw_line"].notna(), text)


def format_uci_date(ts: pd.DatetimeIndex) -> pd.Index:
    """d/m/yyyy without zero padding, as in the published file."""
    return ts.day.astype(str) + "/" + ts.month.astype(str) + "/" + ts.year.astype(str)


# ---- meter clocks -------------------------------------------------------------------------------
CLOCK_KINDS = "'dst', 'utc' or a fixed offset such as '+01:00'"
_OFFSET = re.compile(r"^(?:utc|gmt)?([+-])(\d{1,2})(?::?(\d{2}))?$")


def clock_zone(clock: str, tz: str) -> str | dt.tzinfo:
    """The zone a meter's clock writes in: ``dst`` -> ``tz`` (wall time following daylight saving),
    ``utc`` -> UTC, ``+01:00`` / ``-0330`` / ``UTC+1`` -> that fixed offset. Raises ValueError otherwise."""
    text = clock.strip().lower().replace(" ", "")
    if text == "dst":
        return tz
    if text in ("utc", "z", "+00:00", "gmt"):
        return "UTC"
    match = _OFFSET.match(text)
    if match is None:
        raise ValueError(f"unknown meter clock {clock!r}: use {CLOCK_KINDS}")
    sign, hours, minutes = match.group(1), int(match.group(2)), int(match.group(3) or 0)
    if hours > 14 or minutes >= 60:
        raise ValueError(f"meter clock {clock!r} is not a UTC offset between -14:00 and +14:00")
    delta = dt.timedelta(hours=hours, minutes=minutes)
    return dt.timezone(-delta if sign == "-" else delta)


def follows_dst(zone: str | dt.tzinfo, tz: str) -> bool:
    """Whether a clock zone is the DST-following wall time of ``tz`` (else a fixed offset or UTC)."""
    return isinstance(zone, str) and zone == tz and zone != "UTC"


def standard_offset(tz: str) -> str:
    """The standard-time (winter) UTC offset of ``tz`` as ``+HH:MM`` (what a clock that ignores DST keeps)."""
    offsets = [pd.Timestamp(f"2021-{m:02d}-15").tz_localize(tz).utcoffset() for m in (1, 7)]
    return format_offset(min(offsets))  # winter is the smaller offset in both hemispheres


def format_offset(offset: dt.timedelta) -> str:
    """A UTC offset as ``+HH:MM`` / ``-HH:MM`` (how meter clocks are written in settings and messages)."""
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@dataclass(frozen=True)
class SwitchDay:
    """A local day of ``tz`` that is not 24 hours long, and its odd hour (absent in spring, twice in autumn)."""

    day: dt.date
    hours: int  # 23 (spring forward) or 25 (fall back)
    hour: int  # the local hour that does not exist (spring) or occurs twice (autumn)


def switch_days(start: dt.date, end: dt.date, tz: str) -> list[SwitchDay]:
    """The DST switch days of ``tz`` in [start, end)."""
    if end <= start or tz == "UTC":
        return []
    hours = pd.date_range(pd.Timestamp(start).tz_localize(tz), pd.Timestamp(end).tz_localize(tz), freq="h",
                          inclusive="left").tz_convert(tz).tz_localize(None)
    per_day = pd.Series(hours.hour, index=hours.normalize())
    out = []
    for day, local_hours in per_day.groupby(level=0):
        counts = local_hours.value_counts()
        if len(local_hours) == 24:
            continue
        odd = (sorted(set(range(24)) - set(counts.index)) if len(local_hours) < 24
               else sorted(counts[counts > 1].index))
        out.append(SwitchDay(day.date(), len(local_hours), int(odd[0]) if odd else 2))
    return out


@dataclass(frozen=True)
class ClockEvidence:
    """What one DST switch day says about a meter's clock: ``dst``, ``fixed`` or None (cannot tell)."""

    day: SwitchDay
    rows_on_day: int
    rows_in_hour: int
    verdict: str | None

    def describe(self, tz: str) -> str:
        what = ("does not exist there" if self.day.hours == 23 else "occurs twice there")
        return (f"{self.rows_on_day:,} readings on {self.day.day} (a {self.day.hours}-hour day in {tz}), "
                f"{self.rows_in_hour} at {self.day.hour:02d}:xx, an hour that {what}")


def clock_evidence(local: pd.Series, tz: str) -> list[ClockEvidence]:
    """Judge a household's meter clock from the readings it wrote on the DST switch days of ``tz``.

    ``local``: the meter's timestamps as written (naive). A clock that follows DST writes 1,380 lines on
    the spring day with none in the absent hour, and 1,500 on the autumn day with the repeated hour twice;
    a clock that ignores DST writes 1,440 on both, 60 in that hour. More than half an hour of lines in the
    absent hour, or between half and one and a half hours in the repeated one, means a fixed clock; none
    in the absent hour (with readings around it) or more than 90 in the repeated one means DST.
    """
    local = pd.to_datetime(pd.Series(local)).dropna()
    if local.empty:
        return []
    first, last = local.min().date(), local.max().date()
    days = local.dt.normalize()
    out = []
    for switch in switch_days(first, last + dt.timedelta(days=1), tz):
        hours = local[days == pd.Timestamp(switch.day)].dt.hour.value_counts()
        out.append(judge_switch_day(switch, {int(h): int(n) for h, n in hours.items()}))
    return out


def judge_switch_day(switch: SwitchDay, rows_per_hour: Mapping[int, int]) -> ClockEvidence:
    """The verdict of one switch day from the number of lines the meter wrote per local hour of it."""
    in_hour = int(rows_per_hour.get(switch.hour, 0))
    around = int(rows_per_hour.get(switch.hour - 1, 0)) + int(rows_per_hour.get(switch.hour + 1, 0))
    verdict: str | None = None
    if switch.hours == 23:
        verdict = "fixed" if in_hour > 30 else ("dst" if in_hour == 0 and around > 60 else None)
    elif in_hour > 90:
        verdict = "dst"
    elif in_hour > 30:
        verdict = "fixed"
    return ClockEvidence(switch, int(sum(rows_per_hour.values())), in_hour, verdict)


def clock_problem(evidence: list[ClockEvidence], *, follows: bool, household: str, clock: str, tz: str
                  ) -> str | None:
    """One readable line when the switch days contradict the declared clock (``follows``: it is ``dst``;
    ``clock``: how it was declared, for the message), naming the setting to change; None when they agree or
    cannot tell."""
    for item in evidence:
        if item.verdict == "fixed" and follows:
            return (f"{household}: the meter clock ignores daylight saving time ({item.describe(tz)}), but "
                    f"the declared clock is {clock}: set LAKEHOUSE_ENERGY__METER_CLOCK={standard_offset(tz)} "
                    f"(its standard time; or 'utc', or the household's entry in energy.meter_clocks); "
                    "nothing published")
        if item.verdict == "dst" and not follows:
            return (f"{household}: the meter clock follows daylight saving time ({item.describe(tz)}), but "
                    f"the declared clock is {clock}: set LAKEHOUSE_ENERGY__METER_CLOCK=dst (or the household's "
                    "entry in energy.meter_clocks); nothing published")
    return None


# ---- file coverage -------------------------------------------------------------------------------
def line_timestamp(line: str) -> pd.Timestamp | None:
    """The meter time of a UCI data line (``16/12/2006;17:24:00;...``), or None if it has none."""
    fields = line.strip().split(";")
    if len(fields) < 2:
        return None
    # the same reading of a date and time as silver's (one definition of a meter time)
    stamp = exact_wall_times(pd.Series([fields[0]]), pd.Series([fields[1]])).iloc[0]
    return None if pd.isna(stamp) else pd.Timestamp(stamp)


def coverage_text(first: pd.Timestamp, last: pd.Timestamp) -> str:
    """``16 Dec 2006 17:24 - 26 Nov 2010 21:02`` (meter time)."""
    return f"{first:%d %b %Y %H:%M} - {last:%d %b %Y %H:%M}"


def delivered_bounds_utc(month_start: dt.date, zone: str | dt.tzinfo,
                         coverage: tuple[pd.Timestamp, pd.Timestamp] | None) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The UTC span of the month a delivery covers: the month in the meter clock's ``zone``, cut to
    [first reading, last reading + 1 minute] of the file when ``coverage`` (meter times) is given. Minutes of
    the month outside it were never delivered (the file starts or ends inside the month): they are not
    gaps. Returns (start, start) when the file does not reach the month."""
    start, end = month_bounds_utc(month_start, zone)
    if coverage is None:
        return start, end
    first, last = localize(pd.Series([pd.Timestamp(coverage[0]), pd.Timestamp(coverage[1])]), zone)[0].tolist()
    lo, hi = max(start, first.floor("min")), min(end, last.floor("min") + pd.Timedelta(minutes=1))
    return (lo, hi) if hi > lo else (start, start)
