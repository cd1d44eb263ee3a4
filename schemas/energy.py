"""Household energy tables: UCI minute readings from raw to day-ahead forecasts.

Every table carries ``meter_read_date``: the logical date of the monthly run that delivered the
data (the 1st of the month after the readings; the meter-reading day). A rerun of a month
replaces exactly that month's rows.
"""

from pyiceberg.types import (
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    TimestampType,
    TimestamptzType,
)

from schemas.base import Column, TableSpec, identity

UCI_VALUE_COLUMNS = (
    "global_active_power",
    "global_reactive_power",
    "voltage",
    "global_intensity",
    "sub_metering_1",
    "sub_metering_2",
    "sub_metering_3",
)

_META = (
    Column("meter_read_date", DateType(), required=True, doc="logical date of the monthly run (1st of next month)"),
    Column("run_id", StringType(), doc="run that wrote the row"),
)

RAW_READINGS = TableSpec(
    identifier="raw.energy_readings",
    description="UCI household power lines exactly as delivered (strings), with file, line and ingest metadata.",
    columns=(
        Column("household_id", StringType(), required=True, doc="from the file name or the ingest option"),
        Column("source_file", StringType(), required=True, doc="landing URI of the file"),
        Column("line_number", LongType(), required=True, doc="1-based line in the file (header = line 1)"),
        Column("date", StringType(), doc="Date field as delivered (d/m/yyyy)"),
        Column("time", StringType(), doc="Time field as delivered (hh:mm:ss)"),
        *(Column(name, StringType(), doc="as delivered; '?' = missing") for name in UCI_VALUE_COLUMNS),
        Column("raw_line", StringType(), doc="the whole line when it did not split into 9 fields"),
        Column("file_error", StringType(), doc="why the whole file was rejected (header, delimiter, household)"),
        Column("file_sha256", StringType(), doc="checksum of the delivered file"),
        *_META,
    ),
    partition_by=(identity("meter_read_date"),),
    sort_by=("household_id", "source_file", "line_number"),
    logical_date_column="meter_read_date",
    # Written by the tasks that parsed the files (each sorts its rows), without a range shuffle of the raw
    # rows: silver reads a month whole and groups it by household anyway (bench: 0.6-0.75x the write time).
    write_distribution="none",
)

SILVER_READINGS = TableSpec(
    identifier="silver.energy_readings",
    description="Typed minute readings on a complete UTC minute grid per household and month: short gaps "
                "interpolated, long gaps kept as flagged null rows (never invented).",
    columns=(
        Column("household_id", StringType(), required=True),
        Column("ts_utc", TimestamptzType(), required=True, doc="start of the minute, UTC"),
        Column("ts_local", TimestampType(), doc="wall-clock time in the source timezone"),
        Column("utc_offset_minutes", IntegerType(), doc="offset of ts_local from UTC (DST aware)"),
        Column("global_active_power", DoubleType(), doc="kW"),
        Column("global_reactive_power", DoubleType(), doc="kW"),
        Column("voltage", DoubleType(), doc="V"),
        Column("global_intensity", DoubleType(), doc="A"),
        Column("sub_metering_1", DoubleType(), doc="Wh in the minute (kitchen)"),
        Column("sub_metering_2", DoubleType(), doc="Wh in the minute (laundry)"),
        Column("sub_metering_3", DoubleType(), doc="Wh in the minute (water heater, air conditioner)"),
        Column("sub_metering_rest_wh", DoubleType(),
               doc="active energy of the minute not measured by the sub-meters (Wh): total - sum of sub-meters"),
        Column("status", StringType(), required=True, doc="measured | interpolated | missing (long gap)"),
        Column("gap_minutes", IntegerType(), doc="length of the gap this minute belongs to (0 if measured)"),
        Column("source_file", StringType()),
        Column("line_number", LongType()),
        *_META,
    ),
    partition_by=(identity("meter_read_date"),),
    sort_by=("household_id", "ts_utc"),
    logical_date_column="meter_read_date",
)


