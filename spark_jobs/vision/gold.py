"""spark-submit entry point: build ``gold.image_training_set`` from the published silver manifest.

Pixels are read back from the raw zone (and re-checked against their content hash), each image is
assigned train/val/test by a salted hash of its content (stable across reruns and delivery order; delivered
test files are the test split as-is, without them the test split is drawn by hash:
``transforms.assign_splits``), and the per-channel mean/std of the training split is stored on every row of
the run. Rows are scoped by dataset, so MNIST and CIFAR-10 runs of one date keep each other's rows. Staged
on the run's audit branch; the gold gate publishes.
"""

from __future__ import annotations

from typing import Any

from lakehouse.errors import LakehouseError
from lakehouse.jobs import JobContext, run_job
from lakehouse.settings import VisionSettings
from schemas.vision import GOLD_IMAGE_TRAINING_SET, RAW_IMAGE_MANIFEST, SILVER_IMAGE_MANIFEST
from spark_jobs.vision import io
from spark_jobs.vision.options import VisionOptions, dataset_option
from spark_jobs.vision.transforms import SplitConfig, build_training_set, resolve_uri, split_shares


def split_config_of(vision: VisionSettings) -> SplitConfig:
    """The split rule of ``settings.vision`` (shared with the Gold gate's expected split shares)."""
    return SplitConfig(salt=vision.split_salt, val_fraction=vision.val_fraction, test_fraction=vision.test_fraction,
                       keep_source_test_split=vision.keep_source_test_split)


def split_config(ctx: JobContext) -> SplitConfig:
    """The split settings of the run (settings.vision)."""
    return split_config_of(ctx.settings.vision)


Options = VisionOptions  # the job's typed options (lakehouse.pipeline.options_class)


def main(ctx: JobContext) -> dict[str, Any]:
    """Build the Gold training set of --option dataset=... for the logical date and stage it."""
    dataset = dataset_option(ctx)
    silver = io.read_dataset_rows(ctx.spark, ctx.settings, SILVER_IMAGE_MANIFEST.identifier, ctx.logical_date,
                                  dataset)
    if silver.empty:
        raise LakehouseError(f"silver.image_manifest has no published {dataset} rows for {ctx.logical_date}: "
                             "run raw, silver and the silver gate first")
    raw_formats = io.read_dataset_rows(ctx.spark, ctx.settings, RAW_IMAGE_MANIFEST.identifier, ctx.logical_date,
                                       dataset, columns=["source_uri", "source_format"]).drop_duplicates()
    formats_by_uri = {resolve_uri(uri, ctx.settings.warehouse): fmt
                      for uri, fmt in zip(raw_formats["source_uri"], raw_formats["source_format"], strict=True)}
    silver = silver.sort_values(["source_uri", "record_index"], kind="stable").reset_index(drop=True)
    pixels = io.load_pixels(ctx.settings, silver, formats_by_uri)
    gold = build_training_set(silver, pixels, config=split_config(ctx), logical_date=ctx.logical_date,
                              run_id=ctx.run_id)
    result = io.stage_dataset(ctx, GOLD_IMAGE_TRAINING_SET, gold, dataset)
    return {"dataset": dataset, "images": len(gold), "splits": split_shares(gold["split"]),
            "norm_mean": gold["norm_mean"].iloc[0], "norm_std": gold["norm_std"].iloc[0],
            "branch": result.branch, "snapshot_id": result.snapshot_id}


if __name__ == "__main__":
    run_job(main, app_name="vision-gold")
