"""The exchange session of a trade date, in the exchange's time zone (pure Python, no Spark)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from lakehouse.errors import LakehouseError


@dataclass(frozen=True)
class Session:
    """Half-open session interval [open_utc, close_utc) of one trade date."""

    trade_date: dt.date
    timezone: str
    open_utc: dt.datetime
    close_utc: dt.datetime

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


def _parse_hhmm(value: str) -> dt.time:
    try:
        hours, minutes = value.split(":")
        return dt.time(int(hours), int(minutes))
    except ValueError:
        raise LakehouseError(f"invalid session time {value!r}: use HH:MM") from None


def session_for(trade_date: dt.date, timezone: str, session_open: str, session_close: str) -> Session:
    """The session of ``trade_date`` with open/close given as local HH:MM in ``timezone``."""
    try:
        zone = ZoneInfo(timezone)
    except Exception:
        raise LakehouseError(f"unknown exchange timezone {timezone!r}") from None
    local_open = dt.datetime.combine(trade_date, _parse_hhmm(session_open), zone)
    local_close = dt.datetime.combine(trade_date, _parse_hhmm(session_close), zone)
    if local_close <= local_open:
        raise LakehouseError(f"session close {session_close} is not after open {session_open}")
    return Session(trade_date, timezone, local_open.astimezone(dt.UTC), local_close.astimezone(dt.UTC))