def _interval_spec(identifier: str, minutes: int) -> TableSpec:
    return TableSpec(
        identifier=identifier,
        description=f"{minutes}-minute resampled demand per household (from silver.energy_readings).",
        columns=(
            Column("household_id", StringType(), required=True),
            Column("interval_start_utc", TimestamptzType(), required=True),
            Column("interval_start_local", TimestampType()),
            Column("freq_minutes", IntegerType(), required=True),
            Column("active_power_kw", DoubleType(), doc="mean kW over the available minutes; null if none"),
            Column("energy_kwh", DoubleType(), doc="kWh of the available minutes"),
            Column("reactive_power_kw", DoubleType()),
            Column("voltage", DoubleType()),
            Column("sub_metering_1_wh", DoubleType()),
            Column("sub_metering_2_wh", DoubleType()),
            Column("sub_metering_3_wh", DoubleType()),
            Column("minutes_expected", IntegerType()),
            Column("minutes_measured", IntegerType()),
            Column("minutes_interpolated", IntegerType()),
            Column("minutes_missing", IntegerType()),
            *_META,
        ),
        partition_by=(identity("meter_read_date"),),
        sort_by=("household_id", "interval_start_utc"),
        logical_date_column="meter_read_date",
    )


SILVER_15MIN = _interval_spec("silver.energy_readings_15min", 15)
SILVER_HOURLY = _interval_spec("silver.energy_readings_hourly", 60)

QUARANTINE_READINGS = TableSpec(
    identifier="quarantine.energy_readings",
    description="Energy lines that were not accepted into silver, with the reason, file and line.",
    columns=(
        Column("household_id", StringType(), required=True),
        Column("source_file", StringType(), required=True),
        Column("line_number", LongType(), required=True),
        Column("reason", StringType(), required=True),
        Column("raw_line", StringType(), doc="the line as delivered (fields re-joined with ';')"),
        *_META,
    ),
    partition_by=(identity("meter_read_date"),),
    sort_by=("household_id", "source_file", "line_number"),
    logical_date_column="meter_read_date",
)

FOURIER_COLUMNS = (
    "day_sin1", "day_cos1", "day_sin2", "day_cos2",
    "week_sin1", "week_cos1", "week_sin2", "week_cos2",
    "year_sin1", "year_cos1",
)
# STL / MSTL seasonal components (energy.seasonal_features = stl | mstl; null with fourier).
SEASONAL_COLUMNS = ("seasonal_day", "seasonal_week")
FEATURE_COLUMNS = (
    "hour", "minute_of_day", "day_of_week", "month", "is_weekend", "is_holiday",
    "lag_1h", "lag_24h", "lag_168h", "roll_mean_24h", "roll_std_24h", "roll_mean_168h",
    *FOURIER_COLUMNS, *SEASONAL_COLUMNS,
)

GOLD_FEATURES = TableSpec(
    identifier="gold.energy_features",
    description="Model-ready demand features per household and interval (hourly and 15-minute): calendar, "
                "holiday, lags, day-ahead-safe rolling statistics and Fourier seasonal terms.",
    columns=(
        Column("household_id", StringType(), required=True),
        Column("freq_minutes", IntegerType(), required=True, doc="60 or 15"),
        Column("interval_start_utc", TimestamptzType(), required=True),
        Column("interval_start_local", TimestampType()),
        Column("target_kw", DoubleType(), doc="mean active power of the interval; null if not measured"),
        Column("hour", IntegerType(), doc="local hour"),
        Column("minute_of_day", IntegerType(), doc="local minute of day"),
        Column("day_of_week", IntegerType(), doc="0 = Monday (local)"),
        Column("month", IntegerType()),
        Column("is_weekend", BooleanType()),
        Column("is_holiday", BooleanType(), doc="public holiday of the configured country (holidays library)"),
        Column("lag_1h", DoubleType(), doc="target 1 hour earlier"),
        Column("lag_24h", DoubleType(), doc="target 24 hours earlier (same hour yesterday)"),
        Column("lag_168h", DoubleType(), doc="target 168 hours earlier (same hour last week)"),
        Column("roll_mean_24h", DoubleType(), doc="mean of the 24 h window ending 24 h before the interval"),
        Column("roll_std_24h", DoubleType(), doc="std of the 24 h window ending 24 h before the interval"),
        Column("roll_mean_168h", DoubleType(), doc="mean of the 168 h window ending 24 h before the interval"),
        *(Column(name, DoubleType(), doc="Fourier seasonal term") for name in FOURIER_COLUMNS),
        Column("seasonal_day", DoubleType(), doc="daily seasonal component (STL/MSTL fitted on the data before "
                                                 "the interval's day, projected); null unless stl/mstl"),
        Column("seasonal_week", DoubleType(), doc="weekly seasonal component (MSTL, as seasonal_day); null "
                                                  "unless mstl"),
        # No run_id column: a rerun of a month yields identical rows (lineage is in the snapshot summary).
        _META[0],
    ),
    partition_by=(identity("meter_read_date"), identity("freq_minutes")),
    sort_by=("household_id", "interval_start_utc"),
    logical_date_column="meter_read_date",
)

