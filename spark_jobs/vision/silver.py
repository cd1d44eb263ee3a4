"""spark-submit entry point: validate ``raw.image_manifest`` into ``silver.image_manifest`` + quarantine.

Each referenced object is opened only if its URI lies inside the warehouse, decoded with the strict
readers and re-hashed; shape, label range and duplicates (by content hash) are checked. Valid rows and
rejects (with a reason) are staged on the run's audit branch; the silver gate publishes both.
"""

from __future__ import annotations

from typing import Any

from lakehouse.errors import LakehouseError
from lakehouse.jobs import JobContext, run_job
from schemas.vision import QUARANTINE_IMAGE_MANIFEST, RAW_IMAGE_MANIFEST, SILVER_IMAGE_MANIFEST
from spark_jobs.vision import io
from spark_jobs.vision.formats import dataset_spec
from spark_jobs.vision.options import VisionOptions, dataset_option
from spark_jobs.vision.transforms import validate_manifest

Options = VisionOptions  # the job's typed options (lakehouse.pipeline.options_class)


def main(ctx: JobContext) -> dict[str, Any]:
    """Validate the raw manifest of --option dataset=... for the logical date; stage silver and quarantine."""
    dataset = dataset_option(ctx)
    raw = io.read_dataset_rows(ctx.spark, ctx.settings, RAW_IMAGE_MANIFEST.identifier, ctx.logical_date, dataset)
    if raw.empty:
        raise LakehouseError(f"raw.image_manifest has no {dataset} rows for {ctx.logical_date}: run the raw job first")
    decoded = io.decode_check(ctx.settings, raw)
    valid, rejected = validate_manifest(raw, decoded, dataset_spec(dataset), ctx.settings.warehouse)
    valid = valid.assign(run_id=ctx.run_id)
    rejected = rejected.assign(run_id=ctx.run_id)
    silver = io.stage_dataset(ctx, SILVER_IMAGE_MANIFEST, valid, dataset)
    quarantine = io.stage_dataset(ctx, QUARANTINE_IMAGE_MANIFEST, rejected, dataset)
    reasons = rejected["reason"].str.split(":").str[0].value_counts().to_dict() if len(rejected) else {}
    return {"dataset": dataset, "raw": len(raw), "valid": len(valid), "quarantined": len(rejected),
            "quarantine_reasons": reasons, "silver_branch": silver.branch, "quarantine_branch": quarantine.branch}


if __name__ == "__main__":
    run_job(main, app_name="vision-silver")
