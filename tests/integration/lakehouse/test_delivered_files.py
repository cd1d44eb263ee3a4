"""raw.delivered_files is written by three domains (and two vision datasets) for the same logical
dates: each run replaces exactly its own domain's (and dataset's) rows of its date."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import functions as F

from lakehouse import deliveries, storage
from schemas.deliveries import DELIVERED_FILES

DAY = dt.date(2021, 6, 1)


def _files(*names: str) -> list[deliveries.DeliveredFile]:
    return [deliveries.ingested(storage.StoredFile(f"file:///landing/{n}", n, 3), rows=1) for n in names]


def _rows(spark, settings) -> set[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    table = spark.table(settings.table_name(DELIVERED_FILES.identifier)).where(F.col("logical_date") == F.lit(DAY))
    return {(r["domain"], r["dataset"], r["file_name"]) for r in table.collect()}


def test_each_run_replaces_only_its_own_domain_and_dataset(spark, local_settings) -> None:  # type: ignore[no-untyped-def]
    def record(domain: str, dataset: str, *names: str) -> None:
        deliveries.record(spark, local_settings, _files(*names), domain=domain, dataset=dataset,
                          logical_date=DAY, run_id=f"{domain}-{dataset}")

    record("finance", "ticks", "a.csv", "b.csv")
    record("energy", "uci_household", "hh_001.txt")
    record("vision", "mnist", "train-images-idx3-ubyte.gz")
    record("vision", "cifar10", "cifar-10-batches-py/test_batch")
    assert _rows(spark, local_settings) == {
        ("finance", "ticks", "a.csv"), ("finance", "ticks", "b.csv"), ("energy", "uci_household", "hh_001.txt"),
        ("vision", "mnist", "train-images-idx3-ubyte.gz"), ("vision", "cifar10", "cifar-10-batches-py/test_batch")}
    record("finance", "ticks", "c.csv")  # a rerun with another delivery: b.csv and a.csv are gone
    record("vision", "mnist", "t10k-images-idx3-ubyte.gz")
    assert _rows(spark, local_settings) == {
        ("finance", "ticks", "c.csv"), ("energy", "uci_household", "hh_001.txt"),
        ("vision", "mnist", "t10k-images-idx3-ubyte.gz"), ("vision", "cifar10", "cifar-10-batches-py/test_batch")}
