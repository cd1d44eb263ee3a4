"""spark-submit entry point: land a delivery into the raw zone and write ``raw.image_manifest``.

Every delivered file is read with the strict format readers first; if any file is bad (wrong magic,
truncated, count mismatch, corrupt or foreign pickle, a PNG outside png/<split>/<class>/) the run stops
with one line naming the file and nothing is landed or written. Otherwise the files are copied
unchanged into the raw zone and the manifest (one row per image) replaces this dataset's rows of the
logical date in one commit. A single PNG that does not decode is an item problem, not a delivery
problem: it is landed and listed like the others, and silver quarantines it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from lakehouse import storage
from lakehouse.jobs import JobContext, run_job
from lakehouse.write import write_for_date
from schemas.vision import RAW_IMAGE_MANIFEST
from spark_jobs.vision import formats, io
from spark_jobs.vision.options import dataset_option
from spark_jobs.vision.transforms import build_png_manifest, build_raw_manifest


def main(ctx: JobContext) -> dict[str, Any]:
    """Read the landing files of --option dataset=..., keep them in the raw zone, write the raw manifest."""
    dataset = dataset_option(ctx)
    files = io.read_landing(ctx.settings, dataset)
    delivered = formats.read_delivery(dataset, files)  # raises on the first bad file: nothing landed yet
    pngs = formats.read_png_delivery(dataset, files)
    landing = io.landing_dir(ctx.settings, dataset)
    raw_dir = io.raw_zone_dir(ctx.settings, dataset, ctx.logical_date)
    needed = sorted({d.file_name for d in delivered} | {c for d in delivered for c in d.companion_files}
                    | {p.file_name for p in pngs})
    io.write_many(ctx.settings, {storage.join(raw_dir, name): files[name] for name in needed})
    frames = [
        build_raw_manifest(
            d.batch, dataset=dataset, source_uri=storage.join(raw_dir, d.file_name),
            landing_uri=storage.join(landing, d.file_name), source_format=d.source_format,
            source_file_sha256=io.sha256_hex(files[d.file_name]), logical_date=ctx.logical_date, run_id=ctx.run_id)
        for d in delivered
    ]
    if pngs:
        frames.append(build_png_manifest(pngs, dataset=dataset, raw_dir=raw_dir, landing_dir=landing,
                                         logical_date=ctx.logical_date, run_id=ctx.run_id))
    manifest = pd.concat(frames, ignore_index=True)
    df = io.dataset_frame(ctx.spark, ctx.settings, RAW_IMAGE_MANIFEST, manifest, ctx.logical_date, dataset)
    result = write_for_date(ctx.spark, ctx.settings, RAW_IMAGE_MANIFEST, df, logical_date=ctx.logical_date,
                            run_id=ctx.run_id)
    return {"table": result.table, "dataset": dataset, "files": len(needed), "images": len(manifest),
            "undecodable_png": sum(p.pixels is None for p in pngs),
            "raw_zone": raw_dir, "snapshot_id": result.snapshot_id}


if __name__ == "__main__":
    run_job(main, app_name="vision-raw")
