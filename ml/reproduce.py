"""Reproduce a registered model from its registry record: same training rows, same metrics.

``reproduce(settings, name, version)`` reads the record, resolves every training table through the
model's tag (``train_<model>_<version>``, the pin that keeps the snapshot alive through maintenance),
rebuilds the training set exactly as training read it, and compares its row count and content checksum
(``lakehouse.registry.fingerprint``) with the ones recorded at training time. Only when the rows are the same
does it retrain, with the recorded hyper-parameters and seed, and compare every recorded metric within
``tolerance`` (``math.isclose`` with that relative and absolute tolerance; metrics that measure the machine,
such as training time, are listed by the trainer and skipped).

Contract: it only reads the lake (PyIceberg, no JVM) and never changes the registry or any table. The
result says what matched; ``Reproduction.failure`` is one readable line when something did not: the
record has no checksum, a training snapshot is gone or no longer tagged, the rebuilt rows differ, or a
metric is outside the tolerance. The record's ``trainer`` column names the domain's
``lakehouse.training.Trainer``: its ``load`` rebuilds the rows, its ``fit`` + ``evaluate`` (through
``lakehouse.training.fit_and_evaluate``, with the recorded parameters) retrain; metrics it lists in
``volatile_metrics`` (they measure the machine) are skipped.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from lakehouse.catalog import load_catalog
from lakehouse.registry import TrainingSet, get_model, training_tag
from lakehouse.settings import LakehouseSettings

log = logging.getLogger("ml.reproduce")

# The only trainers a registry row may name (the name comes from a table: never import others).
TRAINERS = ("ml.finance:TRAINER", "ml.energy:TRAINER", "ml.vision:TRAINER")
DEFAULT_TOLERANCE = 1e-6


@dataclass(frozen=True)
class SnapshotCheck:
    """Where one training table's rows were read from."""

    table: str
    recorded: int  # snapshot id in the registry record
    tag: str
    tagged: int | None  # snapshot the model's tag points at now (None: no tag)
    read: int | None  # snapshot the training set was rebuilt from (None: none readable)

    def problem(self) -> str | None:
        """One line when the pin is broken, else None (a moved tag is judged by the checksum)."""
        if self.read is None:
            return (f"training snapshot {self.recorded} of {self.table} no longer exists and tag {self.tag} is gone "
                    "(expired by maintenance after the tag was removed?)")
        if self.tagged is None:
            return (f"tag {self.tag} on {self.table} is missing: snapshot {self.recorded} is no longer protected from "
                    f"expiry (recreate it: ALTER TABLE {self.table} CREATE TAG {self.tag} AS OF VERSION "
                    f"{self.recorded})")
        return None

    def note(self) -> str:
        if self.tagged is None:
            return "tag missing"
        if self.tagged != self.recorded:
            return f"tag moved: now at {self.tagged}, recorded {self.recorded}"
        return "tag at the recorded snapshot"


@dataclass(frozen=True)
class MetricCheck:
    """One recorded metric against its reproduced value."""

    name: str
    recorded: Any
    reproduced: Any
    ok: bool


@dataclass
class Reproduction:
    """What ``reproduce`` found; ``passed`` when rows, checksum and metrics all match."""

    model_name: str
    model_version: str
    trainer: str | None
    tolerance: float
    snapshots: list[SnapshotCheck] = field(default_factory=list)
    recorded: TrainingSet | None = None
    rebuilt: TrainingSet | None = None
    metrics: list[MetricCheck] = field(default_factory=list)
    problem: str | None = None  # set when the rows could not be rebuilt or checked (metrics not compared)
    rebuild_seconds: float = 0.0
    retrain_seconds: float = 0.0

    @property
    def rows_match(self) -> bool:
        return self.recorded is not None and self.rebuilt is not None and self.recorded.rows == self.rebuilt.rows

    @property
    def checksum_match(self) -> bool:
        return (self.recorded is not None and self.rebuilt is not None
                and self.recorded.checksum == self.rebuilt.checksum)

    @property
    def metrics_match(self) -> bool:
        return bool(self.metrics) and all(m.ok for m in self.metrics)

    @property
    def passed(self) -> bool:
        return self.problem is None and self.rows_match and self.checksum_match and self.metrics_match

    @property
    def label(self) -> str:
        return f"{self.model_name} version {self.model_version}"

    def failure(self) -> str | None:
        """None when reproduced; otherwise one line saying what differs."""
        if self.problem is not None:
            return f"cannot reproduce {self.label}: {self.problem}"
        if not (self.rows_match and self.checksum_match):
            assert self.recorded is not None and self.rebuilt is not None
            moved = [s.note() for s in self.snapshots if s.tagged != s.recorded]
            return (f"training set of {self.label} differs from the one it was trained on: recorded "
                    f"{self.recorded.rows} rows {_short(self.recorded.checksum)}, rebuilt {self.rebuilt.rows} rows "
                    f"{_short(self.rebuilt.checksum)}" + (f" ({'; '.join(moved)})" if moved else ""))
        if not self.metrics_match:
            off = [m for m in self.metrics if not m.ok]
            shown = ", ".join(f"{m.name} {m.recorded} -> {m.reproduced}" for m in off[:3])
            more = f" and {len(off) - 3} more" if len(off) > 3 else ""
            return (f"{self.label} retrained on identical rows but {len(off)} metric(s) are outside the tolerance "
                    f"{self.tolerance:g}: {shown}{more}")
        return None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(passed=self.passed, rows_match=self.rows_match, checksum_match=self.checksum_match,
                   metrics_match=self.metrics_match, failure=self.failure())
        return out


