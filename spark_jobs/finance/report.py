"""The finance run report (last step of ``finance_tick_processor``): the day's one-minute candles of one
symbol with its moving averages and volume, quarantined ticks by reason, and the run's model against the
persistence baseline and the other baselines (ml.finance). Reads the logical date's rows of gold.ohlcv_1m
and quarantine.ticks with PyIceberg (no Spark); pages are assembled and stored by :mod:`lakehouse.reports`."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lakehouse import reports

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from lakehouse.pipeline import RunContext

log = logging.getLogger(__name__)

TITLE = "Finance tick run report"
BAR_COLUMNS = ("symbol", "minute_ts", "open", "high", "low", "close", "volume", "trade_count", "filled",
               "sma_5", "sma_20", "sma_60", "ema_12")
AVERAGES = ("sma_5", "sma_20", "sma_60", "ema_12")
METRICS = ("accuracy", "log_loss", "auc", "brier", "ece")
# metric prefix -> label of the baselines (ml.finance.BASELINES; "baseline_" is persistence)
BASELINES = (("logistic", "logistic regression"), ("baseline", "persistence"), ("base_rate", "base rate"))


@dataclass
class FinanceReportData:
    """What the page shows: the day's bars (every symbol), quarantine counts, the run's model record and its
    candidate's evaluation (``evaluation.json``; None when none was kept)."""

    bars: pd.DataFrame
    quarantine: Mapping[str, int] = field(default_factory=dict)
    model: Mapping[str, Any] | None = None
    silver_rows: int | None = None
    evaluation: Mapping[str, Any] | None = None


def pick_symbol(bars: pd.DataFrame, requested: str | None = None) -> str | None:
    """The symbol to chart: ``requested`` when given (and present), else the most-traded one of the day
    (most trades, then most volume, then name)."""
    if bars.empty:
        return None
    if requested:
        return requested if requested in set(bars["symbol"]) else None
    totals = bars.groupby("symbol")[["trade_count", "volume"]].sum().reset_index()
    totals = totals.sort_values(["trade_count", "volume", "symbol"], ascending=[False, False, True])
    return str(totals["symbol"].iloc[0])


def candlestick_figure(bars: pd.DataFrame, symbol: str, timezone: str = "UTC") -> Figure:
    """Candles (green up, red down; filled minutes grey) with the SMA/EMA lines, volume below."""
    import matplotlib.dates as mdates
    import numpy as np
    import pandas as pd

    rows = bars[bars["symbol"] == symbol].sort_values("minute_ts")
    times = pd.to_datetime(rows["minute_ts"], utc=True).dt.tz_convert(timezone).dt.tz_localize(None)
    x = mdates.date2num(times.to_numpy())
    width = 0.7 / (24 * 60)  # of a one-minute bar, in days
    fig = reports.new_figure(11, 6.5)
    price, volume = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    opens, closes = rows["open"].to_numpy(float), rows["close"].to_numpy(float)
    filled = rows["filled"].to_numpy(bool)
    colours = np.where(filled, "#9e9e9e", np.where(closes >= opens, "#2e7d32", "#c62828"))
    price.vlines(x, rows["low"].to_numpy(float), rows["high"].to_numpy(float), colors=colours, linewidth=0.6)
    body = np.maximum(np.abs(closes - opens), 1e-9)
    price.bar(x, body, width, bottom=np.minimum(opens, closes), color=colours, linewidth=0)
    for column, style in zip(AVERAGES, ("-", "-", "-", "--"), strict=True):
        if column in rows and rows[column].notna().any():
            price.plot(x, rows[column].to_numpy(float), style, linewidth=1.1, label=column.upper().replace("_", " "))
    price.set_title(f"{symbol}: one-minute candles and moving averages")
    price.set_ylabel("price")
    price.legend(loc="upper left", fontsize=8, ncols=4)
    price.grid(alpha=0.3)
    volume.bar(x, rows["volume"].to_numpy(float), width, color=colours)
    volume.set_ylabel("volume")
    volume.set_xlabel(f"time ({timezone})")
    volume.grid(alpha=0.3)
    volume.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
    return fig


