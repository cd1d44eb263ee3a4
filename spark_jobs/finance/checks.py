"""The finance run's first two steps, before any Spark job: is the date a trading session, and has its
landing delivery arrived (``check_session`` and ``wait_for_landing`` in spark_jobs/finance/pipeline.py)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from lakehouse import deliveries
from lakehouse.pipeline import Readiness
from spark_jobs.finance.io import CHECKSUM_SUFFIX, landing_dir, list_delivery
from spark_jobs.finance.session import NoSession, session_of

if TYPE_CHECKING:
    from lakehouse.pipeline import RunContext

log = logging.getLogger("lakehouse.finance")


def session_step(run: RunContext) -> dict[str, Any] | None:
    """The run's trading session under ``finance.calendar`` (open/close in UTC, minutes, early close), or
    None on a date without one (weekend, exchange holiday): the steps after it are then skipped, and the
    log names the holiday."""
    fin = run.settings.finance
    found = session_of(fin, run.logical_date)
    if isinstance(found, NoSession):
        log.warning("%s: skipping the run (LAKEHOUSE_FINANCE__CALENDAR=%s)", found.describe(), fin.calendar)
        return None
    if found.early_close:
        log.info("%s: early close at %s UTC", run.logical_date, found.close_utc.time().isoformat("minutes"))
    return {"calendar": fin.calendar, "trade_date": run.logical_date.isoformat(),
            "open_utc": found.open_utc.isoformat(), "close_utc": found.close_utc.isoformat(),
            "minutes": found.minutes, "early_close": found.early_close}


def landing_ready(run: RunContext) -> Readiness:
    """Whether the date's landing delivery is complete enough to ingest: the marker file
    ``finance.landing_marker`` (e.g. ``_SUCCESS``) when one is set, else at least one data file."""
    settings = run.settings
    folder = landing_dir(settings, run.logical_date)
    files = list_delivery(settings, run.logical_date)
    marker = settings.finance.landing_marker
    # A Binance checksum is not data: it may land before the zip it describes.
    data = [f for f in files if deliveries.ignore_reason(f.name) is None and not f.name.endswith(CHECKSUM_SUFFIX)]
    if marker:
        if any(f.name == marker or f.name.endswith("/" + marker) for f in files):
            return Readiness(True, f"marker {marker} and {len(data)} data file(s) under {folder}",
                             {"files": len(data), "marker": marker})
        return Readiness(False, f"no marker file {marker} under {folder} yet ({len(data)} data file(s) there; "
                                "LAKEHOUSE_FINANCE__LANDING_MARKER)")
    if data:
        return Readiness(True, f"{len(data)} data file(s) under {folder}", {"files": len(data)})
    return Readiness(False, f"no landing files for finance ticks on {run.logical_date} under {folder} "
                            f"(LAKEHOUSE_FINANCE__LANDING_WAIT_TIMEOUT_S, _POKE_INTERVAL_S)")
