"""``raw.delivered_files``: every file of every delivery, with what became of it.

Each domain's landing job writes one row per file it found: ingested, quarantined (with a reason such
as ``empty_file``) or ignored (with a reason: hidden and ``_`` metadata files, documentation, names no
reader takes). Nothing that was delivered disappears without a trace.

Three domains (and two vision datasets) write the same logical dates: a finance trade date can be an
energy meter-reading day and a vision ingest date. Each run writes with the scope
``{"domain": ..., "dataset": ...}`` (:func:`scope`), so it replaces exactly its own rows of the date.
"""

from pyiceberg.types import DateType, LongType, StringType

from schemas.base import Column, TableSpec, identity

DOMAINS = ("finance", "energy", "vision")
OUTCOMES = ("ingested", "quarantined", "ignored")

DELIVERED_FILES = TableSpec(
    identifier="raw.delivered_files",
    description="One row per delivered file and run: ingested, quarantined with a reason, or ignored with a "
                "reason; its size and SHA-256 as delivered and the rows it has in the domain's raw table.",
    columns=(
        Column("logical_date", DateType(), required=True, doc="logical date of the run that accounted for the file"),
        Column("domain", StringType(), required=True, doc="finance, energy or vision"),
        Column("dataset", StringType(), required=True, doc="what the run landed: ticks, uci_household, mnist, cifar10"),
        Column("run_id", StringType()),
        Column("file_uri", StringType(), required=True, doc="where the file was delivered"),
        Column("file_name", StringType(), doc="path relative to the delivery folder"),
        Column("size_bytes", LongType(), doc="size as delivered"),
        Column("sha256", StringType(), doc="SHA-256 of the delivered bytes"),
        Column("outcome", StringType(), required=True, doc="ingested, quarantined or ignored"),
        Column("reason", StringType(), doc="why the file was quarantined or ignored"),
        Column("rows", LongType(), doc="rows the file has in the domain's raw table (null when ignored)"),
    ),
    partition_by=(identity("logical_date"), identity("domain")),
    sort_by=("dataset", "file_uri"),
    logical_date_column="logical_date",
)


def scope(domain: str, dataset: str) -> dict[str, str]:
    """The rows of a date one run owns: its domain's and dataset's."""
    if domain not in DOMAINS:
        raise ValueError(f"unknown domain {domain!r}: one of {', '.join(DOMAINS)}")
    return {"domain": domain, "dataset": dataset}


TABLES = (DELIVERED_FILES,)
