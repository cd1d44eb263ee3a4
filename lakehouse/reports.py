"""Run reports: one static, self-contained HTML page per DAG run, with charts drawn by matplotlib.

A domain's ``report`` step (the last step of its pipeline, a :class:`lakehouse.pipeline.Call`) reads the
run's rows (the logical date only, through PyIceberg: no Spark), draws its figures and hands them to this
module, which turns each figure into an ``<img>`` with a base64 PNG data URI, assembles the page (title,
DAG, run id, logical date, sections) and stores it at
``{artifacts}/reports/<dag_id>/<logical date>/<safe run id>.html`` (local disk or S3, through
:mod:`lakehouse.storage`). ``lakehouse reports`` lists what is there.

matplotlib is imported only inside functions, with the Agg backend selected explicitly (no display, no
pyplot state): DAG files never import it at parse time.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lakehouse import storage
from lakehouse.settings import LakehouseSettings

if TYPE_CHECKING:
    import pyarrow as pa
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

REPORTS_DIR = "reports"
SUFFIX = ".html"
DPI = 100


@dataclass(frozen=True)
class RunInfo:
    """Which run a report describes (shown in its header and deciding where it is stored)."""

    dag_id: str
    logical_date: dt.date
    run_id: str


@dataclass(frozen=True)
class ReportEntry:
    """One stored report (``lakehouse reports``)."""

    dag_id: str
    logical_date: str
    run: str  # the run id as stored: storage.safe_segment of the run id
    uri: str


# ---- figures -> HTML ------------------------------------------------------------------------------
def new_figure(width: float = 10.0, height: float = 4.0) -> Figure:
    """A matplotlib figure on the Agg backend (no pyplot: nothing global to leak between reports)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def figure_html(fig: Figure, caption: str) -> str:
    """A figure as an HTML fragment: ``<figure>`` with an ``<img>`` (base64 PNG data URI) and a caption."""
    data = base64.b64encode(figure_png(fig)).decode("ascii")
    text = html.escape(caption)
    return (f'<figure class="chart"><img alt="{text}" src="data:image/png;base64,{data}">'
            f"<figcaption>{text}</figcaption></figure>")


