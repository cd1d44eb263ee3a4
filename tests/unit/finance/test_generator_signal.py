"""The generator's order-flow signal: learnable by the next-bar model through its gold features, invisible to
the logistic baseline, absent at strength 0, and without changing the daily volatility or the defects.

Bars are built here with pandas from the generated (defect-free) ticks the way gold.ohlcv_1m builds them
(last trade as close, carried close on minutes without trades), so these checks need no Spark.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lakehouse.settings import FinanceSettings
from ml.finance import FEATURES, build_dataset, comparisons, fit_model, lgb_params, score, time_split
from spark_jobs.finance import generator
from spark_jobs.finance.session import Session, session_for

DAY = dt.date(2024, 1, 2)


def _session(day: dt.date = DAY) -> Session:
    return session_for(day, "America/New_York", "09:30", "16:00")


def _ticks(signal: float, *, day: dt.date = DAY, symbols: int = 5, ticks: int = 20_000) -> pd.DataFrame:
    batch = generator.generate_ticks(day, _session(day), symbols=symbols, ticks=ticks, seed=7, signal=signal,
                                     rates=generator.DefectRates.none())
    frame = pa.concat_tables(batch.tables.values()).to_pandas()
    return frame.sort_values(["symbol", "ts_us"], kind="stable").reset_index(drop=True)


def _gold_bars(ticks: pd.DataFrame, session: Session) -> pd.DataFrame:
    """gold.ohlcv_1m-shaped bars (features included) from clean ticks."""
    t = ticks.assign(minute_ts=pd.to_datetime(ticks["ts_us"] // 60_000_000 * 60, unit="s", utc=True),
                     notional=ticks["price"] * ticks["size"])
    bars = t.groupby(["symbol", "minute_ts"]).agg(
        open=("price", "first"), high=("price", "max"), low=("price", "min"), close=("price", "last"),
        volume=("size", "sum"), notional=("notional", "sum"), trade_count=("price", "size"))
    grid = pd.date_range(pd.Timestamp(session.open_epoch_s, unit="s", tz="UTC"), periods=session.minutes, freq="min")
    frames = []
    for symbol, df in bars.reset_index().groupby("symbol"):
        df = df.set_index("minute_ts").reindex(grid)
        filled = df["trade_count"].isna()
        close = df["close"].ffill().bfill()
        for column in ("open", "high", "low", "close"):
            df[column] = df[column].where(~filled, close)
        df["vwap"] = (df["notional"] / df["volume"]).where(~filled, close)
        df["volume"], df["trade_count"] = df["volume"].fillna(0.0), df["trade_count"].fillna(0)
        df["filled"], df["symbol"], df["trade_date"] = filled, symbol, session.trade_date
        c = df["close"]
        df["sma_5"], df["sma_20"], df["sma_60"] = (c.rolling(n).mean() for n in (5, 20, 60))
        df["ema_12"] = c.ewm(span=12).mean()
        df["log_return"] = np.log(c / c.shift())
        df["realized_vol_30"] = np.sqrt((df["log_return"] ** 2).rolling(30).sum())
        frames.append(df.rename_axis("minute_ts").reset_index())
    return pd.concat(frames, ignore_index=True)


def _required_losses(signal: float) -> list[str]:
    """The policy comparisons the next-bar model loses on one generated day (held-out real bars)."""
    split = time_split(build_dataset(_gold_bars(_ticks(signal), _session())), 0.3)
    fin = FinanceSettings()
    metrics = score(fit_model(split, lgb_params(fin), fin.num_boost_round, FEATURES), split, FEATURES)
    return [f"{c.metric} vs {c.baseline}" for c in comparisons(metrics) if c.required and not c.won]


def test_the_model_beats_its_baselines_with_the_signal_and_not_without() -> None:
    assert _required_losses(generator.DEFAULT_SIGNAL) == []
    assert _required_losses(0.0) != []  # a random walk: nothing to learn, the policy must reject it


def _real_pairs(signal: float, days: int = 4) -> pd.DataFrame:
    """One-minute returns of traded bars after a traded bar, with the bar's mean log trade size and the
    next bar's return when that one traded too."""
    frames = []
    for i in range(days):
        day = DAY + dt.timedelta(days=i)
        ticks = _ticks(signal, day=day, symbols=4, ticks=30_000)
        bars = _gold_bars(ticks, _session(day))
        minute_ts = pd.to_datetime(ticks["ts_us"] // 60_000_000 * 60, unit="s", utc=True)
        log_size = np.log(ticks["size"]).groupby([ticks["symbol"], minute_ts]).mean().rename("log_size")
        bars = bars.join(log_size, on=["symbol", "minute_ts"])
        traded = ~bars["filled"].astype(bool)
        by_symbol = traded.groupby(bars["symbol"])
        bars["next_return"] = bars.groupby("symbol")["log_return"].shift(-1)
        real = traded & by_symbol.shift(1, fill_value=False) & by_symbol.shift(-1, fill_value=False)
        frames.append(bars[real].dropna(subset=["log_return", "next_return"]))
    return pd.concat(frames, ignore_index=True)


def test_the_signal_is_an_interaction_of_return_and_volume_regime() -> None:
    pairs = _real_pairs(generator.DEFAULT_SIGNAL)
    corr = pairs["log_return"].corr(pairs["next_return"])
    assert abs(corr) < 0.1, f"no linear lag-1 autocorrelation for a logistic model to use: {corr:.3f}"
    flow = pairs["log_size"] > 3.5  # the flow regime's large trades (FLOW_SIZE_SHIFT above the mean)
    momentum = pairs.loc[flow, "log_return"].corr(pairs.loc[flow, "next_return"])
    reversal = pairs.loc[~flow, "log_return"].corr(pairs.loc[~flow, "next_return"])
    assert momentum > 0.25 and reversal < -0.25, (momentum, reversal)
    plain = _real_pairs(0.0)
    flow = plain["log_size"] > 3.5
    for part in (plain[flow], plain[~flow]):
        assert abs(part["log_return"].corr(part["next_return"])) < 0.1


def test_the_signal_keeps_the_daily_volatility() -> None:
    def daily_vol(signal: float) -> float:
        """Root mean realized variance of a symbol-day from its one-minute closes."""
        variances = []
        for i in range(4):
            day = DAY + dt.timedelta(days=i)
            bars = _gold_bars(_ticks(signal, day=day, symbols=4, ticks=30_000), _session(day))
            variances += list((bars["log_return"] ** 2).groupby(bars["symbol"]).sum())
        return float(np.sqrt(np.mean(variances)))

    plain, structured = daily_vol(0.0), daily_vol(generator.DEFAULT_SIGNAL)
    assert plain == pytest.approx(generator.DAILY_VOLATILITY, rel=0.25)
    assert structured == pytest.approx(plain, rel=0.15)


def test_the_signal_changes_prices_only_and_stays_deterministic() -> None:
    session = _session()
    plain = generator.generate_ticks(DAY, session, symbols=3, ticks=4000, seed=3, signal=0.0)
    structured = generator.generate_ticks(DAY, session, symbols=3, ticks=4000, seed=3, signal=0.7)
    again = generator.generate_ticks(DAY, session, symbols=3, ticks=4000, seed=3, signal=0.7)
    assert structured.defects == plain.defects and structured.clean_ticks == plain.clean_ticks
    assert structured.corrupt == plain.corrupt
    for exchange, table in structured.tables.items():
        assert table.equals(again.tables[exchange])
        for column in ("symbol", "ts_us", "size", "trade_id"):
            assert table[column].equals(plain.tables[exchange][column]), column
    assert any(not t["price"].equals(plain.tables[e]["price"]) for e, t in structured.tables.items())


@pytest.mark.parametrize("signal", [-0.1, 1.0])
def test_signal_outside_zero_to_one_is_refused(signal: float) -> None:
    with pytest.raises(ValueError, match="signal must be in"):
        generator.generate_ticks(DAY, _session(), symbols=2, ticks=100, signal=signal)
