"""Finance benchmark: the medallion against its I/O floor F, silver+gold transforms, Spark vs DuckDB.

For each size (ticks per day) the script generates one day of Parquet landing files (default defect
rates, 50 symbols) and runs, each in its own process so peak memory is measured per engine:

* ``iceberg_floor``   F: one plain Spark read of the landed files + one Iceberg append of the same
                      rows, on the lakehouse's own Spark session settings (``get_spark``);
* ``medallion_io``    the medallion's own I/O with no rule, gate or staging, in the same kind of session:
                      the raw job's read and text rendering appended to an Iceberg table, read back and
                      typed by plain casts into a silver-shaped append, read back into the real minute
                      bars appended as gold. What the design writes and reads before any rule runs;
* ``medallion``       the finance DAG's data work through the real jobs in one warm session of the
                      same settings (``lakehouse run`` without the training tail): landing -> raw ->
                      silver + quarantine (staged) -> gate + publish -> gold (staged) -> gate + publish,
                      with seconds per step;
* ``spark_io``        plain Spark read of the landing Parquet and write back (the I/O floor);
* ``spark_pipeline``  the real pipeline transforms: adapter -> raw -> classify (typing, session,
                      dedupe, MAD outliers) -> silver + quarantine Parquet -> gold (OHLCV, VWAP, gap
                      fill, SMA/EMA, returns, volatility) Parquet;
* ``spark_sql``       the plain OHLCV + VWAP + SMA 5/20/60 + log-return SQL below on Spark;
* ``duckdb_sql``      the same SQL on DuckDB over the same Parquet files.

Timings exclude JVM start (each Spark worker warms its session first). Peak memory is the maximum
resident set of the worker's whole process tree (JVM included), sampled every 100 ms.

    .venv/bin/python bench/bench_finance.py --sizes 1000000,5000000,20000000
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DAY = dt.date(2024, 1, 2)
TZ, OPEN, CLOSE = "America/New_York", "09:30", "16:00"
ENGINES = ("iceberg_floor", "medallion_io", "medallion", "spark_io", "spark_pipeline", "spark_sql", "duckdb_sql")

# The same computation for both SQL engines ({src} is a view over the landing Parquet files).
BARS_SQL = """
WITH clean AS (
  SELECT DISTINCT symbol, exchange, ts, price, size, trade_id FROM {src}
  WHERE symbol IS NOT NULL AND ts IS NOT NULL AND price > 0 AND size > 0
    AND ts >= TIMESTAMP '{open}' AND ts < TIMESTAMP '{close}'
), bars AS (
  SELECT symbol, date_trunc('minute', ts) AS minute_ts,
         min_by(price, ts) AS open, max(price) AS high, min(price) AS low, max_by(price, ts) AS close,
         sum(size) AS volume, sum(price * size) / sum(size) AS vwap, count(*) AS trade_count
  FROM clean GROUP BY symbol, date_trunc('minute', ts)
)
SELECT *,
  avg(close) OVER (PARTITION BY symbol ORDER BY minute_ts ROWS BETWEEN 4 PRECEDING AND CURRENT ROW) AS sma_5,
  avg(close) OVER (PARTITION BY symbol ORDER BY minute_ts ROWS BETWEEN 19 PRECEDING AND CURRENT ROW) AS sma_20,
  avg(close) OVER (PARTITION BY symbol ORDER BY minute_ts ROWS BETWEEN 59 PRECEDING AND CURRENT ROW) AS sma_60,
  ln(close / lag(close) OVER (PARTITION BY symbol ORDER BY minute_ts)) AS log_return
