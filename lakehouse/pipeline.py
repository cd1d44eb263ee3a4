"""Declared pipelines: one declaration per DAG, from which everything else is derived.

A domain declares its pipelines in a module named ``pipeline`` inside its package (for example
``spark_jobs/finance/pipeline.py``) as a module-level ``PIPELINES`` tuple of :class:`Pipeline`.
:func:`find_pipelines` discovers every such module under the packages listed in
``settings.pipelines.packages`` (in the spirit of Kedro's ``find_pipelines``): the core never lists
domains by hand, and adding a domain means adding a package.

From one declaration:

- the Airflow DAG (``lakehouse.orchestration.build_dag``): tasks in the declared order, Spark stages as
  ``spark-submit`` or in-process tasks, gates, Python steps, sensors (:class:`Wait`, deferrable), with
  retries and timeouts from settings;
- ``lakehouse run <pipeline> --date D`` (``lakehouse.runner``): the same steps in one process;
- the gate/publish lists: a :class:`Gate` publishes exactly the tables the :class:`Stage` s before it
  staged on the run's audit branch (since the previous gate), and validates the first of them unless
  told otherwise, so no table name is restated;
- the docs: each step's ``doc`` is its task's ``doc_md``, the pipeline's ``doc`` the DAG's;
- when each step runs: after the step before it succeeded, or, for a step declared
  ``runs_after_rejection=True``, once the data it needs is published (see :data:`Step`).

Declarations are plain data: they import no Spark, Airflow or domain code, so building a DAG from them
at parse time costs nothing but building the DAG object.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import pkgutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Self

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from lakehouse.errors import LakehouseError
from lakehouse.settings import LakehouseSettings


# ---- typed job options ---------------------------------------------------------------------------
class JobOptions(BaseModel):
    """Base of a job's typed options (a job declares ``Options = MyOptions`` beside its ``main``).

    The same object builds the ``--option key=value`` arguments of ``spark-submit`` (:meth:`to_args`)
    and is what the job's ``main`` receives as ``ctx.options`` in every mode; unknown or ill-typed
    options fail with one line before the job starts.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def from_pairs(cls, pairs: Sequence[str], *, job: str = "job") -> Self:
        """Options from ``key=value`` strings (the ``--option`` arguments)."""
        values: dict[str, str] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep:
                raise LakehouseError(f"{job}: --option {pair!r} is not KEY=VALUE")
            values[key.strip()] = value
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'options'}: {e['msg']}"
                                 for e in exc.errors())
            raise LakehouseError(f"{job}: invalid options ({problems})") from None

    @classmethod
    def of(cls, value: Any) -> Self:
        """``value`` as these options: already typed, or a ``{key: value}`` mapping (in-process callers)."""
        if isinstance(value, cls):
            return value
        if isinstance(value, JobOptions):
            value = value.model_dump()
        return cls.from_pairs([f"{k}={v}" for k, v in dict(value or {}).items() if v is not None])

    def to_args(self) -> list[str]:
        """``--option key=value`` arguments that :meth:`from_pairs` turns back into this object."""
        args: list[str] = []
        for key, value in self.model_dump(mode="json", exclude_none=True).items():
            text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
            args += ["--option", f"{key}={text}"]
        return args


class NoOptions(JobOptions):
    """For jobs without options."""


def _split_commas(value: Any) -> Any:
    return [part for part in value.split(",") if part] if isinstance(value, str) else value


CommaList = Annotated[list[str], BeforeValidator(_split_commas)]
"""A list option given as ``key=a,b,c``."""


def options_class(job_module: Any) -> type[JobOptions]:
    """The ``Options`` class a job module declares (``NoOptions`` when it declares none)."""
    found = getattr(job_module, "Options", NoOptions)
    if not (isinstance(found, type) and issubclass(found, JobOptions)):
        raise LakehouseError(f"{job_module.__name__}.Options must be a lakehouse.pipeline.JobOptions subclass")
    return found


