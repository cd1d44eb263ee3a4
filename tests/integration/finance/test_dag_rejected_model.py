"""finance_tick_processor under the default policy (finance.require_beat_baseline) on a generated day
without any signal (a pure random walk, ``signal=0``): Gold is published, but the next-bar model cannot
beat its baselines, so evaluate fails with one line naming the lost comparisons and every compared
metric, register never runs and ml.model_registry gets no new row. (The registering side, the default
generator's day, is tests/integration/finance/test_finance_pipeline.py::test_dag_runs_end_to_end.)"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re

from lakehouse import registry, reports, storage
from lakehouse.training import candidate_dir
from ml import finance as finance_model
from spark_jobs.finance import generator
from tests.support.airflow import run_dag, task_states
from tests.support.gates import assert_nothing_registered, main_snapshots

RANDOM_WALK_DAY = dt.date(2023, 5, 9)  # a Tuesday: no other test writes gold.ohlcv_1m within 30 days of it
LOST = re.compile(r"lost (\d+) of (\d+) comparisons \((.*?)\); every compared metric: (.*)$")


def _rejection_lines(text: str) -> list[str]:
    """The rejection message as logged by the failed evaluate task (one line, possibly log-prefixed)."""
    start = f"{finance_model.MODEL_NAME} does not beat its baselines, not registered: "
    return sorted({line[line.index(start):] for line in text.splitlines() if start in line})


def test_a_random_walk_day_is_rejected_and_nothing_is_registered(airflow_env, spark, local_settings, caplog,
                                                                  capfd) -> None:
    settings = local_settings
    assert settings.finance.require_beat_baseline, "the policy is on by default"
    generator.generate_landing(settings, RANDOM_WALK_DAY, symbols=3, ticks=6000, seed=11, signal=0.0)
    before = main_snapshots(spark, settings, ["ml.model_registry"])["ml.model_registry"]

    with caplog.at_level(logging.INFO):
        dag_run = run_dag("finance_tick_processor", RANDOM_WALK_DAY, settings)
    states = task_states(dag_run)
    assert {t: states[t] for t in ("ingest_raw", "build_silver", "gate_silver", "build_gold", "gate_gold",
                                   "train")} == dict.fromkeys(("ingest_raw", "build_silver", "gate_silver",
                                                               "build_gold", "gate_gold", "train"), "success")
    assert (states["evaluate"], states["register"]) == ("failed", "upstream_failed"), states
    assert str(dag_run.state) == "failed", "a rejected model fails the run visibly"
    assert_nothing_registered(spark, settings, dag_run.run_id, before)
    assert all(m["model_version"] != dag_run.run_id
               for m in registry.list_models(settings, finance_model.MODEL_NAME))

    # the verdict kept for the register step (which refuses it even when run on its own)
    folder = candidate_dir_of(settings, dag_run.run_id)
    evaluation = json.loads(storage.read_bytes(settings, storage.join(folder, "evaluation.json")))
    assert evaluation["rejected"] is True and evaluation["beats_baselines"] is False
    lost = {(c["metric"], c["baseline"]) for c in evaluation["comparisons"] if c["required"] and not c["won"]}
    assert lost, evaluation["comparisons"]

    # one readable line: the lost comparisons first, then every metric against every baseline
    out, err = capfd.readouterr()
    (line,) = _rejection_lines("\n".join((caplog.text, out, err)))
    match = LOST.search(line)
    assert match, line
    assert int(match.group(1)) == len(lost) and int(match.group(2)) == len(evaluation["comparisons"])
    named = set(re.findall(r"(\w+) [-\d.e+naif]+ vs (\w+) [-\d.e+naif]+ \(worse\)", match.group(3)))
    assert named == lost
    every = set(re.findall(r"(\w+) [-\d.e+naif]+ vs (\w+) [-\d.e+naif]+ \((?:better|worse)\)", match.group(4)))
    assert every == {(m, b) for m in finance_model.METRIC_NAMES for b in finance_model.BASELINE_NAMES.values()}

    # the report still ran (gold was published): its page leads with the verdict and every compared metric,
    # then the task failed with one line naming the page, so the run is failed and nothing is hidden
    assert states["report"] == "failed", states
    (page,) = [e for e in reports.list_reports(settings, "finance_tick_processor", RANDOM_WALK_DAY)
               if e.run == storage.safe_segment(dag_run.run_id)]
    document = storage.read_bytes(settings, page.uri).decode()
    assert document.index("Candidate rejected") < document.index("Overview") < document.index(
        "Candidate (not registered)")
    assert f"lost {len(lost)} of {len(evaluation['comparisons'])} comparisons" in document
    for comparison in evaluation["comparisons"]:
        assert f"<td>{comparison['baseline']}</td>" in document, comparison
    failure = f"{finance_model.MODEL_NAME} run {dag_run.run_id}: this run's candidate was rejected: lost {len(lost)}"
    (reported,) = sorted({line[line.index(failure):] for line in "\n".join((caplog.text, out, err)).splitlines()
                          if failure in line})
    assert reported.endswith(f"nothing registered (report: {page.uri})"), reported


def candidate_dir_of(settings, run_id: str) -> str:  # type: ignore[no-untyped-def]
    """Where fit and evaluate kept the run's candidate."""
    from lakehouse.pipeline import RunContext

    return candidate_dir(RunContext(settings, RANDOM_WALK_DAY, run_id, {}), finance_model.MODEL_NAME)
