"""Great Expectations Data Docs of the gates: one site under {artifacts}/data_docs, local and on S3.

The gates run here on pandas frames (GX's own results and renderers, no JVM): ``quality.validate`` is
replaced by the same two-pass validation on a pandas data source.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from lakehouse import data_docs, quality, storage
from lakehouse.errors import DataQualityError
from lakehouse.settings import LakehouseSettings

DAY = dt.date(2024, 3, 1)
GOOD = [{"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}}]
STRICT = [{"type": "expect_column_values_to_be_between", "kwargs": {"column": "v", "min_value": 0, "max_value": 10}},
          {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}}]


def _pandas_validate(df: Any, suite_name: str, expectations: list[dict[str, Any]]) -> dict[str, Any]:
    """``quality.validate`` on a pandas frame: verdicts first, SUMMARY only on failure."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batch_definition = (context.data_sources.add_pandas(name="lakehouse").add_dataframe_asset(name=suite_name)
                        .add_batch_definition_whole_dataframe("whole"))
    suite = gx.ExpectationSuite(name=suite_name)
    suite.add_expectation_configurations([ExpectationConfiguration(**e) for e in expectations])
    batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
    verdicts = batch.validate(suite, result_format="BOOLEAN_ONLY")
    return (verdicts if verdicts.success else batch.validate(suite)).to_json_dict()