# ---- steps ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Stage:
    """A Spark job of the pipeline (``job``: a module with ``main(ctx)`` and an optional ``Options``).

    ``writes``: tables it writes on ``main`` directly (raw); ``stages``: tables it writes on the run's
    audit branch, which the next :class:`Gate` validates and publishes. ``options``: the job's options
    as text; values may use the run's template fields (``{{ params.dataset }}``, ``{{ ds }}``,
    ``{{ logical_date }}``), rendered by Airflow or by ``lakehouse run``.
    """

    task_id: str
    job: str
    doc: str
    writes: tuple[str, ...] = ()
    stages: tuple[str, ...] = ()
    options: Mapping[str, str] = field(default_factory=dict)
    runs_after_rejection: bool = False  # see Step


@dataclass(frozen=True)
class Gate:
    """A quality gate: validates the staged rows of ``validates`` (default: the first table staged since
    the previous gate) with the suite ``expectations/<suite>.py``, then publishes every table staged
    since the previous gate, together."""

    task_id: str
    suite: str
    validates: str | None = None
    doc: str = ""
    options: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    """A Python step: ``target`` is ``"module:function"``, called as ``function(run: RunContext)`` and
    returning a JSON-able summary. ``short_circuit``: a falsy result skips the steps after it (the DAG
    shows them skipped, not failed)."""

    task_id: str
    target: str
    doc: str
    short_circuit: bool = False
    runs_after_rejection: bool = False  # see Step
    arguments: Mapping[str, str] = field(default_factory=dict)  # keyword arguments after ``run``
    resources: Callable[[LakehouseSettings], Resources] | None = None
    # Where ``kubernetes(settings)`` returns a :class:`Pod`, the step runs in a Kubernetes pod instead (e.g. on
    # a GPU node): ``pod_spec`` names ``function(settings, *, params, logical_date, run_id) -> pod spec dict``,
    # called when the task executes.
    kubernetes: Callable[[LakehouseSettings], Pod | None] | None = None
    pod_spec: str | None = None


@dataclass(frozen=True)
class Resources:
    """Where a step runs in Airflow: its pool and queue (e.g. a CPU-heavy training pool, a GPU queue) and an
    ``executor_config`` for executors that size workers (Kubernetes, Celery)."""

    pool: str | None = None
    queue: str | None = None
    executor_config: Mapping[str, Any] = field(default_factory=dict)


def training_steps(trainer: str, *, fit_doc: str, resources: Callable[[LakehouseSettings], Resources] | None = None,
                   kubernetes: Callable[[LakehouseSettings], Pod | None] | None = None,
                   pod_spec: str | None = None) -> tuple[Call, Call, Call]:
    """The training protocol (lakehouse.training) as three steps: ``train`` (fit on the pinned snapshots,
    where ``kubernetes`` may place it in a pod), ``evaluate`` (against the trainer's baselines) and
    ``register``. ``trainer`` names the domain's Trainer object (``"ml.finance:TRAINER"``)."""
    arguments = {"trainer": trainer}
    return (
        Call("train", "lakehouse.training:fit_step", doc=fit_doc, arguments=arguments, resources=resources,
             kubernetes=kubernetes, pod_spec=pod_spec),
        Call("evaluate", "lakehouse.training:evaluate_step", arguments=arguments, resources=resources,
             doc="Score the candidate and the declared baselines on the same pinned rows; fail, registering "
                 "nothing, when it loses where it must win (every compared metric is in the message)."),
        Call("register", "lakehouse.training:register_step", arguments=arguments,
             doc="Register the evaluated model with its metrics, parameters, the fingerprint of the rows it read "
                 "and the exact snapshot ids (tagged, so maintenance keeps them)."),
    )


@dataclass(frozen=True)
class Pod:
    """Where a :class:`Call` runs as a pod: the Airflow connection to the cluster, namespace and image, and the
    Airflow pool and queue of the task that launches it (e.g. a ``gpu`` pool with one slot per GPU)."""

    conn_id: str
    namespace: str
    image: str
    pool: str | None = None
    queue: str | None = None


@dataclass(frozen=True)
class Readiness:
    """What a :class:`Wait` condition answers: whether the run may go on, and one line saying what it found
    (or what is still missing: it ends the timeout message). ``summary`` is the step's result once ready."""

    ready: bool
    detail: str
    summary: Mapping[str, Any] = field(default_factory=dict)


def _default_poke_interval(_settings: LakehouseSettings) -> float:
    return 60.0


