"""The intra-day energy path: 15-minute deliveries, their landing layout, and pure transforms.

Landing layout (all UTC, so the autumn repeated hour never collides)::

    {landing}/energy/intraday/<YYYY-MM-DD>/<HHMM>/<household>.txt

holds one household's readings of the 15-minute interval ``[<date> <HH:MM>, +15 min)`` UTC, in the UCI
text format of the monthly files (header, ``;``-separated, local wall-clock ``d/m/yyyy;hh:mm:ss``, ``?``
for a missing value). The folder names the interval, so a local time of the repeated autumn hour is read
with the offset that puts it inside that interval; a line whose time falls outside it is rejected.

``spark_jobs.energy.intraday_ingest`` turns each delivered file into one row of
``silver.energy_intraday_15min`` (:func:`interval_reading`), keyed by (household, interval): a rerun or a
re-delivered interval replaces the row, never duplicates it. ``spark_jobs.energy.realtime`` scores the
next interval from the freshest rows and fails when they are older than ``energy.realtime_max_lag_minutes``
(:func:`assess_freshness`). Everything here is pure pandas (no Spark import), except the test-data
generator at the end, which writes files.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from spark_jobs.energy import transforms, uci

if TYPE_CHECKING:
    from lakehouse.settings import LakehouseSettings

INTRADAY_DIR = "energy/intraday"
DATASET = "intraday_15min"  # the dataset of the intra-day files in raw.delivered_files
QUARANTINE_TABLE = "quarantine.energy_intraday_readings"
EMPTY_FILE = "empty_file"  # lakehouse.deliveries.EMPTY_FILE (not imported: this module stays free of the core)
INTERVAL = pd.Timedelta(minutes=15)
FREQ_MINUTES = 15
KEYS = ["household_id", "interval_start_utc"]
# Columns of one ingested interval (silver.energy_intraday_15min without delivery_date and run_id).
READING_COLUMNS = (*transforms.INTERVAL_COLUMNS, "lines_rejected", "first_rejection", "source_file", "file_sha256")
# Columns of one quarantined line (quarantine.energy_intraday_readings without delivery_date and run_id).
QUARANTINE_COLUMNS = ("household_id", "source_file", "line_number", "interval_start_utc", "reason_code", "reason",
                      "raw_line", "file_sha256")
# Reason code of a quarantined line, from the start of its reason (uci.parse_readings and interval_delivery
# word them); the codes are stable, the words may change. First match wins.
REASON_CODES = (
    ("file rejected:", "file_rejected"),
    ("expected 9 ';'-separated fields", "field_count"),
    ("malformed date/time", "bad_timestamp"),
    ("reading dated", "outside_interval"),  # another month than the interval's: outside it too
    ("reading at local", "outside_interval"),
    ("malformed ", "bad_number"),
    ("negative Global_active_power", "negative_power"),
    ("Voltage outside", "voltage_out_of_band"),
    ("sub-meters", "sub_meters_exceed_total"),
    ("duplicate reading", "duplicate_minute"),
)
_INTERVAL_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})/(\d{2})(\d{2})/([^/]+)$")


# ---- landing layout -------------------------------------------------------------------------------
def floor_interval(value: str | dt.datetime | pd.Timestamp) -> pd.Timestamp:
    """Start (UTC) of the 15-minute interval containing ``value`` (UTC when it carries no offset)."""
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.floor("15min")


def day_path(day: dt.date) -> str:
    """``energy/intraday/<YYYY-MM-DD>``: the folder of one UTC day's deliveries (relative to the landing zone)."""
    return f"{INTRADAY_DIR}/{day:%Y-%m-%d}"


def interval_path(start: pd.Timestamp, household_id: str) -> str:
    """``energy/intraday/<YYYY-MM-DD>/<HHMM>/<household>.txt``: one household's delivery of one interval."""
    start = floor_interval(start)
    return f"{day_path(start.date())}/{start:%H%M}/{household_id}.txt"


def interval_of(name: str) -> tuple[pd.Timestamp, str] | None:
    """(interval start UTC, file name) of a path relative to ``energy/intraday`` (``2024-03-19/2345/hh_001.txt``);
    None when the path does not follow the layout (the ingest reports it as ignored)."""
    found = _INTERVAL_NAME.match(name)
    if found is None:
        return None
    day, hour, minute, file_name = found.groups()
    if int(hour) > 23 or int(minute) % 15 or int(minute) > 45:
        return None
    try:
        start = pd.Timestamp(f"{day} {hour}:{minute}", tz="UTC")
    except ValueError:
        return None
    return start, file_name