FROM bars
"""


def _session() -> Any:
    from spark_jobs.finance.session import session_for

    return session_for(DAY, TZ, OPEN, CLOSE)


def generate(workdir: Path, ticks: int, symbols: int) -> Path:
    """Landing Parquet files (one per exchange) for ``ticks`` trades; reused when present."""
    import pyarrow.parquet as pq

    from spark_jobs.finance.generator import generate_ticks, parquet_table

    landing = workdir / f"landing-{ticks}"
    if (landing / "_SUCCESS").exists():
        return landing
    shutil.rmtree(landing, ignore_errors=True)
    landing.mkdir(parents=True)
    batch = generate_ticks(DAY, _session(), symbols=symbols, ticks=ticks, seed=7, formats=("parquet",))
    for exchange, table in batch.tables.items():
        pq.write_table(parquet_table(table), landing / f"ticks-{exchange}.parquet", compression="zstd")
    (landing / "_SUCCESS").write_text(json.dumps({"rows": batch.total_rows}))
    return landing


def _spark(driver_memory: str) -> Any:
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    spark = (SparkSession.builder.master("local[2]").appName("bench-finance")
             .config("spark.driver.memory", driver_memory)
             .config("spark.sql.session.timeZone", "UTC")
             .config("spark.sql.shuffle.partitions", "8")
             .config("spark.ui.enabled", "false")
             .config("spark.driver.bindAddress", "127.0.0.1").config("spark.driver.host", "127.0.0.1")
             .getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    spark.range(1000).selectExpr("sum(id)").collect()  # warm the JVM before timing
    return spark


def _files(landing: Path) -> list[str]:
    return sorted(str(p) for p in landing.glob("*.parquet"))


def _raw_rows(spark: Any, landing: Path) -> Any:
    """The landed ticks as the raw job reads and renders Parquet (one file at a time, unioned) with raw's columns."""
    from spark_jobs.finance.adapters import read_parquet
    from spark_jobs.finance.transforms import to_raw

    landed = None
    for f in _files(landing):
        part = read_parquet(spark, [f])
        landed = part if landed is None else landed.unionByName(part)
    return to_raw(landed, DAY, "bench", dt.datetime(2024, 1, 2, 22, tzinfo=dt.UTC))


def lakehouse_worker(engine: str, landing: Path, out: Path, driver_memory: str) -> dict[str, Any]:
    """F, the medallion's own I/O or the medallion on a fresh lakehouse home under ``out`` (the same session
    settings for all three)."""
    from lakehouse.catalog import create_tables
    from lakehouse.runner import run_pipeline
    from lakehouse.settings import LakehouseSettings
    from lakehouse.spark import get_spark
    from spark_jobs.finance.io import landing_dir
    from spark_jobs.finance.pipeline import FINANCE_TICKS

    events = out / "events"
    events.mkdir(parents=True, exist_ok=True)
    # The event log gives each step's Spark jobs, executor CPU and shuffled rows (profile_steps); F runs with
    # it too, so both sides pay the same.
    settings = LakehouseSettings(profile="local", home=out / "lake", spark={
        "driver_memory": driver_memory,
        "conf": {"spark.eventLog.enabled": "true", "spark.eventLog.dir": events.as_uri()}})
    create_tables(settings)
    spark = get_spark(settings, app_name=f"bench-{engine}")
    spark.range(1000).selectExpr("sum(id)").collect()  # warm the JVM before timing
    if engine == "iceberg_floor":
        spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {settings.catalog.name}.bench")
        start = time.perf_counter()
        spark.read.parquet(*_files(landing)).writeTo(settings.table_name("bench.floor")).using("iceberg").create()
        return {"seconds": time.perf_counter() - start}
    if engine == "medallion_io":
        layers = medallion_io(spark, settings, landing)
        return {"seconds": sum(layers.values()), "steps": layers}
    folder = Path(landing_dir(settings, DAY).removeprefix("file://"))
    folder.mkdir(parents=True)
    for f in _files(landing):
        os.link(f, folder / Path(f).name)
    data_steps = dataclasses.replace(FINANCE_TICKS, steps=tuple(
        s for s in FINANCE_TICKS.steps if type(s).__name__ in ("Stage", "Gate")))
    start, start_epoch_ms = time.perf_counter(), time.time() * 1000
    outcome = run_pipeline(data_steps, settings, DAY, run_id="bench", spark=spark, emit=False)
    seconds = time.perf_counter() - start
    failed = [f"{s.task_id}: {s.error}" for s in outcome.steps if s.state != "success"]
    if failed:
        raise SystemExit("; ".join(failed))
    spark.stop()  # flushes the event log
    bounds, at = [], start_epoch_ms
    for step in outcome.steps:
        bounds.append((step.task_id, at, at + step.seconds * 1000))
        at += step.seconds * 1000
    return {"seconds": seconds, "steps": {s.task_id: round(s.seconds, 2) for s in outcome.steps},
            "spark": profile_steps(events, bounds)}


