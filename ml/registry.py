"""Model registry on the lakehouse: ``ml.model_registry`` rows + artifacts on the warehouse storage.

Training is pinned to snapshots: every model records the exact Gold snapshot ids it read, and
those snapshots are tagged (``train_<model>_<version>``) so snapshot expiry never removes them;
``read_table_snapshot`` with the recorded id reproduces the training set. PyIceberg only: no JVM.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakehouse import storage
from lakehouse.catalog import load_catalog
from lakehouse.errors import LakehouseError
from lakehouse.settings import LakehouseSettings
from schemas.core import MODEL_REGISTRY

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.expressions import BooleanExpression


def current_snapshot_id(settings: LakehouseSettings, identifier: str) -> int | None:
    """Snapshot id of ``main`` for a table (None if it has never been written)."""
    snapshot = load_catalog(settings).load_table(identifier).current_snapshot()
    return snapshot.snapshot_id if snapshot else None


def read_table_snapshot(
    settings: LakehouseSettings,
    identifier: str,
    snapshot_id: int | None = None,
    row_filter: BooleanExpression | str | None = None,
    columns: tuple[str, ...] | None = None,
) -> pa.Table:
    """Rows of a table at a snapshot (default: current main) as an Arrow table."""
    from pyiceberg.expressions import AlwaysTrue

    table = load_catalog(settings).load_table(identifier)
    if snapshot_id is None:
        current = table.current_snapshot()
        if current is None:
            raise LakehouseError(f"{identifier} has no data yet: run its pipeline first")
        snapshot_id = current.snapshot_id
    elif table.snapshot_by_id(snapshot_id) is None:
        raise LakehouseError(f"{identifier} has no snapshot {snapshot_id} (expired or wrong table)")
    scan = table.scan(
        row_filter=row_filter if row_filter is not None else AlwaysTrue(),
        snapshot_id=snapshot_id,
        selected_fields=columns or ("*",),
    )
    return scan.to_arrow()


def training_tag(model_name: str, model_version: str) -> str:
    """Name of the tag that pins a training snapshot."""
    return "train_" + re.sub(r"[^A-Za-z0-9_]", "_", f"{model_name}_{model_version}")[:120]


def _safe(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]", "_", part)


def upload_artifact(settings: LakehouseSettings, local_path: Path, model_name: str, model_version: str) -> str:
    """Copy a model file to {artifacts}/models/<name>/<version>/<file>; return its URI."""
    uri = storage.join(storage.to_uri(settings.artifacts), "models", _safe(model_name), _safe(model_version),
                       local_path.name)
    fs, path = storage.filesystem(settings, uri)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with local_path.open("rb") as src, fs.open_output_stream(path) as dst:
        while block := src.read(1 << 20):
            dst.write(block)
    return uri


def download_artifact(settings: LakehouseSettings, uri: str, dest: Path) -> Path:
    """Copy an artifact from the warehouse storage to ``dest`` (a file path)."""
    fs, path = storage.filesystem(settings, uri)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with fs.open_input_stream(path) as src, dest.open("wb") as dst:
        while block := src.read(1 << 20):
            dst.write(block)
    return dest


def register_model(
    settings: LakehouseSettings,
    *,
    model_name: str,
    model_version: str,
    logical_date: dt.date,
    framework: str,
    artifact_path: Path,
    metrics: dict[str, Any],
    params: dict[str, Any],
    training_snapshots: dict[str, int],
) -> str:
    """Upload the artifact, record the model (replacing an earlier record of the same version) and
    tag every training snapshot. Returns the artifact URI."""
    import pyarrow as pa
    from pyiceberg.expressions import And, EqualTo

    artifact_uri = upload_artifact(settings, artifact_path, model_name, model_version)
    catalog = load_catalog(settings)
    tag = training_tag(model_name, model_version)
    for identifier, snapshot_id in training_snapshots.items():
        table = catalog.load_table(identifier)
        if table.snapshot_by_id(snapshot_id) is None:
            raise LakehouseError(f"cannot pin {identifier} snapshot {snapshot_id}: it does not exist")
        if tag in table.metadata.refs:
            table.manage_snapshots().remove_tag(tag).commit()
        table.manage_snapshots().create_tag(snapshot_id=snapshot_id, tag_name=tag).commit()
    registry = catalog.load_table(MODEL_REGISTRY.identifier)
    row = {
        "model_name": model_name,
        "model_version": model_version,
        "logical_date": logical_date,
        "framework": framework,
        "artifact_uri": artifact_uri,
        "metrics_json": json.dumps(metrics, sort_keys=True, default=float),
        "params_json": json.dumps(params, sort_keys=True, default=str),
        "training_snapshots_json": json.dumps(training_snapshots, sort_keys=True),
        "registered_at": dt.datetime.now(dt.UTC),
    }
    arrow = pa.Table.from_pylist([row], schema=registry.schema().as_arrow())
    registry.overwrite(
        arrow,
        overwrite_filter=And(EqualTo("model_name", model_name), EqualTo("model_version", model_version)),
        snapshot_properties={"lakehouse.run-id": model_version, "lakehouse.logical-date": logical_date.isoformat()},
    )
    return artifact_uri


def list_models(settings: LakehouseSettings, model_name: str | None = None) -> list[dict[str, Any]]:
    """Registry rows (optionally of one model), newest logical date first."""
    from pyiceberg.expressions import EqualTo

    table = load_catalog(settings).load_table(MODEL_REGISTRY.identifier)
    if table.current_snapshot() is None:
        return []
    row_filter = EqualTo("model_name", model_name) if model_name else None
    rows = read_table_snapshot(settings, MODEL_REGISTRY.identifier, row_filter=row_filter).to_pylist()
    for row in rows:
        for key in ("metrics_json", "params_json", "training_snapshots_json"):
            row[key.removesuffix("_json")] = json.loads(row.pop(key) or "{}")
    return sorted(rows, key=lambda r: (r["logical_date"], r["registered_at"]), reverse=True)


def latest_model(settings: LakehouseSettings, model_name: str) -> dict[str, Any] | None:
    """The most recent registered version of ``model_name``, or None when none exists yet."""
    models = list_models(settings, model_name)
    return models[0] if models else None
