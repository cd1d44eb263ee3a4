"""One settings object for Spark, PyIceberg, Airflow and the CLI.

Resolution order (highest first): keyword arguments, ``LAKEHOUSE_*`` environment variables
(nested with ``__``, e.g. ``LAKEHOUSE_S3__ENDPOINT_URL``), the selected profile in
``infra/settings.yaml``, the file's ``defaults`` section, then the field defaults below.
Secrets (S3 keys, catalog password) are only ever read from the environment; they are
``SecretStr`` so they never show up in reprs or logs.
"""

from __future__ import annotations

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
    """S3-compatible object storage (MinIO, moto, AWS)."""

    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_id: SecretStr | None = None
    secret_access_key: SecretStr | None = None
    path_style_access: bool = True
    connect_timeout_s: int = 5
    max_attempts: int = 3


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
    conf: dict[str, str] = Field(default_factory=dict)


class JarSettings(BaseModel):
    """JVM dependencies: a verified local cache (default) or Maven coordinates."""

    source: Literal["cache", "maven"] = "cache"
    cache_dir: Path = Path.home() / ".cache" / "lakehouse" / "jars"
    lock_file: Path = PROJECT_ROOT / "infra" / "jars.lock.json"


class AirflowSettings(BaseModel):
    """Knobs the DAG files read (schedules, retries, timeouts)."""

    retries: int = 1
    retry_delay_s: int = 60
    task_timeout_s: int = 3600
    spark_conn_id: str = "spark_lakehouse"


# ---- domain knobs: each pipeline owns its class below (add fields there, nowhere else) ---------
class FinanceSettings(BaseModel):
    """Finance tick pipeline."""

    exchange_timezone: str = "America/New_York"
    session_open: str = "09:30"
    session_close: str = "16:00"
    schedule_cron: str = "0 16 * * 1-5"  # weekdays 16:00 in exchange_timezone
    catchup: bool = False


class EnergySettings(BaseModel):
    """Household energy pipeline."""

    source_timezone: str = "Europe/Paris"
    holiday_country: str = "FR"
    monthly_cron: str = "0 2 1 * *"
    realtime_cron: str = "*/15 * * * *"
    catchup: bool = False


class VisionSettings(BaseModel):
    """Vision (MNIST / CIFAR-10) pipeline."""

    schedule_cron: str | None = None  # manual by default; e.g. "0 3 * * 1" for weekly
    train_on_kubernetes: bool = False
    catchup: bool = False


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
    airflow: AirflowSettings = Field(default_factory=AirflowSettings)
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

    def describe(self) -> dict[str, Any]:
        """Resolved settings safe to print: secrets masked."""
        return self.model_dump(mode="json")


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
