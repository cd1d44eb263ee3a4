"""The published UCI file's shape as `lakehouse generate uci-file` writes it: the 2006-12-16 17:24 to
2010-11-26 21:02 span by default, a logger clock without DST (1,440 distinct minutes on both switch days),
and a file the ingest reads without a single rejected line."""

from __future__ import annotations

import collections
from pathlib import Path

import pandas as pd

from lakehouse.settings import LakehouseSettings
from spark_jobs.energy import generator, uci


def test_the_default_span_is_the_published_one() -> None:
    first, last, name = generator.UCI_FIRST_READING, generator.UCI_LAST_READING, generator.UCI_FILE_NAME
    assert (first, last) == (pd.Timestamp("2006-12-16 17:24"), pd.Timestamp("2010-11-26 21:02"))
    assert name == "household_power_consumption.txt"


def test_both_dst_switch_days_have_1440_distinct_minutes() -> None:
    spans = [(pd.Timestamp("2008-03-30 00:00"), pd.Timestamp("2008-03-30 23:59")),
             (pd.Timestamp("2008-10-26 00:00"), pd.Timestamp("2008-10-26 23:59"))]
    lines = generator.uci_multi_year_text(spans, seed=2).splitlines()
    assert lines[0] == uci.HEADER
    per_day = collections.Counter(line.split(";", 1)[0] for line in lines[1:])
    assert per_day == {"30/3/2008": 1440, "26/10/2008": 1440}
    assert len({tuple(line.split(";", 2)[:2]) for line in lines[1:]}) == 2880, "no minute twice, none skipped"
    assert all(len(line.split(";")) == 9 for line in lines[1:])


def test_written_file_lands_where_the_dag_source_param_points(tmp_path: Path) -> None:
    settings = LakehouseSettings(profile="local", home=tmp_path)
    uri = generator.write_uci_multi_year(settings, ranges=[(pd.Timestamp("2006-12-16 17:24"),
                                                           pd.Timestamp("2006-12-17 00:00"))], seed=4)
    assert uri.endswith("/landing/energy/uci/household_power_consumption.txt")
    text = Path(uri.removeprefix("file://")).read_text()
    raw = uci.split_lines(text, uri, "household_power_consumption")
    assert len(raw) == 6 * 60 + 37 and raw.iloc[0]["date"] == "16/12/2006" and raw.iloc[0]["time"] == "17:24:00"
