"""The training protocol every domain follows, as three tasks: fit -> evaluate -> register.

Contract (what a domain gets for free by implementing :class:`Trainer`):

- **fit** pins the published snapshot of every table the trainer reads (``main`` when the step runs,
  or the ids the run passes as ``params["snapshots"]``), fails with one line if a table has none, reads
  the rows through the trainer, fingerprints them (row count + order-independent checksum) and lets the
  trainer fit. The model file and ``candidate.json`` (snapshots, fingerprint, parameters) are kept under
  ``{artifacts}/candidates/<model>/<run id>/``; nothing is registered.
- **evaluate** reads the same pinned rows again (the fingerprint must match), scores the candidate
  against the trainer's declared baselines and keeps ``evaluation.json``. If the model loses where the
  trainer requires it to win, the step fails with one line listing *every* compared metric, so the run
  shows a failed evaluation, not a failed training.
- **register** records the evaluated candidate in the model registry with its metrics, parameters,
  fingerprint and the snapshot ids, which are tagged so maintenance never expires them. It refuses a
  candidate its evaluation rejected (``evaluation.json`` says ``rejected``), even when run on its own.

Each step can be retried on its own: it only reads what the step before it kept.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lakehouse import storage
from lakehouse.errors import LakehouseError
from lakehouse.pipeline import RunContext, call_target

if TYPE_CHECKING:
    import pyarrow as pa

log = logging.getLogger("lakehouse.training")


class ModelRejected(LakehouseError):
    """The candidate lost to a baseline where it must win: it is not registered."""


@dataclass(frozen=True)
class Comparison:
    """One metric of the model against one baseline on the same rows."""

    metric: str
    model: float
    baseline: str
    baseline_value: float
    higher_is_better: bool = False
    required: bool = True  # False: recorded and shown, but a loss here does not reject the model

    @property
    def won(self) -> bool:
        return self.model > self.baseline_value if self.higher_is_better else self.model < self.baseline_value

    def describe(self) -> str:
        verdict = "better" if self.won else "worse"
        return f"{self.metric} {self.model:.4g} vs {self.baseline} {self.baseline_value:.4g} ({verdict})"


@dataclass
class Evaluation:
    """A candidate's metrics (recorded in the registry) and its comparisons with the baselines."""

    metrics: dict[str, Any]
    comparisons: list[Comparison] = field(default_factory=list)

    def losses(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.required and not c.won]


class Trainer(Protocol):
    """What a domain implements (module-level object named in the pipeline's ``Train`` step)."""

    framework: str
    model_file: str

    def model_name(self, run: RunContext) -> str:
        """Registry name of the model this run trains."""

    def reads(self, run: RunContext) -> tuple[str, ...]:
        """Tables whose published snapshots the training set comes from."""

    def load(self, run: RunContext, snapshots: Mapping[str, int]) -> pa.Table:
        """The training rows, read at exactly ``snapshots``."""

    def fit(self, run: RunContext, rows: pa.Table, model_path: Path) -> dict[str, Any]:
        """Fit on ``rows``, write the model to ``model_path``; return the parameters to record."""

    def evaluate(self, run: RunContext, rows: pa.Table, model_path: Path, params: Mapping[str, Any]) -> Evaluation:
        """Score the model and the declared baselines on the held-out part of ``rows``."""

    def must_beat_baselines(self, run: RunContext) -> bool:
        """Whether a loss rejects the model (from the domain's settings)."""


def candidate_dir(run: RunContext, model_name: str) -> str:
    """``{artifacts}/candidates/<model>/<run id>``: what fit and evaluate keep for the next step."""
    return storage.join(storage.to_uri(run.settings.artifacts), "candidates", storage.safe_segment(model_name),
                        storage.safe_segment(run.run_id))


def kept_evaluation(run: RunContext, model_name: str) -> dict[str, Any] | None:
    """The ``evaluation.json`` the run's evaluate step kept beside its candidate (None when it kept none:
    training or evaluation did not finish)."""
    uri = storage.join(candidate_dir(run, model_name), "evaluation.json")
    try:
        return json.loads(storage.read_bytes(run.settings, uri))  # type: ignore[no-any-return]
    except storage.ObjectNotFoundError:
        return None


def described_comparisons(evaluation: Mapping[str, Any], *, lost_only: bool = False) -> list[str]:
    """The comparisons an ``evaluation.json`` records, as :meth:`Comparison.describe` words them."""
    fields = ("metric", "model", "baseline", "baseline_value", "higher_is_better", "required")
    found = [Comparison(**{k: c[k] for k in fields if k in c}) for c in evaluation.get("comparisons") or []]
    return [c.describe() for c in found if not lost_only or (c.required and not c.won)]


