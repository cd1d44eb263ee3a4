"""The intra-day path's pure parts: landing layout, one delivered file -> one interval row (DST-safe),
generated deliveries, and the lateness rule of the realtime forecast."""

from __future__ import annotations

import pandas as pd
import pytest

from spark_jobs.energy import intraday as I
from spark_jobs.energy import uci
from tests.unit.energy.conftest import TZ, uci_text

KW = {"tz": TZ, "voltage_band": (200.0, 260.0), "max_interpolate_minutes": 60}


def reading(text: str, start: str, **kwargs: object) -> dict:
    return I.interval_reading(text, source_file="f.txt", household_id="hh_001", start=pd.Timestamp(start, tz="UTC"),
                              **{**KW, **kwargs}).iloc[0].to_dict()


def test_landing_layout_names_the_utc_interval() -> None:
    start = pd.Timestamp("2024-03-19 23:52", tz="UTC")
    assert I.interval_path(start, "hh_001") == "energy/intraday/2024-03-19/2345/hh_001.txt"
    assert I.interval_of("2024-03-19/2345/hh_001.txt") == (pd.Timestamp("2024-03-19 23:45", tz="UTC"), "hh_001.txt")
    for name in ("2024-03-19/2350/hh_001.txt", "2024-03-19/2400/hh_001.txt", "2024-03-19/hh_001.txt",
                 "2024-13-01/0000/hh_001.txt", "2024-03-19/0000/x/hh_001.txt"):
        assert I.interval_of(name) is None, name
    assert list(I.interval_starts(pd.Timestamp("2024-03-19 23:20", tz="UTC"),
                                  pd.Timestamp("2024-03-20 00:10", tz="UTC"))) == \
        list(pd.date_range("2024-03-19 23:15", periods=3, freq="15min", tz="UTC"))
    assert I.utc_days(pd.Timestamp("2024-03-19 23:00", tz="UTC"), pd.Timestamp("2024-03-20 00:30", tz="UTC")) == \
        [pd.Timestamp("2024-03-19").date(), pd.Timestamp("2024-03-20").date()]


def test_a_delivered_interval_becomes_one_row() -> None:
    local = pd.date_range("2024-02-20 10:00", periods=15, freq="min")  # CET: 09:00-09:15 UTC
    row = reading(uci_text(local, power=1.5), "2024-02-20 09:00")
    assert row["interval_start_utc"] == pd.Timestamp("2024-02-20 09:00", tz="UTC")
    assert row["active_power_kw"] == pytest.approx(1.5) and row["energy_kwh"] == pytest.approx(1.5 / 4)
    assert (row["minutes_measured"], row["minutes_missing"], row["lines_rejected"]) == (15, 0, 0)
    assert row["first_rejection"] is None and row["freq_minutes"] == 15


def test_gaps_outside_lines_and_bad_files() -> None:
    local = pd.date_range("2024-02-20 10:00", periods=15, freq="min")
    text = uci_text(local[2:10])  # the first two and the last five minutes are missing
    row = reading(text + uci_text(pd.DatetimeIndex(["2024-02-20 10:20"]), header=False), "2024-02-20 09:00")
    assert (row["minutes_measured"], row["minutes_missing"], row["lines_rejected"]) == (8, 7, 1)
    assert row["active_power_kw"] == pytest.approx(1.0), "7 of 15 missing: still at most half"
    assert "line 10: reading at local 2024-02-20 10:20 is outside the delivered interval" in row["first_rejection"]
    sparse = reading(uci_text(local[:7]), "2024-02-20 09:00")
    assert pd.isna(sparse["active_power_kw"]), "more than half of the interval missing: no demand value"
    bad = reading(uci_text(local).replace(";", ","), "2024-02-20 09:00")
    assert bad["lines_rejected"] == 15 and bad["minutes_missing"] == 15 and pd.isna(bad["active_power_kw"])
    assert "wrong delimiter" in bad["first_rejection"]
    unknown = reading("", "2024-02-20 09:00", file_error="unknown household 'hh_999'")
    assert unknown["first_rejection"] == "file rejected: unknown household 'hh_999'"


