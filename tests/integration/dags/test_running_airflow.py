"""Airflow as its users run it (`make airflow`: API server + UI, scheduler, DAG processor, triggerer),
not `dag.test`: a scheduled interval of the finance DAG end to end, and the UI in headless Chromium.

One Airflow per module, on a free port and its own lake; Spark tasks run as `spark-submit` (the
production default). Screenshots land in $LAKEHOUSE_TEST_ARTIFACTS (default: the test's tmp dir).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pendulum
import pytest
from croniter import croniter

from lakehouse import registry
from lakehouse.catalog import create_tables
from lakehouse.quality import data_docs_index_uri
from lakehouse.settings import LakehouseSettings
from ml import finance as finance_model
from spark_jobs.finance import generator as finance_generator
from spark_jobs.vision import generator as vision_generator
from spark_jobs.vision import io as vision_io
from tests.conftest import make_local_settings
from tests.support.airflow_stack import AirflowStack, airflow_stack, listening_addresses

DOMAIN_DAGS = {"finance_tick_processor", "energy_demand_forecast", "energy_realtime_forecast",
               "vision_cnn_classifier", "lakehouse_maintenance", "lakehouse_smoke"}
FINANCE_TASKS = {"check_session", "wait_for_landing", "ingest_raw", "build_silver", "gate_silver", "build_gold",
                 "gate_gold", "train", "evaluate", "register", "report"}
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _browser_url(uri: str) -> str:
    """A local artifact's URI as Chromium opens it (file:// URL)."""
    return uri if uri.startswith("file://") else Path(uri).resolve().as_uri()


