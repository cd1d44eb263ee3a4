"""Job options shared by the vision entry points."""

from __future__ import annotations

from lakehouse.errors import LakehouseError
from lakehouse.jobs import JobContext
from spark_jobs.vision.formats import DATASETS


def dataset_option(ctx: JobContext) -> str:
    """The ``--option dataset=mnist|cifar10`` of a job (default: settings.vision.default_dataset)."""
    dataset = ctx.options.get("dataset") or ctx.settings.vision.default_dataset
    if dataset not in DATASETS:
        raise LakehouseError(f"unknown dataset {dataset!r}: use --option dataset=mnist or dataset=cifar10")
    return dataset
