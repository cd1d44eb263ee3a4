"""Model registry on the lakehouse: ``ml.model_registry`` rows + artifacts on the warehouse storage.

Training is pinned to snapshots: every model records the exact Gold snapshot ids it read, and
those snapshots are tagged (``train_<model>_<version>``) so snapshot expiry never removes them;
``read_table_snapshot`` with the recorded id reproduces the training set. Each record also carries
the training set's row count and an order-independent content checksum (``fingerprint``) taken when
training read its rows, so ``lakehouse model reproduce`` can prove the rebuilt set is the same one.
PyIceberg only: no JVM.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakehouse import storage
from lakehouse.catalog import load_catalog
from lakehouse.errors import LakehouseError
from lakehouse.settings import LakehouseSettings
from schemas.core import MODEL_REGISTRY

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa
    from pyiceberg.expressions import BooleanExpression
    from pyiceberg.table import Table

CHECKSUM_PREFIX = "sha256:"


@dataclass(frozen=True)
class TrainingSet:
    """Row count and content checksum of the rows a model trained on."""

    rows: int
    checksum: str


def fingerprint(table: pa.Table) -> TrainingSet:
    """Row count and order-independent content checksum of ``table``.

    Every row is encoded canonically and hashed with SHA-256: columns in name order; integers, booleans
    and dates as little-endian int64, floats as IEEE-754 float64 (one canonical NaN), timestamps as int64
    microseconds since the epoch (UTC for zoned ones), strings as UTF-8 and binaries as their bytes (both
    length-prefixed), nulls flagged, lists/structs element by element. The sorted row digests are hashed
    again together with the column names, their kinds and the row count. Row order and Arrow chunking
    never change the checksum; any changed, added, removed or duplicated row, and any renamed column, does.
    """
    import numpy as np

    names = sorted(table.column_names)
    n = table.num_rows
    blocks: list[np.ndarray] = []
    variable: list[list[bytes]] = []
    kinds: list[list[str]] = []
    for name in names:
        column = table.column(name)
        fixed = _fixed_width(column)
        if fixed is not None:
            kind, block = fixed
            blocks.append(block)
        else:
            kind = "v:" + str(column.type)
            variable.append([_encode_value(v) for v in column.to_pylist()])
        kinds.append([name, kind])
    fixed_rows = np.hstack(blocks) if blocks else np.zeros((n, 0), dtype=np.uint8)
    width = fixed_rows.shape[1]
    buffer = np.ascontiguousarray(fixed_rows).tobytes()
    digests = []
    for i in range(n):
        row = hashlib.sha256(buffer[i * width:(i + 1) * width])
        for values in variable:
            row.update(values[i])
        digests.append(row.digest())
    digests.sort()
    total = hashlib.sha256(json.dumps(kinds, separators=(",", ":")).encode())
    total.update(n.to_bytes(8, "little"))
    for digest in digests:
        total.update(digest)
    return TrainingSet(rows=n, checksum=CHECKSUM_PREFIX + total.hexdigest())


def _fixed_width(column: pa.ChunkedArray) -> tuple[str, np.ndarray] | None:
    """(kind, N x 9 uint8 block: null flag + 8 value bytes) for fixed-width scalar columns, else None."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    t = column.type
    if pa.types.is_boolean(t) or pa.types.is_integer(t):
        kind, values = "int", pc.cast(column, pa.int64())
    elif pa.types.is_floating(t):
        kind, values = "float", pc.cast(column, pa.float64())
    elif pa.types.is_date(t):
        kind, values = "date", pc.cast(pc.cast(column, pa.date32()), pa.int32()).cast(pa.int64())
    elif pa.types.is_timestamp(t):
        kind = "timestamptz" if t.tz else "timestamp"
        values = pc.cast(pc.cast(column, pa.timestamp("us", tz=t.tz)), pa.int64())
    else:
        return None
    nulls = column.is_null().to_numpy(zero_copy_only=False).astype(bool)
    if kind == "float":
        array = np.array(pc.fill_null(values, 0.0).to_numpy(zero_copy_only=False), dtype="<f8")
        array[np.isnan(array)] = np.nan  # one NaN bit pattern
    else:
        array = np.array(pc.fill_null(values, 0).to_numpy(zero_copy_only=False), dtype="<i8")
    array[nulls] = 0
    block = np.empty((len(array), 9), dtype=np.uint8)
    block[:, 0] = nulls
    block[:, 1:] = array.view(np.uint8).reshape(len(array), 8)
    return kind, block


def _encode_value(value: Any) -> bytes:
    """Canonical, unambiguous bytes of one value of a variable-width or nested column."""
    import struct

    if value is None:
        return b"N"
    if isinstance(value, bool):
        return b"B1" if value else b"B0"
    if isinstance(value, int):
        return b"I" + str(value).encode() + b";"
    if isinstance(value, float):
        return b"F" + struct.pack("<d", float("nan") if value != value else value)
    if isinstance(value, str):
        data = value.encode()
        return b"S" + len(data).to_bytes(8, "little") + data
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        return b"Y" + len(data).to_bytes(8, "little") + data
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return _encode_value("T" + value.isoformat())
    if isinstance(value, (dt.date, dt.time, dt.timedelta)):
        return _encode_value("D" + str(value))
    if isinstance(value, (list, tuple)):
        return b"L" + len(value).to_bytes(8, "little") + b"".join(_encode_value(v) for v in value)
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        return b"M" + len(items).to_bytes(8, "little") + b"".join(
            _encode_value(str(k)) + _encode_value(v) for k, v in items)
    return _encode_value("R" + str(value))  # Decimal and other exact scalars: their canonical text