def medallion_io(spark: Any, settings: Any, landing: Path) -> dict[str, float]:
    """The medallion's reads and writes without its work: raw as the raw job renders it, silver typed by plain
    casts, gold as the real minute bars, each one plain Iceberg append (no rule, gate, branch or date guard).
    Seconds per layer."""
    from pyspark.sql import functions as F

    from spark_jobs.finance.transforms import PRICE_SQL_TYPE, SIZE_SQL_TYPE, minute_bars

    names = {layer: settings.table_name(f"bench.{layer}_io") for layer in ("raw", "silver", "gold")}
    spark.sql(f"CREATE NAMESPACE IF NOT EXISTS {settings.catalog.name}.bench")
    seconds, start = {}, time.perf_counter()
    _raw_rows(spark, landing).writeTo(names["raw"]).using("iceberg").create()
    seconds["raw"], start = time.perf_counter() - start, time.perf_counter()
    spark.table(names["raw"]).select(
        "trade_date", "symbol", "exchange", F.expr("try_to_timestamp(ts)").alias("ts"),
        F.expr(f"try_cast(price AS {PRICE_SQL_TYPE})").alias("price"),
        F.expr(f"try_cast(size AS {SIZE_SQL_TYPE})").alias("size"), "trade_id", "source_file", "record_id",
    ).writeTo(names["silver"]).using("iceberg").create()
    seconds["silver"], start = time.perf_counter() - start, time.perf_counter()
    minute_bars(spark.table(names["silver"])).writeTo(names["gold"]).using("iceberg").create()
    seconds["gold"] = time.perf_counter() - start
    return {layer: round(s, 2) for layer, s in seconds.items()}


def profile_steps(events: Path, bounds: list[tuple[str, float, float]]) -> dict[str, dict[str, float]]:
    """Per step (by submission time): Spark jobs, executor run and CPU seconds and rows written to
    shuffles, from the event log of the run."""
    jobs: dict[int, float] = {}
    stages: dict[int, dict[str, float]] = {}
    stage_job: dict[int, int] = {}
    for log_file in events.iterdir():
        for line in log_file.read_text().splitlines():
            event = json.loads(line)
            kind = event.get("Event")
            if kind == "SparkListenerJobStart":
                jobs[event["Job ID"]] = event["Submission Time"]
                for stage_id in event.get("Stage IDs", []):
                    stage_job.setdefault(stage_id, event["Job ID"])
            elif kind == "SparkListenerStageCompleted":
                info = event["Stage Info"]
                metrics = {a.get("Name"): a.get("Value") for a in info.get("Accumulables", [])}
                stages[info["Stage ID"]] = {
                    "run_s": float(metrics.get("internal.metrics.executorRunTime", 0)) / 1000,
                    "cpu_s": float(metrics.get("internal.metrics.executorCpuTime", 0)) / 1e9,
                    "shuffled_rows": float(metrics.get("internal.metrics.shuffle.write.recordsWritten", 0)),
                }
    profile = {name: {"jobs": 0, "run_s": 0.0, "cpu_s": 0.0, "shuffled_rows": 0} for name, _, _ in bounds}

    def step_of(epoch_ms: float) -> str | None:
        return next((name for name, lo, hi in bounds if lo <= epoch_ms < hi), None)

    for submitted in jobs.values():
        if (name := step_of(submitted)) is not None:
            profile[name]["jobs"] += 1
    for stage_id, numbers in stages.items():
        job_id = stage_job.get(stage_id)
        name = step_of(jobs[job_id]) if job_id is not None else None
        if name is not None:
            for key, value in numbers.items():
                profile[name][key] += value
    return {name: {k: round(v, 1) if isinstance(v, float) else v for k, v in p.items()} for name, p in profile.items()}