def run_outcome_line(evaluation: Mapping[str, Any] | None) -> str:
    """Why a run has no model of its own, in a few words (its candidate was rejected, or never evaluated)."""
    if evaluation is None:
        return "this run's candidate was never evaluated: its train or evaluate step failed"
    if evaluation.get("rejected"):
        lost = described_comparisons(evaluation, lost_only=True)
        return (f"this run's candidate was rejected: lost {len(lost)} of {len(evaluation.get('comparisons') or [])} "
                f"comparisons ({'; '.join(lost)})")
    return "this run's candidate was evaluated but not registered: its register step failed"


@contextmanager
def _candidate_model(run: RunContext, folder: str, impl: Trainer) -> Iterator[Path]:
    """The candidate's model file, copied from the artifacts store to a local path for the step."""
    with tempfile.TemporaryDirectory() as tmp:
        model_path = Path(tmp) / impl.model_file
        model_path.write_bytes(storage.read_bytes(run.settings, storage.join(folder, impl.model_file)))
        yield model_path


def _trainer(target: str) -> Trainer:
    return call_target(target)  # type: ignore[return-value]


def _write_json(run: RunContext, uri: str, document: Mapping[str, Any]) -> None:
    storage.write_bytes(run.settings, uri, json.dumps(document, sort_keys=True, default=str, indent=2).encode())


def _read_json(run: RunContext, uri: str, what: str) -> dict[str, Any]:
    try:
        return json.loads(storage.read_bytes(run.settings, uri))  # type: ignore[no-any-return]
    except storage.ObjectNotFoundError:
        raise LakehouseError(f"no {what} for run {run.run_id!r} at {uri}: run the step before it first") from None


def pin_snapshots(run: RunContext, tables: tuple[str, ...]) -> dict[str, int]:
    """The snapshot ids training reads, in this order of precedence:

    1. ``params["snapshots"]`` when the run names them (a reproduction, a backfill on a chosen state);
    2. the snapshot this run's own gate published (its summary's ``published``, handed over as XCom, or
       the ``extra`` of the triggering Asset event), so a later publish by another run never changes
       what a run trains on;
    3. ``main`` now, only for a run that published nothing itself (training on its own).
    """
    from lakehouse.registry import current_snapshot_id

    given = run.params.get("snapshots") or {}
    if isinstance(given, str):
        given = json.loads(given)
    handed_over = published_by_upstream(run)
    pinned = {}
    for table in tables:
        snapshot = given.get(table) or handed_over.get(table)
        if snapshot is None:
            snapshot = current_snapshot_id(run.settings, table)
            log.info("%s: no snapshot handed over by this run; pinning main's current snapshot %s", table, snapshot)
        if snapshot is None:
            raise LakehouseError(f"{table} has no published snapshot: run the pipeline and its gates first")
        pinned[table] = int(snapshot)
    return pinned


def published_by_upstream(run: RunContext) -> dict[str, int]:
    """Table -> snapshot id published by the steps before this one (gate summaries and Asset events)."""
    found: dict[str, int] = {}
    for summary in run.upstream.values():
        published = summary.get("published") if isinstance(summary, Mapping) else None
        if isinstance(published, Mapping):
            found.update({str(t): int(s) for t, s in published.items() if s is not None})
    return found


def fit_step(run: RunContext, trainer: str) -> dict[str, Any]:
    """Fit on the pinned snapshots; keep the candidate (see the module contract)."""
    from lakehouse.registry import fingerprint

    impl = _trainer(trainer)
    name = impl.model_name(run)
    snapshots = pin_snapshots(run, impl.reads(run))
    rows = impl.load(run, snapshots)
    training_set = fingerprint(rows)
    folder = candidate_dir(run, name)
    with tempfile.TemporaryDirectory() as tmp:
        model_path = Path(tmp) / impl.model_file
        params = impl.fit(run, rows, model_path)
        storage.write_bytes(run.settings, storage.join(folder, impl.model_file), model_path.read_bytes())
    candidate = {"model_name": name, "trainer": trainer, "snapshots": snapshots, "params": params,
                 "training_set": asdict(training_set), "logical_date": run.logical_date.isoformat()}
    _write_json(run, storage.join(folder, "candidate.json"), candidate)
    return {"model_name": name, "candidate": folder, "snapshots": snapshots, "training_rows": training_set.rows,
            "training_checksum": training_set.checksum}


