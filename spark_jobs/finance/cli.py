"""`lakehouse generate ticks`: deterministic landing files for one trade date."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer


def register(app: typer.Typer, generate_app: typer.Typer) -> None:
    """Add the ``ticks`` command to ``lakehouse generate``."""
    from lakehouse.errors import friendly

    @generate_app.command("ticks")
    @friendly
    def ticks(
        date: Annotated[str, typer.Option("--date", help="trade date YYYY-MM-DD")] = "2024-01-02",
        symbols: Annotated[int, typer.Option("--symbols", min=1, help="number of symbols")] = 5,
        ticks: Annotated[int, typer.Option("--ticks", min=1, help="valid trades to generate")] = 10_000,
        seed: Annotated[int, typer.Option("--seed", help="same seed + date -> same files")] = 7,
        binance_ticks: Annotated[int, typer.Option("--binance-ticks", min=0,
                                                   help="also write a Binance spot trades CSV")] = 200,
        clean: Annotated[bool, typer.Option("--clean", help="inject no defects")] = False,
    ) -> None:
        """Write CSV + Parquet tick files (with defects at known rates) to the landing zone."""
        from lakehouse.errors import LakehouseError
        from lakehouse.settings import get_settings
        from spark_jobs.finance.generator import DefectRates, generate_landing

        try:
            day = dt.date.fromisoformat(date)
        except ValueError:
            raise LakehouseError(f"invalid --date {date!r}: use YYYY-MM-DD") from None
        manifest = generate_landing(get_settings(), day, symbols=symbols, ticks=ticks, seed=seed,
                                    binance_ticks=binance_ticks, rates=DefectRates.none() if clean else None)
        typer.echo(json.dumps(manifest, indent=2))