@pytest.fixture(params=["local", "s3"])
def settings(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LakehouseSettings:
    """Settings with a fresh artifacts location (local directory, or a fresh prefix on the moto S3 server)."""
    monkeypatch.setattr(quality, "validate", _pandas_validate)
    if request.param == "local":
        return LakehouseSettings(profile="local", home=tmp_path / "home")
    s3_settings: LakehouseSettings = request.getfixturevalue("s3_settings")
    return s3_settings.model_copy(update={"artifacts": f"{s3_settings.artifacts}-{uuid.uuid4().hex[:8]}"})


def _frame(bad: int = 0) -> Any:
    import pandas as pd

    return pd.DataFrame({"id": range(40), "v": [99 if i < bad else i % 10 for i in range(40)]})


def _gate(settings: LakehouseSettings, suite: str, run_id: str, expectations: list[dict[str, Any]],
          bad: int = 0) -> tuple[dict[str, Any], str | None]:
    """Run a gate; return its stored report and its failure message (None when it passed)."""
    ctx = quality.GateContext(spark=None, settings=settings, logical_date=DAY, run_id=run_id)  # type: ignore[arg-type]
    message = None
    try:
        quality.run_gate(_frame(bad), ctx, suite, expectations)
    except DataQualityError as exc:
        message = str(exc)
    report = json.loads(storage.read_bytes(settings, quality.report_uri(settings, suite, DAY, run_id)))
    return report, message


def _site(settings: LakehouseSettings) -> str:
    return storage.join(storage.to_uri(settings.artifacts), "data_docs")


def _listed(settings: LakehouseSettings, report: dict[str, Any]) -> bool:
    index = storage.read_bytes(settings, quality.data_docs_index_uri(settings)).decode()
    return report["data_docs"].removeprefix(_site(settings) + "/") in index


def _words(settings: LakehouseSettings, uri: str) -> str:
    html = storage.read_bytes(settings, uri).decode()
    html = re.sub(r"<(style|script)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_one_index_lists_every_suite_and_run(settings: LakehouseSettings, capsys: pytest.CaptureFixture) -> None:
    assert quality.data_docs_index_uri(settings) == _site(settings) + "/index.html"
    passed, no_failure = _gate(settings, "orders", "scheduled__2024-03-01T00:00:00+00:00", GOOD)
    failed, message = _gate(settings, "orders_strict", "manual__b", STRICT, bad=6)
    assert no_failure is None and passed["success"] is True and passed["problems"] == []
    assert failed["success"] is False
    assert failed["failed"] == ["expect_column_values_to_be_between(v)"]
    assert failed["problems"] == ["6 rows (15 %) have v outside [0, 10] (e.g. 99); none allowed"]
    assert message == (
        "quality gate orders_strict failed for 2024-03-01: 1 of 2 expectations failed: 6 rows (15 %) have v "
        "outside [0, 10] (e.g. 99); none allowed; nothing published; "
        f"report: {failed['data_docs']} (JSON: {quality.report_uri(settings, 'orders_strict', DAY, 'manual__b')})")

    for report in (passed, failed):  # the earlier run stays listed
        assert _listed(settings, report), report["data_docs"]
    assert passed["data_docs"].startswith(
        f"{_site(settings)}/validations/orders/scheduled__2024-03-01T00_00_00_00_00/")
    index = storage.read_bytes(settings, quality.data_docs_index_uri(settings)).decode()  # rows: in a script
    assert "'run_name': 'manual__b'" in index and "'_expectation_suite_name_sort': 'orders_strict'" in index
    assert "'_validation_success_text': 'Failed'" in index and "'_validation_success_text': 'Success'" in index
    page = _words(settings, failed["data_docs"])
    assert "Status: Failed" in page and "orders_strict" in page and "Run Name manual__b" in page
    assert "values must be greater than or equal to 0.0 and less than or equal to 10.0" in page
    assert "6 unexpected values found" in page
    assert "Status: Succeeded" in _words(settings, passed["data_docs"])
    suite_page = _words(settings, f"{_site(settings)}/expectations/orders.html")
    assert "Must have greater than or equal to 1 rows" in suite_page
    assert capsys.readouterr().out == "", "GX must not write to stdout (jobs print one JSON line there)"


def test_each_gate_renders_only_its_own_pages(settings: LakehouseSettings) -> None:
    """Incremental: GX's static assets once; then per gate its validation page, its suite page, the index."""
    first = data_docs_update_of(settings, "orders", "run_1", GOOD)
    assert first.rendered == 2 and first.uploaded > 10  # + GX's styles, scripts, fonts
    before = {f.name: f.size for f in storage.list_files(settings, _site(settings))}
    second = data_docs_update_of(settings, "orders", "run_2", GOOD)
    assert (second.rendered, second.uploaded, second.listed) == (2, 3, 2)
    after = {f.name: f.size for f in storage.list_files(settings, _site(settings))}
    assert set(after) - set(before) == {second.page_uri.removeprefix(_site(settings) + "/")}


def data_docs_update_of(settings: LakehouseSettings, suite: str, run_id: str,
                        expectations: list[dict[str, Any]]) -> data_docs.DataDocsUpdate:
    """Store a report the way ``run_gate`` does and update the site (the update's own figures)."""
    result = _pandas_validate(_frame(), suite, expectations)
    document = {"suite": suite, "logical_date": DAY.isoformat(), "run_id": run_id, "success": result["success"],
                "failed": [], "problems": [], "validated_at": dt.datetime.now(dt.UTC).isoformat(),
                "gx_result": result}
    document["data_docs"] = data_docs.page_uri(settings, document)
    storage.write_bytes(settings, quality.report_uri(settings, suite, DAY, run_id), json.dumps(document).encode())
    update = data_docs.update(settings, quality.reports_root(settings), document, expectations)
    assert update.page_uri == document["data_docs"]
    return update


def test_a_retried_run_replaces_its_page(settings: LakehouseSettings) -> None:
    first, _ = _gate(settings, "orders_strict", "manual__retry", STRICT, bad=3)
    other, _ = _gate(settings, "orders", "manual__other", GOOD)
    retry, _ = _gate(settings, "orders_strict", "manual__retry", STRICT)
    assert retry["success"] and retry["data_docs"] != first["data_docs"]
    assert _listed(settings, retry) and _listed(settings, other) and not _listed(settings, first)
    pages = [f.uri for f in storage.list_files(settings, f"{_site(settings)}/validations")]
    assert sorted(pages) == sorted([retry["data_docs"], other["data_docs"]])


def test_reports_stored_before_data_docs_get_their_page(settings: LakehouseSettings) -> None:
    """A report of the old layout (no page, no validation time) is rendered by the next gate."""
    result = _pandas_validate(_frame(bad=1), "legacy", STRICT)
    old = {"suite": "legacy", "logical_date": "2024-02-01", "run_id": "scheduled__old", "success": False,
           "failed": ["expect_column_values_to_be_between(v)"], "gx_result": result}
    storage.write_bytes(settings, quality.report_uri(settings, "legacy", dt.date(2024, 2, 1), "scheduled__old"),
                        json.dumps(old).encode())
    _gate(settings, "orders", "scheduled__new", GOOD)
    page = data_docs.page_uri(settings, old)
    assert "/20240201T000000.000000Z/" in page
    assert "Status: Failed" in _words(settings, page) and _listed(settings, {"data_docs": page})


def test_a_data_docs_failure_does_not_hide_the_verdict(settings: LakehouseSettings,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(data_docs, "update", broken)
    report, message = _gate(settings, "orders_strict", "manual__x", STRICT, bad=1)
    assert report["success"] is False and message is not None and "nothing published" in message
    assert "data docs not updated for orders_strict (OSError: disk full)" in caplog.text


def test_the_site_serves_its_own_scripts_and_styles(settings: LakehouseSettings) -> None:
    """Offline: every CDN URL of every page points into the site's static/vendor/, which holds the locked
    copies (local and on S3), at the page's depth."""
    from lakehouse import web_assets

    web_assets.provision(settings)  # what `make` does; nothing is fetched when the cache is complete
    lock = web_assets.load_lock(settings.web_assets.lock_file)
    report, _ = _gate(settings, "orders.strict", "manual__offline", STRICT, bad=1)
    site = {f.name: f.size for f in storage.list_files(settings, _site(settings))}
    for rel in lock.urls.values():
        assert site.get(f"static/vendor/{rel}"), f"static/vendor/{rel} is not on the site"
    assert "static/vendor/@fortawesome/fontawesome-free@6.6.0/webfonts/fa-solid-900.woff2" in site
    pages = {"index.html": "", report["data_docs"].removeprefix(_site(settings) + "/"): "../" * 5,
             "expectations/orders/strict.html": "../../"}
    for name, prefix in pages.items():
        html = storage.read_bytes(settings, f"{_site(settings)}/{name}").decode()
        assert not [url for url in lock.urls if url in html], name
        assert f'src="{prefix}static/vendor/jquery@3.7.1/dist/jquery.min.js"' in html, name
        assert f'src="{prefix}static/images/logo-long.png"' in html and "amazonaws.com/logo-long" not in html, name


def test_without_web_assets_the_pages_keep_their_cdns(settings: LakehouseSettings, tmp_path: Path,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    assets = settings.web_assets.model_copy(update={"cache_dir": tmp_path / "empty"})
    settings = settings.model_copy(update={"web_assets": assets})
    _gate(settings, "orders", "manual__online", GOOD)
    index = storage.read_bytes(settings, quality.data_docs_index_uri(settings)).decode()
    assert 'src="https://code.jquery.com/jquery-3.7.1.min.js"' in index
    assert not [f for f in storage.list_files(settings, _site(settings)) if f.name.startswith("static/vendor/")]
    assert caplog.text.count("web assets not provisioned") == 1


def test_two_gates_updating_the_site_at_once_both_stay_listed(settings: LakehouseSettings,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Gates of two DAG runs can finish together: the one whose index is written last must still list the
    other's run, even though that report was stored after it had listed the reports."""
    from great_expectations.render.renderer.site_builder import SiteBuilder

    build = SiteBuilder.build
    others: list[data_docs.DataDocsUpdate] = []
    interleaved = []

    def build_while_another_gate_finishes(self: Any, *args: Any, **kwargs: Any) -> Any:
        if not interleaved:  # the first gate has listed the reports; the second stores its own and updates the site
            interleaved.append(True)
            others.append(data_docs_update_of(settings, "meters", "run_b", GOOD))
        return build(self, *args, **kwargs)

    monkeypatch.setattr(SiteBuilder, "build", build_while_another_gate_finishes)
    first = data_docs_update_of(settings, "orders", "run_a", GOOD)
    index = storage.read_bytes(settings, quality.data_docs_index_uri(settings)).decode()
    for update in (first, others[0]):
        assert update.page_uri.removeprefix(_site(settings) + "/") in index, update.page_uri
