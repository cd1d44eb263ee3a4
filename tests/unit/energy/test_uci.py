"""UCI parsing: header and delimiter checks, '?' handling, per-line reasons, DST days."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from spark_jobs.energy import uci
from tests.unit.energy.conftest import TZ, civil_minutes, uci_text

BAND = (200.0, 260.0)


def parse(text: str, month: dt.date, name: str = "f.txt") -> pd.DataFrame:
    return uci.parse_readings(uci.split_lines(text, name, "hh_001"), TZ, month, BAND)


def test_header_accepted_and_bad_headers_explained() -> None:
    assert uci.check_header(uci.HEADER) is None
    assert uci.check_header("\ufeff" + uci.HEADER + "\r") is None
    assert "wrong delimiter" in uci.check_header(uci.HEADER.replace(";", ","))
    assert "missing header" in uci.check_header("16/12/2006;17:24:00;4.216;0.418;234.840;18.400;0.000;1.000;17.000")
    assert "unexpected header" in uci.check_header("Date;Time;Power")


def test_split_lines_keeps_line_numbers_and_question_marks() -> None:
    text = (uci.HEADER + "\n16/12/2006;17:24:00;4.216;0.418;234.840;18.400;0.000;1.000;17.000\n"
            "16/12/2006;17:25:00;?;?;?;?;?;?;\n\n16/12/2006;17:26:00;1;2\n")
    rows = uci.split_lines(text, "f.txt", "hh_001")
    assert rows["line_number"].tolist() == [2, 3, 5]
    assert rows.loc[0, "global_active_power"] == "4.216" and rows.loc[0, "sub_metering_3"] == "17.000"
    assert rows.loc[1, "voltage"] == "?" and rows.loc[1, "sub_metering_3"] == ""
    assert rows.loc[2, "raw_line"] == "16/12/2006;17:26:00;1;2" and rows.loc[2, "date"] is None
    assert rows["file_error"].isna().all()


def test_question_marks_are_missing_readings_not_rejects() -> None:
    text = uci_text([pd.Timestamp("2007-01-01 00:00")]) + "1/1/2007;00:01:00;?;?;?;?;?;?;\n"
    out = parse(text, dt.date(2007, 1, 1))
    assert out["reason"].isna().all()
    assert out["global_active_power"].isna().tolist() == [False, True]
    assert out["ts_utc"].tolist() == [pd.Timestamp("2006-12-31 23:00", tz="UTC"),
                                      pd.Timestamp("2006-12-31 23:01", tz="UTC")]


@pytest.mark.parametrize(("line", "reason"), [
    ("32/1/2007;00:00:00;1.0;0.1;240;4;0;0;0", "malformed date/time"),
    ("1/1/2007;25:00:00;1.0;0.1;240;4;0;0;0", "malformed date/time"),
    ("1/2/2007;00:00:00;1.0;0.1;240;4;0;0;0", "outside the month 2007-01"),
    ("1/1/2007;00:00:00;-0.5;0.1;240;4;0;0;0", "negative Global_active_power"),
    ("1/1/2007;00:00:00;abc;0.1;240;4;0;0;0", "malformed Global_active_power"),
    ("1/1/2007;00:00:00;1.0;0.1;120;4;0;0;0", "Voltage outside [200, 260]"),
    ("1/1/2007;00:00:00;0.6;0.1;240;4;5;5;5", "sub-meters 15.0 Wh exceed the total 10.0 Wh"),
    ("1/1/2007,00:00:00,1.0", "expected 9 ';'-separated fields, got 1"),
])
def test_bad_lines_get_a_reason_and_good_lines_are_kept(line: str, reason: str) -> None:
    text = uci_text([pd.Timestamp("2007-01-01 00:05")]) + line + "\n"
    out = parse(text, dt.date(2007, 1, 1))
    assert out.loc[0, "reason"] is None or pd.isna(out.loc[0, "reason"])
    assert reason in out.loc[1, "reason"]
    assert out.loc[1, "line_number"] == 3


def test_wrong_delimiter_rejects_the_whole_file_with_its_reason() -> None:
    text = uci_text([pd.Timestamp("2007-01-01 00:00")]).replace(";", ",")
    out = parse(text, dt.date(2007, 1, 1))
    assert out["reason"].str.startswith("file rejected: wrong delimiter").all()


def test_missing_header_rejects_the_file_but_keeps_line_one() -> None:
    text = uci_text([pd.Timestamp("2007-01-01 00:00"), pd.Timestamp("2007-01-01 00:01")], header=False)
    out = parse(text, dt.date(2007, 1, 1))
    assert out["line_number"].tolist() == [1, 2]
    assert out["reason"].str.contains("missing header").all()


def test_spring_forward_day_converts_every_reading_once() -> None:
    local = civil_minutes("2024-03-31", "2024-04-01")
    assert len(local) == 23 * 60
    out = parse(uci_text(local), dt.date(2024, 3, 1))
    assert out["reason"].isna().all()
    expected = pd.date_range("2024-03-30 23:00", "2024-03-31 22:00", freq="min", tz="UTC", inclusive="left")
    assert out["ts_utc"].tolist() == expected.tolist()
    assert set(out["utc_offset_minutes"]) == {60, 120}


def test_fall_back_day_keeps_both_copies_of_the_repeated_hour() -> None:
    local = civil_minutes("2024-10-27", "2024-10-28")
    assert len(local) == 25 * 60 and local.duplicated().sum() == 60
    out = parse(uci_text(local), dt.date(2024, 10, 1))
    assert out["reason"].isna().all()
    expected = pd.date_range("2024-10-26 22:00", "2024-10-27 23:00", freq="min", tz="UTC", inclusive="left")
    assert out["ts_utc"].tolist() == expected.tolist()
    first, second = out[out["ts_local"] == pd.Timestamp("2024-10-27 02:30")]["ts_utc"].tolist()
    assert (first, second) == (pd.Timestamp("2024-10-27 00:30", tz="UTC"), pd.Timestamp("2024-10-27 01:30", tz="UTC"))


def test_clock_that_ignores_dst_does_not_crash_and_nothing_vanishes() -> None:
    # A meter that writes the spring-forward hour (02:00-02:59 does not exist in Paris that day).
    local = pd.date_range("2024-03-31 01:58", "2024-03-31 02:02", freq="min")
    out = parse(uci_text(local), dt.date(2024, 3, 1))
    assert len(out) == 5 and out["reason"].isna().all()
    assert out["ts_utc"].is_unique and out["ts_utc"].is_monotonic_increasing


def test_a_third_copy_of_a_repeated_minute_is_quarantined_as_duplicate() -> None:
    t = pd.Timestamp("2024-10-27 02:10")
    out = parse(uci_text([t, t, t]), dt.date(2024, 10, 1))
    assert out["reason"].isna().sum() == 2
    assert "duplicate reading" in out.loc[2, "reason"]


def test_each_household_reads_its_repeated_hour_in_its_own_delivery_order() -> None:
    """Two households' files interleaved in one frame: each one's first 02:30 of the fall-back day is summer time
    and its second winter time, and a row without a household is typed but never given a UTC time."""
    t = pd.Timestamp("2024-10-27 02:30")
    a = uci.split_lines(uci_text([t, t]), "a.txt", "hh_a")
    b = uci.split_lines(uci_text([t, t]), "b.txt", "hh_b")
    orphan = uci.split_lines(uci_text([t]), "c.txt", "hh_c").assign(household_id=None)
    mixed = pd.concat([b.iloc[[1]], a, orphan, b.iloc[[0]]], ignore_index=True)
    out = uci.parse_readings(mixed, TZ, dt.date(2024, 10, 1), BAND)
    assert out["reason"].isna().all()
    for household in ("hh_a", "hh_b"):
        mine = out[out["household_id"] == household]
        assert mine["ts_utc"].tolist() == [pd.Timestamp("2024-10-27 00:30", tz="UTC"),
                                           pd.Timestamp("2024-10-27 01:30", tz="UTC")]
        assert mine["utc_offset_minutes"].tolist() == [120, 60]
    nobody = out[out["household_id"].isna()]
    assert len(nobody) == 1 and nobody["ts_utc"].isna().all() and nobody["utc_offset_minutes"].isna().all()
    assert str(out["utc_offset_minutes"].dtype) == "Int32" and str(out["ts_utc"].dtype) == "datetime64[ns, UTC]"


def test_household_from_filename() -> None:
    assert uci.household_from_filename("s3://b/landing/energy/2024-01/hh_001.txt") == "hh_001"
    assert uci.household_from_filename("/x/bad name.txt") is None
