"""Vision raw-zone layout benchmark: one IDX file per split versus one PNG object per image.

The raw manifest can point at images inside the delivered files (source URI + record index) or at one
object per image. This measures both on the same N MNIST-sized images, side by side in one run:
- land: copying the delivery into the raw zone (what the raw job does), and
- decode: silver's check of every manifest row (fetch, decode, re-hash each referenced image),
on local disk and on S3 (moto on loopback, or MinIO/S3 from LAKEHOUSE_TEST_S3_ENDPOINT).

    .venv/bin/python bench/bench_vision_storage.py --n 5000 [--out results.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from lakehouse import storage
from lakehouse.settings import LakehouseSettings
from spark_jobs.vision import formats, generator, io, transforms

ROOT = Path(__file__).resolve().parents[1]
DAY = dt.date(2024, 1, 1)


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def manifest_for(layout: str, files: dict[str, bytes], raw_dir: str) -> pd.DataFrame:
    """The raw manifest the raw job would write for this delivery."""
    if layout == "png":
        return transforms.build_png_manifest(formats.read_png_delivery("mnist", files), dataset="mnist",
                                             raw_dir=raw_dir, landing_dir="bench", logical_date=DAY, run_id="bench")
    return pd.concat([transforms.build_raw_manifest(
        d.batch, dataset="mnist", source_uri=storage.join(raw_dir, d.file_name), landing_uri="bench",
        source_format=d.source_format, source_file_sha256="-", logical_date=DAY, run_id="bench")
        for d in formats.read_delivery("mnist", files)], ignore_index=True)


def bench_layout(settings: LakehouseSettings, layout: str, n: int) -> dict[str, Any]:
    """Land and decode-check ``n`` images delivered in ``layout`` (idx or png)."""
    files = generator.generate_files("mnist", n, seed=0, image_format="png" if layout == "png" else "official")
    raw_dir = storage.join(storage.to_uri(settings.warehouse), "bench", layout)
    land_s = _timed(lambda: io.write_many(settings, {storage.join(raw_dir, name): data
                                                     for name, data in files.items()}))
    manifest = manifest_for(layout, files, raw_dir)
    checked: list[pd.DataFrame] = []
    decode_s = _timed(lambda: checked.append(io.decode_check(settings, manifest)))
    errors = checked[0]["decode_error"].notna().sum()
    if errors:
        raise RuntimeError(f"{errors} images failed to decode in the {layout} layout")
    return {"layout": layout, "objects": len(files), "bytes": sum(len(b) for b in files.values()),
            "land_s": round(land_s, 3), "decode_s": round(decode_s, 3),
            "land_img_s": round(n / land_s), "decode_img_s": round(n / decode_s)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.support.servers import s3_endpoint  # moto on loopback, or LAKEHOUSE_TEST_S3_ENDPOINT

    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, s3_endpoint() as s3:
        stores = {
            "local": LakehouseSettings(profile="local", home=Path(tmp)),
            "s3": LakehouseSettings(profile="s3", home=Path(tmp), warehouse=f"s3://{s3.bucket}/warehouse",
                                    s3={"endpoint_url": s3.url, "access_key_id": s3.access_key,
                                        "secret_access_key": s3.secret_key}),
        }
        for store, settings in stores.items():
            by_layout = {layout: bench_layout(settings, layout, args.n) for layout in ("idx", "png")}
            for row in by_layout.values():
                row.update(store=store, n=args.n,
                           land_ratio_vs_idx=round(row["land_s"] / by_layout["idx"]["land_s"], 1),
                           decode_ratio_vs_idx=round(row["decode_s"] / by_layout["idx"]["decode_s"], 1))
                results.append(row)
                print(json.dumps(row))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
