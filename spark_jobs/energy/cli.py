"""`lakehouse generate energy`: deterministic household power files in the UCI text format."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer


def register(app: typer.Typer, generate_app: typer.Typer) -> None:
    """Add the ``energy`` command to ``lakehouse generate``."""
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
