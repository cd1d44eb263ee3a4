"""Write-audit-publish: staged rows are invisible on main until the quality gate passes."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from lakehouse import storage, web_assets
from lakehouse.errors import DataQualityError
from lakehouse.publish import audit_branch, branch_exists, publish, stage_for_date
from lakehouse.quality import GateContext, data_docs_index_uri, load_suite, report_uri, run_gate
from lakehouse.write import current_snapshot_id, write_for_date
from schemas.core import SMOKE_EVENTS
from spark_jobs.smoke.transforms import sensor_events


def _text(html: str) -> str:
    """The words of an HTML page (styles and scripts dropped, whitespace collapsed)."""
    html = re.sub(r"<(style|script)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _count(spark, settings, day) -> int:
    table = settings.table_name(SMOKE_EVENTS.identifier)
    return spark.table(table).where(F.col("event_date") == F.lit(day)).count()


def test_good_batch_is_published_after_the_gate(spark, lake) -> None:
    day, run_id = dt.date(2023, 5, 1), "scheduled__2023-05-01"
    table = lake.table_name(SMOKE_EVENTS.identifier)
    before = current_snapshot_id(spark, table)
    stage_for_date(spark, lake, SMOKE_EVENTS, sensor_events(spark, day, run_id), logical_date=day, run_id=run_id)
    assert _count(spark, lake, day) == 0, "staged rows must not be visible on main"
    assert current_snapshot_id(spark, table) == before

    ctx = GateContext(spark, lake, day, run_id)
    result = run_gate(ctx.read(SMOKE_EVENTS.identifier), ctx, "smoke_events", load_suite("smoke_events").build(ctx))
    assert result.success and result.evaluated == 5
    published = publish(spark, lake, SMOKE_EVENTS, run_id)
    assert published == current_snapshot_id(spark, table)
    assert _count(spark, lake, day) == 100
    assert not branch_exists(spark, table, audit_branch(run_id))


def test_bad_batch_is_never_published_and_the_report_is_kept(spark, lake) -> None:
    day, run_id = dt.date(2023, 5, 2), "scheduled__2023-05-02"
    write_for_date(spark, lake, SMOKE_EVENTS, sensor_events(spark, day, "old"), logical_date=day, run_id="old")
    table = lake.table_name(SMOKE_EVENTS.identifier)
    before = current_snapshot_id(spark, table)
    bad = sensor_events(spark, day, run_id).withColumn(
        "value", F.when(F.col("event_id") == 7, F.lit(1e6)).otherwise(F.col("value")))
    stage_for_date(spark, lake, SMOKE_EVENTS, bad, logical_date=day, run_id=run_id)
    ctx = GateContext(spark, lake, day, run_id)
    with pytest.raises(DataQualityError, match=r"smoke_events failed .* 1 of 5 .*value"):
        run_gate(ctx.read(SMOKE_EVENTS.identifier), ctx, "smoke_events", load_suite("smoke_events").build(ctx))
    assert current_snapshot_id(spark, table) == before, "main stays at its previous snapshot"
    assert all(r["run_id"] == "old" for r in ctx.read(SMOKE_EVENTS.identifier, staged=False).collect())

    fs, path = storage.filesystem(lake, report_uri(lake, "smoke_events", day, run_id))
    with fs.open_input_stream(path) as handle:
        report = json.loads(handle.read())
    assert report["success"] is False and report["failed"] == ["expect_column_values_to_be_between(value)"]
    assert report["problems"] == ["1 row (1 %) has value outside [0, 100] (e.g. 1,000,000); none allowed"]
    # Gates decide on verdicts alone, then explain a failure: its report has the observed details.
    failing = [r for r in report["gx_result"]["results"] if not r["success"]]
    assert failing[0]["result"]["unexpected_count"] == 1
    assert failing[0]["result"]["partial_unexpected_list"] == [1e6]
    # ... and so has its Great Expectations Data Docs page.
    page = _text(storage.read_bytes(lake, report["data_docs"]).decode())
    assert "Status: Failed" in page and "smoke_events" in page
    assert re.search(r"values must be greater than or equal to 0(\.0)? and less than or equal to 100", page)
    assert "1 unexpected values found" in page and "1000000" in page


def test_restaging_a_run_starts_again_from_main(spark, lake) -> None:
    day, run_id = dt.date(2023, 5, 3), "manual__retry"
    stage_for_date(spark, lake, SMOKE_EVENTS, sensor_events(spark, day, run_id), logical_date=day, run_id=run_id)
    stage_for_date(spark, lake, SMOKE_EVENTS, sensor_events(spark, day, run_id).limit(10),
                   logical_date=day, run_id=run_id)
    ctx = GateContext(spark, lake, day, run_id)
    assert ctx.read(SMOKE_EVENTS.identifier).count() == 10
    publish(spark, lake, SMOKE_EVENTS, run_id)
    assert _count(spark, lake, day) == 10


def test_a_failing_gate_says_in_words_what_failed(spark, lake) -> None:
    """The one-line failure names each failed expectation with its observed value against what was allowed."""
    day, run_id = dt.date(2023, 5, 5), "manual__nulls"
    df = sensor_events(spark, day, run_id).withColumn(
        "value", F.when(F.col("event_id") % 4 == 0, F.lit(None)).otherwise(F.col("value")))
    expectations = [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "value", "mostly": 0.8}},
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1000, "max_value": 5000}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "event_id"}},
    ]
    ctx = GateContext(spark, lake, day, run_id)
    with pytest.raises(DataQualityError) as failure:
        run_gate(df, ctx, "smoke_events_nulls", expectations)
    message = str(failure.value)
    assert message.startswith("quality gate smoke_events_nulls failed for 2023-05-05: 2 of 3 expectations failed: ")
    assert "25 % of rows (25 of 100) have no value (null); at most 20 % allowed" in message
    assert "row count 100 is outside [1,000, 5,000]" in message
    assert "nothing published" in message and "\n" not in message
    report = json.loads(storage.read_bytes(lake, report_uri(lake, "smoke_events_nulls", day, run_id)))
    assert f"report: {report['data_docs']} (JSON: {report_uri(lake, 'smoke_events_nulls', day, run_id)})" in message


def test_every_gate_run_is_listed_in_one_data_docs_site(spark, lake) -> None:
    """GX Data Docs at {artifacts}/data_docs: one index of every suite and run, a page per validation."""
    day = dt.date(2023, 5, 6)
    web_assets.provision(lake)  # what `make test` does; nothing is fetched when the cache is complete
    index_uri = data_docs_index_uri(lake)
    assert index_uri == storage.join(storage.to_uri(lake.artifacts), "data_docs", "index.html")
    strict = [{"type": "expect_column_values_to_be_in_set",
               "kwargs": {"column": "sensor", "value_set": ["north", "south"]}},
              {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}}]
    runs = []  # (suite, run id, report)
    for suite, run_id in (("smoke_events", "docs__first"), ("smoke_events_strict", "docs__second"),
                          ("smoke_events", "docs__third")):
        ctx = GateContext(spark, lake, day, run_id)
        df = sensor_events(spark, day, run_id)
        if suite == "smoke_events":
            assert run_gate(df, ctx, suite, load_suite(suite).build(ctx)).success
        else:
            with pytest.raises(DataQualityError, match=r"50 rows \(50 %\) have sensor not in \{'north', 'south'\}"):
                run_gate(df, ctx, suite, strict)
        runs.append((suite, run_id, json.loads(storage.read_bytes(lake, report_uri(lake, suite, day, run_id)))))
        index = storage.read_bytes(lake, index_uri).decode()
        for listed_suite, listed_run, report in runs:  # earlier runs stay listed
            page = report["data_docs"]
            assert page.startswith(storage.join(storage.to_uri(lake.artifacts), "data_docs", "validations",
                                                listed_suite, listed_run) + "/")
            assert page.removeprefix(storage.join(storage.to_uri(lake.artifacts), "data_docs") + "/") in index
            assert listed_run in index and f"expectations/{listed_suite}.html" in index

    pages = {run_id: _text(storage.read_bytes(lake, report["data_docs"]).decode()) for _, run_id, report in runs}
    assert "Status: Succeeded" in pages["docs__first"] and "Status: Succeeded" in pages["docs__third"]
    assert "Status: Failed" in pages["docs__second"]
    assert "values must belong to this set: north south" in pages["docs__second"]
    assert "50 unexpected values found" in pages["docs__second"]
    suite_page = _text(storage.read_bytes(lake, storage.join(storage.to_uri(lake.artifacts), "data_docs",
                                                             "expectations", "smoke_events_strict.html")).decode())
    assert "sensor" in suite_page
    site = [f.name for f in storage.list_files(lake, storage.join(storage.to_uri(lake.artifacts), "data_docs"))]
    assert any(name.startswith("static/") for name in site), "GX's styles and scripts are part of the site"
    # Offline: jQuery, Bootstrap, bootstrap-table, ... are served by the site itself (local disk or the bucket).
    lock = web_assets.load_lock(lake.web_assets.lock_file)
    missing = [rel for rel in lock.urls.values() if f"static/vendor/{rel}" not in site]
    assert missing == [], f"vendored web assets missing from the site: {missing}"
    index = storage.read_bytes(lake, index_uri).decode()
    assert not [url for url in lock.urls if url in index], "the index still loads from CDNs"
    if lake.profile == "local":
        _assert_index_renders_offline(index_uri.removeprefix("file://"), ["smoke_events", "smoke_events_strict"])


def _assert_index_renders_offline(index_path: str, suites: list[str]) -> None:
    """Headless Chromium opens the index from disk: its table (built by bootstrap-table's JS) lists every
    suite, and the page requests nothing but local files."""
    from playwright.sync_api import expect, sync_playwright

    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("request", lambda request: requests.append(request.url))
            page.goto(Path(index_path).as_uri())
            page.wait_for_load_state("load")
            for suite in suites:  # a table cell exists only once bootstrap-table has rendered the rows
                expect(page.get_by_role("cell", name=suite, exact=True).first).to_be_visible()
        finally:
            browser.close()
    assert [url for url in requests if not url.startswith("file://")] == []
    assert any("/static/vendor/bootstrap-table@" in url for url in requests)