def _default_timeout(_settings: LakehouseSettings) -> float:
    return 3600.0


def _deferrable(_settings: LakehouseSettings) -> bool:
    return True


@dataclass(frozen=True)
class Wait:
    """A sensor: waits until the inputs of the run are there (late files, a ``_SUCCESS`` marker, another
    system's export), instead of failing the run the moment they are missing.

    ``target`` is ``"module:function"``, called as ``function(run: RunContext, **arguments)`` and returning
    a :class:`Readiness`; it must be cheap and side-effect free (it is called once per poke). Every
    ``poke_interval_s(settings)`` seconds it is asked again, for at most ``timeout_s(settings)`` seconds; then
    the step fails with one line: what it waited for, for how long, and the condition's last ``detail``.

    In Airflow (``lakehouse.sensors``) the step is a sensor that, where ``deferrable(settings)``, waits in
    the triggerer (no worker slot is held while waiting) and otherwise pokes in its worker.
    ``lakehouse run`` asks the condition once: the inputs are there, or the run stops with the same line.
    """

    task_id: str
    target: str
    doc: str
    timeout_s: Callable[[LakehouseSettings], float] = _default_timeout
    poke_interval_s: Callable[[LakehouseSettings], float] = _default_poke_interval
    deferrable: Callable[[LakehouseSettings], bool] = _deferrable
    arguments: Mapping[str, str] = field(default_factory=dict)  # keyword arguments after ``run``


def wait_timeout_message(task_id: str, waited_s: float, interval_s: float, detail: str) -> str:
    """The one line a :class:`Wait` fails with when its inputs never came."""
    return (f"{task_id}: gave up after waiting {waited_s:g}s (poking every {interval_s:g}s): {detail}")


def check_wait(step: Wait, run: RunContext) -> Readiness:
    """Ask a :class:`Wait` step's condition once."""
    found = call_target(step.target)(run, **step.arguments)
    if not isinstance(found, Readiness):
        raise LakehouseError(f"{step.target} must return lakehouse.pipeline.Readiness, not {type(found).__name__}")
    return found


Step = Stage | Gate | Call | Wait
"""A step of a pipeline. Steps run in the declared order, each once the step before it succeeded, so the first
failure stops the run there.

``runs_after_rejection=True`` (a :class:`Stage` or a :class:`Call`) relaxes that for a step that only needs
data already published: it runs once the last :class:`Gate` before it has published, whatever the steps between
that gate and it did. A rejected model (``evaluate`` fails, ``register`` refuses it) is the case it is for: the
forecast after it still runs, with the last registered model, and so does the run report. A failure at or
before that gate still stops it (nothing it needs was published), a skip (a falsy short-circuit step) still
skips it, and the run still ends failed: a failed step is never hidden. In Airflow the step also depends on
that gate, with the trigger rule ``all_done_min_one_success`` (:meth:`Pipeline.trigger_rule`); ``lakehouse
run`` applies the same rule.
"""

ALL_SUCCESS = "all_success"
"""Trigger rule of an ordinary step: every step it depends on succeeded."""
AFTER_REJECTION = "all_done_min_one_success"
"""Trigger rule of a ``runs_after_rejection`` step: the steps it depends on (its gate and the step before it) are
done, none skipped, and at least one succeeded; the step before it succeeds only if the gate did, so this means
"the gate published"."""


@dataclass(frozen=True)
class Schedule:
    """When a pipeline runs: a cron expression in a time zone (``None``: manual trigger only)."""

    cron: str | None
    timezone: str = "UTC"


@dataclass(frozen=True)
class Param:
    """A run parameter (``lakehouse run --param k=v``; the trigger form in the Airflow UI)."""

    default: Any  # a value, or a function of the settings
    description: str
    enum: tuple[Any, ...] | None = None


