"""`lakehouse run <pipeline> --date D`: a declared pipeline's steps in order, in one process, without Airflow.

For notebooks, debugging and ad-hoc backfills. The steps run through the same code as in Airflow:
Spark stages and gates through ``lakehouse.jobs.run_job`` on one shared Spark session, Python steps
through their declared targets with a :class:`lakehouse.pipeline.RunContext`. Templated options
(``{{ params.dataset }}``, ``{{ ds }}``, ``{{ logical_date }}``, ``{{ run_id }}``) are rendered with
the run's values as Airflow would. Each step runs under the same rule as its Airflow task
(:meth:`lakehouse.pipeline.Pipeline.trigger_rule` over ``Pipeline.upstream``): a failing step stops the steps
after it (``upstream_failed``) except a ``runs_after_rejection`` step, which still runs once its gate has
published (the forecast and report after a rejected model); the run then still counts as failed, so
``lakehouse run`` exits non-zero. A falsy short-circuit step skips the rest, a
:class:`lakehouse.pipeline.Wait` step checks its condition once (ready, or the run stops there), and the
outcome of every step is reported.
"""

from __future__ import annotations

import datetime as dt
import importlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lakehouse.errors import LakehouseError, explain
from lakehouse.jobs import run_job
from lakehouse.pipeline import (
    AFTER_REJECTION,
    Call,
    Gate,
    Pipeline,
    RunContext,
    Stage,
    Wait,
    call_target,
    check_wait,
)
from lakehouse.settings import LakehouseSettings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@dataclass
class StepOutcome:
    """What one step did."""

    task_id: str
    state: str  # success, failed, skipped, upstream_failed
    seconds: float = 0.0
    summary: Any = None
    error: str | None = None


@dataclass
class RunOutcome:
    """What a run did, step by step."""

    pipeline: str
    logical_date: dt.date
    run_id: str
    steps: list[StepOutcome] = field(default_factory=list)

    @property
    def succeeded(self) -> bool:
        return all(s.state in ("success", "skipped") for s in self.steps)


def render(text: str, values: Mapping[str, Any]) -> str:
    """Render Airflow-style template fields in ``text`` with the run's ``values``."""
    if "{{" not in text:
        return text
    import jinja2

    return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(text).render(**values)


def resolve_params(pipeline: Pipeline, settings: LakehouseSettings, given: Mapping[str, str]) -> dict[str, Any]:
    """The run's parameters: declared defaults, overridden by ``given`` (checked against the declaration)."""
    unknown = sorted(set(given) - set(pipeline.params))
    if unknown:
        raise LakehouseError(f"{pipeline.dag_id} has no parameter {', '.join(unknown)}: "
                             f"declared are {', '.join(pipeline.params) or 'none'}")
    params = {name: (p.default(settings) if callable(p.default) else p.default) for name, p in pipeline.params.items()}
    params.update(given)
    for name, value in params.items():
        allowed = pipeline.params[name].enum
        if allowed and value not in allowed:
            raise LakehouseError(f"--param {name}={value}: choose one of {', '.join(map(str, allowed))}")
    return params