def interval_starts(since: pd.Timestamp, until: pd.Timestamp) -> pd.DatetimeIndex:
    """Starts of the 15-minute intervals in ``[since, until)`` (both floored to 15 minutes, UTC)."""
    return pd.date_range(floor_interval(since), floor_interval(until), freq="15min", inclusive="left")


def utc_days(since: pd.Timestamp, until: pd.Timestamp) -> list[dt.date]:
    """The UTC dates of the intervals in ``[since, until)`` (the day folders to list)."""
    return sorted({ts.date() for ts in interval_starts(since, until)})


# ---- one delivered file -> one interval row ------------------------------------------------------
def localize_in_interval(local: pd.Series, tz: str | dt.tzinfo, start: pd.Timestamp) -> pd.Series:
    """Local wall-clock times -> UTC, choosing the offset that puts each inside ``[start, start + 15 min)``.

    In the repeated autumn hour a local time has two instants; the delivered interval says which one the
    meter meant. Times inside the skipped spring hour are read on the clock that had not yet jumped (as in
    ``uci.localize``). NaT where neither reading falls inside the interval.
    """
    if local.empty:
        return pd.Series(pd.DatetimeIndex([], tz="UTC"), index=local.index)
    index = pd.DatetimeIndex(local)
    end = start + INTERVAL
    chosen = pd.Series(pd.NaT, index=local.index, dtype="datetime64[ns, UTC]")
    for ambiguous in (True, False):  # True: the summer-time reading of a repeated hour
        utc = index.tz_localize(tz, ambiguous=np.full(len(index), ambiguous),
                                nonexistent=pd.Timedelta(hours=1)).tz_convert("UTC")
        candidate = pd.Series(utc, index=local.index)
        inside = (candidate >= start) & (candidate < end) & chosen.isna()
        chosen[inside] = candidate[inside]
    return chosen


def reason_code(reason: str) -> str:
    """The stable code of a quarantine reason (``REASON_CODES``; ``other`` for a reason no rule words)."""
    return next((code for prefix, code in REASON_CODES if reason.startswith(prefix)), "other")


@dataclass(frozen=True)
class IntervalDelivery:
    """What one delivered file of an interval became: its one silver row (``READING_COLUMNS``), its rejected
    lines (``QUARANTINE_COLUMNS``, one row per line) and how many data lines it had."""

    row: pd.DataFrame
    quarantined: pd.DataFrame
    lines: int

    @property
    def accepted(self) -> int:
        """Data lines taken into the interval (an all-'?' line is an accepted missing reading)."""
        return self.lines - len(self.quarantined)


def interval_reading(text: str, *, source_file: str, household_id: str, start: pd.Timestamp, tz: str,
                     voltage_band: tuple[float, float], max_interpolate_minutes: int,
                     file_error: str | None = None, file_sha256: str | None = None,
                     clock: str | dt.tzinfo | None = None) -> pd.DataFrame:
    """One household's delivery of the interval starting at ``start`` -> its one row (``READING_COLUMNS``);
    :func:`interval_delivery` without the quarantined lines."""
    return interval_delivery(text, source_file=source_file, household_id=household_id, start=start, tz=tz,
                             voltage_band=voltage_band, max_interpolate_minutes=max_interpolate_minutes,
                             file_error=file_error, file_sha256=file_sha256, clock=clock).row


