"""Small helpers for the energy unit tests: UCI text built line by line."""

from __future__ import annotations

import pandas as pd

from spark_jobs.energy import uci

TZ = "Europe/Paris"


def uci_text(local_times: list[pd.Timestamp] | pd.DatetimeIndex, power: float = 1.0, voltage: float = 240.0,
             header: bool = True) -> str:
    """A UCI file with one valid line per local wall-clock time, in the given order."""
    lines = [uci.HEADER] if header else []
    for ts in local_times:
        lines.append(f"{ts.day}/{ts.month}/{ts.year};{ts:%H:%M:%S};{power:.3f};0.100;{voltage:.3f};4.200;"
                     "1.000;2.000;3.000")
    return "\n".join(lines) + "\n"


def civil_minutes(first_day: str, last_day: str) -> pd.DatetimeIndex:
    """Local wall-clock minutes a DST-aware meter writes from local midnight of ``first_day`` to that
    of ``last_day`` (spring hour absent, autumn hour twice)."""
    utc = pd.date_range(pd.Timestamp(first_day).tz_localize(TZ), pd.Timestamp(last_day).tz_localize(TZ),
                        freq="min", inclusive="left")
    return utc.tz_convert(TZ).tz_localize(None)