def worker(engine: str, landing: Path, out: Path, driver_memory: str) -> dict[str, Any]:
    """Run one engine once; return the seconds of the measured work (and per-step seconds)."""
    from pyspark import StorageLevel

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    if engine in ("iceberg_floor", "medallion_io", "medallion"):
        return lakehouse_worker(engine, landing, out, driver_memory)
    session = _session()
    sql = BARS_SQL.format(src="ticks", open=session.open_utc.strftime("%Y-%m-%d %H:%M:%S"),
                          close=session.close_utc.strftime("%Y-%m-%d %H:%M:%S"))
    if engine == "duckdb_sql":
        import duckdb

        con = duckdb.connect()
        con.execute("SET TimeZone='UTC'; SET threads=2")
        start = time.perf_counter()
        files = ", ".join(f"'{f}'" for f in _files(landing))
        con.execute(f"CREATE VIEW ticks AS SELECT * FROM read_parquet([{files}])")
        con.execute(f"COPY ({sql}) TO '{out / 'bars.parquet'}' (FORMAT PARQUET)")
        return {"seconds": time.perf_counter() - start}
    spark = _spark(driver_memory)
    start = time.perf_counter()
    if engine == "spark_io":
        spark.read.parquet(*_files(landing)).write.parquet(str(out / "copy"))
    elif engine == "spark_sql":
        spark.read.parquet(*_files(landing)).createOrReplaceTempView("ticks")
        spark.sql(sql).write.parquet(str(out / "bars"))
    elif engine == "spark_pipeline":
        from spark_jobs.finance.transforms import (
            build_gold,
            flag_outliers,
            outlier_statistics,
            prepare_ticks,
            split_silver_quarantine,
        )

        raw = _raw_rows(spark, landing)
        prepared = prepare_ticks(raw, session).persist(StorageLevel.DISK_ONLY)  # as the silver job does
        stats = outlier_statistics(prepared, window_minutes=5).persist(StorageLevel.MEMORY_AND_DISK)
        stats.count()
        silver, quarantine = split_silver_quarantine(flag_outliers(prepared, stats, k=8.0, min_rel_mad=0.0005),
                                                     DAY, "bench")
        silver.write.parquet(str(out / "silver"))
        quarantine.write.parquet(str(out / "quarantine"))
        stats.unpersist()
        prepared.unpersist()
        build_gold(spark.read.parquet(str(out / "silver")), session).write.parquet(str(out / "gold"))
    else:
        raise SystemExit(f"unknown engine {engine}")
    elapsed = time.perf_counter() - start
    spark.stop()
    return {"seconds": elapsed}


