"""`lakehouse model list|reproduce`: see registered models and prove one can be rebuilt from its record.

Registered on the core CLI by ``lakehouse.cli`` (by module name, so the core never imports ``ml`` at
module level); this module imports only Typer at import time, the registry and trainers inside commands.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

model_app = typer.Typer(help="Registered models: list them, reproduce one from its registry record.",
                        no_args_is_help=True)


def register(app: typer.Typer, generate_app: typer.Typer) -> None:
    """Add the ``model`` command group to the ``lakehouse`` app."""
    from lakehouse.errors import friendly

    @model_app.command("list")
    @friendly
    def list_(
        name: Annotated[str | None, typer.Argument(help="only this model")] = None,
        fmt: Annotated[str, typer.Option("--format", "-f", help="table, csv or json")] = "table",
    ) -> None:
        """Registered model versions, newest first: training snapshots, rows and checksum, artifact."""
        from lakehouse.errors import LakehouseError
        from lakehouse.output import print_rows
        from lakehouse.registry import list_models
        from lakehouse.settings import get_settings

        if fmt not in ("table", "csv", "json"):
            raise LakehouseError(f"unknown format {fmt!r}: use table, csv or json")
        columns = ["model_name", "model_version", "logical_date", "framework", "training_snapshots",
                   "training_rows", "training_checksum", "registered_at"]
        rows = []
        for m in list_models(get_settings(), name):
            snapshots = ",".join(f"{t}@{s}" for t, s in sorted(m["training_snapshots"].items()))
            checksum = m["training_checksum"]
            if fmt == "table" and checksum:
                checksum = checksum[:23] + "…"
            rows.append([m["model_name"], m["model_version"], m["logical_date"], m["framework"], snapshots,
                         m["training_rows"], checksum, m["registered_at"]])
        print_rows(columns, rows, fmt)  # type: ignore[arg-type]

    @model_app.command("reproduce")
    @friendly
    def reproduce_(
        name: Annotated[str, typer.Argument(help="model name (see `lakehouse model list`)")],
        version: Annotated[str | None, typer.Argument(help="model version (default: the latest)")] = None,
        tolerance: Annotated[float, typer.Option(min=0.0, help="relative and absolute tolerance per metric")]
        = 1e-6,
        fmt: Annotated[str, typer.Option("--format", "-f", help="table or json")] = "table",
    ) -> None:
        """Rebuild the training set from the tagged snapshot(s), check rows + checksum recorded at training
        time, retrain with the recorded parameters and seed, compare metrics. Exit 1 if anything differs."""
        from lakehouse.errors import LakehouseError
        from lakehouse.settings import get_settings
        from ml.reproduce import reproduce

        if fmt not in ("table", "json"):
            raise LakehouseError(f"unknown format {fmt!r}: use table or json")
        result = reproduce(get_settings(), name, version, tolerance=tolerance)
        if fmt == "json":
            typer.echo(json.dumps(result.as_dict(), default=str, sort_keys=True))
        else:
            typer.echo(render(result))
        failure = result.failure()
        if failure is not None:
            raise LakehouseError(failure)

    app.add_typer(model_app, name="model")


def render(result: Any) -> str:
    """The reproduction report for people: snapshots, rows/checksum and metrics, recorded vs rebuilt."""
    from tabulate import tabulate

    lines = [f"model      {result.model_name}", f"version    {result.model_version}",
             f"trainer    {result.trainer or '-'}"]
    for s in result.snapshots:
        lines.append(f"snapshot   {s.table} @ {s.read if s.read is not None else 'gone'}  ({s.note()})")
    recorded, rebuilt = result.recorded, result.rebuilt
    rows = [["rows", recorded.rows if recorded else "-", rebuilt.rows if rebuilt else "-",
             _mark(result.rows_match, rebuilt)],
            ["checksum", recorded.checksum if recorded else "-", rebuilt.checksum if rebuilt else "-",
             _mark(result.checksum_match, rebuilt)]]
    lines += ["", tabulate(rows, headers=["training set", "recorded", "rebuilt", ""], tablefmt="simple",
                           disable_numparse=True)]
    if result.metrics:
        metric_rows = [[m.name, _num(m.recorded), _num(m.reproduced), "ok" if m.ok else "DIFFERS"]
                       for m in result.metrics]
        lines += ["", tabulate(metric_rows, headers=["metric", "recorded", "reproduced", ""], tablefmt="simple",
                               disable_numparse=True)]
    elif result.problem is None and rebuilt is not None:
        lines += ["", "metrics    not compared: the training set differs"]
    ok = sum(m.ok for m in result.metrics)
    verdict = "PASS" if result.passed else "FAIL"
    metrics = (f"{ok}/{len(result.metrics)} metrics within {result.tolerance:g}" if result.metrics
               else "metrics not compared")
    lines += ["", f"result     {verdict}: rows {'=' if result.rows_match else '≠'}, checksum "
              f"{'=' if result.checksum_match else '≠'}, {metrics} (rebuild {result.rebuild_seconds:.1f} s, "
              f"retrain {result.retrain_seconds:.1f} s)"]
    return "\n".join(lines)


def _mark(match: bool, rebuilt: Any) -> str:
    if rebuilt is None:
        return ""
    return "same" if match else "DIFFERS"


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)