@dataclass(frozen=True)
class Pipeline:
    """One DAG, declared: identity, docs, schedule, parameters and its steps in order.

    ``schedule``/``catchup`` are functions of the settings, so one declaration serves every profile.
    """

    dag_id: str
    domain: str
    description: str
    doc: str
    steps: tuple[Step, ...]
    schedule: Callable[[LakehouseSettings], Schedule] = lambda _settings: Schedule(None)
    start_date: str | Callable[[LakehouseSettings], str] = "2020-01-01"
    catchup: Callable[[LakehouseSettings], bool] = lambda _settings: False
    params: Mapping[str, Param] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    max_active_runs: int = 1

    STEP_KINDS: ClassVar[tuple[type, ...]] = (Stage, Gate, Call, Wait)

    def __post_init__(self) -> None:
        ids = [s.task_id for s in self.steps]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise LakehouseError(f"pipeline {self.dag_id}: duplicate task ids {duplicates}")
        for step in self.steps:
            if not isinstance(step, self.STEP_KINDS):
                raise LakehouseError(f"pipeline {self.dag_id}: {step!r} is not a Stage, Gate, Call or Wait")
        for step in self.steps:
            if getattr(step, "runs_after_rejection", False) and self.publishing_gate(step.task_id) is None:
                raise LakehouseError(f"pipeline {self.dag_id}: {step.task_id} runs after a rejection, but no gate "
                                     "before it publishes the data it needs")
        self.gate_plans()  # a gate with nothing staged before it is a declaration error

    def gate_plans(self) -> dict[str, GatePlan]:
        """Per gate task id: the table it validates and the tables it publishes (derived)."""
        plans: dict[str, GatePlan] = {}
        pending: list[str] = []
        for step in self.steps:
            if isinstance(step, Stage):
                pending += [t for t in step.stages if t not in pending]
            elif isinstance(step, Gate):
                if not pending:
                    raise LakehouseError(f"pipeline {self.dag_id}: gate {step.task_id} has no staged table before it")
                validates = step.validates or pending[0]
                if validates not in pending:
                    raise LakehouseError(f"pipeline {self.dag_id}: gate {step.task_id} validates {validates}, "
                                         f"which no stage before it stages ({', '.join(pending)})")
                plans[step.task_id] = GatePlan(validates, tuple(pending))
                pending = []
        if pending:
            raise LakehouseError(f"pipeline {self.dag_id}: {', '.join(pending)} staged but never gated/published")
        return plans

    def tables(self) -> tuple[str, ...]:
        """Every table the pipeline writes or stages, in order of first appearance."""
        seen: list[str] = []
        for step in self.steps:
            if isinstance(step, Stage):
                seen += [t for t in (*step.writes, *step.stages) if t not in seen]
        return tuple(seen)

    def step(self, task_id: str) -> Step:
        for step in self.steps:
            if step.task_id == task_id:
                return step
        raise LakehouseError(f"pipeline {self.dag_id} has no step {task_id!r}")

    def publishing_gate(self, task_id: str) -> str | None:
        """The last :class:`Gate` declared before step ``task_id`` (None when there is none)."""
        found = None
        for step in self.steps:
            if step.task_id == task_id:
                return found
            if isinstance(step, Gate):
                found = step.task_id
        raise LakehouseError(f"pipeline {self.dag_id} has no step {task_id!r}")

    def upstream(self, task_id: str) -> tuple[str, ...]:
        """The steps ``task_id`` waits for: the step before it, and for a ``runs_after_rejection`` step also the
        gate that publishes what it needs (first)."""
        ids = [s.task_id for s in self.steps]
        position = ids.index(task_id) if task_id in ids else -1
        if position < 0:
            raise LakehouseError(f"pipeline {self.dag_id} has no step {task_id!r}")
        if position == 0:
            return ()
        previous = ids[position - 1]
        gate = self.publishing_gate(task_id) if getattr(self.steps[position], "runs_after_rejection", False) else None
        return (gate, previous) if gate and gate != previous else (previous,)

    def trigger_rule(self, task_id: str) -> str:
        """When step ``task_id`` runs, as an Airflow trigger rule value over :meth:`upstream` (see :data:`Step`)."""
        step = self.step(task_id)
        return AFTER_REJECTION if getattr(step, "runs_after_rejection", False) else ALL_SUCCESS


@dataclass(frozen=True)
class GatePlan:
    """What one gate does (derived from the stages before it)."""

    validates: str
    publishes: tuple[str, ...]

    def options(self, suite: str) -> dict[str, str]:
        return {"table": self.validates, "suite": suite, "publish": ",".join(self.publishes)}