def table_html(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A small HTML table (values escaped; floats with 4 significant digits)."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(_cell(v))}</td>" for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def note_html(text: str) -> str:
    """A short paragraph (escaped), e.g. why a chart is absent."""
    return f'<p class="note">{html.escape(text)}</p>'


def section(title: str, *parts: str) -> str:
    """A titled section of already-built HTML fragments."""
    return f"<section><h2>{html.escape(title)}</h2>{''.join(parts)}</section>"


_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;color:#222}
header{border-bottom:2px solid #ddd;margin-bottom:1rem}h1{margin:0 0 .3rem}
dl{display:grid;grid-template-columns:max-content auto;gap:.2rem 1rem;margin:.5rem 0 1rem}dt{font-weight:600}
dd{margin:0;font-family:ui-monospace,monospace}section{margin:1.5rem 0}h2{border-bottom:1px solid #eee}
figure{margin:1rem 0}figure img{max-width:100%;height:auto}figcaption{color:#666;font-size:.9rem}
table{border-collapse:collapse;margin:.5rem 0;font-size:.9rem}th,td{border:1px solid #ddd;padding:.25rem .6rem;
text-align:left}th{background:#f6f6f6}.note{color:#555;font-style:italic}
"""


def page(title: str, info: RunInfo, sections: Sequence[str], *, details: Mapping[str, Any] | None = None) -> str:
    """A complete, self-contained HTML page: header (title, DAG, run, logical date, generated at, extra
    ``details``) and the sections in order."""
    generated = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    facts = {"DAG": info.dag_id, "run": info.run_id, "logical date": info.logical_date.isoformat(),
             **(details or {}), "generated": generated}
    header = "".join(f"<dt>{html.escape(str(k))}</dt><dd>{html.escape(_cell(v))}</dd>" for k, v in facts.items())
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{html.escape(title)} · {html.escape(info.logical_date.isoformat())}</title>"
            f"<style>{_STYLE}</style></head><body><header><h1>{html.escape(title)}</h1><dl>{header}</dl></header>"
            f"{''.join(sections)}</body></html>\n")


def comparison_rows(evaluation: Mapping[str, Any]) -> list[list[Any]]:
    """Every compared metric of an ``evaluation.json``: metric, model, baseline, its value, verdict, required."""
    return [[c.get("metric"), c.get("model"), c.get("baseline"), c.get("baseline_value"),
             "better" if c.get("won") else "worse", "yes" if c.get("required", True) else "no"]
            for c in evaluation.get("comparisons") or []]


def evaluation_section(evaluation: Mapping[str, Any] | None, *, baselines: str = "its baselines") -> str:
    """The run's candidate: its verdict (rejected or not) with every compared metric (``evaluation.json`` as
    ``lakehouse.training`` keeps it), or a note that it was never evaluated."""
    if evaluation is None:
        return section("Candidate", note_html(
            "No evaluation was kept for this run's candidate: its train or evaluate step did not finish."))
    table = table_html(["metric", "model", "baseline", "baseline value", "model is", "must win"],
                       comparison_rows(evaluation))
    if evaluation.get("rejected"):
        lost = sum(1 for c in evaluation.get("comparisons") or [] if c.get("required", True) and not c.get("won"))
        return section("Candidate rejected", note_html(
            f"The candidate lost {lost} of {len(evaluation.get('comparisons') or [])} comparisons with {baselines} "
            "where it must win: it was not registered, and the run is failed. Every compared metric:"), table)
    return section("Candidate vs baselines", table)


# ---- where reports live ---------------------------------------------------------------------------
def reports_root(settings: LakehouseSettings) -> str:
    """``{artifacts}/reports``."""
    return storage.join(storage.to_uri(settings.artifacts), REPORTS_DIR)


def report_uri(settings: LakehouseSettings, info: RunInfo) -> str:
    """``{artifacts}/reports/<dag_id>/<logical date>/<safe run id>.html``."""
    return storage.join(reports_root(settings), storage.safe_segment(info.dag_id), info.logical_date.isoformat(),
                        storage.safe_segment(info.run_id) + SUFFIX)


def write_report(settings: LakehouseSettings, info: RunInfo, document: str) -> str:
    """Store the page (replacing an earlier one of the same run), log where it is, return its URI."""
    uri = report_uri(settings, info)
    storage.write_bytes(settings, uri, document.encode("utf-8"))
    log.info("run report for %s %s (run %s): %s", info.dag_id, info.logical_date, info.run_id, uri)
    return uri


def list_reports(settings: LakehouseSettings, dag_id: str | None = None,
                 logical_date: dt.date | str | None = None) -> list[ReportEntry]:
    """Stored reports, optionally of one DAG and/or one logical date, sorted by DAG, date and run."""
    root = reports_root(settings)
    base = storage.join(root, storage.safe_segment(dag_id)) if dag_id else root
    date = logical_date.isoformat() if isinstance(logical_date, dt.date) else logical_date
    entries = []
    for stored in storage.list_files(settings, base):
        parts = stored.name.split("/")
        if dag_id:
            parts = [storage.safe_segment(dag_id), *parts]
        if len(parts) != 3 or not parts[2].endswith(SUFFIX):
            continue
        if date and parts[1] != date:
            continue
        entries.append(ReportEntry(parts[0], parts[1], parts[2][: -len(SUFFIX)], stored.uri))
    return sorted(entries, key=lambda e: (e.dag_id, e.logical_date, e.run))


# ---- reading what a report shows (PyIceberg, the logical date only) -------------------------------
def read_date_rows(settings: LakehouseSettings, identifier: str, logical_date: dt.date, *,
                   columns: Sequence[str] | None = None, equal: Mapping[str, Any] | None = None) -> pa.Table | None:
    """Rows of ``identifier`` on ``main`` for the logical date (its declared logical-date column), further
    narrowed by ``equal`` (column -> value); None when the table does not exist or has never been written."""
    from pyiceberg.expressions import And, EqualTo

    from lakehouse.catalog import load_catalog
    from lakehouse.pipeline import table_spec
    from lakehouse.registry import read_table_snapshot

    spec = table_spec(settings, identifier)
    catalog = load_catalog(settings)
    if not catalog.table_exists(identifier) or catalog.load_table(identifier).current_snapshot() is None:
        return None
    row_filter: Any = EqualTo(spec.logical_date_column, logical_date.isoformat())
    for column, value in (equal or {}).items():
        row_filter = And(row_filter, EqualTo(column, value))
    return read_table_snapshot(settings, identifier, row_filter=row_filter,
                               columns=tuple(columns) if columns else None)


def run_model(settings: LakehouseSettings, model_name: str, run_id: str) -> dict[str, Any] | None:
    """The registry record of ``model_name`` registered by run ``run_id`` (its model version), or None."""
    from lakehouse.registry import list_models

    for record in list_models(settings, model_name):
        if record["model_version"] == run_id:
            return record
    return None


def step_summary(uri: str, charts: int, **extra: Any) -> dict[str, Any]:
    """What a report step returns (its XCom and its `lakehouse run` summary)."""
    return {"report": uri, "charts": charts, **extra}


def count_charts(document: str) -> int:
    """How many embedded chart images a page holds."""
    return document.count('src="data:image/png;base64,')
