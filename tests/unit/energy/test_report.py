"""The energy run report's plotting on small in-memory hold-out series (no lake, no Spark), and the hold-out
series the evaluation keeps for it."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from lakehouse import reports
from spark_jobs.energy import report
from tests.support.reports import assert_charts

INFO = reports.RunInfo("energy_demand_forecast", dt.date(2024, 2, 1), "manual__2024-02-01")
HOLDOUT = {"model": {"rmse": 0.2, "mae": 0.15, "smape": 12.0},
           "same_hour_yesterday": {"rmse": 0.4, "mae": 0.3, "smape": 25.0},
           "same_hour_last_week": {"rmse": 0.5, "mae": 0.35, "smape": 30.0}}
IMPORTANCE = {"lag_24h": 120.5, "hour": 80.0, "roll_mean_24h": 40.0, "day_sin1": 3.0}


def series(freq: int = 60, days: int = 2, households: int = 2) -> pd.DataFrame:
    """Stored-shaped hold-out columns (as the evaluation keeps them), read back as a frame."""
    rng = np.random.default_rng(3)
    stamps = pd.date_range("2024-01-25", periods=days * 24 * 60 // freq, freq=f"{freq}min", tz="UTC")
    columns: dict[str, list] = {k: [] for k in ("interval_start_utc", "household_id", "hour", "actual", "model",
                                                "same_hour_yesterday", "same_hour_last_week")}
    for household in range(households):
        actual = 1 + np.sin(np.arange(len(stamps)) / 4) + rng.normal(0, 0.1, len(stamps))
        columns["interval_start_utc"] += [t.isoformat() for t in stamps]
        columns["household_id"] += [f"h{household}"] * len(stamps)
        columns["hour"] += [int(t.hour) for t in stamps]
        columns["actual"] += list(actual)
        columns["model"] += list(actual + rng.normal(0, 0.1, len(stamps)))
        columns["same_hour_yesterday"] += list(actual + rng.normal(0, 0.3, len(stamps)))
        columns["same_hour_last_week"] += list(actual + rng.normal(0, 0.4, len(stamps)))
    return report.series_frame(columns)


def model(**metrics) -> dict:  # type: ignore[no-untyped-def]
    return {"model_name": "energy_demand", "model_version": "v1",
            "metrics": {"holdout": {"60": HOLDOUT, "15": HOLDOUT},
                        "feature_importance": {"60": IMPORTANCE, "15": IMPORTANCE}, **metrics}}


def test_full_report_has_forecast_error_and_importance_charts_per_frequency() -> None:
    data = report.EnergyReportData({"60": series(60), "15": series(15)}, model())
    document, charts = report.render(INFO, data)
    assert charts == 6  # per frequency: forecast vs actual, error by hour, feature importance
    assert_charts(document, 6)
    for text in ("Hold-out scores", "Hold-out (60-minute)", "Hold-out (15-minute)", "same hour yesterday",
                 "same hour last week", "mean absolute error per local hour of day", "Feature importance",
                 "energy_demand v1", "same_hour_last_week"):
        assert text in document, text
    assert document.index("Hold-out (60-minute)") < document.index("Hold-out (15-minute)")


def test_report_without_series_or_model_still_renders() -> None:
    document, charts = report.render(INFO, report.EnergyReportData({}, None))
    assert charts == 0
    assert "No hold-out series was kept" in document and "No model was registered by this run." in document
    document, charts = report.render(INFO, report.EnergyReportData({"60": series(60).iloc[0:0]}, model()))
    assert charts == 2 and "No compared hold-out rows" in document


def test_error_by_hour_is_the_mae_per_local_hour() -> None:
    frame = series(60, days=1, households=1)
    table = report.error_by_hour(frame)
    assert list(table.index) == list(range(24))
    hour5 = frame[frame["hour"] == 5]
    assert table.loc[5, "model"] == pytest.approx((hour5["model"] - hour5["actual"]).abs().mean())


def test_each_figure_has_its_titles_and_labels() -> None:
    (ax,) = report.forecast_figure(series(60), "60").axes
    assert ax.get_title() == "Hold-out: forecast vs actual (60-minute, 2 households)"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["actual", "model", "same hour yesterday",
                                                                   "same hour last week"]
    (ax,) = report.error_by_hour_figure(series(60), "60").axes
    assert ax.get_xlabel() == "local hour" and ax.get_ylabel() == "MAE (kW)"
    (ax,) = report.importance_figure(IMPORTANCE, "60", top=3).axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["roll_mean_24h", "hour", "lag_24h"]


def test_holdout_series_are_the_compared_rows() -> None:
    from ml import energy

    class Booster:
        def feature_name(self) -> list[str]:
            return list(energy.MODEL_FEATURES)

        def predict(self, matrix: pd.DataFrame) -> np.ndarray:
            return np.full(len(matrix), 1.5)

    rows = pd.DataFrame({name: [0.0, 1.0] for name in energy.MODEL_FEATURES})
    rows["interval_start_utc"] = pd.to_datetime(["2024-01-31T22:00:00Z", "2024-01-31T23:00:00Z"])
    rows["household_id"] = ["h1", "h1"]
    rows["hour"] = [22, 23]
    rows["target_kw"] = [1.0, 2.0]
    kept = energy.holdout_series(Booster(), rows)
    assert kept["interval_start_utc"] == ["2024-01-31T22:00:00+00:00", "2024-01-31T23:00:00+00:00"]
    assert kept["actual"] == [1.0, 2.0] and kept["model"] == [1.5, 1.5]
    assert kept["same_hour_yesterday"] == [0.0, 1.0] and kept["same_hour_last_week"] == [0.0, 1.0]
    frame = report.series_frame(kept)
    assert str(frame["interval_start_utc"].dt.tz) == "UTC" and list(frame["hour"]) == [22, 23]
