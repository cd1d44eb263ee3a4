"""Deterministic synthetic trade ticks with injected defects at known rates (``lakehouse generate ticks``).

Shape: prices per symbol with about 1.5% daily volatility, a U-shaped intraday intensity (busy open and
close) plus short bursts, several exchanges. Each exchange delivers one landing file; exchanges alternate
between CSV and Parquet. Defects are injected on disjoint rows so their counts are exact and written to
``_manifest.json`` next to the files (the readers ignore files starting with ``_``). The same seed and
date always give byte-identical files. NumPy/PyArrow only: no Spark.

Short-horizon structure (``signal``, default :data:`DEFAULT_SIGNAL`; 0 gives a pure random walk): every
symbol-minute is a *flow* minute (informed order flow: large trades) or a *quiet* one (small trades), half
and half at random, so the regime shows in the 1-minute bar's volume. After a flow minute the next bar
continues the move (``+signal`` x this bar's log return), after a quiet one it reverts (``-signal`` x, the
bid-ask bounce); the rest is the random walk, scaled so the daily volatility stays the same. With the
regimes balanced the lagged returns carry no linear information (lag-1 autocorrelation about 0), so a
logistic regression on past returns stays at chance, while a tree model that splits on volume and return
together predicts the next bar's direction. The signal is deliberately stronger than in real markets so
that one generated day is enough to learn it. The regimes set the trade sizes whatever ``signal`` is:
only the prices change with it.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from lakehouse import storage
from lakehouse.settings import LakehouseSettings
from spark_jobs.finance.io import landing_dir
from spark_jobs.finance.session import Session, trading_session

if TYPE_CHECKING:
    import pyarrow as pa

EXCHANGES = ("XNYS", "XNAS", "ARCX", "BATS")
TICKERS = ("AAPL", "MSFT", "AMZN", "GOOG", "META", "NVDA", "TSLA", "JPM", "V", "XOM",
           "JNJ", "WMT", "PG", "KO", "DIS", "INTC", "CSCO", "ORCL", "IBM", "NFLX")
CSV_HEADER = "symbol,exchange,ts,price,size,trade_id"
CSV_COLUMNS = tuple(CSV_HEADER.split(","))
MANIFEST = "_manifest.json"
DAILY_VOLATILITY = 0.015
# Default strength of the order-flow signal (``signal`` of generate_ticks; 0 = pure random walk).
DEFAULT_SIGNAL = 0.7
# Log trade sizes: mean 3.5 +- FLOW_SIZE_SHIFT in flow / quiet minutes with sd FLOW_SIZE_SD (together
# about lognormal(3.5, 1.17), close to the single lognormal(3.5, 1) sizes the generator drew before).
FLOW_SIZE_SHIFT = 1.0
FLOW_SIZE_SD = 0.6


@dataclass(frozen=True)
class DefectRates:
    """Fraction of generated ticks that get each defect (disjoint rows; duplicates are extra rows).

    Each defect maps to the quarantine reason the silver job must give it; ``out_of_order`` rows
    are valid ticks displaced in file order (silver keeps them, sorted).
    """

    missing_field: float = 0.002
    non_positive_price: float = 0.001
    non_positive_size: float = 0.001
    duplicate: float = 0.002
    out_of_order: float = 0.005
    outlier: float = 0.0005
    outside_session: float = 0.002
    unparseable_timestamp: float = 0.0005  # CSV files only
    unparseable_number: float = 0.0005  # CSV files only
    wrong_column_count: float = 0.0005  # CSV files only

    @classmethod
    def none(cls) -> DefectRates:
        """No defects at all (benchmarks, clean fixtures)."""
        return cls(**{name: 0.0 for name in cls.__dataclass_fields__})


CSV_ONLY = ("unparseable_timestamp", "unparseable_number", "wrong_column_count")


@dataclass
class GeneratedTicks:
    """One trade date of generated ticks, per exchange, plus the exact defect counts."""

    trade_date: dt.date
    tables: dict[str, pa.Table]  # exchange -> typed rows in file order (ts as epoch micros)
    formats: dict[str, str]  # exchange -> "csv" | "parquet"
    corrupt: dict[str, dict[int, str]]  # exchange -> {row index: replacement CSV line}
    defects: dict[str, int] = field(default_factory=dict)
    clean_ticks: int = 0

    @property
    def total_rows(self) -> int:
        return sum(t.num_rows for t in self.tables.values())


def symbol_names(count: int) -> list[str]:
    """Realistic tickers first, then SYM020, SYM021, ..."""
    return [TICKERS[i] if i < len(TICKERS) else f"SYM{i:03d}" for i in range(count)]


def _rng(seed: int, trade_date: dt.date, stream: int = 0) -> np.random.Generator:
    return np.random.default_rng([seed, trade_date.toordinal(), stream])


def _tick_times(rng: np.random.Generator, n: int, session: Session) -> np.ndarray:
    """Epoch microseconds: U-shaped intensity over the session plus a few short bursts."""
    start_us = session.open_epoch_s * 1_000_000
    length_us = (session.close_epoch_s - session.open_epoch_s) * 1_000_000
    frac = rng.beta(0.7, 0.7, size=n)  # U-shaped density: busy open and close
    bursty = rng.random(n) < 0.1
    n_bursts = 8
    centers = rng.random(n_bursts)
    which = rng.integers(0, n_bursts, size=n)
    burst_frac = centers[which] + rng.normal(0, 30 / (length_us / 1e6), size=n)  # ~30 s wide
    frac = np.where(bursty, burst_frac, frac)
    frac = np.clip(frac, 0, 1 - 1e-9)
    return start_us + (frac * length_us).astype(np.int64)


def generate_ticks(
    trade_date: dt.date,
    session: Session,
    *,
    symbols: int = 5,
    ticks: int = 10_000,
    seed: int = 7,
    rates: DefectRates | None = None,
    exchanges: tuple[str, ...] = EXCHANGES,
    formats: tuple[str, ...] = ("csv", "parquet"),
    signal: float = DEFAULT_SIGNAL,
) -> GeneratedTicks:
    """Generate ``ticks`` valid trades plus injected defect rows for ``trade_date`` (deterministic).

    ``signal`` (0 <= signal < 1) is the strength of the order-flow structure of the module doc: the next
    bar's log return carries ``+signal`` (flow minute) or ``-signal`` (quiet minute) times this bar's; 0
    gives a pure random walk with nothing to learn about the next bar's direction.
    """
    import pyarrow as pa

    if not 0.0 <= signal < 1.0:
        raise ValueError(f"signal must be in [0, 1), got {signal}")
    rates = rates or DefectRates()
    rng = _rng(seed, trade_date)
    names = np.array(symbol_names(symbols))
    weights = 1.0 / np.arange(1, symbols + 1) ** 0.8  # a few symbols trade much more than the rest
    sym_idx = rng.choice(symbols, size=ticks, p=weights / weights.sum())
    times = _tick_times(rng, ticks, session)

    # Per symbol-minute order-flow regime (see the module doc): it sets the trade sizes, so it shows in
    # the bar's volume, and it decides whether the next bar continues or reverses this one.
    flow = rng.random((symbols, session.minutes)) < 0.5
    minute = np.minimum((times - session.open_epoch_s * 1_000_000) // 60_000_000, session.minutes - 1)
    size_shift = np.where(flow[sym_idx, minute], FLOW_SIZE_SHIFT, -FLOW_SIZE_SHIFT)
    sizes = np.maximum(1, np.round(rng.lognormal(3.5 + size_shift, FLOW_SIZE_SD))).astype(np.float64)

    # Random walk per symbol in time order: increments scaled by sqrt(elapsed seconds). Its variance is
    # lowered by (1 - signal^2) so the signal's share keeps the daily volatility at DAILY_VOLATILITY.
    order = np.lexsort((times, sym_idx))
    s_sorted, t_sorted = sym_idx[order], times[order]
    first = np.r_[True, s_sorted[1:] != s_sorted[:-1]]
    dt_s = np.where(first, 0.0, np.diff(t_sorted, prepend=t_sorted[0]) / 1e6)
    sigma_per_s = DAILY_VOLATILITY / np.sqrt(session.minutes * 60) * np.sqrt(1.0 - signal**2)
    steps = rng.normal(0, 1, size=ticks) * np.sqrt(dt_s) * sigma_per_s
    cum = np.cumsum(steps)
    group_start = np.maximum.accumulate(np.where(first, np.arange(ticks), 0))
    walk = cum - cum[group_start] + steps[group_start]
    p0 = np.round(rng.uniform(20, 500, size=symbols), 2)
    walk = walk + _flow_drift(walk, s_sorted, minute[order], flow, p0, signal)
    prices_sorted = np.round(p0[s_sorted] * np.exp(walk), 2)
    prices = np.empty(ticks)
    prices[order] = prices_sorted
    exch_idx = rng.integers(0, len(exchanges), size=ticks)

    fmt_of = {e: formats[i % len(formats)] for i, e in enumerate(exchanges)}
    csv_rows = np.flatnonzero(np.array([fmt_of[exchanges[i]] == "csv" for i in range(len(exchanges))])[exch_idx])

    # Disjoint defect rows: a permutation hands out indices in turn (CSV-only kinds from CSV rows).
    counts: dict[str, int] = {}
    taken = np.zeros(ticks, dtype=bool)
    chosen: dict[str, np.ndarray] = {}
    for kind, rate in asdict(rates).items():
        pool = csv_rows if kind in CSV_ONLY else np.arange(ticks)
        pool = pool[~taken[pool]]
        k = min(len(pool), round(rate * ticks))
        picked = np.sort(rng.choice(pool, size=k, replace=False)) if k else np.array([], dtype=np.int64)
        taken[picked] = True
        chosen[kind] = picked
        counts[kind] = int(k)

    price_v = prices.copy()
    size_v = sizes.copy()
    time_v = times.copy()
    # missing fields cycle through symbol, ts, price, size
    nulls = {name: np.zeros(ticks, dtype=bool) for name in ("symbol", "ts", "price", "size")}
    for j, name in enumerate(nulls):
        nulls[name][chosen["missing_field"][j::4]] = True
    for j, i in enumerate(chosen["non_positive_price"]):
        price_v[i] = 0.0 if j % 2 == 0 else -abs(prices[i])
    for j, i in enumerate(chosen["non_positive_size"]):
        size_v[i] = 0.0 if j % 2 == 0 else -sizes[i]
    for j, i in enumerate(chosen["outlier"]):
        factor = 1 + (0.08 + 0.12 * rng.random()) * (1 if j % 2 == 0 else -1)  # 8-20% away
        price_v[i] = round(prices[i] * factor, 2)
    for j, i in enumerate(chosen["outside_session"]):
        offset = int(rng.integers(60, 3600)) * 1_000_000
        # up to an hour before the open or after the close: still the same local date
        base = session.open_epoch_s * 1_000_000 - offset if j % 2 == 0 else session.close_epoch_s * 1_000_000
        time_v[i] = base if j % 2 == 0 else base + offset - 60_000_000

    trade_ids = _trade_ids(exchanges, exch_idx)
    corrupt_lines: dict[int, str] = {}
    for j, i in enumerate(chosen["unparseable_timestamp"]):
        corrupt_lines[int(i)] = ("ts", ("not-a-time", "2024-13-45T99:00:00Z", "yesterday")[j % 3])
    for j, i in enumerate(chosen["unparseable_number"]):
        corrupt_lines[int(i)] = (("price", "size")[j % 2], ("N/A", "12..5", "1,0x")[j % 3].replace(",", ";"))
    for j, i in enumerate(chosen["wrong_column_count"]):
        corrupt_lines[int(i)] = ("columns", "extra" if j % 2 == 0 else "short")

    # Exact duplicates: copies of clean rows, inserted in the same file.
    dup_src = chosen["duplicate"]
    base_index = np.arange(ticks)
    tables: dict[str, pa.Table] = {}
    corrupt: dict[str, dict[int, str]] = {}
    for e, exchange in enumerate(exchanges):
        rows = base_index[exch_idx == e]
        rows = rows[np.argsort(time_v[rows], kind="stable")]
        dups = dup_src[exch_idx[dup_src] == e]
        if len(dups):
            positions = rng.integers(0, len(rows) + 1, size=len(dups))
            rows = np.insert(rows, np.sort(positions), dups)
        ooo = np.flatnonzero(np.isin(rows, chosen["out_of_order"]))
        for pos in ooo:  # move the row a few hundred places away
            target = int(np.clip(pos + rng.integers(-300, 300), 0, len(rows) - 1))
            rows[[pos, target]] = rows[[target, pos]]
        ts_col = pa.array(time_v[rows], mask=nulls["ts"][rows], type=pa.int64())
        tables[exchange] = pa.table({
            "symbol": pa.array(names, type=pa.string()).take(pa.array(sym_idx[rows], mask=nulls["symbol"][rows])),
            "exchange": pa.array([exchange] * len(rows), type=pa.string()),
            "ts_us": ts_col,
            "price": pa.array(price_v[rows], mask=nulls["price"][rows], type=pa.float64()),
            "size": pa.array(size_v[rows], mask=nulls["size"][rows], type=pa.float64()),
            "trade_id": trade_ids.take(pa.array(rows)),
        })
        corrupt[exchange] = {pos: corrupt_lines[int(r)] for pos, r in enumerate(rows) if int(r) in corrupt_lines}
    clean = ticks - sum(v for k, v in counts.items() if k not in ("duplicate", "out_of_order"))
    return GeneratedTicks(trade_date, tables, fmt_of, corrupt, counts, clean)  # type: ignore[arg-type]


def _flow_drift(walk: np.ndarray, sym: np.ndarray, minute: np.ndarray, flow: np.ndarray, p0: np.ndarray,
                signal: float) -> np.ndarray:
    """Log-price offset of every tick (ticks sorted by symbol, then time) that adds the order-flow signal.

    Bar by bar per symbol: when minute m and m+1 both trade, every tick of m+1 moves by
    ``signal x (+1 if m is a flow minute else -1) x r_m`` on top of the offsets before it, where r_m is the
    log return of bar m's close (its last trade, rounded to the cent as written) over the previous traded
    bar's: exactly gold.ohlcv_1m's ``log_return``, so the model sees the return the structure reacts to.
    """
    drift = np.zeros(len(walk))
    if signal == 0.0 or not len(walk):
        return drift
    key = sym.astype(np.int64) * flow.shape[1] + minute
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])  # each traded (symbol, minute) is one run
    ends = np.r_[starts[1:], len(key)]
    level, prev_symbol, prev_minute, prev_log_close, prev_return = 0.0, -1, -2, 0.0, 0.0
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        symbol, m = int(sym[a]), int(minute[a])
        if symbol != prev_symbol:
            level, prev_minute, prev_return = 0.0, -2, 0.0
        elif m == prev_minute + 1:  # only adjacent traded bars: a minute without trades breaks the chain
            level += signal * (1.0 if flow[symbol, prev_minute] else -1.0) * prev_return
        drift[a:b] = level
        log_close = float(np.log(round(float(p0[symbol] * np.exp(walk[b - 1] + level)), 2)))
        prev_return = log_close - prev_log_close if symbol == prev_symbol else 0.0
        prev_symbol, prev_minute, prev_log_close = symbol, m, log_close
    return drift


def _trade_ids(exchanges: tuple[str, ...], exch_idx: np.ndarray) -> pa.Array:
    """'<EXCHANGE>-<9-digit sequence>' for every generated tick (vectorised)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = pa.array(exchanges, type=pa.string()).take(pa.array(exch_idx))
    seq = pc.utf8_lpad(pc.cast(pa.array(np.arange(len(exch_idx))), pa.string()), 9, "0")
    return pc.binary_join_element_wise(names, seq, "-")