GOLD_FORECAST = TableSpec(
    identifier="gold.energy_forecast",
    description="Demand forecasts per household and interval, with the model version and run that made them.",
    columns=(
        Column("forecast_date", DateType(), required=True, doc="logical date of the forecasting run"),
        Column("kind", StringType(), required=True, doc="day_ahead | realtime"),
        Column("household_id", StringType(), required=True),
        Column("freq_minutes", IntegerType(), required=True),
        Column("interval_start_utc", TimestamptzType(), required=True),
        Column("forecast_kw", DoubleType()),
        Column("origin_utc", TimestamptzType(), doc="last instant of data the forecast could use"),
        Column("model_name", StringType()),
        Column("model_version", StringType()),
        Column("run_id", StringType()),
    ),
    partition_by=(identity("forecast_date"),),
    sort_by=("household_id", "interval_start_utc"),
    logical_date_column="forecast_date",
)

SILVER_INTRADAY = TableSpec(
    identifier="silver.energy_intraday_15min",
    description="15-minute demand per household from the intra-day deliveries "
                "({landing}/energy/intraday/<UTC date>/<HHMM>/<household>.txt), one row per household and "
                "interval: a re-delivered interval replaces its row. Fresh history for the realtime forecast; the "
                "monthly path (silver.energy_readings_15min) is unaffected.",
    columns=(
        *(c for c in SILVER_15MIN.columns if c.name not in ("meter_read_date", "run_id")),
        Column("lines_rejected", IntegerType(), doc="delivered lines not accepted (bad format, value or time)"),
        Column("first_rejection", StringType(), doc="line number and reason of the first rejected line"),
        Column("source_file", StringType(), doc="landing URI of the delivered file"),
        Column("file_sha256", StringType(), doc="checksum of the delivered file"),
        Column("delivery_date", DateType(), required=True, doc="UTC date of interval_start_utc (logical date)"),
        Column("run_id", StringType(), doc="run that ingested the delivery"),
    ),
    partition_by=(identity("delivery_date"),),
    sort_by=("household_id", "interval_start_utc"),
    logical_date_column="delivery_date",
)

# Kept apart from quarantine.energy_readings: that table is replaced per meter_read_date by the monthly silver,
# which would wipe intra-day rows filed under the same date; these are keyed by the delivery's UTC date.
QUARANTINE_INTRADAY = TableSpec(
    identifier="quarantine.energy_intraday_readings",
    description="Lines of the intra-day 15-minute deliveries that were not accepted into "
                "silver.energy_intraday_15min, with a reason code, the reason in words, the file and the line. "
                "A re-delivered file replaces its rows (a fixed file leaves none).",
    columns=(
        Column("household_id", StringType(), required=True),
        Column("source_file", StringType(), required=True, doc="landing URI of the delivered file"),
        Column("line_number", LongType(), required=True, doc="1-based line in the file (header = line 1)"),
        Column("interval_start_utc", TimestamptzType(), required=True, doc="the interval the file delivers"),
        Column("reason_code", StringType(), required=True,
               doc="file_rejected, field_count, bad_timestamp, bad_number, negative_power, voltage_out_of_band, "
                   "sub_meters_exceed_total, outside_interval, duplicate_minute or other"),
        Column("reason", StringType(), required=True, doc="the rule the line broke, in words"),
        Column("raw_line", StringType(), doc="the line as delivered (fields re-joined with ';')"),
        Column("file_sha256", StringType(), doc="checksum of the delivered file"),
        Column("delivery_date", DateType(), required=True, doc="UTC date of interval_start_utc (logical date)"),
        Column("run_id", StringType(), doc="run that ingested the delivery"),
    ),
    partition_by=(identity("delivery_date"),),
    sort_by=("household_id", "source_file", "line_number"),
    logical_date_column="delivery_date",
)

TABLES = (RAW_READINGS, SILVER_READINGS, SILVER_15MIN, SILVER_HOURLY, QUARANTINE_READINGS, GOLD_FEATURES,
          GOLD_FORECAST, SILVER_INTRADAY, QUARANTINE_INTRADAY)