def last_tick(settings: LakehouseSettings) -> pendulum.DateTime:
    """The finance schedule's most recent tick before now, in the exchange's time zone."""
    now = pendulum.now(settings.finance.exchange_timezone)
    return pendulum.instance(croniter(settings.finance.schedule_cron, now).get_prev(dt.datetime))


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> LakehouseSettings:
    settings = make_local_settings(tmp_path_factory.mktemp("running-airflow-lake"))
    vision = settings.vision.model_copy(update={"epochs": {"mnist": 1, "cifar10": 1}, "batch_size": 32,
                                                "device": "cpu"})
    # The fixed session, for the generator and the DAG alike: this test is about the scheduler, and whatever
    # day it runs on must be a full session (the exchange calendar would skip a holiday tick, or end an early
    # close such as 2026-11-27 at 13:00 while the generator's ticks stop there too).
    finance = settings.finance.model_copy(update={"calendar": "fixed"})
    settings = settings.model_copy(update={"vision": vision, "finance": finance})
    create_tables(settings)
    return settings


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, lake: LakehouseSettings):  # type: ignore[no-untyped-def]
    """Airflow with the finance DAG scheduled from its last tick (catch-up on: exactly one interval)."""
    tick = last_tick(lake)
    extra = {"LAKEHOUSE_FINANCE__START_DATE": tick.date().isoformat(), "LAKEHOUSE_FINANCE__CATCHUP": "true",
             "LAKEHOUSE_FINANCE__CALENDAR": lake.finance.calendar}
    with airflow_stack(tmp_path_factory.mktemp("running-airflow-home"), lake, extra) as running:
        yield running


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("LAKEHOUSE_TEST_ARTIFACTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("browser-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_every_dag_is_served_without_import_errors(stack: AirflowStack) -> None:
    dags = stack.wait_for_dags(DOMAIN_DAGS)
    # every server of `make airflow` is bound to 127.0.0.1 (no log server on 0.0.0.0:8793)
    assert listening_addresses(stack.pid) == {"127.0.0.1"}
    assert stack.api("GET", "/importErrors")["import_errors"] == []
    for dag_id in DOMAIN_DAGS:
        details = stack.api("GET", f"/dags/{dag_id}/details")
        assert details["doc_md"], f"{dag_id} has no doc_md"
        assert dags[dag_id]["is_paused"] is True  # new DAGs start paused: nothing runs until a person says so


def test_scheduler_runs_one_scheduled_interval_end_to_end(stack: AirflowStack, lake: LakehouseSettings) -> None:
    """Unpause the finance DAG: the scheduler (not dag.test) creates the run for the last tick and the
    LocalExecutor runs every task; tables and the model registry show it."""
    tick = last_tick(lake)
    day = tick.in_timezone("UTC").date()
    # enough ticks for the model to learn the generator's signal: the default policy registers only a winner
    finance_generator.generate_landing(lake, day, symbols=2, ticks=8000, seed=7, binance_ticks=0)
    stack.wait_for_dags({"finance_tick_processor"})
    stack.api("PATCH", "/dags/finance_tick_processor", json={"is_paused": False})
    run = stack.wait_for_run("finance_tick_processor", timeout_s=900)
    states = stack.task_states("finance_tick_processor", run["dag_run_id"])
    assert run["state"] == "success", (states, stack.component_logs())
    assert run["run_type"] == "scheduled" and run["logical_date"].startswith(day.isoformat())
    assert states == dict.fromkeys(FINANCE_TASKS, "success")
    runs = stack.api("GET", "/dags/finance_tick_processor/dagRuns")["dag_runs"]
    assert len(runs) == 1, "catch-up from the last tick schedules exactly one interval"
    stack.api("PATCH", "/dags/finance_tick_processor", json={"is_paused": True})

    gold = registry.read_table_snapshot(lake, "gold.ohlcv_1m", row_filter=f"trade_date == '{day}'")
    assert gold.num_rows == 2 * 390
    model = registry.latest_model(lake, finance_model.MODEL_NAME)
    assert model is not None and model["model_version"] == run["dag_run_id"]
    handed = stack.api("GET", f"/dags/finance_tick_processor/dagRuns/{run['dag_run_id']}/taskInstances/gate_gold/"
                              "xcomEntries/return_value")["value"]
    assert model["training_snapshots"]["gold.ohlcv_1m"] == handed["published"]["gold.ohlcv_1m"]


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is installed by infra/scripts/system-deps.sh")
def test_browser_logs_in_triggers_vision_and_opens_its_report(stack: AirflowStack, lake: LakehouseSettings,
                                                              artifacts: Path) -> None:
    """Headless Chromium: log in, see the DAGs, trigger vision_cnn_classifier for mnist from the UI,
    wait for success, then open the run's report and the Data Docs index and find their charts."""
    from playwright.sync_api import expect, sync_playwright

    vision_generator.write_files(lake, vision_io.landing_dir(lake, "mnist"),
                                 vision_generator.generate_files("mnist", 80, seed=3))
    stack.wait_for_dags({"vision_cnn_classifier"})  # paused: the trigger dialog unpauses it
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(stack.url)
        page.get_by_label("Username").fill(stack.username)
        page.get_by_label("Password").fill(stack.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(lambda url: "/auth/login" not in url, timeout=30_000)
        page.goto(f"{stack.url}/dags")
        for dag_id in ("finance_tick_processor", "energy_demand_forecast", "vision_cnn_classifier"):
            expect(page.get_by_text(dag_id, exact=True).first).to_be_visible(timeout=60_000)
        page.screenshot(path=str(artifacts / "dags.png"), full_page=True)

        page.goto(f"{stack.url}/dags/vision_cnn_classifier")
        page.get_by_role("button", name="Trigger").first.click()
        dialog = page.get_by_role("dialog")
        expect(dialog.get_by_text("mnist")).to_be_visible()  # the dataset param's default
        page.screenshot(path=str(artifacts / "trigger-dialog.png"))
        dialog.get_by_role("button", name="Trigger").click()
        run = stack.wait_for_run("vision_cnn_classifier", timeout_s=900)
        states = stack.task_states("vision_cnn_classifier", run["dag_run_id"])
        assert run["state"] == "success", (states, stack.component_logs())
        assert run["conf"].get("dataset", "mnist") == "mnist"
        page.goto(f"{stack.url}/dags/vision_cnn_classifier/runs/{run['dag_run_id']}")
        expect(page.get_by_text("success").first).to_be_visible(timeout=60_000)
        page.screenshot(path=str(artifacts / "vision-run.png"), full_page=True)
        # the gold gate's Asset: its lineage graph and the event this run emitted
        page.goto(f"{stack.url}/assets")
        page.get_by_role("link", name=f"{lake.catalog.name}.gold.image_training_set").first.click()
        expect(page.get_by_text("1 Asset Event").first).to_be_visible(timeout=30_000)
        expect(page.get_by_role("link", name="vision_cnn_classifier").first).to_be_visible()
        page.screenshot(path=str(artifacts / "vision-gold-asset.png"), full_page=True)

        summary = stack.api("GET", f"/dags/vision_cnn_classifier/dagRuns/{run['dag_run_id']}/taskInstances/"
                                   "report/xcomEntries/return_value")["value"]
        page.goto(_browser_url(summary["report"]))
        charts = page.locator("img[src^='data:image/png']")
        assert charts.count() >= 4, "learning curves, per-class accuracy, confusion matrix, sample grid"
        assert all(len(charts.nth(i).get_attribute("src") or "") > 2000 for i in range(charts.count()))
        page.screenshot(path=str(artifacts / "vision-report.png"), full_page=True)

        page.goto(_browser_url(data_docs_index_uri(lake)))
        for suite in ("silver_image_manifest", "gold_image_training_set"):  # rows of GX's own index table
            expect(page.get_by_role("link", name=suite).first).to_be_visible(timeout=30_000)
        page.screenshot(path=str(artifacts / "data-docs.png"), full_page=True)
        browser.close()
