"""`lakehouse generate` for the shapes users download: the Binance daily zip (+ CHECKSUM), the CIFAR-10
tarballs, the multi-year UCI file and 15-minute intraday deliveries."""

from __future__ import annotations

import collections
import hashlib
import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lakehouse.settings import get_settings
from spark_jobs.finance import adapters
from spark_jobs.vision import formats


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("LAKEHOUSE_HOME", str(tmp_path))
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def invoke(*args: str):  # type: ignore[no-untyped-def]
    from lakehouse.cli import app

    return CliRunner().invoke(app, ["generate", *args])


def written(output: str) -> list[Path]:
    return [Path(line.split("wrote  ", 1)[1].removeprefix("file://")) for line in output.splitlines()
            if line.startswith("wrote  ")]


def test_help_says_what_each_generator_produces(home: Path, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one line per command: the check reads whole descriptions
    result = invoke("--help")
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    for command in ("binance-zip", "cifar-archive", "uci-file", "intraday", "ticks", "images", "energy"):
        assert command in text
    for shape in ("SYMBOL-KIND-DATE.zip", "cifar-10-python.tar.gz", "household_power_consumption.txt",
                  "energy/intraday/<UTC date>/<HHMM>/<household>.txt"):
        assert shape in text, shape
    assert "data.binance.vision" in " ".join(invoke("binance-zip", "--help").output.split())


def test_binance_zip_is_the_published_shape_with_a_matching_checksum(home: Path) -> None:
    result = invoke("binance-zip", "--date", "2024-01-01", "--symbol", "ethusdt", "--ticks", "300")
    assert result.exit_code == 0, result.output
    zip_path, checksum_path = written(result.output)
    assert zip_path.name == "ETHUSDT-aggTrades-2024-01-01.zip"
    assert zip_path.parent.name == "trade_date=2024-01-01", "landed in the date's finance landing folder"
    data = zip_path.read_bytes()
    assert adapters.zip_problem(io.BytesIO(data), zip_path.name) is None
    lines = zipfile.ZipFile(io.BytesIO(data)).read("ETHUSDT-aggTrades-2024-01-01.csv").decode().splitlines()
    assert len(lines) == 300 and {len(line.split(",")) for line in lines} == {8}
    assert checksum_path.read_text() == f"{hashlib.sha256(data).hexdigest()}  {zip_path.name}\n"
    again = invoke("binance-zip", "--date", "2024-01-01", "--symbol", "ETHUSDT", "--ticks", "300")
    assert again.exit_code == 0 and zip_path.read_bytes() == data, "same arguments, same bytes"

    trades = invoke("binance-zip", "--kind", "trades", "--no-checksum", "--dest", str(home / "out"))
    assert trades.exit_code == 0, trades.output
    assert [p.name for p in written(trades.output)] == ["BTCUSDT-trades-2024-01-01.zip"]
    bad = invoke("binance-zip", "--kind", "klines")
    assert bad.exit_code == 1 and "invalid --kind 'klines'" in bad.output


@pytest.mark.parametrize(("version", "archive", "source_format"), [
    ("python", "cifar-10-python.tar.gz", "cifar-pickle"), ("binary", "cifar-10-binary.tar.gz", "cifar-bin")])
def test_cifar_archive_is_read_back_as_delivered(home: Path, version: str, archive: str, source_format: str) -> None:
    result = invoke("cifar-archive", "--version", version, "--n", "50")
    assert result.exit_code == 0, result.output
    [path] = written(result.output)
    assert path.name == archive and path.parent.name == "cifar10"
    files, _ = formats.unpack_archives("cifar10", {archive: path.read_bytes()})
    delivered = formats.read_delivery("cifar10", files)
    assert sum(len(d.batch.labels) for d in delivered) == 50 and {d.source_format for d in delivered} == {source_format}
    assert invoke("cifar-archive", "--version", "lzma").exit_code == 1


def test_uci_file_has_1440_lines_every_day_dst_days_included(home: Path) -> None:
    result = invoke("uci-file", "--first", "2007-03-24 17:24", "--last", "2007-03-26 23:59", "--seed", "3")
    assert result.exit_code == 0, result.output
    [path] = written(result.output)
    assert path.name == "household_power_consumption.txt" and path.parent.name == "uci"
    lines = path.read_text().splitlines()
    assert lines[0].startswith("Date;Time;Global_active_power")
    per_day = collections.Counter(line.split(";", 1)[0] for line in lines[1:])
    assert per_day == {"24/3/2007": 6 * 60 + 36, "25/3/2007": 1440, "26/3/2007": 1440}, "a partial first day"
    assert lines[1].startswith("24/3/2007;17:24:00;")
    bad = invoke("uci-file", "--first", "2008-01-01", "--last", "2007-01-01")
    assert bad.exit_code == 1 and "is before" in bad.output


def test_intraday_writes_one_file_per_household_and_quarter_hour(home: Path) -> None:
    from spark_jobs.energy import intraday

    result = invoke("intraday", "--since", "2024-03-31 00:00", "--until", "2024-03-31T01:00Z", "--households", "2")
    assert result.exit_code == 0, result.output
    paths = written(result.output)
    landing = home / "landing"
    relative = sorted(str(p.relative_to(landing)) for p in paths if "intraday" in p.parts)
    assert len(relative) == 8 and relative[0].startswith("energy/intraday/2024-03-31/0000/")
    parsed = [intraday.interval_of(r.removeprefix("energy/intraday/")) for r in relative]
    assert all(p is not None for p in parsed)
    assert sorted({str(p[0]) for p in parsed}) == [f"2024-03-31 00:{m:02d}:00+00:00" for m in (0, 15, 30, 45)]
    bad = invoke("intraday", "--since", "yesterday-ish")
    assert bad.exit_code == 1