def test_the_repeated_autumn_hour_is_read_from_the_interval() -> None:
    """02:00-02:14 local on 2024-10-27 happens twice; the folder's UTC interval says which."""
    local = pd.date_range("2024-10-27 02:00", periods=15, freq="min")
    first = reading(uci_text(local, power=1.0), "2024-10-27 00:00")  # CEST
    second = reading(uci_text(local, power=2.0), "2024-10-27 01:00")  # CET
    assert (first["minutes_measured"], second["minutes_measured"]) == (15, 15)
    assert first["active_power_kw"] == pytest.approx(1.0) and second["active_power_kw"] == pytest.approx(2.0)
    assert second["interval_start_local"] == pd.Timestamp("2024-10-27 02:00")


def test_a_meter_clock_that_ignores_dst_is_read_in_its_own_offset() -> None:
    """energy.meter_clock '+01:00' in July: the meter writes 11:00 for 10:00 UTC (wall time says 12:00)."""
    fixed = uci.clock_zone("+01:00", TZ)
    row = reading(uci_text(pd.date_range("2024-07-01 11:00", periods=15, freq="min")), "2024-07-01 10:00",
                  clock=fixed)
    assert (row["minutes_measured"], row["lines_rejected"]) == (15, 0)
    assert row["interval_start_local"] == pd.Timestamp("2024-07-01 12:00"), "local time stays the wall time"
    wall = reading(uci_text(pd.date_range("2024-07-01 11:00", periods=15, freq="min")), "2024-07-01 10:00")
    assert wall["lines_rejected"] == 15, "read as wall time, the same lines are an hour off"


def test_generated_deliveries_read_back_without_rejections() -> None:
    since, until = pd.Timestamp("2024-10-26 23:30", tz="UTC"), pd.Timestamp("2024-10-27 01:30", tz="UTC")
    texts = I.interval_texts("hh_001", since, until, seed=3, tz=TZ, country="FR")
    assert list(texts) == list(pd.date_range(since, until, freq="15min", tz="UTC", inclusive="left"))
    assert texts == I.interval_texts("hh_001", since, until, seed=3, tz=TZ, country="FR"), "deterministic"
    for start, text in texts.items():
        assert text.startswith(uci.HEADER + "\n")
        row = I.interval_reading(text, source_file="f", household_id="hh_001", start=start, **KW).iloc[0]
        assert row["lines_rejected"] == 0 and row["minutes_measured"] >= 13, (start, row.to_dict())


def test_freshness_splits_late_households_at_the_threshold() -> None:
    start = pd.Timestamp("2024-02-20 10:00", tz="UTC")
    freshest = {"hh_001": pd.Timestamp("2024-02-20 09:45", tz="UTC"),  # ends 10:00: 0 min
                "hh_002": pd.Timestamp("2024-02-20 08:15", tz="UTC"),  # ends 08:30: 90 min, at the limit
                "hh_003": pd.Timestamp("2024-02-20 08:00", tz="UTC")}  # ends 08:15: 105 min, late
    result = I.assess_freshness(freshest, start, 90)
    assert sorted(result.fresh) == ["hh_001", "hh_002"] and list(result.late) == ["hh_003"]
    message = result.late_message()
    assert "\n" not in message and message == (
        "energy intra-day data late for 1 of 3 household(s) scoring 2024-02-20 10:00 UTC (more than "
        "energy.realtime_max_lag_minutes = 90 min): hh_003: freshest reading ends 2024-02-20 08:15 UTC, 105 min "
        "before; forecast written for the other 2")
    assert I.assess_freshness(freshest, start, 30).late_message().endswith("forecast written for the other 1")
    assert not I.assess_freshness(freshest, start + pd.Timedelta(days=1), 90).fresh



