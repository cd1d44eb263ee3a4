"""Job options shared by the vision entry points (raw, silver, gold)."""

from __future__ import annotations

from typing import Literal

from lakehouse.jobs import JobContext
from lakehouse.pipeline import JobOptions


class VisionOptions(JobOptions):
    """``dataset``: mnist or cifar10 (default: settings.vision.default_dataset)."""

    dataset: Literal["mnist", "cifar10"] | None = None


def dataset_option(ctx: JobContext) -> str:
    """The run's dataset (``--option dataset=mnist|cifar10``, default: settings.vision.default_dataset)."""
    return VisionOptions.of(ctx.options).dataset or ctx.settings.vision.default_dataset
