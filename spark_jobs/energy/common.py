"""Small helpers shared by the energy entry points (no Spark import at module level)."""

from __future__ import annotations

import datetime as dt

from lakehouse.errors import LakehouseError
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
