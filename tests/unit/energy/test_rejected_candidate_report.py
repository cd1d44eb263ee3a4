"""After a rejected candidate: the forecast's flag and the run report's verdict (no lake, no Spark)."""

from __future__ import annotations

import datetime as dt

from lakehouse import reports
from spark_jobs.energy import forecast, report

INFO = reports.RunInfo("energy_demand_forecast", dt.date(2024, 3, 1), "run-march")
COMPARISONS = [
    {"metric": f"{m}@{f}min", "model": 0.3, "baseline": b, "baseline_value": 0.2 if m == "mae" else 0.4,
     "higher_is_better": False, "required": True, "won": m != "mae"}
    for f in (60, 15) for b in ("same_hour_yesterday", "same_hour_last_week") for m in ("rmse", "mae")]
REJECTED = {"rejected": True, "beats_baselines": False, "comparisons": COMPARISONS,
            "metrics": {"holdout": {"60": {"model": {"rmse": 0.3, "mae": 0.3, "smape": 20.0}}}}}
PREVIOUS = [report.ForecastUsed("energy_demand", "run-february", 120)]


def test_the_forecast_note_names_the_rejection_and_the_model_used() -> None:
    note = forecast.fallback_note(REJECTED, {"model_version": "run-february", "model_logical_date": "2024-02-01"})
    assert note.startswith("this run's candidate was rejected: lost 4 of 8 comparisons (mae@60min 0.3 vs "
                           "same_hour_yesterday 0.2 (worse);")
    assert note.endswith("forecast with the last registered version run-february (2024-02-01)")
    assert "\n" not in note
    assert "never evaluated" in forecast.run_outcome_line(None)


def test_the_report_shows_the_rejection_with_every_metric_and_the_forecasting_model() -> None:
    data = report.EnergyReportData({}, None, evaluation=REJECTED, forecast=PREVIOUS, run_id=INFO.run_id)
    document, _ = report.render(INFO, data)
    assert "Candidate rejected" in document and "lost 4 of 8 comparisons" in document
    for comparison in COMPARISONS:
        assert comparison["metric"] in document
    assert "120 rows forecast by energy_demand run-february: the last registered model" in document
    assert "Hold-out scores" in document, "the unregistered candidate's scores come from its evaluation"
    line = report.verdict(data, "energy_demand", INFO.run_id)
    assert line is not None and "\n" not in line
    assert line.startswith("energy_demand run run-march: this run's candidate was rejected: lost 4 of 8")
    assert line.endswith("nothing registered; the day-ahead forecast was made with energy_demand run-february")


def test_a_registered_model_with_its_forecast_passes_and_a_missing_forecast_fails() -> None:
    registered = {"model_name": "energy_demand", "model_version": INFO.run_id, "metrics": {}}
    own = [report.ForecastUsed("energy_demand", INFO.run_id, 120)]
    evaluation = {**REJECTED, "rejected": False}
    data = report.EnergyReportData({}, registered, evaluation=evaluation, forecast=own, run_id=INFO.run_id)
    assert report.verdict(data, "energy_demand", INFO.run_id) is None
    document, _ = report.render(INFO, data)
    assert "Candidate vs baselines" in document and "the last registered model" not in document
    missing = report.EnergyReportData({}, registered, evaluation=evaluation, forecast=[], run_id=INFO.run_id)
    assert "no day-ahead forecast was written" in report.verdict(missing, "energy_demand", INFO.run_id)
