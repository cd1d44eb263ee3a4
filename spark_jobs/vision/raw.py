"""spark-submit entry point: land a delivery into the raw zone and write ``raw.image_manifest``.

Every delivered file is read with the strict format readers first (byte for byte, capped by
``vision.max_file_bytes`` / ``max_images_per_file``); if any file is bad (wrong magic, truncated,
count mismatch, corrupt or foreign pickle, a PNG outside png/<split>/<class>/) the run stops with one
line naming the file and nothing is landed or written. Otherwise the files are copied unchanged into
the raw zone (their SHA-256 in the manifest is the delivered file's) and the manifest (one row per
image) replaces this dataset's rows of the logical date in one commit. A single PNG that does not
decode is an item problem, not a delivery problem: it is landed and listed like the others, and
silver quarantines it. Every file of the landing folder is accounted for in the summary and in
``raw.delivered_files``: ingested, quarantined (empty, or a PNG that does not decode) or ignored with a
reason (hidden and ``_`` metadata files, README, another copy of an official file, anything else).

CIFAR-10's published tarballs (``cifar-10-python.tar.gz``, ``cifar-10-binary.tar.gz``) are read as
delivered, in memory (``formats.unpack_archives``: member names are looked up, never used as paths).
The tarball is kept unchanged in the raw zone and so are the members the manifest points at, under
their official paths (``cifar-10-batches-py/data_batch_1``): silver and gold decode those like loose
batches. The manifest's ``landing_uri`` is the tarball; ``source_file_sha256`` is the hash of the
member stored at ``source_uri``. ``raw.delivered_files`` lists the tarball with all its images.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pandas as pd

from lakehouse import deliveries, storage
from lakehouse.jobs import JobContext, run_job
from schemas.vision import RAW_IMAGE_MANIFEST
from spark_jobs.vision import formats, io
from spark_jobs.vision.options import VisionOptions, dataset_option
from spark_jobs.vision.transforms import build_png_manifest, build_raw_manifest


def account(dataset: str, found: list[storage.StoredFile], used: dict[str, int],
            pngs: list[formats.DeliveredImage],
            archives: dict[str, list[str]] | None = None) -> list[deliveries.DeliveredFile]:
    """What became of every file of the landing folder. ``used``: landed file name -> its manifest rows;
    ``archives``: tarball name -> the official paths it held (its rows are theirs)."""
    png_errors = {p.file_name: p.decode_error for p in pngs if p.pixels is None}
    out: list[deliveries.DeliveredFile] = []
    for file in found:
        why_not = deliveries.ignore_reason(file.name)
        members = (archives or {}).get(file.name)
        if why_not is not None:
            out.append(deliveries.ignored(file, why_not))
        elif members is not None:
            if any(m in used for m in members):
                out.append(deliveries.ingested(file, sum(used.get(m, 0) for m in members)))
            else:  # both versions delivered: the python batches were read
                out.append(deliveries.ignored(file, "another version of the CIFAR-10 batches was read instead"))
        elif file.name in used:
            rows = used[file.name]
            if file.size == 0:
                out.append(deliveries.quarantined(file, deliveries.EMPTY_FILE, rows))
            elif file.name in png_errors:
                out.append(deliveries.quarantined(file, f"undecodable: {png_errors[file.name]}", rows))
            else:
                out.append(deliveries.ingested(file, rows))
        elif file.size == 0:
            out.append(deliveries.quarantined(file, deliveries.EMPTY_FILE))
        elif (official := formats.official_name(dataset, file.name)) is not None:
            out.append(deliveries.ignored(file, f"another copy of {official} was read instead"))
        else:
            out.append(deliveries.ignored(file, f"not a file of a {dataset} delivery (expected "
                                                f"{', '.join(formats.expected_files(dataset))})"))
    return out


Options = VisionOptions  # the job's typed options (lakehouse.pipeline.options_class)


def main(ctx: JobContext) -> dict[str, Any]:
    """Read the landing files of --option dataset=..., keep them in the raw zone, write the raw manifest."""
    dataset = dataset_option(ctx)
    limits = formats.ReadLimits.from_settings(ctx.settings.vision)
    found = io.list_landing(ctx.settings, dataset)
    candidates = [f for f in found if deliveries.ignore_reason(f.name) is None]
    delivered_bytes = io.read_landing(ctx.settings, dataset, candidates)
    # tarball members join the delivery under their official paths (raises on a bad archive: nothing landed)
    files, archives = formats.unpack_archives(dataset, delivered_bytes, limits=limits)
    origin = {member: archive for archive, members in archives.items() for member in members}
    delivered = formats.read_delivery(dataset, files, limits=limits)  # raises on the first bad file: nothing landed
    pngs = formats.read_png_delivery(dataset, files)
    landing = io.landing_dir(ctx.settings, dataset)
    raw_dir = io.raw_zone_dir(ctx.settings, dataset, ctx.logical_date)
    used = {d.file_name: len(d.batch.labels) for d in delivered}
    used.update({c: 0 for d in delivered for c in d.companion_files})
    used.update({p.file_name: 1 for p in pngs})
    # the tarballs whose members are used are kept unchanged beside them
    needed = sorted({*used, *(origin[name] for name in used if name in origin)})
    io.write_many(ctx.settings, {storage.join(raw_dir, name): files[name] for name in needed})
    hashes = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    frames = [
        build_raw_manifest(
            d.batch, dataset=dataset, source_uri=storage.join(raw_dir, d.file_name),
            landing_uri=storage.join(landing, origin.get(d.file_name, d.file_name)), source_format=d.source_format,
            source_file_sha256=hashes[d.file_name], logical_date=ctx.logical_date, run_id=ctx.run_id)
        for d in delivered
    ]
    if pngs:
        frames.append(build_png_manifest(pngs, dataset=dataset, raw_dir=raw_dir, landing_dir=landing,
                                         logical_date=ctx.logical_date, run_id=ctx.run_id))
    manifest = pd.concat(frames, ignore_index=True)
    result = io.write_dataset(ctx, RAW_IMAGE_MANIFEST, manifest, dataset)
    accounted = deliveries.with_hashes(ctx.settings, account(dataset, found, used, pngs, archives),
                                       {storage.join(landing, name): sha for name, sha in hashes.items()})
    deliveries.record(ctx.spark, ctx.settings, accounted, domain="vision", dataset=dataset,
                      logical_date=ctx.logical_date, run_id=ctx.run_id)
    return {"table": result.table, "dataset": dataset, "files": len(needed), "images": len(manifest),
            "undecodable_png": sum(p.pixels is None for p in pngs),
            "raw_zone": raw_dir, "snapshot_id": result.snapshot_id, **deliveries.summary(accounted)}


if __name__ == "__main__":
    run_job(main, app_name="vision-raw")