def run_pipeline(
    pipeline: Pipeline,
    settings: LakehouseSettings,
    logical_date: dt.date,
    *,
    params: Mapping[str, str] | None = None,
    run_id: str | None = None,
    spark: SparkSession | None = None,
    on_step: Callable[[StepOutcome], None] | None = None,
    emit: bool = True,
) -> RunOutcome:
    """Run every step of ``pipeline`` for ``logical_date``; report each through ``on_step``."""
    run_id = run_id or f"run__{logical_date.isoformat()}"
    values = resolve_params(pipeline, settings, params or {})
    template = {"params": values, "ds": logical_date.isoformat(), "run_id": run_id,
                "logical_date": dt.datetime.combine(logical_date, dt.time(), tzinfo=dt.UTC)}
    plans = pipeline.gate_plans()
    outcome = RunOutcome(pipeline.dag_id, logical_date, run_id)
    upstream: dict[str, Any] = {}
    states: dict[str, str] = {}
    skip_rest = False  # a falsy short-circuit step skips everything after it, whatever its trigger rule
    for step in pipeline.steps:
        stop = "skipped" if skip_rest else blocked(pipeline.trigger_rule(step.task_id),
                                                    [states[u] for u in pipeline.upstream(step.task_id)])
        if stop is not None:
            result = StepOutcome(step.task_id, stop)
        else:
            started = time.monotonic()
            try:
                summary = _run_step(step, settings, logical_date, run_id, values, upstream, template, plans, spark,
                                    emit)
                result = StepOutcome(step.task_id, "success", time.monotonic() - started, summary)
                skip_rest = isinstance(step, Call) and step.short_circuit and not summary
            except (Exception, SystemExit) as exc:
                error = _error_line(exc)
                result = StepOutcome(step.task_id, "failed", time.monotonic() - started, error=error)
            upstream[step.task_id] = result.summary
        states[step.task_id] = result.state
        outcome.steps.append(result)
        if on_step is not None:
            on_step(result)
    return outcome


def blocked(rule: str, upstream_states: list[str]) -> str | None:
    """The state a step ends in without running, given its trigger rule and the states of the steps it waits
    for (None: it runs). The subset of Airflow's trigger rules a declaration can produce, with Airflow's
    outcomes: ``all_success`` runs only after successes (a failure upstream -> ``upstream_failed``, a skip ->
    ``skipped``); ``all_done_min_one_success`` runs when none was skipped and at least one succeeded."""
    if rule == AFTER_REJECTION:
        if "skipped" in upstream_states:
            return "skipped"
        return None if "success" in upstream_states or not upstream_states else "upstream_failed"
    if any(state in ("failed", "upstream_failed") for state in upstream_states):
        return "upstream_failed"
    if "skipped" in upstream_states:
        return "skipped"
    return None


def _error_line(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):  # run_job already printed its one line on stderr
        return f"exit status {exc.code} (see the error line above)"
    return explain(exc)


def _run_step(step: Any, settings: LakehouseSettings, logical_date: dt.date, run_id: str, params: dict[str, Any],
              upstream: dict[str, Any], template: dict[str, Any], plans: Any, spark: SparkSession | None,
              emit: bool) -> Any:
    if isinstance(step, Call):
        run = RunContext(settings, logical_date, run_id, params, dict(upstream))
        return call_target(step.target)(run, **step.arguments)
    if isinstance(step, Wait):  # asked once: a run in one process does not sit waiting for files
        found = check_wait(step, RunContext(settings, logical_date, run_id, params, dict(upstream)))
        if not found.ready:
            raise LakehouseError(f"{step.task_id}: not ready: {found.detail} (`lakehouse run` checks once; the "
                                 f"DAG waits up to {step.timeout_s(settings):g}s)")
        return {"detail": found.detail, **found.summary}
    if isinstance(step, Gate):
        module, options = "spark_jobs.gate", {**plans[step.task_id].options(step.suite), **step.options}
    elif isinstance(step, Stage):
        module, options = step.job, dict(step.options)
    else:  # pragma: no cover - Pipeline refuses other kinds
        raise LakehouseError(f"unknown step {step!r}")
    template = {**template, "ti": _PulledResults(upstream)}
    argv = ["--logical-date", logical_date.isoformat(), "--run-id", run_id]
    for key, value in options.items():
        argv += ["--option", f"{key}={render(value, template)}"]
    job = importlib.import_module(module)
    return run_job(job.main, app_name=module.rsplit(".", 1)[-1], argv=argv, settings=settings, spark=spark,
                   emit=emit)


class _PulledResults:
    """``ti.xcom_pull(task_ids=...)`` inside an option template, answered from this run's step summaries."""

    def __init__(self, results: Mapping[str, Any]) -> None:
        self._results = results

    def xcom_pull(self, task_ids: str | list[str]) -> Any:
        if isinstance(task_ids, str):
            return self._results.get(task_ids)
        return [self._results.get(t) for t in task_ids]