def interval_delivery(text: str, *, source_file: str, household_id: str, start: pd.Timestamp, tz: str,
                      voltage_band: tuple[float, float], max_interpolate_minutes: int,
                      file_error: str | None = None, file_sha256: str | None = None,
                      clock: str | dt.tzinfo | None = None) -> IntervalDelivery:
    """One household's delivery of the interval starting at ``start`` -> its one row and its rejected lines.

    Lines are checked as in the monthly path (``uci.parse_readings``: fields, date, numbers, negative power,
    voltage band, sub-meters, duplicates) plus the interval: a reading outside ``[start, start + 15 min)``
    is rejected. Accepted minutes go on the interval's minute grid (short inner gaps interpolated, gaps at
    the edges missing) and are resampled to 15 minutes (null power when more than half is missing). A
    rejected file (bad header, unknown household) still yields its row, all missing, with the reason.
    Every rejected line comes back in ``quarantined`` with its reason and :func:`reason_code`, so nothing
    delivered is lost: ``lines`` = accepted + quarantined.
    ``clock``: the zone the meter writes its times in (``uci.clock_zone`` of ``energy.meter_clock``; default
    ``tz``, wall time following daylight saving); ``tz`` gives the row's local interval start.
    """
    start = floor_interval(start)
    zone = clock if clock is not None else tz
    raw = uci.split_lines(text, source_file, household_id, file_error)
    meter_start = start.tz_convert(zone).tz_localize(None)
    parsed = uci.parse_readings(raw, zone, meter_start.date().replace(day=1), voltage_band)
    reason = parsed["reason"].copy()
    accepted = reason.isna()
    utc = localize_in_interval(parsed.loc[accepted, "ts_local"], zone, start)
    outside = utc.isna()
    if outside.any():
        stamps = parsed.loc[outside[outside].index, "ts_local"].dt.strftime("%Y-%m-%d %H:%M")
        reason.loc[stamps.index] = ("reading at local " + stamps + " is outside the delivered interval "
                                    + f"{start:%Y-%m-%d %H:%M}-{start + INTERVAL:%H:%M} UTC")
    good = parsed.loc[utc[~outside].index].copy()
    good["ts_utc"] = utc[~outside]
    good["household_id"] = household_id
    minutes = transforms.minute_grid(good, start, start + INTERVAL, tz, max_interpolate_minutes)
    minutes["household_id"] = household_id
    row = transforms.resample(minutes, FREQ_MINUTES, tz)
    row["household_id"] = household_id
    rejected = reason.notna()
    first = None
    if rejected.any():
        i = rejected[rejected].index[0]
        first = f"line {int(parsed.loc[i, 'line_number'])}: {reason.loc[i]}"
    elif file_error:
        first = f"file rejected: {file_error}"
    row["lines_rejected"] = np.int32(rejected.sum())
    row["first_rejection"] = first
    row["source_file"] = source_file
    row["file_sha256"] = file_sha256
    bad = parsed.loc[rejected[rejected].index]
    delivered = raw.set_index("line_number").loc[bad["line_number"]].reset_index() if len(bad) else raw.iloc[:0]
    quarantined = pd.DataFrame({
        "household_id": household_id,
        "source_file": source_file,
        "line_number": bad["line_number"].astype("int64").to_numpy(),
        "interval_start_utc": start,
        "reason_code": [reason_code(r) for r in reason.loc[bad.index]],
        "reason": reason.loc[bad.index].to_numpy(),
        "raw_line": uci.quarantine_line(delivered).to_numpy() if len(bad) else [],
        "file_sha256": file_sha256,
    }, index=pd.RangeIndex(len(bad)))
    return IntervalDelivery(row.reindex(columns=list(READING_COLUMNS)),
                            quarantined.reindex(columns=list(QUARANTINE_COLUMNS)), len(parsed))


# ---- accounting (raw.delivered_files) ------------------------------------------------------------
def file_account(*, size: int, lines: int, quarantined: int, first_rejection: str | None,
                 file_error: str | None) -> tuple[str, str | None]:
    """(outcome, reason) of one delivered intra-day file in raw.delivered_files (``lakehouse.deliveries``).

    ``quarantined``: a file with nothing to take (empty, rejected as a whole, or every line rejected);
    ``ingested`` otherwise, its reason saying how many lines went to quarantine (None when none did), so that
    the row with its ``rows`` (accepted lines) accounts for every line.
    """
    if size == 0:
        return "quarantined", EMPTY_FILE
    if file_error:
        return "quarantined", f"file rejected: {file_error}"
    if lines == 0:
        return "quarantined", f"{EMPTY_FILE}: no data line after the header"
    if quarantined >= lines:
        return "quarantined", f"all {lines} lines quarantined ({QUARANTINE_TABLE}); first: {first_rejection}"
    if quarantined:
        return "ingested", (f"{quarantined} of {lines} lines quarantined ({QUARANTINE_TABLE}); "
                            f"first: {first_rejection}")
    return "ingested", None


def redelivery_note(sha256: str | None, previous: Mapping[str, Any] | None) -> str | None:
    """A note for a file whose bytes differ from the ones a previous run accounted for under the same path
    (``previous``: that raw.delivered_files row), or the note it already carries when the bytes are the same
    again (a rerun keeps saying the file was re-delivered); None for a first delivery or an unchanged file."""
    if not previous:
        return None
    if previous.get("sha256") and sha256 and previous["sha256"] != sha256:
        return (f"re-delivered: replaces sha256 {str(previous['sha256'])[:12]} accounted by run "
                f"{previous.get('run_id')}")
    earlier = previous.get("reason") or ""
    at = earlier.find("re-delivered: ")
    return earlier[at:] if at >= 0 else None


def with_note(reason: str | None, note: str | None) -> str | None:
    """``reason`` and ``note`` joined with '; ' (either may be None)."""
    return "; ".join(part for part in (reason, note) if part) or None