def test_the_ingest_finds_each_delivery_of_its_window_once(tmp_path) -> None:
    from lakehouse.settings import LakehouseSettings
    from spark_jobs.energy import io
    from spark_jobs.energy.intraday_ingest import find_deliveries

    settings = LakehouseSettings(profile="local", home=tmp_path)
    for relative in ("2024-02-19/2330/hh_001.txt", "2024-02-19/2345/hh_001.txt", "2024-02-19/2345/hh_001.TXT",
                     "2024-02-20/0000/hh_002.txt", "2024-02-20/0015/hh_001.txt", "2024-02-19/2345/README.md",
                     "2024-02-19/2350/hh_001.txt", "2024-02-19/2345/.hidden.txt"):
        io.write_text(settings, io.landing_uri(settings, f"{I.INTRADAY_DIR}/{relative}"), "x\n")
    plan, ignored = find_deliveries(settings, pd.Timestamp("2024-02-19 23:45", tz="UTC"),
                                    pd.Timestamp("2024-02-20 00:15", tz="UTC"))
    found = sorted((uri.rsplit("intraday/", 1)[1], household, start.strftime("%H:%M"), error)
                   for uri, household, start, error in plan)
    assert found == [("2024-02-19/2345/hh_001.txt", "hh_001", "23:45", None),
                     ("2024-02-20/0000/hh_002.txt", "hh_002", "00:00", None)]
    reasons = {uri.rsplit("intraday/", 1)[1]: reason for uri, reason in ignored}
    assert reasons.pop("2024-02-19/2345/hh_001.TXT").endswith("2024-02-19/2345/hh_001.txt (same household and "
                                                                "interval)"), "one file per household and interval"
    assert reasons == {"2024-02-19/2345/README.md": "documentation file", "2024-02-19/2345/.hidden.txt": "hidden file",
                       "2024-02-19/2350/hh_001.txt": "not <HHMM>/<household>.txt (HHMM: a 15-minute UTC interval "
                                                     "start)"}


# ---- the project's standard for input: quarantine with reason codes, accounting, the suite -------------------
def _bad_lines_text() -> tuple[str, dict[int, str]]:
    """A delivery of 09:00-09:15 UTC (10:00 CET) with one line per row rule broken; line number -> code."""
    lines = uci_text(pd.date_range("2024-02-20 10:00", periods=15, freq="min")).splitlines()
    lines[3] = lines[3].replace(";1.000;0.100;", ";-1.000;0.100;")  # line 4
    lines[5] = "garbage;line"  # line 6
    lines[7] = lines[7].replace(";240.000;", ";12x;")  # line 8
    lines.insert(10, lines[9])  # line 11 repeats line 10's minute
    lines.append(uci_text(pd.DatetimeIndex(["2024-02-20 10:20"]), header=False).strip())  # line 18: next interval
    lines.append(lines[1].replace("20/2/2024;10:00:00", "20/2/2024;25:00:00"))  # line 19
    return "\n".join(lines) + "\n", {4: "negative_power", 6: "field_count", 8: "bad_number", 11: "duplicate_minute",
                                     18: "outside_interval", 19: "bad_timestamp"}


def test_rejected_lines_are_quarantined_with_a_reason_code_and_the_good_ones_kept() -> None:
    text, codes = _bad_lines_text()
    delivery = I.interval_delivery(text, source_file="f.txt", household_id="hh_001", file_sha256="abc",
                                   start=pd.Timestamp("2024-02-20 09:00", tz="UTC"), **KW)
    q = delivery.quarantined
    assert list(q.columns) == list(I.QUARANTINE_COLUMNS)
    assert dict(zip(q["line_number"], q["reason_code"], strict=True)) == codes
    assert (q["interval_start_utc"] == pd.Timestamp("2024-02-20 09:00", tz="UTC")).all()
    assert (q["file_sha256"] == "abc").all() and q["reason"].notna().all()
    assert q.set_index("line_number").loc[6, "raw_line"] == "garbage;line"
    assert q.set_index("line_number").loc[4, "raw_line"].startswith("20/2/2024;10:02:00;-1.000;")
    assert (delivery.lines, delivery.accepted) == (18, 12), "every data line: accepted or quarantined"
    row = delivery.row.iloc[0]
    assert row["lines_rejected"] == 6 and row["first_rejection"].startswith("line 4: negative")
    assert row["minutes_measured"] == 12 and row["active_power_kw"] == pytest.approx(1.0)


def test_a_rejected_file_quarantines_every_line() -> None:
    local = pd.date_range("2024-02-20 10:00", periods=15, freq="min")
    delivery = I.interval_delivery(uci_text(local), source_file="f.txt", household_id="hh_999",
                                   start=pd.Timestamp("2024-02-20 09:00", tz="UTC"),
                                   file_error="unknown household 'hh_999'", **KW)
    assert delivery.accepted == 0 and len(delivery.quarantined) == 15
    assert set(delivery.quarantined["reason_code"]) == {"file_rejected"}
    empty = I.interval_delivery("", source_file="f.txt", household_id="hh_001",
                                start=pd.Timestamp("2024-02-20 09:00", tz="UTC"), **KW)
    assert (empty.lines, len(empty.quarantined)) == (0, 0)


