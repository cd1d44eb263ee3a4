"""The exchange session of a trade date, in the exchange's time zone (pure Python, no Spark).

Where sessions come from is the ``finance.calendar`` setting (:func:`session_of`):

- an `exchange_calendars <https://github.com/gerrymanoim/exchange_calendars>`_ code (``XNYS``, ``XLON``,
  ``XTKS``, ...): that exchange's open and close of the date, early closes included (XNYS on 2024-11-29
  closes at 13:00), and no session on its weekends and holidays (:class:`NoSession` names the holiday);
- ``24/7``: a continuous market (crypto, Binance dumps): every date is one session from 00:00 to 24:00 UTC,
  the day of Binance's daily files, so all 1,440 minutes are in session;
- ``continuous``: the same, from midnight to midnight in ``finance.exchange_timezone`` (1,380 or 1,500
  minutes on the days daylight saving time starts or ends);
- ``fixed``: ``finance.session_open``..``finance.session_close`` (local HH:MM; ``24:00`` is the next
  midnight) on every date, no holidays (the behaviour before calendars).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from lakehouse.errors import LakehouseError

if TYPE_CHECKING:
    from lakehouse.settings import FinanceSettings

CONTINUOUS_UTC = "24/7"
CONTINUOUS_LOCAL = "continuous"
FIXED = "fixed"


@dataclass(frozen=True)
class Session:
    """Half-open session interval [open_utc, close_utc) of one trade date."""

    trade_date: dt.date
    timezone: str
    open_utc: dt.datetime
    close_utc: dt.datetime
    early_close: bool = False  # the exchange closes earlier than on a regular day

    @property
    def minutes(self) -> int:
        """Number of one-minute bars in the session."""
        return int((self.close_utc - self.open_utc).total_seconds() // 60)

    @property
    def open_epoch_s(self) -> int:
        return int(self.open_utc.timestamp())

    @property
    def close_epoch_s(self) -> int:
        return int(self.close_utc.timestamp())


@dataclass(frozen=True)
class NoSession:
    """A date on which the exchange does not trade, and why (``reason``: the holiday's name or 'weekend')."""

    trade_date: dt.date
    calendar: str
    reason: str

    def describe(self) -> str:
        return f"{self.trade_date} is not a {self.calendar} trading session ({self.reason})"


def _parse_hhmm(value: str) -> dt.time | None:
    """Local HH:MM as a time; ``24:00`` (the end of the day) as None."""
    try:
        hours, minutes = (int(part) for part in value.split(":"))
        if (hours, minutes) == (24, 0):
            return None
        return dt.time(hours, minutes)
    except ValueError:
        raise LakehouseError(f"invalid session time {value!r}: use HH:MM (00:00 to 24:00)") from None


def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except Exception:
        raise LakehouseError(f"unknown exchange timezone {timezone!r}") from None


def session_for(trade_date: dt.date, timezone: str, session_open: str, session_close: str) -> Session:
    """The session of ``trade_date`` with open/close given as local HH:MM in ``timezone`` (``24:00``: the
    next local midnight, for a session that runs to the end of the day)."""
    zone = _zone(timezone)
    open_time, close_time = _parse_hhmm(session_open), _parse_hhmm(session_close)
    if open_time is None:
        raise LakehouseError(f"session open {session_open} must be before 24:00")
    local_open = dt.datetime.combine(trade_date, open_time, zone)
    if close_time is None:
        local_close = dt.datetime.combine(trade_date + dt.timedelta(days=1), dt.time(), zone)
    else:
        local_close = dt.datetime.combine(trade_date, close_time, zone)
    if local_close <= local_open:
        raise LakehouseError(f"session close {session_close} is not after open {session_open}")
    return Session(trade_date, timezone, local_open.astimezone(dt.UTC), local_close.astimezone(dt.UTC))


def continuous_session(trade_date: dt.date, timezone: str = "UTC") -> Session:
    """A 24-hour market's session: local midnight to the next local midnight."""
    return session_for(trade_date, timezone, "00:00", "24:00")


@functools.cache
def _exchange_calendar(code: str, year: int) -> Any:
    """The exchange_calendars calendar ``code`` covering ``year`` (and a margin around it)."""
    import exchange_calendars as xcals

    try:
        return xcals.get_calendar(code, start=f"{year - 1}-01-01", end=f"{year + 1}-12-31")
    except xcals.errors.InvalidCalendarName:
        raise LakehouseError(
            f"unknown finance.calendar {code!r}: use an exchange_calendars code (XNYS, XLON, XTKS, ...), "
            f"'{CONTINUOUS_UTC}', '{CONTINUOUS_LOCAL}' or '{FIXED}'") from None


def holiday_name(calendar: Any, trade_date: dt.date) -> str:
    """Why a calendar has no session on ``trade_date``: 'weekend', the holiday's name, or 'holiday'."""
    import pandas as pd

    day = pd.Timestamp(trade_date)
    regular = calendar.regular_holidays
    if regular is not None:
        names = regular.holidays(day, day, return_name=True)
        if len(names):
            return str(names.iloc[0])
    if day in set(calendar.adhoc_holidays):
        return "ad hoc closure"
    if str(calendar.weekmask)[day.weekday()] == "0":
        return "weekend"
    return "holiday"


def exchange_session(code: str, trade_date: dt.date) -> Session | NoSession:
    """The session of ``trade_date`` on the exchange ``code`` (open, close or early close, in UTC)."""
    calendar = _exchange_calendar(code, trade_date.year)
    if not calendar.is_session(trade_date.isoformat()):
        return NoSession(trade_date, code, holiday_name(calendar, trade_date))
    opened, closed = calendar.session_open_close(trade_date.isoformat())
    early = trade_date.isoformat() in {d.date().isoformat() for d in calendar.early_closes}
    return Session(trade_date, str(calendar.tz), opened.to_pydatetime().astimezone(dt.UTC),
                   closed.to_pydatetime().astimezone(dt.UTC), early_close=early)


def session_of(fin: FinanceSettings, trade_date: dt.date) -> Session | NoSession:
    """The session of ``trade_date`` under ``fin.calendar`` (see the module docstring)."""
    code = fin.calendar.strip()
    if code == CONTINUOUS_UTC:
        return continuous_session(trade_date, "UTC")
    if code == CONTINUOUS_LOCAL:
        return continuous_session(trade_date, fin.exchange_timezone)
    if code == FIXED:
        return session_for(trade_date, fin.exchange_timezone, fin.session_open, fin.session_close)
    return exchange_session(code, trade_date)


def trading_session(fin: FinanceSettings, trade_date: dt.date) -> Session:
    """The session of ``trade_date``; a date without one is an error (the DAG skips such dates before
    any job runs; a job run for one by hand stops here with the holiday's name)."""
    found = session_of(fin, trade_date)
    if isinstance(found, NoSession):
        raise LakehouseError(f"{found.describe()}: nothing to process (LAKEHOUSE_FINANCE__CALENDAR={fin.calendar})")
    return found
