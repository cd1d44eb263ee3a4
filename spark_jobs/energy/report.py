"""The energy run report (last step of ``energy_demand_forecast``): forecast vs actual over the hold-out with
both persistence baselines, error by hour of day, the hold-out scores and feature importance of the run's
model. The hold-out series is the one the evaluate step kept beside the candidate
(``ml.energy.holdout_series_uri``); scores and importance come from the registry record (or, for a candidate
that was not registered, from its ``evaluation.json``). Pages are assembled and stored by :mod:`lakehouse.reports`.

Loss policy: the step runs after a rejected candidate too (``runs_after_rejection`` in the pipeline), so the page
also says whether the run's candidate was rejected, with every metric it was compared on, and which model
produced the run's day-ahead forecast (the last registered one, flagged, when the run registered none). Because
it is the DAG's last task, and Airflow decides a run's state from its last tasks, the step fails *after* writing
the page whenever the run registered no model or wrote no forecast, with one line saying why: a rejected
month ends as a failed run, never as a green one."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
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


@dataclass(frozen=True)
class ForecastUsed:
    """Which registered model produced the run's day-ahead forecast rows in gold.energy_forecast."""

    model_name: str
    model_version: str
    rows: int

    @property
    def label(self) -> str:
        return f"{self.model_name} {self.model_version}"


@dataclass
class EnergyReportData:
    """What the page shows: hold-out series per frequency (``"60"``, ``"15"``), the run's model record, its
    candidate's evaluation (``evaluation.json``; None when none was kept) and the models behind its day-ahead
    forecast rows (None: not looked up)."""

    series: Mapping[str, pd.DataFrame]
    model: Mapping[str, Any] | None = None
    evaluation: Mapping[str, Any] | None = None
    forecast: Sequence[ForecastUsed] | None = None
    run_id: str = ""


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


def forecast_section(forecast: Sequence[ForecastUsed] | None, run_id: str) -> str | None:
    """Which model produced the run's day-ahead forecast, flagged when it is not the run's own."""
    if forecast is None:
        return None
    if not forecast:
        return reports.section("Day-ahead forecast", reports.note_html(
            "No day-ahead forecast was written by this run (see its forecast task)."))
    notes = [reports.note_html(
        f"{used.rows} rows forecast by {used.label}" + ("" if used.model_version == run_id else
                                                        ": the last registered model, not this run's candidate"))
        for used in forecast]
    return reports.section("Day-ahead forecast", *notes)


def render(info: reports.RunInfo, data: EnergyReportData) -> tuple[str, int]:
    """The page and its number of charts."""
    sections = []
    if data.evaluation is not None or data.forecast is not None:  # what this run decided comes first
        sections.append(reports.evaluation_section(data.evaluation, baselines="the persistence baselines"))
        forecast = forecast_section(data.forecast, data.run_id or info.run_id)
        if forecast:
            sections.append(forecast)
    # an unregistered candidate has no registry record: its scores are in its evaluation
    metrics = (data.model or {}).get("metrics") or (data.evaluation or {}).get("metrics") or {}
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
    if data.evaluation is not None and data.evaluation.get("rejected"):
        details["candidate"] = "rejected (not registered)"
    if data.forecast:
        details["forecast by"] = ", ".join(used.label for used in data.forecast)
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
    from spark_jobs.energy.forecast import run_evaluation

    return EnergyReportData(series, reports.run_model(run.settings, run.settings.energy.model_name, run.run_id),
                            evaluation=run_evaluation(run.settings, run.logical_date, run.run_id),
                            forecast=forecast_models(run), run_id=run.run_id)


def forecast_models(run: RunContext) -> list[ForecastUsed]:
    """The models behind the day-ahead rows this run wrote to gold.energy_forecast (read from the table, so
    it holds whichever way the forecast task ran)."""
    rows = reports.read_date_rows(run.settings, "gold.energy_forecast", run.logical_date,
                                  columns=("model_name", "model_version"),
                                  equal={"kind": "day_ahead", "run_id": run.run_id})
    counts: dict[tuple[str, str], int] = {}
    for row in ([] if rows is None else rows.to_pylist()):
        key = (str(row["model_name"]), str(row["model_version"]))
        counts[key] = counts.get(key, 0) + 1
    return [ForecastUsed(name, version, n) for (name, version), n in sorted(counts.items())]


def verdict(data: EnergyReportData, model_name: str, run_id: str) -> str | None:
    """One line when the run must end failed (it registered no model, or wrote no forecast); None otherwise."""
    from lakehouse.training import run_outcome_line

    forecast = (f"the day-ahead forecast was made with {', '.join(u.label for u in data.forecast)}"
                if data.forecast else "no day-ahead forecast was written")
    if data.model is None:
        outcome = run_outcome_line(dict(data.evaluation) if data.evaluation else None)
        return f"{model_name} run {run_id}: {outcome}; nothing registered; {forecast}"
    if not data.forecast:
        return f"{model_name} {run_id} registered, but {forecast}"
    return None


def report_step(run: RunContext) -> dict[str, Any]:
    """Build and store the run's report; returns ``{"report": uri, "charts": n}``. Fails after storing it when
    the run registered no model or wrote no forecast (the run must end failed; see the module doc)."""
    from lakehouse.errors import LakehouseError
    from lakehouse.training import ModelRejected
    from spark_jobs.energy.pipeline import ENERGY_MONTHLY

    info = reports.RunInfo(ENERGY_MONTHLY.dag_id, run.logical_date, run.run_id)
    data = load(run)
    document, charts = render(info, data)
    uri = reports.write_report(run.settings, info, document)
    failure = verdict(data, run.settings.energy.model_name, run.run_id)
    if failure:
        log.info("report written to %s", uri)
        # a rejection is final (the same rows lose again): ModelRejected is never retried; the rest may be
        error = ModelRejected if (data.evaluation or {}).get("rejected") else LakehouseError
        raise error(f"{failure} (report: {uri})")
    return reports.step_summary(uri, charts)
