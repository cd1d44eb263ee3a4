"""The production silver job quarantines exactly the ticks the frozen reference implementation does, with
the same reasons, and keeps the same typed rows in silver, on a seeded day with every defect kind at ten
times its default rate plus hand-written hostile lines (cross-file duplicates, ties, boundary instants,
epoch timestamps, NaN/Infinity, an empty file).

The reference (``tests/support/finance_silver_reference.py``) is the classification as it was before the
single-pass silver job; the job under test stages its output on an audit branch, which is read back here.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt

from lakehouse import storage
from lakehouse.jobs import run_job
from lakehouse.publish import read_staged
from lakehouse.read import read_for_date
from schemas.finance import QUARANTINE_TICKS, RAW_TICKS, SILVER_TICKS
from spark_jobs.finance import generator
from spark_jobs.finance import io as finance_io
from spark_jobs.finance import raw as raw_job
from spark_jobs.finance import silver as silver_job
from spark_jobs.finance.session import trading_session
from tests.support import finance_silver_reference as reference

DAY = dt.date(2023, 10, 17)  # distinct date: tables are shared within a test run
RUN_ID = f"equivalence__{DAY}"

# Lines a vendor might send, aimed at the rules' edges (session 09:30-16:00 New York = 13:30-20:00 UTC).
HOSTILE_CSV = b"""symbol,exchange,ts,price,size,trade_id
AAA,XHOST,2023-10-17T13:30:00Z,100.00,10,h-1
AAA,XHOST,2023-10-17T13:30:00Z,100.00,10,h-1
AAA,XHOST,2023-10-17T13:30:00.000000Z,100.000,10.0,h-1
AAA,XHOST,2023-10-17T20:00:00Z,100.00,10,h-2
AAA,XHOST,2023-10-17T19:59:59.999999Z,100.00,10,h-3
AAA,XHOST,2023-10-17T09:30:00-04:00,100.00,5,h-4
AAA,XHOST,1697549400000,100.00,5,h-5
AAA,XHOST,1697549400000000,100.00,5,h-6
AAA,XHOST,2023-10-16T15:00:00Z,100.00,5,h-7
AAA,XHOST,2023-10-18T02:00:00Z,100.00,5,h-8
AAA,XHOST,2023-10-17T14:00:00Z,NaN,5,h-9
AAA,XHOST,2023-10-17T14:00:00Z,Infinity,5,h-10
AAA,XHOST,2023-10-17T14:00:00Z,100.00,-1,h-11
AAA,XHOST,2023-10-17T14:00:00Z,0,1,h-12
AAA,XHOST,2023-10-17T14:00:01Z,1e3,1,h-13
AAA,XHOST,2023-10-17T14:00:02Z,100.01,1
AAA,XHOST,2023-10-17T14:00:03Z,,1,h-15
AAA,XHOST,not a time,100.00,1,h-16
AAA,XHOST,2023-10-17T14:00:04Z,100.00,1,h-17,extra
"""


def _outlier_edge_csv() -> bytes:
    """A calm symbol-minute (40 ticks at 100.00, so the MAD is floored at 0.05 % of price and the outlier
    limit is 8 x 1.4826 x 0.05 = 0.593) plus ticks alternately above and below at 0.30 ... 1.00 away:
    the rule's edge falls between 0.58 and 0.60, and any change of k, floor or scale moves it."""
    lines = [b"symbol,exchange,ts,price,size,trade_id"]
    lines += [f"BBB,XEDGE,2023-10-17T15:10:{i:02d}Z,100.00,3,e-{i}".encode() for i in range(40)]
    for j, cents in enumerate(range(30, 101, 2)):
        price = 100 + cents / 100 if j % 2 == 0 else 100 - cents / 100
        lines.append(f"BBB,XEDGE,2023-10-17T15:10:{40 + j % 20:02d}.5Z,{price:.2f},2,d-{j}".encode())
    return b"\n".join(lines) + b"\n"


def _seeded_day(settings) -> None:
    defaults = generator.DefectRates()
    boosted = generator.DefectRates(**{k: v * 10 for k, v in dataclasses.asdict(defaults).items()})
    generator.generate_landing(settings, DAY, symbols=4, ticks=20_000, seed=23, rates=boosted, binance_ticks=400)
    folder = finance_io.landing_dir(settings, DAY)
    # A second file repeating ticks of a generated CSV (cross-file duplicates: the later file's copy goes).
    generated = sorted(f.uri for f in storage.list_files(settings, folder) if f.uri.endswith(".csv"))[0]
    repeated = b"\n".join(storage.read_bytes(settings, generated).splitlines()[:200]) + b"\n"
    storage.write_bytes(settings, storage.join(folder, "ticks-XHOST.csv"), HOSTILE_CSV)
    storage.write_bytes(settings, storage.join(folder, "ticks-zz-repeat.csv"), repeated)
    storage.write_bytes(settings, storage.join(folder, "ticks-XEDGE.csv"), _outlier_edge_csv())
    storage.write_bytes(settings, storage.join(folder, "ticks-XEMPTY.csv"), b"")


def _job(module, settings, spark) -> dict:
    argv = ["--logical-date", DAY.isoformat(), "--run-id", RUN_ID]
    return run_job(module.main, app_name=module.__name__, argv=argv, settings=settings, spark=spark)


def test_silver_job_matches_the_reference_classification(spark, local_settings) -> None:
    settings = local_settings
    _seeded_day(settings)
    _job(raw_job, settings, spark)
    summary = _job(silver_job, settings, spark)

    raw = read_for_date(spark, settings, RAW_TICKS, DAY)
    fin = settings.finance
    expected = reference.classify_ticks(raw, trading_session(fin, DAY), k=fin.outlier_mad_k,
                                        window_minutes=fin.outlier_window_minutes,
                                        min_rel_mad=fin.outlier_min_rel_mad)
    expected_silver, expected_quarantine = reference.split_silver_quarantine(expected, DAY, RUN_ID)
    staged_silver = read_staged(spark, settings, SILVER_TICKS, RUN_ID, DAY)
    staged_quarantine = read_staged(spark, settings, QUARANTINE_TICKS, RUN_ID, DAY)

    def quarantined(df) -> collections.Counter:
        return collections.Counter(tuple(r) for r in df.select("source_file", "record_id", "reason").collect())

    def kept(df) -> collections.Counter:
        return collections.Counter(tuple(r) for r in df.select(
            "source_file", "record_id", "symbol", "exchange", "ts", "price", "size", "trade_id").collect())

    want_quarantine = quarantined(expected_quarantine)
    assert quarantined(staged_quarantine) == want_quarantine
    assert kept(staged_silver) == kept(expected_silver)
    # The day really exercises every rule: each reason the reference gives occurs, and several do.
    reasons = collections.Counter(reason for _, _, reason in want_quarantine)
    assert {"duplicate", "outlier", "outside_session", "wrong_date", "missing_field", "unparseable_number",
            "unparseable_timestamp", "non_positive_price", "non_positive_size", "wrong_column_count",
            "empty_file"} <= set(reasons), reasons
    edge = [r for r in staged_quarantine.where("exchange = 'XEDGE'").select("trade_id", "reason").collect()]
    assert edge and all(r["reason"] == "outlier" for r in edge), edge  # the edge lines really reach the rule
    assert summary["quarantined"] == dict(sorted(reasons.items()))
    assert summary["silver_rows"] + sum(reasons.values()) == raw.count() == summary["raw_rows"]