def current_snapshot_id(settings: LakehouseSettings, identifier: str) -> int | None:
    """Snapshot id of ``main`` for a table (None if it has never been written)."""
    snapshot = load_catalog(settings).load_table(identifier).current_snapshot()
    return snapshot.snapshot_id if snapshot else None


def published_snapshot_id(settings: LakehouseSettings, identifier: str, run_id: str) -> int | None:
    """The snapshot run ``run_id`` published on ``main``: the newest of main's ancestors whose summary
    carries that run id (None when the run published nothing there). Later publishes by other runs do
    not change the answer, which is what lets training read exactly what its own gate validated."""
    from pyiceberg.table.snapshots import ancestors_of

    from lakehouse.write import RUN_ID_PROPERTY

    table = load_catalog(settings).load_table(identifier)
    for snapshot in ancestors_of(table.current_snapshot(), table.metadata):
        if snapshot.summary is not None and snapshot.summary.get(RUN_ID_PROPERTY) == run_id:
            return snapshot.snapshot_id
    return None


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


def upload_artifact(settings: LakehouseSettings, local_path: Path, model_name: str, model_version: str) -> str:
    """Copy a model file to {artifacts}/models/<name>/<version>/<file>; return its URI."""
    uri = storage.join(storage.to_uri(settings.artifacts), "models", storage.safe_segment(model_name),
                       storage.safe_segment(model_version), local_path.name)
    with local_path.open("rb") as src, storage.open_write(settings, uri) as dst:  # byte for byte
        while block := src.read(1 << 20):
            dst.write(block)
    return uri


def download_artifact(settings: LakehouseSettings, uri: str, dest: Path) -> Path:
    """Copy an artifact from the warehouse storage to ``dest`` (a file path)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with storage.open_read(settings, uri) as src, dest.open("wb") as dst:  # byte for byte
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
    training_set: TrainingSet | None = None,
    trainer: str | None = None,
) -> str:
    """Upload the artifact, record the model (replacing an earlier record of the same version) and
    tag every training snapshot. Returns the artifact URI.

    ``training_set`` is the ``fingerprint`` of the rows training read (taken before fitting), and
    ``trainer`` the module (``ml.finance``, ``ml.energy``, ``ml.vision``) that can rebuild and retrain
    it; both are what ``lakehouse model reproduce`` checks against."""
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
    registry = ensure_registry_columns(catalog.load_table(MODEL_REGISTRY.identifier))
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
        "training_rows": training_set.rows if training_set else None,
        "training_checksum": training_set.checksum if training_set else None,
        "trainer": trainer,
    }
    arrow = pa.Table.from_pylist([row], schema=registry.schema().as_arrow())
    registry.overwrite(
        arrow,
        overwrite_filter=And(EqualTo("model_name", model_name), EqualTo("model_version", model_version)),
        snapshot_properties={"lakehouse.run-id": model_version, "lakehouse.logical-date": logical_date.isoformat()},
    )
    return artifact_uri


def ensure_registry_columns(table: Table) -> Table:
    """Add the declared registry columns an older registry table lacks (all optional, so existing
    records read them as null); returns the table as it is now."""
    present = set(table.schema().column_names)
    missing = [c for c in MODEL_REGISTRY.columns if c.name not in present]
    if not missing:
        return table
    with table.update_schema() as update:
        for column in missing:
            update.add_column(column.name, column.type, doc=column.doc)
    return table.refresh()


def list_models(settings: LakehouseSettings, model_name: str | None = None) -> list[dict[str, Any]]:
    """Registry rows (optionally of one model), newest logical date first (none before `lakehouse init`)."""
    from pyiceberg.expressions import EqualTo

    catalog = load_catalog(settings)
    if not catalog.table_exists(MODEL_REGISTRY.identifier):
        return []
    table = catalog.load_table(MODEL_REGISTRY.identifier)
    if table.current_snapshot() is None:
        return []
    row_filter = EqualTo("model_name", model_name) if model_name else None
    rows = read_table_snapshot(settings, MODEL_REGISTRY.identifier, row_filter=row_filter).to_pylist()
    for row in rows:
        for key in ("metrics_json", "params_json", "training_snapshots_json"):
            row[key.removesuffix("_json")] = json.loads(row.pop(key) or "{}")
        for key in ("training_rows", "training_checksum", "trainer"):
            row.setdefault(key, None)  # registries created before these columns existed
    return sorted(rows, key=lambda r: (r["logical_date"], r["registered_at"]), reverse=True)


def latest_model(settings: LakehouseSettings, model_name: str) -> dict[str, Any] | None:
    """The most recent registered version of ``model_name``, or None when none exists yet."""
    models = list_models(settings, model_name)
    return models[0] if models else None


def get_model(settings: LakehouseSettings, model_name: str, model_version: str | None = None) -> dict[str, Any]:
    """One registry record: the named version, or the latest one; a readable error if there is none."""
    models = list_models(settings, model_name)
    if model_version is not None:
        models = [m for m in models if m["model_version"] == model_version]
    if not models:
        which = f"version {model_version!r} of " if model_version else ""
        raise LakehouseError(f"no {which}model {model_name!r} in {MODEL_REGISTRY.identifier}: "
                             "see `lakehouse model list`")
    return models[0]
