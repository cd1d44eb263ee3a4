"""The run-report core: figure -> <img> fragment, page assembly, where reports live, listing them."""

from __future__ import annotations

import datetime as dt

from lakehouse import reports, storage
from lakehouse.settings import LakehouseSettings
from tests.support.reports import PNG_MAGIC, images

INFO = reports.RunInfo("some_dag", dt.date(2024, 3, 4), "manual__2024-03-04T10:00:00+00:00")


def _figure() -> str:
    fig = reports.new_figure(4, 3)
    ax = fig.subplots()
    ax.plot([1, 2, 3], [2, 1, 3])
    ax.set_title("a line")
    return reports.figure_html(fig, "caption <with> markup")


def test_figure_becomes_an_img_with_a_png_data_uri() -> None:
    fragment = _figure()
    (png,) = images(fragment)
    assert png.startswith(PNG_MAGIC) and len(png) > 1000
    assert "caption &lt;with&gt; markup" in fragment and "<with>" not in fragment


def test_page_has_header_sections_and_counts_its_charts() -> None:
    document = reports.page("My <report>", INFO, [reports.section("Charts", _figure(), _figure()),
                                                  reports.section("Table", reports.table_html(["a", "b"],
                                                                                              [[1, 0.123456]])),
                                                  reports.section("Empty", reports.note_html("nothing here"))],
                            details={"symbol": "AAPL"})
    assert document.startswith("<!DOCTYPE html>") and document.rstrip().endswith("</html>")
    assert "<h1>My &lt;report&gt;</h1>" in document
    for text in ("some_dag", "2024-03-04", INFO.run_id, "AAPL", "<h2>Charts</h2>", "0.1235", "nothing here"):
        assert text in document, text
    assert reports.count_charts(document) == 2 == len(images(document))
    assert "http://" not in document and "https://" not in document  # self-contained


def test_report_location_is_stable_and_listed(tmp_path) -> None:
    settings = LakehouseSettings(profile="local", home=tmp_path)
    uri = reports.report_uri(settings, INFO)
    assert uri == storage.join(storage.to_uri(settings.artifacts), "reports", "some_dag", "2024-03-04",
                               "manual__2024-03-04T10_00_00_00_00.html")
    assert reports.list_reports(settings) == []
    written = reports.write_report(settings, INFO, "<html></html>")
    assert written == uri and storage.read_bytes(settings, uri) == b"<html></html>"
    other = reports.RunInfo("other_dag", dt.date(2024, 3, 5), "run__2024-03-05")
    reports.write_report(settings, other, "<html></html>")
    storage.write_bytes(settings, storage.join(reports.reports_root(settings), "stray.txt"), b"x")
    listed = reports.list_reports(settings)
    assert [(e.dag_id, e.logical_date, e.run) for e in listed] == [
        ("other_dag", "2024-03-05", "run__2024-03-05"), ("some_dag", "2024-03-04", "manual__2024-03-04T10_00_00_00_00")]
    assert [e.uri for e in reports.list_reports(settings, "some_dag")] == [uri]
    assert [e.dag_id for e in reports.list_reports(settings, logical_date=dt.date(2024, 3, 5))] == ["other_dag"]
    assert reports.list_reports(settings, "some_dag", "2024-03-05") == []


def test_reports_command_lists_them(tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from lakehouse.cli import app
    from lakehouse.settings import get_settings

    monkeypatch.setenv("LAKEHOUSE_HOME", str(tmp_path))
    get_settings.cache_clear()
    reports.write_report(get_settings(), INFO, "<html></html>")
    result = CliRunner().invoke(app, ["reports", "--dag", "some_dag", "--date", "2024-03-04", "--format", "csv"])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[0] == "dag,date,run,uri"
    assert lines[1].startswith("some_dag,2024-03-04,manual__2024-03-04T10_00_00_00_00,file://")
    empty = CliRunner().invoke(app, ["reports", "--date", "2020-01-01"])
    assert empty.exit_code == 0 and "(0 rows)" in empty.output
    bad = CliRunner().invoke(app, ["reports", "--date", "04/03/2024"])
    assert bad.exit_code == 1 and "not a date" in bad.output
