"""The household energy pipelines, declared once: their DAGs (dags/dag_energy_forecast.py), `lakehouse
run` and the gate/publish lists are derived from this (lakehouse.pipeline)."""

from __future__ import annotations

from lakehouse.pipeline import Call, Gate, Param, Pipeline, Resources, Schedule, Stage, training_steps

ENERGY_MONTHLY = Pipeline(
    dag_id="energy_demand_forecast",
    domain="energy",
    description="Monthly household demand pipeline: UCI files to day-ahead LightGBM forecasts",
    doc="""Monthly household demand forecasting.

Runs on the meter-reading day (the 1st of the month, `LAKEHOUSE_ENERGY__MONTHLY_CRON`) for the month that
just ended: ingest -> silver -> gate -> features -> gate -> train -> evaluate -> register -> forecast -> report.

Inputs: `{landing}/energy/<YYYY-MM>/*.txt` in the UCI household power format, or, with the `source` param, the
published multi-year file (`household_power_consumption.txt`; path under the landing zone, absolute path or
s3:// URI), of which each run ingests its month only: the file's other lines are accounted for as outside the
run's month (not rejected), and a month the file covers only partly publishes the minutes it covers (the rest
is "not delivered", not missing). Meter clocks: `LAKEHOUSE_ENERGY__METER_CLOCK` (`dst`, `utc`, `+01:00`; the
published file's logger ignores DST: `+01:00`).
Outputs: raw/silver/quarantine energy readings, 15-minute and hourly series, gold.energy_features, a
LightGBM model in ml.model_registry (only if it beats both persistence baselines), gold.energy_forecast, and a
run report (`{artifacts}/reports/energy_demand_forecast/<date>/<run>.html`; `lakehouse reports`).
Rerun a month: clear the DAG run of its 1st (or `lakehouse run energy_demand_forecast --date D`; the multi-year
file: `--param source=<file>`).

When the candidate loses (it must beat both persistence baselines): gold stays published, `evaluate` fails with
every compared metric, nothing is registered, `forecast` still forecasts the next day with the last registered
model (flagged: the rows carry that model's version, the task's summary a `model_note`), `report` writes the page
showing the rejection and then fails with one line, so the DAG run ends failed. `forecast` and `report` run after
such a failure as long as `gate_features` published (`runs_after_rejection`); an earlier failure stops them.
""",
    schedule=lambda s: Schedule(s.energy.monthly_cron),
    start_date=lambda s: s.energy.start_date,
    catchup=lambda s: s.energy.catchup,
    params={
        "source": Param("", "the published multi-year UCI file (path under the landing zone, absolute path or "
                            "s3:// URI) to take the run's month from; empty: the month's landing folder"),
        "household": Param("", "meter id of the source file's readings (empty: from the file name)"),
    },
    steps=(
        Stage("ingest", "spark_jobs.energy.ingest", writes=("raw.energy_readings", "raw.delivered_files"),
              options={"source": "{{ params.source }}", "household": "{{ params.household }}"},
              doc="Land the month's UCI files (or the month's lines of the `source` file) into raw.energy_readings "
                  "as delivered; every file is accounted for in raw.delivered_files."),
        Stage("silver", "spark_jobs.energy.silver",
              stages=("silver.energy_readings", "silver.energy_readings_15min", "silver.energy_readings_hourly",
                      "quarantine.energy_readings"),
              options={"source": "{{ params.source }}"},
              doc="Type, convert the meter clock to UTC (DST-safe), gap-fill, resample; stage silver and "
                  "quarantine."),
        Gate("gate_silver", suite="silver_energy_readings"),
        Stage("features", "spark_jobs.energy.features", stages=("gold.energy_features",),
              doc="Per-household calendar, holiday, lag, rolling and Fourier features (staged)."),
        Gate("gate_features", suite="gold_energy_features"),
        *training_steps(
            "ml.energy:TRAINER", resources=lambda s: Resources(pool=s.energy.training_pool),
            fit_doc="Fit LightGBM (hourly + 15-minute) with rolling-origin CV and early stopping on the pinned "
                    "snapshot of gold.energy_features; the candidate is kept for evaluate and register."),
        Stage("forecast", "spark_jobs.energy.forecast", writes=("gold.energy_forecast",), runs_after_rejection=True,
              doc="Day-ahead forecasts (24 hourly, 96 x 15-minute) into gold.energy_forecast, with this run's model; "
                  "after a rejected candidate with the last registered one, flagged (`model_note`); fails with "
                  "one line when no model was ever registered."),
        Call("report", "spark_jobs.energy.report:report_step", runs_after_rejection=True,
             doc="Write the run report (one HTML page): the candidate's verdict with every compared metric, the "
                 "model behind the forecast, hold-out forecast vs actual with both persistence baselines, error by "
                 "hour of day, hold-out scores and feature importance. Its path is in the task log and the XCom; "
                 "when the run registered no model (or wrote no forecast) it fails after writing the page, so the "
                 "DAG run ends failed."),
    ),
    tags=("energy",),
)