def _iso(ts_us: pa.Array) -> pa.Array:
    import pyarrow as pa
    import pyarrow.compute as pc

    ts = pc.cast(ts_us, pa.timestamp("us", tz="UTC"))
    return pc.binary_join_element_wise(pc.strftime(ts, format="%Y-%m-%dT%H:%M:%S"), pa.scalar("Z"), "")


def _number_text(values: pa.Array) -> pa.Array:
    """Prices/sizes as text: integers without '.0', others as Python would print them."""
    return pa_array_of([None if v is None else (str(int(v)) if float(v).is_integer() else repr(float(v)))
                        for v in values.to_pylist()])


def pa_array_of(values: list[Any]) -> pa.Array:
    import pyarrow as pa

    return pa.array(values, type=pa.string())


def csv_bytes(table: pa.Table, corrupt: dict[int, Any]) -> bytes:
    """The exchange's rows as a CSV file with header; corrupted rows rewritten as recorded."""
    import pyarrow.compute as pc

    columns = [
        table["symbol"].combine_chunks(),
        table["exchange"].combine_chunks(),
        _iso(table["ts_us"].combine_chunks()),
        _number_text(table["price"].combine_chunks()),
        _number_text(table["size"].combine_chunks()),
        table["trade_id"].combine_chunks(),
    ]
    lines = pc.binary_join_element_wise(*columns, ",", null_handling="replace", null_replacement="").to_pylist()
    for pos, (what, value) in corrupt.items():
        fields = lines[pos].split(",")
        if what == "columns":
            fields = [*fields, "EXTRA"] if value == "extra" else fields[:-1]
        else:
            fields[CSV_COLUMNS.index(what)] = value
        lines[pos] = ",".join(fields)
    out = io.StringIO()
    out.write(CSV_HEADER + "\n")
    for line in lines:
        out.write(line + "\n")
    return out.getvalue().encode()


