"""The household energy pipelines, declared once: their DAGs (dags/dag_energy_forecast.py), `lakehouse
run` and the gate/publish lists are derived from this (lakehouse.pipeline)."""

from __future__ import annotations

from lakehouse.pipeline import Call, Gate, Pipeline, Resources, Schedule, Stage, training_steps

ENERGY_MONTHLY = Pipeline(
    dag_id="energy_demand_forecast",
    domain="energy",
    description="Monthly household demand pipeline: UCI files to day-ahead LightGBM forecasts",
    doc="""Monthly household demand forecasting.

Runs on the meter-reading day (the 1st of the month, `LAKEHOUSE_ENERGY__MONTHLY_CRON`) for the month that
just ended: ingest -> silver -> gate -> features -> gate -> train -> evaluate -> register -> forecast -> report.

Inputs: `{landing}/energy/<YYYY-MM>/*.txt` in the UCI household power format.
Outputs: raw/silver/quarantine energy readings, 15-minute and hourly series, gold.energy_features, a
LightGBM model in ml.model_registry (only if it beats both persistence baselines), gold.energy_forecast, and a
run report (`{artifacts}/reports/energy_demand_forecast/<date>/<run>.html`; `lakehouse reports`).
Rerun a month: clear the DAG run of its 1st (or `lakehouse run energy_demand_forecast --date D`).
""",
    schedule=lambda s: Schedule(s.energy.monthly_cron),
    start_date="2024-01-01",
    catchup=lambda s: s.energy.catchup,
    steps=(
        Stage("ingest", "spark_jobs.energy.ingest", writes=("raw.energy_readings", "raw.delivered_files"),
              doc="Land the month's UCI files into raw.energy_readings as delivered; every file is accounted "
                  "for in raw.delivered_files."),
        Stage("silver", "spark_jobs.energy.silver",
              stages=("silver.energy_readings", "silver.energy_readings_15min", "silver.energy_readings_hourly",
                      "quarantine.energy_readings"),
              doc="Type, convert to UTC (DST-safe), gap-fill, resample; stage silver and quarantine."),
        Gate("gate_silver", suite="silver_energy_readings"),
        Stage("features", "spark_jobs.energy.features", stages=("gold.energy_features",),
              doc="Per-household calendar, holiday, lag, rolling and Fourier features (staged)."),
        Gate("gate_features", suite="gold_energy_features"),
        *training_steps(
            "ml.energy:TRAINER", resources=lambda s: Resources(pool=s.energy.training_pool),
            fit_doc="Fit LightGBM (hourly + 15-minute) with rolling-origin CV and early stopping on the pinned "
                    "snapshot of gold.energy_features; the candidate is kept for evaluate and register."),
        Stage("forecast", "spark_jobs.energy.forecast", writes=("gold.energy_forecast",),
              doc="Day-ahead forecasts (24 hourly, 96 x 15-minute) into gold.energy_forecast."),
        Call("report", "spark_jobs.energy.report:report_step",
             doc="Write the run report (one HTML page): hold-out forecast vs actual with both persistence "
                 "baselines, error by hour of day, hold-out scores and feature importance. Its path is in the "
                 "task log and the XCom."),
    ),
    tags=("energy",),
)

ENERGY_REALTIME = Pipeline(
    dag_id="energy_realtime_forecast",
    domain="energy",
    description="Score the newest 15-minute interval with the latest registered energy model",
    doc="""Realtime energy scoring: every 15 minutes (`LAKEHOUSE_ENERGY__REALTIME_CRON`) the newest interval is
scored with the latest registered model and upserted into gold.energy_forecast (idempotent per interval).
Skips (not fails) while no model is registered.

Inputs: silver.energy_readings and the latest registered `energy_demand` model.
Outputs: rows of gold.energy_forecast with `kind = 'realtime'` (one per household and interval).
Rerun an interval: clear its task instance; the upsert replaces that interval's rows.
""",
    schedule=lambda s: Schedule(s.energy.realtime_cron),
    start_date="2024-01-01",
    steps=(
        Call("model_registered", "ml.energy:model_available_step", short_circuit=True,
             doc="Skip the scoring task (not fail) while no energy model has been registered."),
        Stage("score_interval", "spark_jobs.energy.realtime", writes=("gold.energy_forecast",),
              options={"interval": "{{ logical_date.isoformat() }}"},
              doc="Upsert the interval's forecast per household (idempotent per interval)."),
    ),
    tags=("energy",),
)

PIPELINES = (ENERGY_MONTHLY, ENERGY_REALTIME)