# ---- freshness (what the realtime run checks) ----------------------------------------------------
@dataclass(frozen=True)
class Freshness:
    """Per household: the end of its freshest interval and how far it lies before the scored interval."""

    start: pd.Timestamp
    max_lag_minutes: int
    fresh: dict[str, pd.Timestamp]
    late: dict[str, pd.Timestamp]

    @staticmethod
    def lag_minutes(start: pd.Timestamp, freshest_end: pd.Timestamp) -> int:
        return int((start - freshest_end) / pd.Timedelta(minutes=1))

    def late_message(self) -> str:
        """One line naming the late households (at most three examples)."""
        examples = ", ".join(f"{h}: freshest reading ends {end:%Y-%m-%d %H:%M} UTC, "
                             f"{self.lag_minutes(self.start, end)} min before"
                             for h, end in sorted(self.late.items(), key=lambda kv: kv[1])[:3])
        scored = (f"forecast written for the other {len(self.fresh)}" if self.fresh else "nothing scored")
        return (f"energy intra-day data late for {len(self.late)} of {len(self.late) + len(self.fresh)} household(s) "
                f"scoring {self.start:%Y-%m-%d %H:%M} UTC (more than energy.realtime_max_lag_minutes = "
                f"{self.max_lag_minutes} min): {examples}; {scored}")


def assess_freshness(freshest_start: Mapping[str, pd.Timestamp], start: pd.Timestamp,
                     max_lag_minutes: int) -> Freshness:
    """Split households by the start of their freshest 15-minute row: fresh when that interval ends at most
    ``max_lag_minutes`` before ``start`` (the interval to score)."""
    start = floor_interval(start)
    limit = pd.Timedelta(minutes=max_lag_minutes)
    ends = {h: floor_interval(ts) + INTERVAL for h, ts in freshest_start.items()}
    return Freshness(start, max_lag_minutes, {h: e for h, e in ends.items() if start - e <= limit},
                     {h: e for h, e in ends.items() if start - e > limit})


# ---- generated deliveries (tests, demos) ---------------------------------------------------------
def interval_texts(household_id: str, since: pd.Timestamp, until: pd.Timestamp, *, seed: int, tz: str,
                   country: str) -> dict[pd.Timestamp, str]:
    """The generated UCI text of each 15-minute interval of ``[since, until)`` (UTC) for one household.

    The minutes come from ``generator.household_month`` (same habits, noise, '?' minutes, absent lines and
    outages as the monthly files), cut at UTC interval boundaries; same arguments in, same bytes out.
    """
    from spark_jobs.energy import generator

    since, until = floor_interval(since), floor_interval(until)
    first = since.tz_convert(tz).date()
    last = (until.tz_convert(tz) + pd.Timedelta(days=1)).date()
    lines: list[str] = []
    for month in generator.month_starts(first, last):
        text = generator.household_month(household_id, month, first, last, seed=seed, tz=tz, country=country)
        lines += text.splitlines()[1:]
    fields = pd.Series(lines, dtype=object).str.split(";", n=2, expand=True)
    local = pd.to_datetime(fields[0] + " " + fields[1], format="%d/%m/%Y %H:%M:%S")
    utc, _ = uci.localize(local, tz)  # the generator writes minutes in UTC order, as a meter does
    starts = pd.DatetimeIndex(utc).floor("15min")
    out: dict[pd.Timestamp, list[str]] = {}
    for start, line in zip(starts, lines, strict=True):
        if since <= start < until:
            out.setdefault(start, []).append(line)
    return {start: uci.HEADER + "\n" + "\n".join(body) + "\n" for start, body in sorted(out.items())}


def generate_intraday_to_landing(settings: LakehouseSettings, households: int, since: pd.Timestamp,
                                 until: pd.Timestamp, *, seed: int = 7) -> list[str]:
    """Write every household's delivery of every 15-minute interval of ``[since, until)`` (UTC) under
    ``{landing}/energy/intraday`` plus the household manifest; return the URIs written."""
    from lakehouse.errors import LakehouseError
    from spark_jobs.energy import generator, io

    if households < 1:
        raise LakehouseError("--households must be at least 1")
    if floor_interval(until) <= floor_interval(since):
        raise LakehouseError(f"--until {until} must be at least one 15-minute interval after --since {since}")
    energy = settings.energy
    ids = generator.household_ids(households)
    manifest = io.landing_uri(settings, io.HOUSEHOLDS_MANIFEST)
    io.write_text(settings, manifest, "household_id,source\n" + "".join(f"{h},generated\n" for h in ids))
    written = [manifest]
    for hid in ids:
        texts = interval_texts(hid, since, until, seed=seed, tz=energy.source_timezone,
                               country=energy.holiday_country)
        for start, text in texts.items():
            uri = io.landing_uri(settings, interval_path(start, hid))
            io.write_text(settings, uri, text)
            written.append(uri)
    return written
