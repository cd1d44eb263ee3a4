"""The generator writes the exact UCI format, deterministically, with DST-aware clocks and gaps."""

from __future__ import annotations

import datetime as dt

from spark_jobs.energy import generator, uci


def month(hid: str = "hh_001", m: dt.date = dt.date(2024, 3, 1), seed: int = 7) -> str:
    return generator.household_month(hid, m, dt.date(2024, 1, 1), dt.date(2025, 1, 1), seed=seed,
                                     tz="Europe/Paris", country="FR")


def test_same_arguments_same_bytes_and_households_differ() -> None:
    assert month() == month()
    assert month() != month("hh_002") and month() != month(seed=8)


def test_exact_uci_format() -> None:
    lines = month().splitlines()
    assert lines[0] == uci.HEADER
    assert lines[1].startswith("1/3/2024;00:00:00;")
    assert all(len(line.split(";")) == 9 for line in lines[1:])
    assert any(line.endswith(";?;?;?;?;?;?;") for line in lines), "missing readings written as '?'"


def test_dst_clock_outages_and_parsing() -> None:
    raw = uci.split_lines(month(), "f.txt", "hh_001")
    spring = raw[raw["date"] == "31/3/2024"]["time"]
    assert not spring.str.startswith("02:").any()
    out = uci.parse_readings(raw, "Europe/Paris", dt.date(2024, 3, 1), (200, 260))
    assert out["reason"].isna().all(), out["reason"].dropna().head()
    missing = out["global_active_power"].isna()
    assert 120 <= missing.sum() < 0.05 * len(out)
    runs = (missing != missing.shift()).cumsum()[missing].value_counts()
    assert runs.max() >= 120, "a multi-hour outage"
    assert len(raw) < 31 * 1440 - 60, "some minutes are absent"
    october = uci.split_lines(month(m=dt.date(2024, 10, 1)), "f.txt", "hh_001")
    repeated = october[(october["date"] == "27/10/2024") & october["time"].str.startswith("02:")]
    assert len(repeated) > 100, "the autumn hour appears twice"