ENERGY_REALTIME = Pipeline(
    dag_id="energy_realtime_forecast",
    domain="energy",
    description="Ingest the intra-day 15-minute deliveries and score the next interval from the freshest rows",
    doc="""Realtime energy scoring: every 15 minutes (`LAKEHOUSE_ENERGY__REALTIME_CRON`) the intra-day deliveries of
the last `LAKEHOUSE_ENERGY__INTRADAY_LOOKBACK_MINUTES` are upserted into silver.energy_intraday_15min (one row per
household and interval: reruns and re-deliveries never duplicate), then the interval starting at the run's
logical time is scored with the latest registered model from the freshest rows and upserted into
gold.energy_forecast (idempotent per interval). The scoring task fails with one line when a household's freshest
reading ends more than `LAKEHOUSE_ENERGY__REALTIME_MAX_LAG_MINUTES` before the interval (late data); it skips (not
fails) while no model is registered. After a rejected monthly candidate it keeps the last registered model and
says so in its summary (`model_note`).

Inputs: `{landing}/energy/intraday/<UTC date>/<HHMM>/<household>.txt` (UCI format, one interval per file),
silver.energy_readings_15min (published months) and the latest registered `energy_demand` model.
Outputs: silver.energy_intraday_15min (checked by the suite silver_energy_intraday_15min before the upsert),
quarantine.energy_intraday_readings (rejected lines, with a reason code), raw.delivered_files (dataset
`intraday_15min`: every file seen) and rows of gold.energy_forecast with `kind = 'realtime'` (one per household
and interval). Rerun an interval: clear its task instances; both writes replace that interval's rows.
Backfill deliveries: `spark_jobs/energy/intraday_ingest.py --option since=<ISO>`.
""",
    schedule=lambda s: Schedule(s.energy.realtime_cron),
    start_date="2024-01-01",
    steps=(
        # Checked inside the stage, not by a Gate step: write-audit-publish stages one logical date per run,
        # while this upsert writes the delivery dates of its window (expectations/silver_energy_intraday_15min.py).
        Stage("ingest_intraday", "spark_jobs.energy.intraday_ingest",
              writes=("silver.energy_intraday_15min", "quarantine.energy_intraday_readings", "raw.delivered_files"),
              options={"interval": "{{ logical_date.isoformat() }}"},
              doc="Upsert the recent 15-minute deliveries into silver.energy_intraday_15min (one row per household "
                  "and interval; a rerun or a re-delivered file replaces its row). Rejected lines go to "
                  "quarantine.energy_intraday_readings with a reason code, the good lines of the file are kept; "
                  "every file is accounted for in raw.delivered_files; the rows pass the suite "
                  "silver_energy_intraday_15min before anything is written, or the task fails with one line and "
                  "nothing is upserted."),
        Call("model_registered", "ml.energy:model_available_step", short_circuit=True,
             doc="Skip the scoring task (not fail) while no energy model has been registered."),
        Stage("score_interval", "spark_jobs.energy.realtime", writes=("gold.energy_forecast",),
              options={"interval": "{{ logical_date.isoformat() }}"},
              doc="Score the interval from the freshest silver rows with the last registered model and upsert it "
                  "(idempotent per interval); fail with one line when the data is late beyond "
                  "energy.realtime_max_lag_minutes."),
    ),
    tags=("energy",),
)

PIPELINES = (ENERGY_MONTHLY, ENERGY_REALTIME)