def quarantine_figure(counts: Mapping[str, int]) -> Figure:
    """Quarantined ticks per reason code (horizontal bars, largest first)."""
    ordered = sorted(counts.items(), key=lambda kv: (kv[1], kv[0]))
    fig = reports.new_figure(9, 0.5 + 0.4 * max(len(ordered), 2))
    ax = fig.subplots()
    bars = ax.barh([k for k, _ in ordered], [v for _, v in ordered], color="#ef6c00")
    ax.bar_label(bars, padding=3, fontsize=8)
    ax.set_title("Quarantined ticks by reason")
    ax.set_xlabel("rows")
    ax.grid(axis="x", alpha=0.3)
    return fig


def metrics_figure(metrics: Mapping[str, Any]) -> Figure:
    """The model's test metrics beside the persistence baseline's (grouped bars)."""
    import numpy as np

    names = [m for m in METRICS if f"model_{m}" in metrics and f"baseline_{m}" in metrics]
    groups = [("model", "model", "#1565c0")] + [
        (prefix, label, color) for (prefix, label), color in zip(BASELINES, ("#ef6c00", "#9e9e9e", "#c5e1a5"),
                                                                 strict=True)
        if all(f"{prefix}_{m}" in metrics for m in names)]
    x = np.arange(len(names))
    width = 0.8 / len(groups)
    fig = reports.new_figure(8, 3.5)
    ax = fig.subplots()
    for i, (prefix, label, color) in enumerate(groups):
        values = [_number(metrics[f"{prefix}_{m}"]) for m in names]
        ax.bar_label(ax.bar(x - 0.4 + width * (i + 0.5), values, width, label=label, color=color), fmt="%.3f",
                     fontsize=7)
    ax.set_xticks(x, [n.replace("_", " ") for n in names])
    ax.set_title("Next-bar direction model vs baselines (real bars of the test split)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return fig


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


def render(info: reports.RunInfo, data: FinanceReportData, *, symbol: str | None = None,
           timezone: str = "UTC") -> tuple[str, int]:
    """The page and its number of charts."""
    bars = data.bars
    chosen = pick_symbol(bars, symbol)
    sections = []
    overview = [("symbols", bars["symbol"].nunique() if not bars.empty else 0), ("one-minute bars", len(bars)),
                ("filled (no-trade) minutes", int(bars["filled"].sum()) if not bars.empty else 0),
                ("quarantined ticks", sum(data.quarantine.values()))]
    if data.silver_rows is not None:
        overview.insert(0, ("silver ticks", data.silver_rows))
    sections.append(reports.section("Overview", reports.table_html(["", "value"], overview)))
    if chosen is None:
        why = f"symbol {symbol!r} has no bars on this date" if symbol else "gold.ohlcv_1m has no bars on this date"
        sections.append(reports.section("Candles", reports.note_html(why)))
    else:
        rows = bars[bars["symbol"] == chosen]
        how = "as requested" if symbol else "the most-traded symbol of the day"
        summary = reports.table_html(
            ["symbol", "open", "high", "low", "close", "volume", "trades"],
            [[chosen, float(rows.sort_values("minute_ts")["open"].iloc[0]), float(rows["high"].max()),
              float(rows["low"].min()), float(rows.sort_values("minute_ts")["close"].iloc[-1]),
              float(rows["volume"].sum()), int(rows["trade_count"].sum())]])
        sections.append(reports.section(
            f"Candles: {chosen}",
            reports.figure_html(candlestick_figure(bars, chosen, timezone),
                                f"{chosen} ({how}): candles, SMA 5/20/60, EMA 12 and volume per minute"),
            summary))
    if data.quarantine:
        sections.append(reports.section(
            "Quarantine",
            reports.figure_html(quarantine_figure(data.quarantine), "quarantine.ticks rows of this date by reason"),
            reports.table_html(["reason", "rows"], sorted(data.quarantine.items(), key=lambda kv: -kv[1]))))
    else:
        sections.append(reports.section("Quarantine", reports.note_html("No quarantined ticks on this date.")))
    if data.model is None:  # what this run decided comes first: why nothing was registered
        sections.insert(0, reports.evaluation_section(data.evaluation))
    # an unregistered candidate has no registry record: its scores are in its evaluation
    metrics = (data.model or {}).get("metrics") or (data.evaluation or {}).get("metrics") or {}
    if metrics:
        rows_ = [[m, metrics.get(f"model_{m}"), *(metrics.get(f"{prefix}_{m}") for prefix, _ in BASELINES)]
                 for m in METRICS if f"model_{m}" in metrics]
        title = (f"Model {data.model.get('model_name')} (version {data.model.get('model_version')})"
                 if data.model is not None else "Candidate (not registered)")
        sections.append(reports.section(
            title,
            reports.figure_html(metrics_figure(metrics), "model vs persistence baseline and the other baselines on "
                                                         "the real (traded) bars of the time-ordered test split"),
            reports.table_html(["metric", "model", *(label for _, label in BASELINES)], rows_),
            reports.table_html(["train rows", "test rows", "split cutoff", "accuracy lift"],
                               [[metrics.get("train_rows"), metrics.get("test_rows"), metrics.get("split_cutoff"),
                                 metrics.get("accuracy_lift")]])))
    if data.model is None:
        sections.append(reports.section("Model", reports.note_html("No model was registered by this run.")))
    details = {"symbol": chosen or "none",
               "model": f"{data.model['model_name']} {data.model['model_version']}" if data.model else "none"}
    if data.evaluation is not None and data.evaluation.get("rejected"):
        details["candidate"] = "rejected (not registered)"
    document = reports.page(TITLE, info, sections, details=details)
    return document, reports.count_charts(document)


def load(run: RunContext) -> FinanceReportData:
    """The logical date's rows the page shows (PyIceberg, main)."""
    import collections

    import pandas as pd

    from lakehouse.training import kept_evaluation
    from ml.finance import MODEL_NAME

    settings, day = run.settings, run.logical_date
    gold = reports.read_date_rows(settings, "gold.ohlcv_1m", day, columns=BAR_COLUMNS)
    bars = gold.to_pandas() if gold is not None else pd.DataFrame(columns=list(BAR_COLUMNS))
    quarantined = reports.read_date_rows(settings, "quarantine.ticks", day, columns=("reason",))
    counts = collections.Counter(quarantined.column("reason").to_pylist()) if quarantined is not None else {}
    silver = reports.read_date_rows(settings, "silver.ticks", day, columns=("record_id",))
    return FinanceReportData(bars, dict(counts), reports.run_model(settings, MODEL_NAME, run.run_id),
                             silver.num_rows if silver is not None else None,
                             evaluation=kept_evaluation(run, MODEL_NAME))


def report_step(run: RunContext) -> dict[str, Any]:
    """Build and store the run's report; returns ``{"report": uri, "charts": n, "symbol": ...}``. It also runs
    after a rejected (or failed) training, once gold is published: then it fails after storing the page, with
    one line saying why nothing was registered, so the run still ends failed."""
    from lakehouse.errors import LakehouseError
    from lakehouse.training import ModelRejected, run_outcome_line
    from ml.finance import MODEL_NAME
    from spark_jobs.finance.pipeline import FINANCE_TICKS

    info = reports.RunInfo(FINANCE_TICKS.dag_id, run.logical_date, run.run_id)
    requested = str(run.params.get("report_symbol") or "").strip() or None
    data = load(run)
    document, charts = render(info, data, symbol=requested, timezone=run.settings.finance.exchange_timezone)
    uri = reports.write_report(run.settings, info, document)
    if data.model is None:
        log.info("report written to %s", uri)
        # a rejection is final (the same rows lose again): ModelRejected is never retried; the rest may be
        error = ModelRejected if (data.evaluation or {}).get("rejected") else LakehouseError
        raise error(f"{MODEL_NAME} run {run.run_id}: {run_outcome_line(data.evaluation)}; nothing registered "
                    f"(report: {uri})")
    return reports.step_summary(uri, charts, symbol=pick_symbol(data.bars, requested))
