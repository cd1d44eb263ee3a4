"""The energy run report (last step of ``energy_demand_forecast``): forecast vs actual over the hold-out with
both persistence baselines, error by hour of day, the hold-out scores and feature importance of the run's
model. The hold-out series is the one the evaluate step kept beside the candidate
(``ml.energy.holdout_series_uri``); scores and importance come from the registry record. Pages are
assembled and stored by :mod:`lakehouse.reports`."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lakehouse import reports

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.figure import Figure

    from lakehouse.pipeline import RunContext

log = logging.getLogger(__name__)

TITLE = "Household energy demand run report"
BASELINES = ("same_hour_yesterday", "same_hour_last_week")
SERIES = ("actual", "model", *BASELINES)
STYLE = {"actual": ("#222222", "-", 1.6), "model": ("#1565c0", "-", 1.3),
         "same_hour_yesterday": ("#ef6c00", "--", 1.0), "same_hour_last_week": ("#8e24aa", ":", 1.0)}
TOP_FEATURES = 15


@dataclass
class EnergyReportData:
    """What the page shows: hold-out series per frequency (``"60"``, ``"15"``) and the run's model record."""

    series: Mapping[str, pd.DataFrame]
    model: Mapping[str, Any] | None = None


def series_frame(columns: Mapping[str, list[Any]]) -> pd.DataFrame:
    """One frequency's stored hold-out columns as a frame with a UTC ``interval_start_utc``."""
    import pandas as pd

    frame = pd.DataFrame({k: list(v) for k, v in columns.items()})
    if not frame.empty:
        frame["interval_start_utc"] = pd.to_datetime(frame["interval_start_utc"], utc=True)
    return frame


def _label(name: str) -> str:
    return name.replace("_", " ")


def forecast_figure(frame: pd.DataFrame, freq: str) -> Figure:
    """Actual demand, the model's forecast and both baselines over the hold-out (summed over households)."""
    totals = frame.groupby("interval_start_utc")[list(SERIES)].sum().sort_index()
    fig = reports.new_figure(11, 4.2)
    ax = fig.subplots()
    for name in SERIES:
        colour, style, width = STYLE[name]
        ax.plot(totals.index.tz_localize(None), totals[name].to_numpy(float), style, color=colour, linewidth=width,
                label=_label(name))
    households = frame["household_id"].nunique()
    ax.set_title(f"Hold-out: forecast vs actual ({freq}-minute, {households} household{'s' * (households != 1)})")
    ax.set_ylabel("kW")
    ax.set_xlabel("interval start (UTC)")
    ax.legend(fontsize=8, ncols=4)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return fig