@pytest.mark.parametrize(("reason", "code"), [
    ("file rejected: wrong delimiter", "file_rejected"),
    ("expected 9 ';'-separated fields, got 2", "field_count"),
    ("malformed date/time '1/2/2024 25:00:00'", "bad_timestamp"),
    ("reading dated 2024-03-01 is outside the month 2024-02", "outside_interval"),
    ("reading at local 2024-02-20 10:20 is outside the delivered interval", "outside_interval"),
    ("malformed Voltage '12x'", "bad_number"),
    ("negative Global_active_power -1.0", "negative_power"),
    ("Voltage outside [200, 260] V: 10.0", "voltage_out_of_band"),
    ("sub-meters 90.0 Wh exceed the total 16.7 Wh", "sub_meters_exceed_total"),
    ("duplicate reading for 20/2/2024 10:06:00", "duplicate_minute"),
    ("something new", "other"),
])
def test_reason_codes(reason: str, code: str) -> None:
    assert I.reason_code(reason) == code


def test_each_file_is_accounted_for_with_its_lines() -> None:
    from lakehouse import deliveries

    assert I.EMPTY_FILE == deliveries.EMPTY_FILE
    account = I.file_account
    assert account(size=0, lines=0, quarantined=0, first_rejection=None, file_error=None) == \
        ("quarantined", "empty_file")
    assert account(size=9, lines=0, quarantined=0, first_rejection=None, file_error="unknown household 'x'") == \
        ("quarantined", "file rejected: unknown household 'x'")
    assert account(size=9, lines=0, quarantined=0, first_rejection=None, file_error=None)[1].startswith("empty_file")
    outcome, reason = account(size=9, lines=15, quarantined=15, first_rejection="line 2: x", file_error=None)
    assert outcome == "quarantined" and reason.startswith("all 15 lines quarantined")
    outcome, reason = account(size=9, lines=15, quarantined=2, first_rejection="line 4: x", file_error=None)
    assert outcome == "ingested" and reason.startswith("2 of 15 lines quarantined") and "line 4: x" in reason
    assert account(size=9, lines=15, quarantined=0, first_rejection=None, file_error=None) == ("ingested", None)


def test_a_redelivered_file_is_noted_until_its_bytes_change_again() -> None:
    assert I.redelivery_note("new", None) is None
    assert I.redelivery_note("same", {"sha256": "same", "reason": None, "run_id": "r1"}) is None
    note = I.redelivery_note("new", {"sha256": "0123456789abcdef", "reason": None, "run_id": "r1"})
    assert note == "re-delivered: replaces sha256 0123456789ab accounted by run r1"
    carried = I.redelivery_note("new", {"sha256": "new", "reason": I.with_note("2 of 15 lines", note), "run_id": "r2"})
    assert carried == note, "a rerun keeps saying so"
    assert I.with_note(None, None) is None and I.with_note("a", None) == "a" and I.with_note("a", "b") == "a; b"


def test_the_suite_checks_the_rows_about_to_be_upserted(tmp_path) -> None:
    import datetime as dt

    from expectations import silver_energy_intraday_15min as suite
    from lakehouse.quality import GateContext
    from lakehouse.settings import LakehouseSettings

    settings = LakehouseSettings(profile="local", home=tmp_path)
    built = suite.build(GateContext(None, settings, dt.date(2024, 2, 20), "r"))  # type: ignore[arg-type]
    by_column = {(e["type"], e["kwargs"].get("column")): e["kwargs"] for e in built}
    assert by_column[("expect_compound_columns_to_be_unique", None)]["column_list"] == I.KEYS
    assert by_column[("expect_column_values_to_be_between", "voltage")] == {
        "column": "voltage", "min_value": settings.energy.voltage_min, "max_value": settings.energy.voltage_max}
    mostly = by_column[("expect_column_values_to_be_between", "lines_rejected")]
    assert mostly["max_value"] == 7 and mostly["mostly"] == 0.5
    assert {e["kwargs"]["column"] for e in built if e["type"] == "expect_column_values_to_not_be_null"} == set(I.KEYS)