def parquet_table(table: pa.Table) -> pa.Table:
    """The exchange's rows as typed Parquet columns (timestamps as UTC microseconds)."""
    import pyarrow as pa

    return table.set_column(2, "ts", table["ts_us"].cast(pa.timestamp("us", tz="UTC")))


def _clear_dir(settings: LakehouseSettings, uri: str) -> None:
    import pyarrow.fs as pafs

    fs, path = storage.filesystem(settings, uri)
    if fs.get_file_info(path).type == pafs.FileType.Directory:
        fs.delete_dir_contents(path)
    fs.create_dir(path, recursive=True)


def _write(settings: LakehouseSettings, uri: str, data: bytes) -> None:
    storage.write_bytes(settings, uri, data)


def write_landing(settings: LakehouseSettings, batch: GeneratedTicks, *, clear: bool = True) -> list[str]:
    """Write one file per exchange (CSV or Parquet) and the manifest; return the data file URIs."""
    import pyarrow.parquet as pq

    folder = landing_dir(settings, batch.trade_date)
    if clear:
        _clear_dir(settings, folder)
    uris = []
    for exchange, table in batch.tables.items():
        fmt = batch.formats[exchange]
        uri = storage.join(folder, f"ticks-{exchange}.{fmt}")
        if fmt == "csv":
            _write(settings, uri, csv_bytes(table, batch.corrupt[exchange]))
        else:
            sink = io.BytesIO()
            pq.write_table(parquet_table(table), sink, compression="zstd")
            _write(settings, uri, sink.getvalue())
        uris.append(uri)
    manifest = {"trade_date": batch.trade_date.isoformat(), "rows": batch.total_rows,
                "clean_ticks": batch.clean_ticks, "defects": batch.defects, "files": uris}
    _write(settings, storage.join(folder, MANIFEST), json.dumps(manifest, indent=2).encode())
    return uris


