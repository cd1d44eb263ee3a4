"""spark-submit entry point: published silver.ticks -> gold.ohlcv_1m, staged for the quality gate."""

from __future__ import annotations

from typing import Any

from lakehouse.jobs import JobContext, run_job
from lakehouse.publish import stage_for_date
from lakehouse.read import read_for_date
from schemas.finance import GOLD_OHLCV_1M, SILVER_TICKS
from spark_jobs.finance.session import trading_session
from spark_jobs.finance.transforms import build_gold


def main(ctx: JobContext) -> dict[str, Any]:
    """One-minute OHLCV/VWAP bars with gaps filled and window features, for the published silver date."""
    from pyspark.sql import functions as F

    fin = ctx.settings.finance
    session = trading_session(fin, ctx.logical_date)
    silver = read_for_date(ctx.spark, ctx.settings, SILVER_TICKS, ctx.logical_date)
    gold = build_gold(silver, session, ema_span=fin.ema_span, volatility_window=fin.volatility_window)
    result = stage_for_date(ctx.spark, ctx.settings, GOLD_OHLCV_1M, gold, logical_date=ctx.logical_date,
                            run_id=ctx.run_id)
    staged = read_for_date(ctx.spark, ctx.settings, GOLD_OHLCV_1M, ctx.logical_date, ref=result.branch)
    stats = staged.agg(F.count(F.lit(1)).alias("bars"), F.countDistinct("symbol").alias("symbols"),
                       F.sum(F.col("filled").cast("int")).alias("filled")).collect()[0]
    return {"logical_date": ctx.logical_date, "bars": stats["bars"], "symbols": stats["symbols"],
            "filled_bars": stats["filled"] or 0, "session_minutes": session.minutes, "branch": result.branch}


if __name__ == "__main__":
    run_job(main, app_name="finance-gold")
