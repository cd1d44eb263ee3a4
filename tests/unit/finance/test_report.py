"""The finance run report's plotting on small in-memory frames (no lake, no Spark)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from lakehouse import reports
from spark_jobs.finance import report
from tests.support.reports import assert_charts, images

INFO = reports.RunInfo("finance_tick_processor", dt.date(2024, 1, 2), "manual__2024-01-02")
METRICS = {"model_accuracy": 0.56, "baseline_accuracy": 0.51, "model_log_loss": 0.68, "baseline_log_loss": 0.71,
           "model_auc": 0.58, "baseline_auc": 0.5, "train_rows": 700, "test_rows": 300, "accuracy_lift": 0.05,
           "split_cutoff": "2024-01-02 18:00:00+00:00"}


def bars(trades: dict[str, int], minutes: int = 30) -> pd.DataFrame:
    """Gold-shaped one-minute bars for each symbol (``trades`` per bar)."""
    rng = np.random.default_rng(1)
    index = pd.date_range("2024-01-02 14:30", periods=minutes, freq="min", tz="UTC")
    frames = []
    for symbol, per_bar in trades.items():
        close = 100 + np.cumsum(rng.normal(0, 0.2, minutes))
        frame = pd.DataFrame({"symbol": symbol, "minute_ts": index, "open": close + rng.normal(0, 0.1, minutes),
                              "close": close, "volume": rng.uniform(1, 50, minutes), "trade_count": per_bar,
                              "filled": [i % 7 == 3 for i in range(minutes)]})
        frame["high"] = frame[["open", "close"]].max(axis=1) + 0.1
        frame["low"] = frame[["open", "close"]].min(axis=1) - 0.1
        for window in (5, 20, 60):
            frame[f"sma_{window}"] = frame["close"].rolling(window).mean()
        frame["ema_12"] = frame["close"].ewm(span=12).mean()
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def test_symbol_is_the_requested_one_or_the_most_traded() -> None:
    day = bars({"AAA": 2, "BBB": 5, "CCC": 1})
    assert report.pick_symbol(day) == "BBB"
    assert report.pick_symbol(day, "CCC") == "CCC"
    assert report.pick_symbol(day, "ZZZ") is None
    assert report.pick_symbol(day.iloc[0:0]) is None


def test_full_report_has_candles_quarantine_and_model_charts() -> None:
    data = report.FinanceReportData(bars({"AAA": 2, "BBB": 5}), {"bad_price": 4, "duplicate": 9},
                                    {"model_name": "finance_next_bar", "model_version": "v1", "metrics": METRICS},
                                    silver_rows=1234)
    document, charts = report.render(INFO, data, timezone="America/New_York")
    assert charts == 3
    assert_charts(document, 3)
    for text in ("Candles: BBB", "the most-traded symbol of the day", "SMA 5/20/60, EMA 12 and volume",
                 "Quarantine", "bad_price", "duplicate", "Model finance_next_bar (version v1)", "persistence",
                 "1234", "manual__2024-01-02"):
        assert text in document, text


def test_report_without_quarantined_rows_or_model_still_renders() -> None:
    document, charts = report.render(INFO, report.FinanceReportData(bars({"AAA": 1}), {}, None), symbol="AAA")
    assert charts == 1 == len(images(document))
    assert "No quarantined ticks on this date." in document and "No model was registered by this run." in document
    assert "Candles: AAA" in document and "as requested" in document


def test_report_of_an_empty_day_renders_without_charts() -> None:
    empty = bars({"AAA": 1}).iloc[0:0]
    document, charts = report.render(INFO, report.FinanceReportData(empty, {"wrong_column_count": 2}, None))
    assert charts == 1  # the quarantine chart only
    assert "gold.ohlcv_1m has no bars on this date" in document


def test_each_figure_has_its_titles_and_labels() -> None:
    fig = report.candlestick_figure(bars({"AAA": 1}), "AAA", "America/New_York")
    price, volume = fig.axes
    assert price.get_title() == "AAA: one-minute candles and moving averages"
    assert [t.get_text() for t in price.get_legend().get_texts()] == ["SMA 5", "SMA 20", "EMA 12"]  # no SMA 60 yet
    assert volume.get_ylabel() == "volume" and volume.get_xlabel() == "time (America/New_York)"
    (ax,) = report.quarantine_figure({"bad_price": 4, "duplicate": 9}).axes
    assert [t.get_text() for t in ax.get_yticklabels()] == ["bad_price", "duplicate"]
    (ax,) = report.metrics_figure(METRICS).axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["accuracy", "log loss", "auc"]


REJECTED = {"rejected": True, "beats_baselines": False, "metrics": METRICS, "comparisons": [
    {"metric": "accuracy", "model": 0.50, "baseline": "persistence", "baseline_value": 0.53,
     "higher_is_better": True, "required": True, "won": False},
    {"metric": "log_loss", "model": 0.69, "baseline": "base_rate", "baseline_value": 0.70,
     "higher_is_better": False, "required": True, "won": True},
    {"metric": "auc", "model": 0.51, "baseline": "logistic", "baseline_value": 0.52,
     "higher_is_better": True, "required": False, "won": False}]}


def test_a_rejected_candidate_comes_first_with_every_compared_metric_and_its_scores() -> None:
    data = report.FinanceReportData(bars({"AAA": 2}), {}, None, evaluation=REJECTED)
    document, charts = report.render(INFO, data)
    verdict = document.index("Candidate rejected")
    assert verdict < document.index("Overview") < document.index("Candidate (not registered)")
    assert "lost 1 of 3 comparisons with its baselines where it must win" in document
    for text in ("persistence", "base_rate", "logistic", "0.53", "worse", "better", "rejected (not registered)",
                 "No model was registered by this run."):
        assert text in document, text
    assert charts == 2  # the candles and the candidate's metrics (no quarantine chart on this day)


def test_a_candidate_that_never_finished_training_says_so() -> None:
    document, _ = report.render(INFO, report.FinanceReportData(bars({"AAA": 2}), {}, None))
    assert "No evaluation was kept for this run" in document
    assert "Candidate (not registered)" not in document
