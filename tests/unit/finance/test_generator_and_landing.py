"""Generator determinism, landing adapters (ours + Binance) and the defect accounting end to end."""

from __future__ import annotations

import collections
import datetime as dt

import pytest

from lakehouse.errors import LakehouseError
from lakehouse.settings import LakehouseSettings
from spark_jobs.finance import generator
from spark_jobs.finance import io as finance_io
from spark_jobs.finance.io import list_landing, read_landing
from spark_jobs.finance.session import session_for
from spark_jobs.finance.transforms import classify_ticks, to_raw
from tests.unit.finance.conftest import INGESTED

DAY = dt.date(2024, 3, 5)


@pytest.fixture
def settings(tmp_path) -> LakehouseSettings:
    return LakehouseSettings(profile="local", home=tmp_path)


def test_generator_is_deterministic_and_counts_defects(settings) -> None:
    session = session_for(DAY, "America/New_York", "09:30", "16:00")
    a = generator.generate_ticks(DAY, session, symbols=3, ticks=4000, seed=1)
    b = generator.generate_ticks(DAY, session, symbols=3, ticks=4000, seed=1)
    c = generator.generate_ticks(DAY, session, symbols=3, ticks=4000, seed=2)
    assert all(a.tables[e].equals(b.tables[e]) for e in a.tables)
    assert not all(a.tables[e].equals(c.tables[e]) for e in a.tables)
    assert a.defects["duplicate"] == 8 and a.defects["missing_field"] == 8
    assert a.total_rows == 4000 + a.defects["duplicate"]
    csv_text = generator.csv_bytes(a.tables["XNYS"], a.corrupt["XNYS"]).decode()
    assert csv_text.startswith(generator.CSV_HEADER + "\n")


def test_landing_round_trip_accounts_for_every_injected_defect(spark, settings) -> None:
    manifest = generator.generate_landing(settings, DAY, symbols=3, ticks=3000, seed=3, binance_ticks=50)
    files = list_landing(settings, DAY)
    names = sorted(f.uri.rsplit("/", 1)[-1] for f in files)
    assert names == ["BTCUSDT-trades-2024-03-05.csv", "ticks-ARCX.csv", "ticks-BATS.parquet", "ticks-XNAS.parquet",
                     "ticks-XNYS.csv"]
    landed = read_landing(spark, settings, DAY)
    raw = to_raw(landed.df, DAY, "r1", INGESTED)
    session = session_for(DAY, "America/New_York", "09:30", "16:00")
    # one pass: every raw row with its verdict (null reason = silver)
    rows = classify_ticks(raw, session).select("record_id", "reason", "symbol", "exchange").collect()
    assert len(rows) == manifest["rows"] and len({r["record_id"] for r in rows}) == manifest["rows"]
    reasons = collections.Counter(r["reason"] for r in rows if r["reason"])
    expected = {k: v for k, v in manifest["defects"].items() if k != "out_of_order" and v}
    assert dict(reasons) == expected
    assert sum(1 for r in rows if r["reason"] is None) == manifest["clean_ticks"]
    btc = [r for r in rows if r["symbol"] == "BTCUSDT" and r["reason"] is None]
    assert len(btc) == 50 and {r["exchange"] for r in btc} == {"BINANCE"}


def test_bad_files_become_marker_rows_and_keepable_rows_are_kept(spark, settings) -> None:
    generator.generate_landing(settings, DAY, symbols=2, ticks=200, seed=4, rates=generator.DefectRates.none())
    folder = finance_io.landing_dir(settings, DAY).removeprefix("file://")
    open(f"{folder}/ticks-EMPTY.csv", "w").close()
    with open(f"{folder}/ticks-HEADER.csv", "w") as handle:
        handle.write(generator.CSV_HEADER + "\n")
    with open(f"{folder}/ticks-BROKEN.parquet", "wb") as handle:
        handle.write(b"this is not parquet")
    with open(f"{folder}/notes.txt", "w") as handle:
        handle.write("hello")
    landed = read_landing(spark, settings, DAY)
    assert landed.summary()["ignored_files"][0].endswith("notes.txt")
    assert sorted(landed.summary()["problem_files"].values()) == ["empty", "empty", "unreadable"]
    raw = to_raw(landed.df, DAY, "r1", INGESTED)
    session = session_for(DAY, "America/New_York", "09:30", "16:00")
    classified = classify_ticks(raw, session)
    reasons = collections.Counter(r["reason"] for r in classified.select("reason").collect())
    assert reasons == {None: 200, "empty_file": 2, "unreadable_file": 1}


def test_a_day_without_landing_files_is_one_clear_error(spark, settings) -> None:
    with pytest.raises(LakehouseError, match=r"^no landing files for finance ticks on 2024-03-06"):
        read_landing(spark, settings, dt.date(2024, 3, 6))