def _short(checksum: str) -> str:
    return checksum[: len("sha256:") + 16]


def resolve_snapshots(settings: LakehouseSettings, record: dict[str, Any]) -> list[SnapshotCheck]:
    """For every recorded training table: the snapshot its tag points at (else the recorded one, if it exists)."""
    catalog = load_catalog(settings)
    tag = training_tag(record["model_name"], record["model_version"])
    checks = []
    for identifier, recorded in sorted(record["training_snapshots"].items()):
        table = catalog.load_table(identifier)
        ref = table.metadata.refs.get(tag)
        tagged = ref.snapshot_id if ref is not None else None
        if tagged is not None:
            read: int | None = tagged
        else:
            read = int(recorded) if table.snapshot_by_id(int(recorded)) is not None else None
        checks.append(SnapshotCheck(identifier, int(recorded), tag, tagged, read))
    return checks


def compare_metrics(recorded: dict[str, Any], reproduced: dict[str, Any], tolerance: float,
                    ignore: tuple[str, ...] = ()) -> list[MetricCheck]:
    """Every leaf of the recorded and reproduced metrics (after the registry's JSON round trip), compared."""
    flat_recorded = _flatten(_as_recorded(recorded))
    flat_reproduced = _flatten(_as_recorded(reproduced))
    checks = []
    for name in sorted(set(flat_recorded) | set(flat_reproduced)):
        if name.split(".", 1)[0] in ignore:
            continue
        a, b = flat_recorded.get(name, "<missing>"), flat_reproduced.get(name, "<missing>")
        checks.append(MetricCheck(name, a, b, _close(a, b, tolerance)))
    return checks


def _as_recorded(metrics: dict[str, Any]) -> Any:
    return json.loads(json.dumps(metrics, sort_keys=True, default=float))


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list):
        out = {}
        for i, item in enumerate(value):
            out.update(_flatten(item, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def _close(a: Any, b: Any, tolerance: float) -> bool:
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return math.isclose(a, b, rel_tol=tolerance, abs_tol=tolerance)
    return bool(a == b)


def reproduce(settings: LakehouseSettings, model_name: str, model_version: str | None = None, *,
              tolerance: float = DEFAULT_TOLERANCE, retrain: bool = True) -> Reproduction:
    """Rebuild a registered model's training set, check it against the record, retrain and compare metrics.

    ``model_version`` defaults to the latest registered version; ``retrain=False`` stops after the rows and
    checksum (no metrics compared, so the result does not pass). Reads only; see the module docstring.
    """
    record = get_model(settings, model_name, model_version)
    result = Reproduction(record["model_name"], record["model_version"], record.get("trainer"), tolerance)
    if record.get("training_checksum") is None or record.get("training_rows") is None:
        result.problem = ("no training checksum was recorded (registered before checksums existed): "
                          "retrain it to make it reproducible")
        return result
    result.recorded = TrainingSet(int(record["training_rows"]), str(record["training_checksum"]))
    if result.trainer not in TRAINERS:
        result.problem = f"unknown trainer {result.trainer!r} (expected one of {', '.join(TRAINERS)})"
        return result
    result.snapshots = resolve_snapshots(settings, record)
    broken = [s.problem() for s in result.snapshots if s.problem() is not None]
    if any(s.read is None for s in result.snapshots):
        result.problem = broken[0]
        return result
    from lakehouse.pipeline import RunContext, call_target
    from lakehouse.registry import fingerprint
    from lakehouse.training import fit_and_evaluate

    impl = call_target(result.trainer)
    run = RunContext(settings, record["logical_date"], record["model_version"], {"recorded": record["params"]})
    started = time.perf_counter()
    rows = impl.load(run, {s.table: s.read for s in result.snapshots if s.read is not None})
    result.rebuilt = fingerprint(rows)
    result.rebuild_seconds = time.perf_counter() - started
    log.info("rebuilt %s rows %s in %.1f s", result.rebuilt.rows, result.rebuilt.checksum, result.rebuild_seconds)
    if broken:
        result.problem = broken[0]
        return result
    if not (result.rows_match and result.checksum_match) or not retrain:
        return result
    started = time.perf_counter()
    reproduced = fit_and_evaluate(run, result.trainer, rows).metrics
    result.retrain_seconds = time.perf_counter() - started
    result.metrics = compare_metrics(record["metrics"], reproduced, tolerance, tuple(impl.volatile_metrics))
    return result
