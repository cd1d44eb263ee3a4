"""One settings object for Spark, PyIceberg, Airflow and the CLI.

Resolution order (highest first): keyword arguments, ``LAKEHOUSE_*`` environment variables
(nested with ``__``, e.g. ``LAKEHOUSE_S3__ENDPOINT_URL``), the selected profile in
``infra/settings.yaml``, the file's ``defaults`` section, then the field defaults below.
Secrets (S3 keys, catalog password) are only ever read from the environment; they are
``SecretStr`` so they never show up in reprs or logs.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, InitSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict

from lakehouse.errors import LakehouseError

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SETTINGS_FILE = PROJECT_ROOT / "infra" / "settings.yaml"
PROFILES = ("local", "s3", "cluster")
Profile = Literal["local", "s3", "cluster"]


class S3Settings(BaseModel):
    """S3-compatible object storage (MinIO, moto, AWS).

    Timeouts and retries are set here once and applied to every client: Spark's S3A
    (``lakehouse.spark.s3a_conf``), boto3 (``storage.s3_client``), pyarrow (``storage.filesystem``) and
    PyIceberg (``catalog.catalog_properties``). A transient fault (503 SlowDown, a dropped connection, a
    request that got no answer) is retried up to ``max_attempts`` times per request; a store that stays
    down or silent fails the job after at most about ``max_attempts * request_timeout_s`` per call
    (S3A: twice that, since it makes one more round of attempts after its SDK gives up).
    """

    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    path_style_access: bool = True
    # Time to open a TCP connection to the store.
    connect_timeout_s: int = Field(5, ge=1)
    # Time a request may wait for the store's next bytes (socket read timeout); a silent store is given
    # up on after this, per attempt.
    request_timeout_s: int = Field(20, ge=1)
    # Attempts per request, the first one included (boto3 and pyarrow: exactly; S3A: per SDK round).
    max_attempts: int = Field(5, ge=1)
    # Base wait between attempts: S3A's linear retry interval and the base of its throttling backoff
    # (boto3 and the C++ SDK under pyarrow use their own exponential backoff with jitter).
    retry_interval_ms: int = Field(500, ge=0)


class CatalogSettings(BaseModel):
    """The Iceberg catalog database shared by Spark's JdbcCatalog and PyIceberg's SqlCatalog."""

    name: str = "lakehouse"
    # SQLAlchemy URL without credentials: sqlite:////abs/path.db or postgresql+psycopg2://host:5432/db
    uri: str = "sqlite:///{home}/catalog.db"
    user: str | None = None
    password: SecretStr | None = None
    busy_timeout_ms: int = 10_000


class SparkSettings(BaseModel):
    """Where and how Spark runs; ``conf`` is passed through verbatim."""

    master: str = "local[2]"
    driver_memory: str = "2g"
    executor_memory: str = "2g"
    shuffle_partitions: int = 4
    ui_enabled: bool = False
    # Drivers map a JVM class-data sharing archive when one is built (lakehouse.jvm, `lakehouse jvm-archive`).
    class_data_sharing: bool = True
    class_data_archive_dir: Path = Path.home() / ".cache" / "lakehouse" / "jvm"
    conf: dict[str, str] = Field(default_factory=dict)


class JarSettings(BaseModel):
    """JVM dependencies: a verified local cache (default) or Maven coordinates."""

    source: Literal["cache", "maven"] = "cache"
    cache_dir: Path = Path.home() / ".cache" / "lakehouse" / "jars"
    lock_file: Path = PROJECT_ROOT / "infra" / "jars.lock.json"


class WebAssetSettings(BaseModel):
    """Third-party files of the Data Docs pages (jQuery, Bootstrap, ...): a verified local cache, vendored
    into the site so it works offline (``lakehouse.web_assets``)."""

    cache_dir: Path = Path.home() / ".cache" / "lakehouse" / "web-assets"
    lock_file: Path = PROJECT_ROOT / "infra" / "web-assets.lock.json"


class AirflowSettings(BaseModel):
    """Knobs the DAG files read (schedules, retries, timeouts)."""

    retries: int = 1
    retry_delay_s: int = 60
    task_timeout_s: int = 3600
    spark_conn_id: str = "spark_lakehouse"
    # submit: SparkSubmitOperator per Spark task (a driver JVM each; the production default).
    # in_process: the task runs the job in the worker's Python process, reusing its Spark session
    # (no JVM start per task; for a local Airflow and the test suite).
    spark_task_mode: Literal["submit", "in_process"] = "submit"


# Orphan files younger than this are never deleted, whatever the settings say: a write that is still
# running has written data and metadata files that no snapshot references yet. (Iceberg's
# remove_orphan_files procedure refuses anything under 24 hours for the same reason.)
ORPHAN_AGE_FLOOR_HOURS = 24.0


class MaintenanceSettings(BaseModel):
    """Table maintenance (the ``lakehouse_maintenance`` DAG, ``lakehouse maintain``)."""

    schedule_cron: str = "30 3 * * *"  # daily, 03:30 UTC: outside the finance and monthly energy runs
    snapshot_retention_days: float = Field(7.0, gt=0)  # expire snapshots older than this (refs are kept)
    retain_last: int = Field(5, ge=1)  # ...but always keep this many of main's most recent snapshots
    # Unreferenced files younger than this are kept: the longest write must finish well within it.
    orphan_safe_age_hours: float = Field(72.0, ge=ORPHAN_AGE_FLOOR_HOURS)
    target_file_size_mb: int = Field(128, ge=1)  # compaction target (Iceberg rewrite_data_files)
    min_input_files: int = Field(5, ge=2)  # compact a partition once it has at least this many small files


class PipelineSettings(BaseModel):
    """Where declared pipelines are discovered (lakehouse.pipeline.find_pipelines): every package named
    here and each of its sub-packages may hold a ``pipeline`` module (``PIPELINES``, ``TABLES``) and a
    ``cli`` module (``register(app, generate_app)``: commands for the ``lakehouse`` CLI)."""

    packages: list[str] = Field(default_factory=lambda: ["spark_jobs", "ml"])


# ---- domain knobs: each pipeline owns its class below (add fields there, nowhere else) ---------
class FinanceSettings(BaseModel):
    """Finance tick pipeline."""

    exchange_timezone: str = "America/New_York"
    # Sessions, holidays and early closes: an exchange_calendars code (XNYS, XLON, ...), "24/7" (continuous,
    # 00:00-24:00 UTC: crypto / Binance dumps), "continuous" (midnight to midnight in exchange_timezone) or
    # "fixed" (session_open..session_close every date). A date without a session skips the DAG run.
    calendar: str = "XNYS"
    session_open: str = "09:30"  # local HH:MM, calendar "fixed" only
    session_close: str = "16:00"  # local HH:MM ("24:00": end of day), calendar "fixed" only
    schedule_cron: str = "0 16 * * 1-5"  # weekdays 16:00 in exchange_timezone
    catchup: bool = False
    start_date: str = "2023-01-02"  # first trade date the DAG schedules (matters with catchup)
    landing_prefix: str = "finance/ticks"  # under settings.landing: <prefix>/trade_date=YYYY-MM-DD/
    # The wait_for_landing sensor: until a data file (or, when set, this marker file, e.g. "_SUCCESS") is in
    # the date's landing folder, poke every landing_poke_interval_s for up to landing_wait_timeout_s;
    # deferrable: wait in the triggerer instead of holding a worker slot.
    landing_marker: str | None = None
    landing_wait_timeout_s: float = 3000.0  # a longer wait also raises the task's execution timeout
    landing_poke_interval_s: float = 60.0
    landing_wait_deferrable: bool = True
    outlier_mad_k: float = 8.0  # a tick is an outlier beyond k scaled MADs from the rolling median
    outlier_window_minutes: int = 5  # rolling median/MAD over +-this many minutes (per symbol)
    outlier_min_rel_mad: float = 0.0005  # MAD floor relative to price (flat markets have MAD 0)
    ema_span: int = 12
    volatility_window: int = 30  # bars in the rolling realised volatility
    train_lookback_days: int = 30  # gold dates read by training (ending at the logical date)
    min_train_rows: int = 200  # fewer labelled bars than this: training fails with a clear message
    # LightGBM next-bar model: hyperparameters, resources and whether it must beat its baselines to register
    # (logistic regression on accuracy, log-loss and Brier score, the base rate on log-loss: ml/finance.py POLICY).
    num_boost_round: int = 150
    learning_rate: float = 0.05
    num_leaves: int = 15
    test_fraction: float = 0.3
    seed: int = 7
    training_threads: int = 1
    training_pool: str | None = None  # Airflow pool of the training tasks (None: default pool)
    require_beat_baseline: bool = True  # ml/finance.py POLICY: a model that loses is not registered


class EnergySettings(BaseModel):
    """Household energy pipeline."""

    source_timezone: str = "Europe/Paris"
    holiday_country: str = "FR"
    # The meter's clock: "dst" (local wall time following DST in source_timezone), "utc", or a fixed UTC
    # offset such as "+01:00" (a logger that never changes its clock, like the published UCI file's);
    # meter_clocks overrides it per household id. A clock contradicted by the DST-switch days is refused.
    meter_clock: str = "dst"
    meter_clocks: dict[str, str] = Field(default_factory=dict)
    seasonal_features: Literal["fourier", "stl", "mstl"] = "fourier"  # stl/mstl: decomposition columns too
    # First logical date the monthly DAG accepts (Airflow runs nothing before it; with catchup it backfills
    # from it): 2007-01-01 lets the DAG run the published file's months (16 Dec 2006 - 26 Nov 2010).
    start_date: str = "2024-01-01"
    monthly_cron: str = "0 2 1 * *"
    realtime_cron: str = "*/15 * * * *"
    # Intra-day path (spark_jobs/energy/intraday.py): the realtime run fails when the freshest reading of a
    # household ends more than this before the interval it scores; each run re-ingests the deliveries of
    # the intervals this far back (late and re-delivered files land idempotently).
    realtime_max_lag_minutes: int = Field(default=90, gt=0)
    intraday_lookback_minutes: int = Field(default=60, ge=15)
    catchup: bool = False
    # Known households (meter ids); empty -> the landing manifest energy/households.csv, if any.
    households: list[str] = Field(default_factory=list)
    max_interpolate_minutes: int = 60  # gaps up to this long are interpolated, longer ones flagged
    voltage_min: float = 200.0
    voltage_max: float = 260.0
    max_gap_ratio: float = 0.2  # share of missing (long-gap) minutes a household-month may have
    max_rejected_ratio: float = 0.01  # share of quarantined lines above which silver fails
    min_feature_completeness: float = 0.75  # share of rows whose lag/rolling features are present
    holdout_days: int = 7
    cv_folds: int = 3
    model_name: str = "energy_demand"
    num_boost_round: int = 600
    early_stopping_rounds: int = 40
    learning_rate: float = 0.05
    num_leaves: int = 31
    require_beat_baselines: bool = True
    training_pool: str | None = None  # Airflow pool of the training tasks (LightGBM wants CPU and memory)
    # LightGBM threads: more threads than idle cores makes OpenMP spin (a 1.5 s fit took 31 s on a busy 2-core host)
    training_threads: int = 1


class VisionSettings(BaseModel):
    """Vision (MNIST / CIFAR-10) pipeline."""

    schedule_cron: str | None = None  # manual by default; e.g. "0 3 * * 1" for weekly
    # Where `train` runs: None (default) follows the profile, a one-GPU Kubernetes pod on `cluster` and in-process
    # on `local`/`s3` (see trains_on_kubernetes); true/false forces one.
    train_on_kubernetes: bool | None = None
    catchup: bool = False
    default_dataset: Literal["mnist", "cifar10"] = "mnist"
    # Reader caps, checked against a file's header before anything is allocated or decompressed
    # (official: 60,000 MNIST training images in 47 MB; 10,000 images per CIFAR-10 batch in 31 MB).
    max_images_per_file: int = Field(default=100_000, gt=0)
    max_file_bytes: int = Field(default=256 * 1024 * 1024, gt=0)  # delivered size and decompressed size
    # Split by a salted hash of each image's content hash (stable across reruns and delivery order): val_fraction
    # of the images is val; delivered test files are the test split as-is (keep_source_test_split), and a
    # delivery without test files (or with keep_source_test_split false) gets test_fraction drawn by hash.
    keep_source_test_split: bool = True
    val_fraction: float = 0.1
    test_fraction: float = 0.1  # used when no test files are delivered, or keep_source_test_split is false
    split_salt: str = "vision-split-v1"
    # Gate bounds: every class within [min, max] x the uniform share; split shares within tolerance.
    class_share_min: float = 0.5
    class_share_max: float = 1.5
    split_tolerance: float = 0.05
    # Every declared class must be in the train split (any size); val/test must hold every class once they have
    # at least this many images per class (smaller hash-drawn splits can miss one by chance).
    eval_class_min_images: int = Field(default=10, ge=1)
    # Training (per dataset where it differs).
    seed: int = 0
    epochs: dict[str, int] = Field(default_factory=lambda: {"mnist": 4, "cifar10": 10})
    batch_size: int = 128
    learning_rate: dict[str, float] = Field(default_factory=lambda: {"mnist": 0.003, "cifar10": 0.004})
    weight_decay: float = 5e-4
    device: str = "auto"  # auto (CUDA when present), cpu or cuda
    width: int | None = None  # channels of the CNN's first layer (None: the architecture's default)
    training_pool: str | None = None  # Airflow pool of the training tasks (e.g. a small pool for CPU training)
    require_beat_baseline: bool = False  # register only models more accurate than the majority class
    # Kubernetes training pod (the cluster profile's default, see train_on_kubernetes).
    k8s_conn_id: str = "kubernetes_default"  # Airflow connection to the cluster (in-cluster config when absent)
    k8s_namespace: str = "lakehouse"
    k8s_image: str = "lakehouse/vision-train:latest"
    k8s_pod_template: str = "infra/k8s/vision-train-pod.yaml"
    # Airflow placement of the pod task: a pool whose slots are the GPUs pods may hold at once (create it:
    # `airflow pools set gpu 1 "GPU training pods"`), and optionally a queue (Celery: the workers that launch pods).
    gpu_pool: str | None = "gpu"
    gpu_queue: str | None = None

    def trains_on_kubernetes(self, profile: str) -> bool:
        """Whether `train` is a GPU pod: ``train_on_kubernetes`` when set, else only on the ``cluster`` profile."""
        return self.train_on_kubernetes if self.train_on_kubernetes is not None else profile == "cluster"


class LakehouseSettings(BaseSettings):
    """All configuration of the lakehouse, resolved for one profile."""

    model_config = SettingsConfigDict(
        env_prefix="LAKEHOUSE_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    profile: Profile = "local"
    home: Path = PROJECT_ROOT / ".lakehouse"
    warehouse: str = "{home}/warehouse"
    landing: str = "{home}/landing"
    artifacts: str = "{home}/artifacts"
    catalog: CatalogSettings = Field(default_factory=CatalogSettings)
    s3: S3Settings = Field(default_factory=S3Settings)
    spark: SparkSettings = Field(default_factory=SparkSettings)
    jars: JarSettings = Field(default_factory=JarSettings)
    web_assets: WebAssetSettings = Field(default_factory=WebAssetSettings)
    airflow: AirflowSettings = Field(default_factory=AirflowSettings)
    pipelines: PipelineSettings = Field(default_factory=PipelineSettings)
    maintenance: MaintenanceSettings = Field(default_factory=MaintenanceSettings)
    finance: FinanceSettings = Field(default_factory=FinanceSettings)
    energy: EnergySettings = Field(default_factory=EnergySettings)
    vision: VisionSettings = Field(default_factory=VisionSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        init_kwargs = getattr(init_settings, "init_kwargs", {}) or {}
        profile = str(init_kwargs.get("profile") or os.environ.get("LAKEHOUSE_PROFILE") or "local")
        settings_file = Path(os.environ.get("LAKEHOUSE_SETTINGS_FILE", DEFAULT_SETTINGS_FILE))
        profile_values = load_profile_values(settings_file, profile)
        return (
            init_settings,
            env_settings,
            InitSettingsSource(settings_cls, init_kwargs=profile_values),
        )

    @model_validator(mode="after")
    def _expand_home(self) -> LakehouseSettings:
        home = str(self.home.expanduser().resolve())
        self.home = Path(home)
        self.warehouse = _expand(self.warehouse, home)
        self.landing = _expand(self.landing, home)
        self.artifacts = _expand(self.artifacts, home)
        self.catalog.uri = _expand(self.catalog.uri, home)
        if self.s3.access_key_id is None and os.environ.get("AWS_ACCESS_KEY_ID"):
            self.s3.access_key_id = SecretStr(os.environ["AWS_ACCESS_KEY_ID"])
        if self.s3.secret_access_key is None and os.environ.get("AWS_SECRET_ACCESS_KEY"):
            self.s3.secret_access_key = SecretStr(os.environ["AWS_SECRET_ACCESS_KEY"])
        return self

    # ---- derived views -------------------------------------------------------------------
    @property
    def uses_s3(self) -> bool:
        """True when the warehouse lives on S3-compatible storage."""
        return self.warehouse.startswith(("s3://", "s3a://"))

    @property
    def warehouse_bucket(self) -> str | None:
        """Bucket name of an S3 warehouse, else None."""
        if not self.uses_s3:
            return None
        return self.warehouse.split("://", 1)[1].split("/", 1)[0]

    @property
    def catalog_is_sqlite(self) -> bool:
        return self.catalog.uri.startswith("sqlite:")

    def sqlite_path(self) -> Path | None:
        """Filesystem path of a SQLite catalog database, else None."""
        if not self.catalog_is_sqlite:
            return None
        return Path(self.catalog.uri.split(":///", 1)[1])

    def jdbc_uri(self) -> str:
        """The catalog URI in the form Java's JdbcCatalog expects."""
        uri = self.catalog.uri
        if uri.startswith("sqlite:///"):
            return "jdbc:sqlite:" + uri[len("sqlite:///") :]
        if uri.startswith("postgresql"):
            return "jdbc:postgresql://" + uri.split("://", 1)[1]
        raise LakehouseError(f"unsupported catalog URI {uri!r}: use sqlite:///PATH or postgresql+psycopg2://HOST/DB")

    def sqlalchemy_uri(self) -> str:
        """The catalog URI for PyIceberg's SqlCatalog, with credentials from the environment."""
        uri = self.catalog.uri
        if uri.startswith("postgresql") and self.catalog.user:
            scheme, rest = uri.split("://", 1)
            password = self.catalog.password.get_secret_value() if self.catalog.password else ""
            cred = self.catalog.user + (f":{password}" if password else "")
            return f"{scheme}://{cred}@{rest}"
        return uri

    def table_name(self, identifier: str) -> str:
        """Fully qualified Spark name of a table, e.g. ``lakehouse.raw.ticks``."""
        return f"{self.catalog.name}.{identifier}"

    def to_env(self, *, include_secrets: bool = True) -> dict[str, str]:
        """These settings as LAKEHOUSE_* variables for child processes; secrets left out on request
        (for specs that are stored or shown, e.g. a Kubernetes pod, whose secrets come from a Secret)."""
        env: dict[str, str] = {}
        _flatten("LAKEHOUSE", self, env, include_secrets)
        return env

    def describe(self) -> dict[str, Any]:
        """Resolved settings safe to print: secrets masked."""
        return self.model_dump(mode="json")


