"""How `lakehouse run` shows a run: a progress display per step while it runs, then one summary table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from lakehouse.pipeline import Pipeline
from lakehouse.runner import RunOutcome, StepOutcome, run_pipeline
from lakehouse.settings import LakehouseSettings

_STATE_STYLE = {"success": "green", "failed": "bold red", "skipped": "yellow", "upstream_failed": "red"}
# Summary keys worth a column (tables written, rows, snapshots, gate results, model metrics, reports).
_SHOWN = ("table", "tables", "rows", "snapshot_id", "published", "suite", "expectations", "report", "model",
          "model_name", "version", "model_version", "accuracy", "baseline", "rmse", "mae", "staged", "skipped")


def describe(summary: Any) -> str:
    """A step's summary in a few words for the table."""
    if summary is None:
        return ""
    if not isinstance(summary, Mapping):
        return str(summary)[:160]
    parts = []
    for key, value in summary.items():
        if any(word in key for word in _SHOWN):
            if isinstance(value, float):
                value = f"{value:.4g}"
            parts.append(f"{key}={value}")
    return "; ".join(parts)[:400]


def run_with_progress(pipeline: Pipeline, settings: LakehouseSettings, logical_date: dt.date, *,
                      params: Mapping[str, str], run_id: str | None) -> RunOutcome:
    """Run ``pipeline`` with a live progress display on stderr and print the summary table on stdout."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
    from rich.table import Table

    err = Console(stderr=True)
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
                  "{task.total}"), TimeElapsedColumn(), console=err, transient=False) as progress:
        bar = progress.add_task(f"{pipeline.dag_id} {logical_date}", total=len(pipeline.steps))

        def on_step(step: StepOutcome) -> None:
            style = _STATE_STYLE.get(step.state, "")
            progress.console.print(f"[{style}]{step.state:>15}[/] {step.task_id} ({step.seconds:.1f} s)")
            progress.advance(bar)

        outcome = run_pipeline(pipeline, settings, logical_date, params=params, run_id=run_id, on_step=on_step,
                               emit=False)
    table = Table(title=f"{pipeline.dag_id} {logical_date} (run {outcome.run_id})")
    for column in ("step", "state", "seconds", "result"):
        table.add_column(column, overflow="fold")
    for step in outcome.steps:
        table.add_row(step.task_id, f"[{_STATE_STYLE.get(step.state, '')}]{step.state}[/]", f"{step.seconds:.1f}",
                      step.error or describe(step.summary))
    Console(width=160).print(table)
    return outcome