def error_by_hour(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean absolute error per local hour of day, for the model and each baseline."""
    import pandas as pd

    errors = pd.DataFrame({name: (frame[name] - frame["actual"]).abs() for name in ("model", *BASELINES)})
    errors["hour"] = frame["hour"].astype(int)
    return errors.groupby("hour").mean().reindex(range(24))


def error_by_hour_figure(frame: pd.DataFrame, freq: str) -> Figure:
    """MAE by hour of day of the model and both baselines (grouped bars)."""
    import numpy as np

    table = error_by_hour(frame)
    fig = reports.new_figure(11, 3.8)
    ax = fig.subplots()
    hours = np.arange(24)
    for offset, name in zip((-0.27, 0.0, 0.27), ("model", *BASELINES), strict=True):
        ax.bar(hours + offset, table[name].to_numpy(float), 0.27, color=STYLE[name][0], label=_label(name))
    ax.set_xticks(hours)
    ax.set_title(f"Hold-out mean absolute error by hour of day ({freq}-minute)")
    ax.set_xlabel("local hour")
    ax.set_ylabel("MAE (kW)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return fig


def importance_figure(importance: Mapping[str, float], freq: str, top: int = TOP_FEATURES) -> Figure:
    """The ``top`` features by LightGBM gain (horizontal bars, largest on top)."""
    ordered = sorted(importance.items(), key=lambda kv: -float(kv[1]))[:top][::-1]
    fig = reports.new_figure(9, 0.6 + 0.32 * max(len(ordered), 3))
    ax = fig.subplots()
    ax.barh([k for k, _ in ordered], [float(v) for _, v in ordered], color="#00897b")
    ax.set_title(f"Feature importance (gain, {freq}-minute model)")
    ax.set_xlabel("total gain")
    ax.grid(axis="x", alpha=0.3)
    return fig


def _freq_order(keys: Any) -> list[str]:
    return sorted((str(k) for k in keys), key=lambda k: -int(k) if k.isdigit() else 0)


def render(info: reports.RunInfo, data: EnergyReportData) -> tuple[str, int]:
    """The page and its number of charts."""
    sections = []
    metrics = (data.model or {}).get("metrics") or {}
    holdout = metrics.get("holdout") or {}
    if holdout:
        rows = [[f"{freq} min", name, scores.get("rmse"), scores.get("mae"), scores.get("smape")]
                for freq in _freq_order(holdout) for name, scores in holdout[freq].items()]
        sections.append(reports.section("Hold-out scores", reports.table_html(
            ["frequency", "forecast", "RMSE", "MAE", "sMAPE %"], rows)))
    for freq in _freq_order(data.series):
        frame = data.series[freq]
        if frame.empty:
            sections.append(reports.section(f"Hold-out ({freq}-minute)",
                                            reports.note_html("No compared hold-out rows for this frequency.")))
            continue
        sections.append(reports.section(
            f"Hold-out ({freq}-minute)",
            reports.figure_html(forecast_figure(frame, freq),
                                f"{freq}-minute hold-out: actual, LightGBM forecast, same hour yesterday, same hour "
                                "last week (kW, summed over households)"),
            reports.figure_html(error_by_hour_figure(frame, freq),
                                f"{freq}-minute hold-out: mean absolute error per local hour of day")))
    if not data.series:
        sections.append(reports.section("Hold-out", reports.note_html(
            "No hold-out series was kept for this run's candidate.")))
    importance = metrics.get("feature_importance") or {}
    if importance:
        sections.append(reports.section("Feature importance", *(
            reports.figure_html(importance_figure(importance[freq], freq),
                                f"top {TOP_FEATURES} features of the {freq}-minute model by gain")
            for freq in _freq_order(importance) if importance[freq])))
    if data.model is None:
        sections.append(reports.section("Model", reports.note_html("No model was registered by this run.")))
    details = {"model": f"{data.model['model_name']} {data.model['model_version']}" if data.model else "none"}
    document = reports.page(TITLE, info, sections, details=details)
    return document, reports.count_charts(document)


def load(run: RunContext) -> EnergyReportData:
    """The run's hold-out series (kept by its evaluate step) and its registry record."""
    from lakehouse import storage
    from ml.energy import holdout_series_uri

    uri = holdout_series_uri(run)
    try:
        stored = json.loads(storage.read_bytes(run.settings, uri))
    except storage.ObjectNotFoundError:
        log.warning("no hold-out series at %s: the report has no forecast charts", uri)
        stored = {"frequencies": {}}
    series = {freq: series_frame(columns) for freq, columns in stored["frequencies"].items()}
    return EnergyReportData(series, reports.run_model(run.settings, run.settings.energy.model_name, run.run_id))


def report_step(run: RunContext) -> dict[str, Any]:
    """Build and store the run's report; returns ``{"report": uri, "charts": n}``."""
    from spark_jobs.energy.pipeline import ENERGY_MONTHLY

    info = reports.RunInfo(ENERGY_MONTHLY.dag_id, run.logical_date, run.run_id)
    document, charts = render(info, load(run))
    return reports.step_summary(reports.write_report(run.settings, info, document), charts)