def _flatten(prefix: str, value: Any, env: dict[str, str], include_secrets: bool = True) -> None:
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _flatten(f"{prefix}{'_' if prefix == 'LAKEHOUSE' else '__'}{name.upper()}", getattr(value, name), env,
                     include_secrets)
    elif isinstance(value, SecretStr):
        if include_secrets:
            env[prefix] = value.get_secret_value()
    elif isinstance(value, dict | list):
        env[prefix] = json.dumps(value)
    elif value is not None:
        env[prefix] = str(value)


def _expand(value: str, home: str) -> str:
    return value.replace("{home}", home)


def load_profile_values(settings_file: Path, profile: str) -> dict[str, Any]:
    """Merge the ``defaults`` section of the settings file with the named profile."""
    if profile not in PROFILES:
        raise LakehouseError(
            f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)} (LAKEHOUSE_PROFILE)"
        )
    if not settings_file.exists():
        raise LakehouseError(f"settings file {settings_file} not found (LAKEHOUSE_SETTINGS_FILE)")
    data = yaml.safe_load(settings_file.read_text()) or {}
    profiles = data.get("profiles", {})
    if profile not in profiles:
        raise LakehouseError(f"profile {profile!r} is not defined in {settings_file}")
    return _deep_merge(dict(data.get("defaults", {})), profiles[profile] or {})


def _deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@lru_cache(maxsize=1)
def get_settings() -> LakehouseSettings:
    """Settings for this process (cached; tests build their own ``LakehouseSettings``)."""
    try:
        return LakehouseSettings()
    except LakehouseError:
        raise
    except Exception as exc:  # pydantic ValidationError: turn it into one readable line
        first = str(exc).splitlines()
        raise LakehouseError("invalid settings: " + " ".join(line.strip() for line in first[:3])) from exc