@dataclass(frozen=True)
class RunContext:
    """What a Python step gets: settings, the run's logical date and id, its parameters, and the
    summaries the steps before it returned (by task id)."""

    settings: LakehouseSettings
    logical_date: Any  # datetime.date
    run_id: str
    params: Mapping[str, Any] = field(default_factory=dict)
    upstream: Mapping[str, Any] = field(default_factory=dict)


def call_target(target: str) -> Callable[[RunContext], Any]:
    """The function a :class:`Call` names (imported when the step runs, never at parse time)."""
    module_name, _, function = target.partition(":")
    try:
        return getattr(importlib.import_module(module_name), function)  # type: ignore[no-any-return]
    except (ImportError, AttributeError) as exc:
        raise LakehouseError(f"step target {target!r} cannot be imported: {exc}") from exc


# ---- discovery -------------------------------------------------------------------------------------
def find_pipelines(settings: LakehouseSettings) -> dict[str, Pipeline]:
    """Every declared pipeline (by DAG id) in the ``pipeline`` modules under ``settings.pipelines.packages``."""
    return dict(_find_pipelines(tuple(settings.pipelines.packages)))


def declared_tables(settings: LakehouseSettings) -> dict[str, Any]:
    """Every table: the ones in ``schemas/`` and the ``TABLES`` of the ``tables`` modules of discovered
    domain packages (kept apart from ``pipeline`` modules, so DAG parsing never imports table schemas)."""
    return dict(_declared_tables(tuple(settings.pipelines.packages)))


def table_spec(settings: LakehouseSettings, identifier: str) -> Any:
    """The declared table ``identifier`` (``schemas/`` or a discovered domain package)."""
    tables = declared_tables(settings)
    if identifier not in tables:
        raise LakehouseError(f"unknown table {identifier!r}; declared tables: {', '.join(sorted(tables))}")
    return tables[identifier]


def declaration_modules(packages: Sequence[str], name: str) -> list[str]:
    """Modules called ``name`` directly in each package and in each of its sub-packages (that exist)."""
    found = []
    for package_name in packages:
        package = importlib.import_module(package_name)
        candidates = [f"{package_name}.{name}"] + [
            f"{package_name}.{info.name}.{name}"
            for info in pkgutil.iter_modules(getattr(package, "__path__", [])) if info.ispkg
        ]
        found += [m for m in candidates if importlib.util.find_spec(m) is not None]
    return found


@functools.cache
def _find_pipelines(packages: tuple[str, ...]) -> tuple[tuple[str, Pipeline], ...]:
    pipelines: dict[str, Pipeline] = {}
    for module_name in declaration_modules(packages, "pipeline"):
        for pipeline in getattr(importlib.import_module(module_name), "PIPELINES", ()):
            if not isinstance(pipeline, Pipeline):
                raise LakehouseError(f"{module_name}.PIPELINES must hold lakehouse.pipeline.Pipeline objects")
            if pipeline.dag_id in pipelines:
                raise LakehouseError(f"pipeline {pipeline.dag_id} is declared twice "
                                     f"({pipelines[pipeline.dag_id].domain} and {pipeline.domain})")
            pipelines[pipeline.dag_id] = pipeline
    return tuple(sorted(pipelines.items()))


@functools.cache
def _declared_tables(packages: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
    from schemas import ALL_TABLES
    from schemas.base import TableSpec

    tables: dict[str, Any] = dict(ALL_TABLES)
    for module_name in declaration_modules(packages, "tables"):
        for spec in getattr(importlib.import_module(module_name), "TABLES", ()):
            if not isinstance(spec, TableSpec):
                raise LakehouseError(f"{module_name}.TABLES must hold schemas.base.TableSpec objects, not {spec!r}")
            if spec.identifier in tables:
                raise LakehouseError(f"table {spec.identifier} is declared twice (again in {module_name})")
            tables[spec.identifier] = spec
    return tuple(tables.items())


def get_pipeline(settings: LakehouseSettings, dag_id: str) -> Pipeline:
    """The declared pipeline ``dag_id``, or one line naming the ones there are."""
    pipelines = find_pipelines(settings)
    if dag_id not in pipelines:
        raise LakehouseError(f"unknown pipeline {dag_id!r}: declared are {', '.join(pipelines) or 'none'}")
    return pipelines[dag_id]
