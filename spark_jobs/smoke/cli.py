"""`lakehouse smoke` and `lakehouse demo`: the smoke pipeline's commands (discovered by the CLI)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer


def register(app: typer.Typer, generate_app: typer.Typer) -> None:
    """Add ``smoke`` and ``demo`` to the ``lakehouse`` app."""
    from lakehouse.errors import friendly

    @app.command()
    @friendly
    def smoke(date: Annotated[str, typer.Option("--date", help="logical date YYYY-MM-DD")] = "2024-01-02") -> None:
        """Run the smoke job in-process: write raw.smoke_events for DATE and read it back."""
        from lakehouse.jobs import run_job
        from spark_jobs.smoke.job import main as smoke_main

        run_job(smoke_main, app_name="smoke", argv=["--logical-date", dt.date.fromisoformat(date).isoformat()])

    @app.command()
    @friendly
    def demo(date: Annotated[str, typer.Option("--date", help="logical date YYYY-MM-DD")] = "2024-01-02") -> None:
        """Initialise the catalog, run the smoke job for DATE and print what was written."""
        from lakehouse.catalog import create_tables, list_tables
        from lakehouse.output import print_rows
        from lakehouse.settings import get_settings

        settings = get_settings()
        created = [identifier for identifier, was_created in create_tables(settings) if was_created]
        typer.echo(f"catalog ready ({len(created)} tables created) at {settings.catalog.uri}")
        smoke(date=date)
        typer.echo("")
        rows = [[s.identifier, s.snapshot_id, s.snapshot_count, s.row_count] for s in list_tables(settings)]
        print_rows(["table", "snapshot_id", "snapshots", "rows"], rows)
