"""`lakehouse generate energy`: deterministic household power files in the UCI text format."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer


def register(app: typer.Typer, generate_app: typer.Typer) -> None:
    """Add ``energy``, ``uci-file`` (the published multi-year file) and ``intraday`` to ``lakehouse generate``."""
    from lakehouse.errors import friendly

    @generate_app.command("energy")
    @friendly
    def energy(
        households: Annotated[int, typer.Option("--households", help="number of households")] = 1,
        start: Annotated[str, typer.Option("--start", help="first local day, YYYY-MM-DD")] = "2024-01-01",
        end: Annotated[str, typer.Option("--end", help="day after the last local day, YYYY-MM-DD")] = "2024-02-01",
        seed: Annotated[int, typer.Option("--seed", help="random seed (same seed, same bytes)")] = 7,
    ) -> None:
        """Write one UCI file per household and month to {landing}/energy/YYYY-MM/<household>.txt."""
        from lakehouse.errors import LakehouseError
        from lakehouse.settings import get_settings
        from spark_jobs.energy.generator import generate_to_landing

        try:
            first, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
        except ValueError as exc:
            raise LakehouseError(f"--start/--end must be YYYY-MM-DD: {exc}") from None
        for uri in generate_to_landing(get_settings(), households, first, last, seed=seed):
            typer.echo(f"wrote  {uri}")

    @generate_app.command("uci-file")
    @friendly
    def generate_uci_file(
        first: Annotated[str, typer.Option("--first", help="first reading, 'YYYY-MM-DD HH:MM' meter time")]
            = "2006-12-16 17:24",
        last: Annotated[str, typer.Option("--last", help="last reading, 'YYYY-MM-DD HH:MM' meter time")]
            = "2010-11-26 21:02",
        seed: Annotated[int, typer.Option("--seed", help="random seed (same seed, same bytes)")] = 7,
        outage_days: Annotated[float, typer.Option("--outage-days", min=0.0, help="one '?' outage of this many days "
                                                   "in the middle")] = 0.0,
        path: Annotated[str, typer.Option("--path", help="landing-relative path")]
            = "energy/uci/household_power_consumption.txt",
    ) -> None:
        """Write the multi-year household_power_consumption.txt (published UCI shape).

        As UCI publishes it: ';'-separated, d/m/yyyy,
        a logger clock without DST (1,440 lines every day, DST days included), '?' minutes, starting mid-day
        mid-month (the defaults are the published span: ~2.07 M lines, ~130 MB). Pass the printed URI as the
        energy DAG's `source` param."""
        import pandas as pd

        from lakehouse.errors import LakehouseError
        from lakehouse.settings import get_settings
        from spark_jobs.energy import generator

        try:
            span = (pd.Timestamp(first), pd.Timestamp(last))
        except ValueError as exc:
            raise LakehouseError(f"--first/--last must be 'YYYY-MM-DD HH:MM': {exc}") from None
        if span[1] < span[0]:
            raise LakehouseError(f"--last {last} is before --first {first}")
        uri = generator.write_uci_multi_year(get_settings(), path, [span], seed=seed, outage_days=outage_days)
        typer.echo(f"wrote  {uri}")

    @generate_app.command("intraday")
    @friendly
    def generate_intraday(
        since: Annotated[str, typer.Option("--since", help="first 15-minute interval, UTC ('2024-03-31 00:00')")]
            = "2024-03-31 00:00",
        until: Annotated[str, typer.Option("--until", help="end of the last interval, UTC (exclusive)")]
            = "2024-03-31 02:00",
        households: Annotated[int, typer.Option("--households", min=1, help="number of households")] = 1,
        seed: Annotated[int, typer.Option("--seed", help="random seed (same seed, same bytes)")] = 7,
    ) -> None:
        """Write 15-minute deliveries {landing}/energy/intraday/<UTC date>/<HHMM>/<household>.txt.

        One UCI-format file per household and 15-minute interval of [SINCE, UNTIL), plus the household
        manifest."""
        import pandas as pd

        from lakehouse.errors import LakehouseError
        from lakehouse.settings import get_settings
        from spark_jobs.energy.intraday import generate_intraday_to_landing

        def utc(value: str) -> pd.Timestamp:
            stamp = pd.Timestamp(value)
            return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")

        try:
            start, end = utc(since), utc(until)
        except ValueError as exc:
            raise LakehouseError(f"--since/--until must be UTC times like '2024-03-31 00:00': {exc}") from None
        written = generate_intraday_to_landing(get_settings(), households, start, end, seed=seed)
        for uri in written:
            typer.echo(f"wrote  {uri}")
