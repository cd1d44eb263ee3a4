"""``runs_after_rejection``: a declared step that runs once the gate before it published, whatever the steps between
did (a rejected model), as an Airflow trigger rule and in ``lakehouse run``. The energy monthly pipeline is the
declaration under test: forecast and report run after a rejected candidate, never after an earlier failure."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from lakehouse import runner
from lakehouse.errors import LakehouseError
from lakehouse.pipeline import AFTER_REJECTION, ALL_SUCCESS, Call, Gate, Pipeline, Stage
from lakehouse.settings import PROJECT_ROOT, LakehouseSettings
from spark_jobs.energy.pipeline import ENERGY_MONTHLY
from spark_jobs.finance.pipeline import FINANCE_TICKS

MONTHLY = [s.task_id for s in ENERGY_MONTHLY.steps]


# ---- the declaration --------------------------------------------------------------------------------------------
def test_forecast_and_report_wait_for_the_features_gate_and_the_step_before_them() -> None:
    assert ENERGY_MONTHLY.upstream("forecast") == ("gate_features", "register")
    assert ENERGY_MONTHLY.upstream("report") == ("gate_features", "forecast")
    assert ENERGY_MONTHLY.trigger_rule("forecast") == ENERGY_MONTHLY.trigger_rule("report") == AFTER_REJECTION
    for task_id in MONTHLY[:-2]:
        assert ENERGY_MONTHLY.trigger_rule(task_id) == ALL_SUCCESS, task_id
    assert ENERGY_MONTHLY.upstream("ingest") == ()
    assert ENERGY_MONTHLY.upstream("train") == ("gate_features",)
    assert ENERGY_MONTHLY.publishing_gate("forecast") == "gate_features"


def test_the_finance_report_waits_for_the_gold_gate_and_register() -> None:
    assert FINANCE_TICKS.upstream("report") == ("gate_gold", "register")
    assert FINANCE_TICKS.trigger_rule("report") == AFTER_REJECTION
    assert FINANCE_TICKS.trigger_rule("register") == ALL_SUCCESS


def test_a_step_right_after_its_gate_waits_for_the_gate_only() -> None:
    pipeline = Pipeline("p", "d", "", "", steps=(
        Stage("stage", "m", doc="", stages=("t",)), Gate("gate", suite="s"),
        Call("after", "m:f", doc="", runs_after_rejection=True)))
    assert pipeline.upstream("after") == ("gate",)
    assert pipeline.trigger_rule("after") == AFTER_REJECTION


def test_running_after_a_rejection_needs_a_gate_before_the_step() -> None:
    with pytest.raises(LakehouseError, match="no gate before it publishes the data it needs"):
        Pipeline("p", "d", "", "", steps=(Call("a", "m:f", doc=""),
                                          Call("b", "m:f", doc="", runs_after_rejection=True)))


# ---- lakehouse run ----------------------------------------------------------------------------------------------
def _run(monkeypatch, fail: set[str]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The energy monthly pipeline through ``run_pipeline`` with every step faked: the ``fail`` ones raise."""

    def fake_step(step: Any, *args: Any) -> Any:
        if step.task_id in fail:
            raise LakehouseError(f"{step.task_id} failed on purpose")
        return {"ok": step.task_id}

    monkeypatch.setattr(runner, "_run_step", fake_step)
    outcome = runner.run_pipeline(ENERGY_MONTHLY, LakehouseSettings(profile="local"), dt.date(2024, 2, 1),
                                  run_id="unit", emit=False)
    states = {s.task_id: s.state for s in outcome.steps}
    assert outcome.succeeded == (not fail), states
    return states


def test_runner_forecasts_and_reports_after_a_rejection_and_the_run_still_fails(monkeypatch) -> None:
    states = _run(monkeypatch, {"evaluate"})
    assert states == {**dict.fromkeys(MONTHLY[:6], "success"), "evaluate": "failed", "register": "upstream_failed",
                      "forecast": "success", "report": "success"}


def test_runner_reports_even_when_the_forecast_fails_after_a_rejection(monkeypatch) -> None:
    states = _run(monkeypatch, {"train", "forecast"})
    assert [states[t] for t in ("train", "evaluate", "register", "forecast", "report")] == [
        "failed", "upstream_failed", "upstream_failed", "failed", "success"]


