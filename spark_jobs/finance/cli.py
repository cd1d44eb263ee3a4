"""`lakehouse generate ticks`: deterministic landing files for one trade date."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

import typer


def register(app: typer.Typer, generate_app: typer.Typer) -> None:
    """Add ``ticks`` and ``binance-zip`` to ``lakehouse generate``."""
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
        # 0.7 is generator.DEFAULT_SIGNAL (not imported here: the CLI imports NumPy only when a command runs)
        signal: Annotated[float, typer.Option("--signal", min=0.0, max=0.99,
                                              help="order-flow signal strength (0: random walk)")] = 0.7,
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
                                    binance_ticks=binance_ticks, rates=DefectRates.none() if clean else None,
                                    signal=signal)
        typer.echo(json.dumps(manifest, indent=2))

    @generate_app.command("binance-zip")
    @friendly
    def generate_binance_zip(
        date: Annotated[str, typer.Option("--date", help="UTC trade date YYYY-MM-DD")] = "2024-01-01",
        symbol: Annotated[str, typer.Option("--symbol", help="Binance spot symbol, e.g. BTCUSDT")] = "BTCUSDT",
        kind: Annotated[str, typer.Option("--kind", help="aggTrades or trades")] = "aggTrades",
        ticks: Annotated[int, typer.Option("--ticks", min=1, help="trades in the day (24 h UTC)")] = 5000,
        seed: Annotated[int, typer.Option("--seed", help="same seed + date -> same bytes")] = 7,
        checksum: Annotated[bool, typer.Option("--checksum/--no-checksum",
                                               help="also write <name>.zip.CHECKSUM as Binance does")] = True,
        dest: Annotated[str | None, typer.Option("--dest", help="directory/URI (default: the date's finance "
                                                 "landing folder)")] = None,
    ) -> None:
        """Write SYMBOL-KIND-DATE.zip (+ .zip.CHECKSUM) as data.binance.vision publishes it.

        One headerless CSV of the same name inside (aggTrades: agg_trade_id, price, quantity, first/last
        trade id, transact_time ms, is_buyer_maker, is_best_match), plus its .CHECKSUM file. Land it and run
        finance_tick_processor with LAKEHOUSE_FINANCE__CALENDAR=24/7."""
        from lakehouse import storage
        from lakehouse.errors import LakehouseError
        from lakehouse.settings import get_settings
        from spark_jobs.finance import adapters
        from spark_jobs.finance.generator import binance_csv_bytes
        from spark_jobs.finance.io import landing_dir
        from spark_jobs.finance.session import continuous_session

        if kind not in ("aggTrades", "trades"):
            raise LakehouseError(f"invalid --kind {kind!r}: use aggTrades or trades")
        try:
            day = dt.date.fromisoformat(date)
        except ValueError:
            raise LakehouseError(f"invalid --date {date!r}: use YYYY-MM-DD") from None
        settings = get_settings()
        trades = binance_csv_bytes(day, continuous_session(day, "UTC"), ticks=ticks, seed=seed)
        data = trades if kind == "trades" else adapters.agg_trades_from_trades(trades)
        name = f"{symbol.upper()}-{kind}-{day.isoformat()}.zip"
        archive = adapters.binance_zip_bytes(data, name)
        folder = storage.to_uri(dest) if dest else landing_dir(settings, day)
        written = {storage.join(folder, name): archive}
        if checksum:
            written[storage.join(folder, name + ".CHECKSUM")] = adapters.checksum_text(archive, name).encode()
        for uri, content in written.items():
            fs, path = storage.filesystem(settings, uri)
            fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
            storage.write_bytes(settings, uri, content)
            typer.echo(f"wrote  {uri}")