def rejection_message(model_name: str, evaluation: Evaluation) -> str:
    """One line for a rejected candidate: the comparisons it lost first, then every compared metric."""
    losses = evaluation.losses()
    return (f"{model_name} does not beat its baselines, not registered: lost {len(losses)} of "
            f"{len(evaluation.comparisons)} comparisons ({'; '.join(c.describe() for c in losses)}); every compared "
            f"metric: {'; '.join(c.describe() for c in evaluation.comparisons)}")


def evaluate_step(run: RunContext, trainer: str) -> dict[str, Any]:
    """Score the candidate against the baselines on the same pinned rows; reject it on a required loss."""
    from lakehouse.registry import fingerprint

    impl = _trainer(trainer)
    folder = candidate_dir(run, impl.model_name(run))
    candidate = _read_json(run, storage.join(folder, "candidate.json"), "candidate model")
    rows = impl.load(run, candidate["snapshots"])
    if asdict(fingerprint(rows)) != candidate["training_set"]:
        raise LakehouseError(f"the rows of {candidate['snapshots']} changed since fit: rerun the fit step")
    with _candidate_model(run, folder, impl) as model_path:
        evaluation = impl.evaluate(run, rows, model_path, candidate["params"])
    losses = evaluation.losses()
    rejected = bool(losses) and impl.must_beat_baselines(run)
    report = {"metrics": evaluation.metrics,
              "comparisons": [asdict(c) | {"won": c.won} for c in evaluation.comparisons],
              "beats_baselines": not losses, "rejected": rejected}
    _write_json(run, storage.join(folder, "evaluation.json"), report)
    for comparison in evaluation.comparisons:
        log.info("%s: %s", candidate["model_name"], comparison.describe())
    compared = "; ".join(c.describe() for c in evaluation.comparisons)
    if rejected:
        raise ModelRejected(rejection_message(candidate["model_name"], evaluation))
    return {"model_name": candidate["model_name"], "beats_baselines": report["beats_baselines"],
            "compared": compared, "metrics": evaluation.metrics}


def register_step(run: RunContext, trainer: str) -> dict[str, Any]:
    """Register the evaluated candidate with its snapshots (tagged), fingerprint, metrics and parameters."""
    from lakehouse.registry import TrainingSet, register_model

    impl = _trainer(trainer)
    folder = candidate_dir(run, impl.model_name(run))
    candidate = _read_json(run, storage.join(folder, "candidate.json"), "candidate model")
    evaluation = _read_json(run, storage.join(folder, "evaluation.json"), "evaluation")
    if evaluation.get("rejected"):  # e.g. the register task cleared on its own after a failed evaluate
        raise ModelRejected(f"{candidate['model_name']} candidate of run {run.run_id} was rejected by its evaluation "
                            f"({storage.join(folder, 'evaluation.json')}): not registered")
    with _candidate_model(run, folder, impl) as model_path:
        artifact = register_model(
            run.settings, model_name=candidate["model_name"], model_version=run.run_id, logical_date=run.logical_date,
            framework=impl.framework, artifact_path=model_path, metrics=evaluation["metrics"],
            params=candidate["params"], training_snapshots=candidate["snapshots"],
            training_set=TrainingSet(**candidate["training_set"]), trainer=trainer)
    return {"model_name": candidate["model_name"], "model_version": run.run_id, "artifact_uri": artifact,
            "snapshots": candidate["snapshots"]}


def fit_and_evaluate(run: RunContext, trainer: str, rows: pa.Table) -> Evaluation:
    """Fit and evaluate in memory on given rows, keeping nothing (``lakehouse model reproduce``; the run's
    ``params["recorded"]`` holds the recorded parameters the trainer must use)."""
    impl = _trainer(trainer)
    with tempfile.TemporaryDirectory() as tmp:
        model_path = Path(tmp) / impl.model_file
        params = impl.fit(run, rows, model_path)
        return impl.evaluate(run, rows, model_path, params)


def train(settings: Any, trainer: str, logical_date: Any, run_id: str,
          params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """fit -> evaluate -> register in one call (notebooks, `lakehouse run`-free scripts, tests); the
    summaries of the three steps."""
    run = RunContext(settings, logical_date, run_id, dict(params or {}))
    return {"fit": fit_step(run, trainer), "evaluate": evaluate_step(run, trainer),
            "register": register_step(run, trainer)}
