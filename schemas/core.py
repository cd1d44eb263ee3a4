"""Tables every pipeline shares: the model registry, and the smoke table `make demo` starts with."""

from pyiceberg.types import DateType, DoubleType, LongType, StringType, TimestamptzType

from schemas.base import Column, TableSpec, identity

SMOKE_EVENTS = TableSpec(
    identifier="raw.smoke_events",
    description="Deterministic sensor events written by the smoke job to prove the write/read path.",
    columns=(
        Column("event_date", DateType(), required=True, doc="logical date of the run that wrote the row"),
        Column("event_id", LongType(), required=True),
        Column("sensor", StringType(), required=True),
        Column("value", DoubleType()),
        Column("run_id", StringType(), doc="Airflow/CLI run that wrote the row"),
    ),
    partition_by=(identity("event_date"),),
    sort_by=("sensor", "event_id"),
    logical_date_column="event_date",
)

MODEL_REGISTRY = TableSpec(
    identifier="ml.model_registry",
    description="One row per trained model version: metrics, artifact and the exact Gold snapshots it read.",
    columns=(
        Column("model_name", StringType(), required=True),
        Column("model_version", StringType(), required=True, doc="run id of the training run"),
        Column("logical_date", DateType(), required=True),
        Column("framework", StringType()),
        Column("artifact_uri", StringType()),
        Column("metrics_json", StringType()),
        Column("params_json", StringType()),
        Column("training_snapshots_json", StringType(), doc="{table: snapshot id} the model trained on"),
        Column("registered_at", TimestamptzType(), doc="wall-clock registration time (metadata only)"),
        # Added after the first release: lakehouse.registry adds them to registries created without them.
        Column("training_rows", LongType(), doc="rows the model trained on, counted when training read them"),
        Column("training_checksum", StringType(),
               doc="order-independent SHA-256 of those rows (lakehouse.registry.fingerprint), taken at training time"),
        Column("trainer", StringType(), doc="module that rebuilds the training set and retrains (model reproduce)"),
    ),
    partition_by=(identity("model_name"),),
    logical_date_column="logical_date",
)

TABLES = (SMOKE_EVENTS, MODEL_REGISTRY)
