"""Small helpers shared by the energy entry points (no Spark import at module level)."""

from __future__ import annotations

import datetime as dt

from lakehouse.errors import LakehouseError
from lakehouse.settings import EnergySettings
from spark_jobs.energy import uci
from spark_jobs.energy.transforms import previous_month


def delivered_month(logical_date: dt.date) -> dt.date:
    """The month a meter-reading run delivers: the run on the 1st covers the month before it."""
    if logical_date.day != 1:
        raise LakehouseError(
            f"energy runs on the meter-reading day (the 1st of a month): logical date {logical_date} is not; "
            f"use {logical_date.replace(day=1)}")
    return previous_month(logical_date)


def next_meter_read_date(logical_date: dt.date) -> dt.date:
    """The 1st of the month after ``logical_date``'s month."""
    first = logical_date.replace(day=1)
    return (first + dt.timedelta(days=32)).replace(day=1)


def meter_clocks(energy: EnergySettings) -> tuple[str | dt.tzinfo, dict[str, str | dt.tzinfo]]:
    """The default meter clock zone and the per-household ones (``energy.meter_clock`` / ``meter_clocks``);
    one readable line naming the setting when a clock is not ``dst``, ``utc`` or a fixed UTC offset."""
    def zone(value: str, where: str) -> str | dt.tzinfo:
        try:
            return uci.clock_zone(value, energy.source_timezone)
        except ValueError as exc:
            raise LakehouseError(f"{where}: {exc}") from None

    return (zone(energy.meter_clock, "energy.meter_clock (LAKEHOUSE_ENERGY__METER_CLOCK)"),
            {hid: zone(value, f"energy.meter_clocks[{hid!r}]") for hid, value in energy.meter_clocks.items()})


def clock_name(zone: str | dt.tzinfo, tz: str) -> str:
    """How a clock zone is written in messages: ``dst (Europe/Paris)``, ``utc`` or ``+01:00``."""
    if uci.follows_dst(zone, tz):
        return f"dst ({tz})"
    if zone == "UTC":
        return "utc"
    offset = zone.utcoffset(None) if isinstance(zone, dt.tzinfo) else None
    return uci.format_offset(offset or dt.timedelta(0))