def binance_csv_bytes(trade_date: dt.date, session: Session, *, ticks: int, seed: int = 7,
                      epoch_unit: str = "ms", start_price: float = 42_000.0) -> bytes:
    """Binance spot trades CSV (no header): id, price, qty, quote_qty, time, is_buyer_maker, is_best_match."""
    rng = _rng(seed, trade_date, stream=1)
    times = np.sort(_tick_times(rng, ticks, session))
    walk = np.cumsum(rng.normal(0, 1, size=ticks)) * DAILY_VOLATILITY / np.sqrt(max(ticks, 1))
    prices = np.round(start_price * np.exp(walk), 2)
    qty = np.round(rng.lognormal(-4, 1.0, size=ticks), 5) + 0.00001
    divisor = 1000 if epoch_unit == "ms" else 1
    lines = []
    for i in range(ticks):
        quote = round(prices[i] * qty[i], 8)
        maker = "True" if rng.random() < 0.5 else "False"
        lines.append(f"{1_000_000 + i},{prices[i]:.2f},{qty[i]:.5f},{quote:.8f},{times[i] // divisor},{maker},True")
    return ("\n".join(lines) + "\n").encode()


def write_binance(settings: LakehouseSettings, trade_date: dt.date, *, symbol: str = "BTCUSDT", ticks: int,
                  seed: int = 7, epoch_unit: str = "ms") -> str:
    """Write a Binance spot trades file for ``symbol`` into the date's landing folder."""
    fin = settings.finance
    session = trading_session(fin, trade_date)
    uri = storage.join(landing_dir(settings, trade_date), "binance", f"{symbol}-trades-{trade_date.isoformat()}.csv")
    fs, path = storage.filesystem(settings, uri)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    _write(settings, uri, binance_csv_bytes(trade_date, session, ticks=ticks, seed=seed, epoch_unit=epoch_unit))
    return uri


def generate_landing(settings: LakehouseSettings, trade_date: dt.date, *, symbols: int = 5, ticks: int = 10_000,
                     seed: int = 7, rates: DefectRates | None = None, binance_ticks: int = 0,
                     formats: tuple[str, ...] = ("csv", "parquet"), signal: float = DEFAULT_SIGNAL) -> dict[str, Any]:
    """Generate and write the landing files of one date; return the manifest (``signal``: see generate_ticks)."""
    fin = settings.finance
    session = trading_session(fin, trade_date)
    batch = generate_ticks(trade_date, session, symbols=symbols, ticks=ticks, seed=seed, rates=rates,
                           formats=formats, signal=signal)
    files = write_landing(settings, batch)
    if binance_ticks:
        files.append(write_binance(settings, trade_date, ticks=binance_ticks, seed=seed))
    return {"trade_date": trade_date.isoformat(), "rows": batch.total_rows + binance_ticks,
            "clean_ticks": batch.clean_ticks + binance_ticks, "defects": batch.defects, "files": files}
