"""Vision pipeline tables (MNIST / CIFAR-10): raw and validated image manifests, quarantine, Gold.

Every table is partitioned by the run's logical date (``ingest_date``) and ``dataset``; a run writes
one dataset of one date (upsert keyed by ``dataset``), so MNIST and CIFAR-10 runs of the same date
never replace each other's rows. Pixel bytes live in the delivered files in the raw zone (addressed
by ``source_uri`` + ``record_index``) until Gold, which carries them in a binary column.
"""

from dataclasses import dataclass

from pyiceberg.types import (
    BinaryType,
    DateType,
    DoubleType,
    IntegerType,
    ListType,
    LongType,
    StringType,
)

from schemas.base import Column, TableSpec, identity


@dataclass(frozen=True)
class DatasetSpec:
    """Shape and classes every image of a dataset must have."""

    name: str
    height: int
    width: int
    channels: int
    num_classes: int
    class_names: tuple[str, ...]


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec("mnist", 28, 28, 1, 10, tuple(str(d) for d in range(10))),
    "cifar10": DatasetSpec("cifar10", 32, 32, 3, 10, ("airplane", "automobile", "bird", "cat", "deer", "dog",
                                                     "frog", "horse", "ship", "truck")),
}

_KEY = (
    Column("ingest_date", DateType(), required=True, doc="logical date of the run that ingested the image"),
    Column("dataset", StringType(), required=True, doc="mnist or cifar10"),
)

_MANIFEST = (
    Column("image_id", StringType(), doc="content hash (sha256 hex of the C x H x W uint8 pixel bytes)"),
    Column("sha256", StringType(), doc="sha256 hex of the pixel bytes as recorded at ingest"),
    Column("source_split", StringType(), doc="split of the delivered file: train or test"),
    Column("label", IntegerType(), doc="class index as delivered"),
    Column("source_uri", StringType(), doc="URI of the delivered file in the raw zone of the warehouse"),
    Column("record_index", LongType(), doc="index of the image inside source_uri"),
    Column("width", IntegerType()),
    Column("height", IntegerType()),
    Column("channels", IntegerType()),
)

RAW_IMAGE_MANIFEST = TableSpec(
    identifier="raw.image_manifest",
    description="One row per delivered image: where its bytes live in the raw zone, label, shape, hash.",
    columns=(
        *_KEY,
        *_MANIFEST,
        Column("source_format", StringType(), doc="idx, idx.gz, cifar-pickle or cifar-bin"),
        Column("source_file_sha256", StringType(), doc="sha256 of the whole delivered file"),
        Column("landing_uri", StringType(), doc="where the file was picked up"),
        Column("run_id", StringType(), doc="run that ingested the file"),
    ),
    partition_by=(identity("ingest_date"), identity("dataset")),
    sort_by=("source_uri", "record_index"),
    logical_date_column="ingest_date",
)

SILVER_IMAGE_MANIFEST = TableSpec(
    identifier="silver.image_manifest",
    description="Validated image manifest: decodes, expected shape, label in range, unique by content hash, "
                "URI inside the warehouse.",
    columns=(*_KEY, *_MANIFEST, Column("run_id", StringType())),
    partition_by=(identity("ingest_date"), identity("dataset")),
    sort_by=("image_id",),
    logical_date_column="ingest_date",
)

QUARANTINE_IMAGE_MANIFEST = TableSpec(
    identifier="quarantine.image_manifest",
    description="Raw manifest rows refused by silver validation, with the reason.",
    columns=(
        *_KEY,
        *_MANIFEST,
        Column("reason", StringType(), required=True, doc="why the row was refused"),
        Column("run_id", StringType()),
    ),
    partition_by=(identity("ingest_date"), identity("dataset")),
    logical_date_column="ingest_date",
)

GOLD_IMAGE_TRAINING_SET = TableSpec(
    identifier="gold.image_training_set",
    description="Training-ready images: hash-based split, pixel bytes (uint8, C x H x W), and the per-channel "
                "mean/std of the run's training split used for normalisation.",
    columns=(
        *_KEY,
        Column("image_id", StringType(), required=True, doc="content hash"),
        Column("label", IntegerType(), required=True),
        Column("split", StringType(), required=True, doc="train, val or test (stable hash of image_id)"),
        Column("source_split", StringType()),
        Column("width", IntegerType(), required=True),
        Column("height", IntegerType(), required=True),
        Column("channels", IntegerType(), required=True),
        Column("pixels", BinaryType(), required=True, doc="uint8 pixels, channels-first, row-major"),
        Column("pixel_mean", DoubleType(), doc="mean of this image's pixels scaled to [0, 1]"),
        Column("pixel_std", DoubleType(), doc="std of this image's pixels scaled to [0, 1]"),
        Column("norm_mean", ListType(1001, DoubleType(), element_required=False),
               doc="per-channel mean of the run's training split, pixels scaled to [0, 1]"),
        Column("norm_std", ListType(1002, DoubleType(), element_required=False),
               doc="per-channel std of the run's training split, pixels scaled to [0, 1]"),
        Column("run_id", StringType()),
    ),
    partition_by=(identity("ingest_date"), identity("dataset")),
    sort_by=("split", "image_id"),
    logical_date_column="ingest_date",
)

TABLES = (RAW_IMAGE_MANIFEST, SILVER_IMAGE_MANIFEST, QUARANTINE_IMAGE_MANIFEST, GOLD_IMAGE_TRAINING_SET)
