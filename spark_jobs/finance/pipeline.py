"""The finance tick pipeline, declared once: its DAG (dags/dag_finance_tick.py), `lakehouse run` and
the gate/publish lists are derived from this (lakehouse.pipeline)."""

from __future__ import annotations

from lakehouse.pipeline import Call, Gate, Param, Pipeline, Resources, Schedule, Stage, Wait, training_steps

FINANCE_TICKS = Pipeline(
    dag_id="finance_tick_processor",
    domain="finance",
    description="Daily tick pipeline after the close: OHLCV bars with quality gates and a next-bar model",
    doc="""Finance tick pipeline: landing tick files -> raw -> silver (+ quarantine) -> gate -> gold -> gate -> model.

Sessions, holidays and early closes come from `LAKEHOUSE_FINANCE__CALENDAR` (default XNYS; `24/7` for
crypto): on a date without a session the run is skipped, not failed. Late landing files are waited for
(`LAKEHOUSE_FINANCE__LANDING_WAIT_TIMEOUT_S`). Runs on weekdays right after the market closes
(16:00 in the exchange time zone by default; see `LAKEHOUSE_FINANCE__SCHEDULE_CRON` and
`LAKEHOUSE_FINANCE__EXCHANGE_TIMEZONE`) for that trade date.
Silver and gold are staged on the run's Iceberg audit branch; only a passing Great Expectations gate
publishes them, so a bad batch never reaches `main` or the model. Training reads the pinned Gold
snapshot and records it in the model registry.

Inputs: `{landing}/finance/ticks/trade_date=<date>/` (CSV, Parquet, Binance trades/aggTrades as published:
the daily `.zip`, checked against its `.zip.CHECKSUM` when one comes, or the unzipped CSV).
Outputs: raw.ticks, silver.ticks, quarantine.ticks, gold.ohlcv_1m, a model in ml.model_registry, and a run
report (`{artifacts}/reports/finance_tick_processor/<date>/<run>.html`; `lakehouse reports`).
Rerun a date: clear the DAG run (or `lakehouse run finance_tick_processor --date D`); every step
replaces exactly that date's rows.

When the model loses to its baselines: gold stays published, `evaluate` fails with every compared metric,
nothing is registered, and `report` still writes the page (the verdict first) and then fails with one line, so
the DAG run ends failed (`runs_after_rejection`); a failure at or before `gate_gold` stops it.
""",
    schedule=lambda s: Schedule(s.finance.schedule_cron, s.finance.exchange_timezone),
    start_date=lambda s: s.finance.start_date,
    catchup=lambda s: s.finance.catchup,
    params={"report_symbol": Param("", "symbol charted in the run report (empty: the day's most-traded symbol)")},
    steps=(
        Call("check_session", "spark_jobs.finance.checks:session_step", short_circuit=True,
             doc="The trade date's session under `LAKEHOUSE_FINANCE__CALENDAR` (an exchange_calendars code such "
                 "as XNYS, `24/7` or `continuous`): open/close in UTC, early closes included. On a weekend or "
                 "exchange holiday every later task is skipped and the log names the holiday."),
        Wait("wait_for_landing", "spark_jobs.finance.checks:landing_ready",
             timeout_s=lambda s: s.finance.landing_wait_timeout_s,
             poke_interval_s=lambda s: s.finance.landing_poke_interval_s,
             deferrable=lambda s: s.finance.landing_wait_deferrable,
             doc="Wait (deferrable, in the triggerer) for the date's landing files, or for the marker file "
                 "`LAKEHOUSE_FINANCE__LANDING_MARKER` when one is set; fails after "
                 "`LAKEHOUSE_FINANCE__LANDING_WAIT_TIMEOUT_S` with one line naming the folder."),
        Stage("ingest_raw", "spark_jobs.finance.raw", writes=("raw.ticks", "raw.delivered_files"),
              doc="Read the trade date's landing files (CSV, Parquet, Binance zip or CSV) into raw.ticks as delivered; "
                  "replaces that date only; every file is accounted for in raw.delivered_files. Fails with one "
                  "line when no files landed."),
        Stage("build_silver", "spark_jobs.finance.silver", stages=("silver.ticks", "quarantine.ticks"),
              doc="Type, dedupe, session-filter and MAD-outlier-check ticks; stage silver.ticks and "
                  "quarantine.ticks (every rejected row with its reason) on the audit branch."),
        Gate("gate_silver", suite="silver_ticks"),
        Stage("build_gold", "spark_jobs.finance.gold", stages=("gold.ohlcv_1m",),
              doc="One-minute OHLCV/VWAP bars, gaps filled and flagged, SMA/EMA/returns/volatility with "
                  "window functions; staged on the audit branch."),
        Gate("gate_gold", suite="gold_ohlcv_1m"),
        *training_steps(
            "ml.finance:TRAINER", resources=lambda s: Resources(pool=s.finance.training_pool),
            fit_doc="Fit the LightGBM next-bar direction model on the just-published Gold snapshot (time-ordered "
                    "split, no look-ahead); the evaluation scores it on real (traded) bars only against a "
                    "logistic regression on the last returns, persistence and the base rate "
                    "(accuracy, AUC, log-loss, Brier, ECE)."),
        Call("report", "spark_jobs.finance.report:report_step", runs_after_rejection=True,
             doc="Write the run report (one HTML page): candles of one symbol (`report_symbol`, default the "
                 "day's most-traded) with SMA/EMA and volume, quarantined ticks by reason, the model vs "
                 "persistence. Its path is in the task log and the XCom. It also runs when the candidate was "
                 "rejected (or training failed) once gold is published: the page then shows the verdict with "
                 "every compared metric, and the task fails after writing it, so the DAG run ends failed."),
    ),
    tags=("finance",),
)

PIPELINES = (FINANCE_TICKS,)
