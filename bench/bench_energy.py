"""Energy benchmark: silver + features throughput and peak memory, and LightGBM training time.

One household-year of UCI files (12 monthly files, ~0.5M minute lines) is generated once; a size of
H household-years feeds the same files to Spark under H household ids, so the work and the data
grow exactly with H while generation stays cheap. Each size runs in its own process (fresh JVM,
Spark local[2]) through the pipeline's real code. Untimed, as the ingest task: the files are parsed on the
workers (``io.raw_lines``) into raw.energy_readings through the ingest's write path, one logical date per
month. Timed, as twelve monthly silver tasks and the features: per month the raw rows read back
(``read_for_date``) and grouped per household for ``silver_household`` (``silver_frames``, applyInPandas),
the silver minutes written to Parquet, the 15-minute and hourly intervals from one Spark aggregation
(``resample_partials`` + ``intervals_from_partials``) and ``build_features`` per household and
frequency (applyInPandas). Timings exclude JVM start; the JSON splits silver into its minute grid and its
intervals and gives the ingest's seconds (``ingest_s``, not in the ratio). F (the floor) is one plain Spark
read of the same landed files plus one Iceberg append of the same rows, in the same session; each size ends
with ``ratio_to_floor`` (silver + features over F). After the timed part, the silver gate is run on each
month's minutes as the monthly gate does, and its seconds are reported against F (``silver_gates_over_floor``);
so is the features gate on each month's feature rows (``features_gates_over_floor``). Last, the same reads,
writes and grouping without the rules (``silver_features_io``: raw typed by plain casts, each household's
readings grouped in time order, the minutes written, the real intervals and features of them), reported as
``io_s`` and ``io_over_floor``: how much of the 3 F goal the design's I/O alone takes.
Peak memory is the maximum resident set of the worker's process tree (JVM + Python workers), sampled
every 100 ms. Training time is LightGBM (both frequencies, rolling-origin CV +
early stopping, final fit) on the features of the size.

    .venv/bin/python bench/bench_energy.py --household-years 1,10,50
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import functools
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

YEAR = 2023
TZ, COUNTRY = "Europe/Paris", "FR"


def generate_year(landing: Path) -> list[tuple[dt.date, str]]:
    """12 monthly UCI files of one household (cached in ``landing``)."""
    from spark_jobs.energy import generator

    files = []
    for month in generator.month_starts(dt.date(YEAR, 1, 1), dt.date(YEAR + 1, 1, 1)):
        path = landing / f"{month:%Y-%m}.txt"
        if not path.exists():
            path.write_text(generator.household_month("hh_000", month, dt.date(YEAR, 1, 1), dt.date(YEAR + 1, 1, 1),
                                                      seed=1, tz=TZ, country=COUNTRY))
        files.append((month, f"file://{path}"))
    return files


class PeakMemory:
    """Samples the resident set of this process and its children every 100 ms."""

    def __init__(self) -> None:
        import psutil

        self.proc = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _rss(self) -> int:
        import psutil

        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._rss())
            time.sleep(0.1)

    def __enter__(self) -> PeakMemory:
        self.peak = self._rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def io_floor(spark: Any, settings: Any, uris: list[str], households: int) -> float:
    """F: one plain Spark read of the landed files (as delivered: ';'-separated text with a header, every
    household's copy) and one Iceberg append of the same rows, in the benchmark's session. Seconds."""
    from pyspark.sql import functions as F

    table = f"{settings.catalog.name}.bench.energy_floor"
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {settings.catalog.name}.bench")
    spark.sql(f"DROP TABLE IF EXISTS {table} PURGE")
    t0 = time.perf_counter()
    ids = spark.range(households).select(F.format_string("hh_%03d", "id").alias("household_id"))
    rows = spark.read.option("sep", ";").option("header", "true").csv(uris).crossJoin(F.broadcast(ids))
    rows.writeTo(table).using("iceberg").create()
    return time.perf_counter() - t0


def write_intervals(spark: Any, minutes: Path, out: Path) -> None:
    """The 15-minute and hourly intervals of the silver minutes at ``minutes`` from one Spark aggregation, as
    the silver task stages them, written as Parquet at ``out``."""
    from spark_jobs.energy import transforms

    partials = transforms.resample_partials(spark.read.parquet(str(minutes))).cache()
    transforms.intervals_from_partials(partials, freq_minutes=60, tz=TZ).unionByName(
        transforms.intervals_from_partials(partials, freq_minutes=15, tz=TZ)).write.mode("overwrite").parquet(str(out))
    partials.unpersist()


def write_features(spark: Any, intervals: Path, out: Path) -> None:
    """The features of the intervals at ``intervals`` (per household and frequency), written as Parquet at ``out``."""
    from spark_jobs.energy import transforms

    transforms.feature_frames(spark.read.parquet(str(intervals)), tz=TZ, country=COUNTRY).write.mode(
        "overwrite").partitionBy("freq_minutes").parquet(str(out))


def silver_features_io(spark: Any, settings: Any, months: list[dt.date], out: Path) -> dict[str, float]:
    """The timed part's reads, writes and shuffle without its rules: each month's raw rows read back, typed by
    plain Spark casts (no reason, no DST order, no duplicate rule, no minute grid), each household's readings
    brought together in time order (the grouping that the duplicate rule and the minute grid need, however
    they are written), the minutes written as Parquet; then the real intervals and features of those minutes.
    Seconds per part."""
    from pyspark.sql import functions as F

    from lakehouse.read import read_for_date
    from schemas.energy import RAW_READINGS
    from spark_jobs.energy import transforms, uci

    seconds, start = {}, time.perf_counter()
    parts = []
    for month in months:
        raw = read_for_date(spark, settings, RAW_READINGS, [month]).where("file_error IS NULL AND raw_line IS NULL")
        local = F.to_timestamp(F.concat_ws(" ", "date", "time"), "d/M/yyyy HH:mm:ss")
        typed = raw.select("household_id", local.alias("ts_local"),
                           *(F.expr(f"try_cast({name} AS DOUBLE)").alias(name) for name in uci.VALUE_FIELDS),
                           "source_file", "line_number")
        utc = F.to_utc_timestamp("ts_local", TZ)
        typed = typed.select(
            "household_id", utc.alias("ts_utc"), "ts_local",
            ((F.unix_seconds(F.col("ts_local").cast("timestamp")) - F.unix_seconds(utc)) / 60).cast("int").alias(
                "utc_offset_minutes"),
            *uci.VALUE_FIELDS,
            (F.col("global_active_power") * 1000 / 60 - F.col("sub_metering_1") - F.col("sub_metering_2")
             - F.col("sub_metering_3")).alias("sub_metering_rest_wh"),
            F.lit(transforms.MEASURED).alias("status"), F.lit(None).cast("int").alias("gap_minutes"),
            "source_file", "line_number", F.lit(month).alias("meter_read_date"))
        parts.append(typed.repartition("household_id").sortWithinPartitions("household_id", "ts_utc"))
    functools.reduce(lambda a, b: a.unionByName(b), parts).write.mode("overwrite").parquet(str(out / "silver_io"))
    seconds["silver_minutes"], start = time.perf_counter() - start, time.perf_counter()
    write_intervals(spark, out / "silver_io", out / "intervals_io")
    seconds["intervals"], start = time.perf_counter() - start, time.perf_counter()
    write_features(spark, out / "intervals_io", out / "features_io")
    seconds["features"] = time.perf_counter() - start
    return {part: round(s, 1) for part, s in seconds.items()}


def monthly_gates(spark: Any, settings: Any, suite_name: str, path: str, months: list[dt.date],
                  published: Callable[[dt.date], dict[str, Any]] | None = None) -> tuple[float, list[str]]:
    """A gate as the twelve monthly runs validate it: the suite ``suite_name`` built for each month and
    validated on that month's rows of the Parquet files at ``path`` (through ``lakehouse.quality.validate``),
    summed over the months: seconds, and what decided each month (the fused check, or GX). A suite that reads
    published tables gets ``published(month)``'s frames, by identifier. Untimed in the ratio; reported
    against F."""
    from pyspark.sql import functions as F

    from lakehouse.quality import GateContext, load_suite, validate

    @dataclasses.dataclass
    class FilesGateContext(GateContext):
        """A gate context whose published tables are the benchmark's Parquet files."""

        tables: dict[str, Any] = dataclasses.field(default_factory=dict)

        def read(self, identifier: str, staged: bool = True) -> Any:
            return self.tables[identifier]

    seconds, decided = 0.0, []
    rows = spark.read.parquet(path)
    for month in months:
        ctx = FilesGateContext(spark, settings, month, "bench", tables=published(month) if published else {})
        t0 = time.perf_counter()
        suite = load_suite(suite_name).build(ctx)
        result = validate(rows.where(F.col("meter_read_date") == F.lit(month)), suite_name, suite)
        seconds += time.perf_counter() - t0
        if not result["success"]:
            raise RuntimeError(f"the gate {suite_name} failed for {month}: the benchmark's data should pass it")
        decided.append(result["meta"].get("evaluated_by", "great_expectations"))
    return seconds, sorted(set(decided))


def worker(households: int, landing: Path, out: Path, train: bool = True) -> dict[str, Any]:
    """One size in this process: returns timings, row counts and peak memory."""
    import pandas as pd
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    from lakehouse.catalog import create_tables, load_catalog
    from lakehouse.read import read_for_date
    from lakehouse.settings import LakehouseSettings
    from lakehouse.spark import spark_conf, spark_env
    from lakehouse.write import write_for_date
    from schemas.energy import RAW_READINGS
    from spark_jobs.energy import io
    from spark_jobs.energy.transforms import SilverMonth, silver_frames

    os.environ["PYTHONPATH"] = str(ROOT)
    settings = LakehouseSettings(profile="local", home=out / "home")
    load_catalog(settings)
    os.environ.update(spark_env(settings))
    # The project's session (catalog, jars, JVM archive) with the benchmark's fixed size knobs.
    conf = {**spark_conf(settings, app_name="bench-energy"), "spark.master": "local[2]",
            "spark.driver.memory": "2g", "spark.sql.shuffle.partitions": "8"}
    builder = SparkSession.builder
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    spark.range(10).count()  # JVM warm
    files = generate_year(landing)
    plan = [(uri, f"hh_{h:03d}", None) for h in range(households) for _m, uri in files]

    floor_s = io_floor(spark, settings, [uri for _m, uri in files], households)
    # The ingest (untimed): raw.energy_readings through the ingest's write path, one logical date per month.
    create_tables(settings)
    t_ingest = time.perf_counter()
    raw_rows = io.raw_lines(spark, settings, plan).cache()
    for month, uri in files:
        write_for_date(spark, settings, RAW_READINGS, raw_rows.where(F.col("source_file") == uri).withColumns(
            {"meter_read_date": F.lit(month), "run_id": F.lit("bench")}), logical_date=month, run_id="bench")
    raw_rows.unpersist()
    t_ingest = time.perf_counter() - t_ingest
    with PeakMemory() as memory:
        t0 = time.perf_counter()
        parts = []
        for month, _uri in files:  # one monthly silver run per month, as the DAG does
            rules = SilverMonth(month_start=month, tz=TZ, voltage_band=(200.0, 260.0), max_interpolate_minutes=60)
            raw = read_for_date(spark, settings, RAW_READINGS, [month])
            parts.append(silver_frames(raw, rules).withColumn("meter_read_date", F.lit(month)))
        minutes = functools.reduce(lambda a, b: a.unionByName(b), parts)
        minutes.where("kind = 'silver'").drop("kind", "reason", "raw_line").write.mode("overwrite").parquet(
            str(out / "silver"))
        t_minutes = time.perf_counter() - t0
        write_intervals(spark, out / "silver", out / "intervals")
        t_silver = time.perf_counter() - t0
        write_features(spark, out / "intervals", out / "features")
        elapsed = time.perf_counter() - t0
    months = [month for month, _uri in files]
    gate_s, gate_verdicts = monthly_gates(spark, settings, "silver_energy_readings", str(out / "silver"), months)
    # Each month's feature rows, as the monthly features task stages them (dated by the month they belong to);
    # the suite reconciles their count with the month's interval series.
    keys = ["household_id", "freq_minutes", "interval_start_utc"]
    series = spark.read.parquet(str(out / "intervals"))
    spark.read.parquet(str(out / "features")).join(series.select(*keys, "meter_read_date"), keys).write.mode(
        "overwrite").parquet(str(out / "features_dated"))

    def interval_series(month: dt.date) -> dict[str, Any]:
        in_month = series.where(F.col("meter_read_date") == F.lit(month))
        return {"silver.energy_readings_hourly": in_month.where(F.col("freq_minutes") == 60),
                "silver.energy_readings_15min": in_month.where(F.col("freq_minutes") == 15)}

    features_gate_s, features_verdicts = monthly_gates(spark, settings, "gold_energy_features",
                                                       str(out / "features_dated"), months, interval_series)
    io_parts = silver_features_io(spark, settings, months, out)
    lines = spark.read.parquet(str(out / "silver")).where(F.col("status") == "measured").count()
    feature_rows = spark.read.parquet(str(out / "features")).count()
    spark.stop()
    result = {"household_years": households, "measured_minutes": lines, "feature_rows": feature_rows,
              "ingest_s": round(t_ingest, 1),
              "silver_s": round(t_silver, 1), "silver_minutes_s": round(t_minutes, 1),
              "intervals_s": round(t_silver - t_minutes, 1), "silver_features_s": round(elapsed, 1),
              "rows_per_s": round(lines / elapsed), "peak_rss_mb": round(memory.peak / 2**20),
              "floor_s": round(floor_s, 1), "ratio_to_floor": round(elapsed / floor_s, 2),
              "io_s": round(sum(io_parts.values()), 1), "io_parts_s": io_parts,
              "io_over_floor": round(sum(io_parts.values()) / floor_s, 2),
              "silver_gates_s": round(gate_s, 1), "silver_gates_over_floor": round(gate_s / floor_s, 2),
              "silver_gates_evaluated_by": gate_verdicts,
              "features_gates_s": round(features_gate_s, 1),
              "features_gates_over_floor": round(features_gate_s / floor_s, 2),
              "features_gates_evaluated_by": features_verdicts,
              "load_avg": [round(x, 2) for x in os.getloadavg()]}
    if not train:
        return result

    from lakehouse.settings import EnergySettings
    from ml.energy import FREQUENCIES, train_frequency

    feats = pd.read_parquet(out / "features")
    feats["freq_minutes"] = feats["freq_minutes"].astype(int)
    t1 = time.perf_counter()
    models = [train_frequency(feats, f, EnergySettings()) for f in FREQUENCIES]
    t_train = time.perf_counter() - t1
    return {**result, "train_s": round(t_train, 1),
            "holdout_rmse_60": {k: round(v["rmse"], 4) for k, v in models[0].holdout.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", "--household-years", default="1,10,50", help="household-years, comma-separated")
    parser.add_argument("--out", default="/tmp/bench-energy.json", help="JSON with every size's numbers")
    parser.add_argument("--work", default="/tmp/bench-energy", help="scratch directory")
    parser.add_argument("--train-max", type=int, default=50,
                        help="time LightGBM training only for sizes up to this many household-years")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    work = Path(args.work)
    landing = work / "landing"
    if args.worker is not None:
        out = work / f"run-{args.worker}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        print(json.dumps(worker(args.worker, landing, out, train=args.worker <= args.train_max)))
        shutil.rmtree(out, ignore_errors=True)
        return
    landing.mkdir(parents=True, exist_ok=True)
    generate_year(landing)
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        done = subprocess.run([sys.executable, __file__, "--work", str(work), "--worker", str(size),
                               "--train-max", str(args.train_max)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"size {size} failed")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    Path(args.out).write_text(json.dumps(results, indent=2))
    for result in results:
        print(f"household_years={result['household_years']} ratio_to_floor={result['ratio_to_floor']}")
    if len(results) > 1:
        first, last = results[0], results[-1]
        data = last["household_years"] / first["household_years"]
        mem = last["peak_rss_mb"] / first["peak_rss_mb"]
        print(f"data grew {data:g}x, peak memory grew {mem:.2f}x (ratio memory/data growth {mem / data:.3f})")


if __name__ == "__main__":
    main()