def _tree_rss(proc: Any) -> int:
    import psutil

    total = 0
    with contextlib.suppress(psutil.Error):
        for p in [proc, *proc.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                total += p.memory_info().rss
    return total


def measure(engine: str, landing: Path, workdir: Path, driver_memory: str, timeout_s: int) -> dict[str, Any]:
    """Run ``engine`` in a child process; wall seconds of the work, peak RSS of the process tree."""
    import psutil

    out = workdir / f"out-{engine}"
    cmd = [sys.executable, __file__, "--worker", engine, "--landing", str(landing), "--out", str(out),
           "--driver-memory", driver_memory]
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc = psutil.Process(child.pid)
    peak, started = 0, time.monotonic()
    while child.poll() is None:
        peak = max(peak, _tree_rss(proc))
        if time.monotonic() - started > timeout_s:
            child.kill()
            return {"engine": engine, "error": f"timeout after {timeout_s}s"}
        time.sleep(0.1)
    stdout, stderr = child.communicate()
    shutil.rmtree(out, ignore_errors=True)
    if child.returncode != 0:
        return {"engine": engine, "error": (stderr.strip().splitlines() or ["failed"])[-1][:300]}
    result = json.loads(stdout.strip().splitlines()[-1])
    return {"engine": engine, **result, "seconds": round(result["seconds"], 2), "peak_rss_mib": round(peak / 2**20)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1000000,5000000,20000000", help="comma-separated tick counts")
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--engines", default=",".join(ENGINES))
    parser.add_argument("--workdir", default="/tmp/lakehouse-bench-finance")
    parser.add_argument("--driver-memory", default="2g")
    parser.add_argument("--timeout-s", type=int, default=1800)
    parser.add_argument("--keep-data", action="store_true", help="keep generated landing files")
    parser.add_argument("--json", default="/tmp/bench-finance.json", help="where every size's numbers are written")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--landing", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, Path(args.landing), Path(args.out), args.driver_memory)))
        return
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for size in (int(s) for s in args.sizes.split(",")):
        started = time.perf_counter()
        landing = generate(workdir, size, args.symbols)
        rows = json.loads((landing / "_SUCCESS").read_text())["rows"]
        mib = sum(p.stat().st_size for p in landing.glob("*.parquet")) / 2**20
        print(f"# {size:,} ticks ({rows:,} rows incl. defects, {mib:.0f} MiB Parquet) generated in "
              f"{time.perf_counter() - started:.1f}s", flush=True)
        runs = {}
        for engine in args.engines.split(","):
            result = measure(engine, landing, workdir, args.driver_memory, args.timeout_s)
            if "seconds" in result:
                result["ticks_per_s"] = round(rows / result["seconds"])
            runs[engine] = result
            print(json.dumps({"ticks": size, **result}), flush=True)
        ratios = {}
        if "seconds" in runs.get("medallion", {}) and "seconds" in runs.get("iceberg_floor", {}):
            ratios["medallion_over_floor"] = round(runs["medallion"]["seconds"] / runs["iceberg_floor"]["seconds"], 2)
        if "seconds" in runs.get("medallion_io", {}) and "seconds" in runs.get("iceberg_floor", {}):
            ratios["medallion_io_over_floor"] = round(
                runs["medallion_io"]["seconds"] / runs["iceberg_floor"]["seconds"], 2)
        if "seconds" in runs.get("spark_pipeline", {}) and "seconds" in runs.get("spark_io", {}):
            ratios["pipeline_over_io_floor"] = round(runs["spark_pipeline"]["seconds"] / runs["spark_io"]["seconds"], 2)
        if "seconds" in runs.get("spark_sql", {}) and "seconds" in runs.get("duckdb_sql", {}):
            ratios["spark_sql_over_duckdb"] = round(runs["spark_sql"]["seconds"] / runs["duckdb_sql"]["seconds"], 2)
        if "seconds" in runs.get("spark_pipeline", {}) and "seconds" in runs.get("duckdb_sql", {}):
            ratios["pipeline_over_duckdb"] = round(runs["spark_pipeline"]["seconds"] / runs["duckdb_sql"]["seconds"], 2)
        print(json.dumps({"ticks": size, "ratios": ratios}), flush=True)
        results.append({"ticks": size, "rows": rows, "runs": runs, "ratios": ratios})
        if not args.keep_data:
            shutil.rmtree(landing, ignore_errors=True)
    print(json.dumps(results, indent=2))
    Path(args.json).write_text(json.dumps({"load_avg_at_end": os.getloadavg(), "results": results}, indent=2))
    for result in results:
        if "medallion_over_floor" in result["ratios"]:
            print(f"ticks={result['ticks']} ratio_to_floor={result['ratios']['medallion_over_floor']}")


if __name__ == "__main__":
    main()
