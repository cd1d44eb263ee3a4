"""Binance daily dumps as data.binance.vision publishes them: the zip read as is, its CHECKSUM verified,
and every damaged or unexpected zip a quarantined delivery with one readable reason."""

from __future__ import annotations

import collections
import datetime as dt
import io
import zipfile
from pathlib import Path

import pytest

from lakehouse.settings import LakehouseSettings
from spark_jobs.finance import adapters
from spark_jobs.finance import io as finance_io
from spark_jobs.finance.transforms import classify_ticks, to_raw
from tests.unit.finance.conftest import INGESTED

DAY = dt.date(2024, 3, 16)
MIDNIGHT_MS = int(dt.datetime(2024, 3, 16, tzinfo=dt.UTC).timestamp() * 1000)


def trades_csv(n: int, *, header: bool) -> bytes:
    """n Binance trades in the first minutes of DAY (epoch ms)."""
    rows = ["id,price,qty,quote_qty,time,is_buyer_maker,is_best_match"] if header else []
    rows += [f"{100 + i},67000.{i:02d},0.00100,67.0,{MIDNIGHT_MS + 1000 * i},True,True" for i in range(n)]
    return ("\n".join(rows) + "\n").encode()


def zipped(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


@pytest.fixture
def settings(tmp_path: Path) -> LakehouseSettings:
    return LakehouseSettings(profile="local", home=tmp_path)


def land(settings: LakehouseSettings, files: dict[str, bytes]) -> Path:
    folder = Path(finance_io.landing_dir(settings, DAY).removeprefix("file://"))
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def test_a_published_zip_passes_and_writes_the_same_bytes_every_time() -> None:
    name = "BTCUSDT-trades-2024-03-16.zip"
    data = adapters.binance_zip_bytes(trades_csv(3, header=True), name)
    assert data == adapters.binance_zip_bytes(trades_csv(3, header=True), name)
    assert zipfile.ZipFile(io.BytesIO(data)).namelist() == ["BTCUSDT-trades-2024-03-16.csv"]
    assert adapters.zip_problem(io.BytesIO(data), name) is None
    assert adapters.zip_data_lines(io.BytesIO(data), name, limit=5)[0].startswith("100,67000.00,")
    assert adapters.adapter_for(f"file:///l/{name}").name == "binance_zip"
    assert adapters.adapter_for("file:///l/ETHUSDT-aggTrades-2024-03-16.zip").name == "binance_agg_zip"
    assert adapters.adapter_for("file:///l/ticks.zip") is None
    with pytest.raises(ValueError, match="not a Binance daily archive name"):
        adapters.binance_zip_bytes(b"", "ticks.zip")


@pytest.mark.parametrize(("data", "expected"), [
    (b"PK\x03\x04 this is no zip", "not a readable zip (BadZipFile"),
    (b"just text", "not a readable zip (BadZipFile"),
    (zipped({"BTCUSDT-trades-2024-03-16.csv": b"1", "notes.txt": b"x"}),
     "zip holds BTCUSDT-trades-2024-03-16.csv, notes.txt, expected exactly BTCUSDT-trades-2024-03-16.csv"),
    (zipped({"data/BTCUSDT-trades-2024-03-16.csv": b"1"}), "expected exactly BTCUSDT-trades-2024-03-16.csv"),
    (zipped({"../../etc/passwd": b"1"}), "zip holds ../../etc/passwd, expected exactly"),
    (zipped({}), "zip holds nothing"),
])
def test_unexpected_or_damaged_zips_are_named_in_one_line(data: bytes, expected: str) -> None:
    problem = adapters.zip_problem(io.BytesIO(data), "BTCUSDT-trades-2024-03-16.zip")
    assert problem is not None and expected in problem and "\n" not in problem


def test_a_bit_flip_inside_the_compressed_csv_fails_the_crc_check() -> None:
    name = "BTCUSDT-trades-2024-03-16.zip"
    data = bytearray(adapters.binance_zip_bytes(trades_csv(500, header=False), name))
    data[80] ^= 0xFF  # inside the deflate stream, after the 30+35-byte local header
    problem = adapters.zip_problem(io.BytesIO(bytes(data)), name)
    assert problem is not None and ("CRC" in problem or "not a readable zip" in problem), problem


def test_checksum_lines_parse_the_way_sha256sum_writes_them() -> None:
    line = adapters.checksum_text(b"abc", "X.zip")
    assert finance_io.parse_checksum(line) == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", "X.zip")
    assert finance_io.parse_checksum(line.replace("  ", " *")) is not None
    assert finance_io.parse_checksum("not a checksum") is None
    assert finance_io.parse_checksum(line + line) is None


def test_zips_land_as_published_with_checksums_and_every_file_accounted_for(spark, settings) -> None:
    good = "BTCUSDT-trades-2024-03-16.zip"
    agg = "ETHUSDT-aggTrades-2024-03-16.zip"
    tampered = "SOLUSDT-trades-2024-03-16.zip"
    corrupt = "XRPUSDT-trades-2024-03-16.zip"
    header_only = "ADAUSDT-trades-2024-03-16.zip"
    good_zip = adapters.binance_zip_bytes(trades_csv(5, header=True), good)
    agg_zip = adapters.binance_zip_bytes(adapters.agg_trades_from_trades(trades_csv(4, header=False)), agg)
    tampered_zip = adapters.binance_zip_bytes(trades_csv(3, header=False), tampered)
    folder = land(settings, {
        good: good_zip, good + ".CHECKSUM": adapters.checksum_text(good_zip, good).encode(),
        agg: agg_zip,  # no CHECKSUM: read as is
        tampered: tampered_zip, tampered + ".CHECKSUM": adapters.checksum_text(b"other bytes", tampered).encode(),
        corrupt: b"PK\x03\x04garbage",
        header_only: adapters.binance_zip_bytes(b"id,price,qty,quote_qty,time,is_buyer_maker,is_best_match\n",
                                                header_only),
        "DOGEUSDT-trades-2024-03-16.zip.CHECKSUM": b"0" * 64 + b"  DOGEUSDT-trades-2024-03-16.zip\n",
        "BTCUSDT-trades-2024-03-16.csv": trades_csv(5, header=True),  # someone also unpacked it
    })
    landed = finance_io.read_landing(spark, settings, DAY)
    outcomes = {Path(d.uri).name: (d.outcome, d.reason) for d in landed.delivered}
    assert outcomes[good] == ("ingested", None) and outcomes[agg] == ("ingested", None)
    assert outcomes[good + ".CHECKSUM"] == ("ignored", f"checksum of {good}: verified")
    assert outcomes[tampered][0] == "quarantined" and "does not match" in outcomes[tampered][1]
    assert outcomes[tampered + ".CHECKSUM"][0] == "ignored"
    assert outcomes[corrupt][0] == "quarantined"
    assert outcomes[corrupt][1].startswith("unreadable_file: not a readable zip")
    assert outcomes[header_only] == ("quarantined", "empty_file")
    assert outcomes["DOGEUSDT-trades-2024-03-16.zip.CHECKSUM"][0] == "ignored"
    assert outcomes["BTCUSDT-trades-2024-03-16.csv"] == (
        "ignored", f"also delivered as {good}, which is read instead"), "no trade ingested twice"
    assert len(outcomes) == len(list(folder.iterdir())), "every delivered file accounted for"
    verified = next(d for d in landed.delivered if d.uri.endswith(good))
    assert verified.sha256 is not None

    raw = to_raw(landed.df, DAY, "r1", INGESTED)
    rows = raw.select("source_file", "source_format", "symbol", "exchange", "trade_id", "field_count").collect()
    per_file = collections.Counter(Path(r["source_file"]).name for r in rows)
    assert per_file == {good: 5, agg: 4, tampered: 1, corrupt: 1, header_only: 1}
    assert all(r["source_file"].startswith("file:///") for r in rows)
    eth = [r for r in rows if r["symbol"] == "ETHUSDT"]
    assert {r["source_format"] for r in eth} == {"binance_agg"} and {r["field_count"] for r in eth} == {8}
    btc = sorted(int(r["trade_id"]) for r in rows if r["symbol"] == "BTCUSDT")
    assert btc == [100, 101, 102, 103, 104] and {r["exchange"] for r in eth} == {"BINANCE"}

    from spark_jobs.finance.session import session_for

    session = session_for(DAY, "UTC", "00:00", "23:59")
    reasons = collections.Counter(r["reason"] for r in classify_ticks(raw, session).select("reason").collect())
    assert reasons[None] == 9 and reasons["empty_file"] == 1 and reasons["unreadable_file"] == 2, reasons