@pytest.mark.parametrize("failing", ["ingest", "silver", "gate_silver", "features", "gate_features"])
def test_runner_stops_everything_after_a_failure_up_to_the_gate(monkeypatch, failing: str) -> None:
    states = _run(monkeypatch, {failing})
    position = MONTHLY.index(failing)
    assert states == {**dict.fromkeys(MONTHLY[:position], "success"), failing: "failed",
                      **dict.fromkeys(MONTHLY[position + 1:], "upstream_failed")}


def test_a_short_circuit_skip_still_skips_every_step_after_it(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    train = ENERGY_MONTHLY.step("train")
    guarded = dataclasses.replace(ENERGY_MONTHLY, steps=tuple(
        dataclasses.replace(s, short_circuit=True) if s is train else s for s in ENERGY_MONTHLY.steps))

    def fake_step(step: Any, *args: Any) -> Any:
        return None if step.task_id == "train" else {"ok": step.task_id}

    monkeypatch.setattr(runner, "_run_step", fake_step)
    outcome = runner.run_pipeline(guarded, LakehouseSettings(profile="local"), dt.date(2024, 2, 1), run_id="unit",
                                  emit=False)
    assert {s.task_id: s.state for s in outcome.steps} == {
        **dict.fromkeys(MONTHLY[:6], "success"), **dict.fromkeys(MONTHLY[6:], "skipped")}
    assert outcome.succeeded


@pytest.mark.parametrize(("rule", "upstream", "expected"), [
    (ALL_SUCCESS, ["success"], None),
    (ALL_SUCCESS, ["failed"], "upstream_failed"),
    (ALL_SUCCESS, ["upstream_failed"], "upstream_failed"),
    (ALL_SUCCESS, ["skipped"], "skipped"),
    (AFTER_REJECTION, ["success", "upstream_failed"], None),
    (AFTER_REJECTION, ["success", "failed"], None),
    (AFTER_REJECTION, ["success", "success"], None),
    (AFTER_REJECTION, ["failed", "upstream_failed"], "upstream_failed"),
    (AFTER_REJECTION, ["upstream_failed", "upstream_failed"], "upstream_failed"),
    (AFTER_REJECTION, ["success", "skipped"], "skipped"),
])
def test_runner_applies_airflows_outcome_of_each_trigger_rule(rule: str, upstream: list[str],
                                                              expected: str | None) -> None:
    assert runner.blocked(rule, upstream) == expected


# ---- the Airflow DAG --------------------------------------------------------------------------------------------
_DESCRIBE = """
import json
from lakehouse.orchestration import build_dag
from lakehouse.pipeline import find_pipelines
from lakehouse.settings import LakehouseSettings

settings = LakehouseSettings(profile="local")
out = {}
for dag_id, pipeline in find_pipelines(settings).items():
    dag = build_dag(pipeline, settings)
    out[dag_id] = {t.task_id: [sorted(t.upstream_task_ids), str(t.trigger_rule.value)] for t in dag.tasks}
print(json.dumps(out))
"""


def test_the_dags_get_the_declared_dependencies_and_trigger_rules(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKEHOUSE_", "AIRFLOW"))}
    env.update({"AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "LAKEHOUSE_HOME": str(tmp_path / "lake")})
    result = subprocess.run([sys.executable, "-c", _DESCRIBE], cwd=PROJECT_ROOT, env=env, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    dags = json.loads(result.stdout.strip().splitlines()[-1])
    monthly = dags["energy_demand_forecast"]
    assert monthly["forecast"] == [["gate_features", "register"], "all_done_min_one_success"]
    assert monthly["report"] == [["forecast", "gate_features"], "all_done_min_one_success"]
    assert monthly["register"] == [["evaluate"], "all_success"]
    from lakehouse.pipeline import find_pipelines

    for dag_id, pipeline in find_pipelines(LakehouseSettings(profile="local", home=tmp_path / "lake")).items():
        expected = {s.task_id: [sorted(pipeline.upstream(s.task_id)), pipeline.trigger_rule(s.task_id)]
                    for s in pipeline.steps}
        assert dags[dag_id] == expected, dag_id
