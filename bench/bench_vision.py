"""Vision benchmark (CPU): Gold table -> tensors throughput versus CNN training consumption.

Writes a Gold snapshot of N generated images per dataset into a throw-away local lakehouse with
PyIceberg (no Spark: the point is the training-side read path), then measures
- load: images/s from ``read_table_snapshot`` (pinned snapshot) to uint8 NCHW tensors, and
- train: images/s one CPU training epoch consumes (LeNet for MNIST, small ResNet for CIFAR-10).
Loading must be much faster than training consumes, or the GPU would starve.

    .venv/bin/python bench/bench_vision.py --mnist 20000 --cifar 10000 [--out results.json]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from lakehouse.catalog import create_tables, load_catalog
from lakehouse.settings import LakehouseSettings
from ml import vision
from schemas.vision import GOLD_IMAGE_TRAINING_SET
from spark_jobs.vision import formats, generator, transforms

DAY = dt.date(2024, 1, 1)


def write_gold(settings: LakehouseSettings, dataset: str, n: int) -> int:
    """Generate ``n`` images, build Gold rows with the pipeline's transforms, append them; return snapshot id."""
    delivered = formats.read_delivery(dataset, generator.generate_files(dataset, n, seed=0))
    import pandas as pd

    manifest = pd.concat([transforms.build_raw_manifest(
        d.batch, dataset=dataset, source_uri=f"file:///bench/{d.file_name}", landing_uri="bench",
        source_format=d.source_format, source_file_sha256="-", logical_date=DAY, run_id="bench")
        for d in delivered], ignore_index=True)
    pixels = np.concatenate([d.batch.images for d in delivered])
    gold = transforms.build_training_set(manifest, pixels, config=transforms.SplitConfig(), logical_date=DAY,
                                         run_id="bench")
    table = load_catalog(settings).load_table(GOLD_IMAGE_TRAINING_SET.identifier)
    arrow = pa.Table.from_pandas(gold, preserve_index=False).cast(table.schema().as_arrow())
    table.append(arrow)
    return table.refresh().current_snapshot().snapshot_id


def bench_load(settings: LakehouseSettings, dataset: str, snapshot_id: int, repeats: int) -> dict[str, Any]:
    """Images/s from the Gold snapshot to tensors (median of ``repeats``)."""
    times, n = [], 0
    for _ in range(repeats):
        start = time.perf_counter()
        data = vision.load_gold(settings, dataset, DAY, snapshot_id)
        n = sum(len(v) for v in data.labels.values())
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    return {"images": n, "seconds_median": round(median, 3), "images_per_second": round(n / median)}


def bench_train(settings: LakehouseSettings, dataset: str, snapshot_id: int, limit: int) -> dict[str, Any]:
    """Images/s one CPU training epoch consumes (on at most ``limit`` training images)."""
    data = vision.load_gold(settings, dataset, DAY, snapshot_id)
    data.images["train"] = data.images["train"][:limit]
    data.labels["train"] = data.labels["train"][:limit]
    data.images["val"] = data.images["val"][:256]
    data.labels["val"] = data.labels["val"][:256]
    config = vision.TrainConfig(dataset=dataset, epochs=1, batch_size=128, augment=dataset == "cifar10",
                                device="cpu")
    result = vision.train_model(data, config)
    return {"images": len(data.labels["train"]), "seconds": round(result.train_seconds, 2),
            "images_per_second": round(result.images_per_second)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", type=int, default=20000)
    parser.add_argument("--cifar", type=int, default=10000)
    parser.add_argument("--train-limit", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results: dict[str, Any] = {"torch": torch.__version__, "threads": args.threads, "device": "cpu"}
    with tempfile.TemporaryDirectory() as home:
        settings = LakehouseSettings(profile="local", home=Path(home))
        create_tables(settings, [GOLD_IMAGE_TRAINING_SET])
        for dataset, n in (("mnist", args.mnist), ("cifar10", args.cifar)):
            if n <= 0:
                continue
            start = time.perf_counter()
            snapshot = write_gold(settings, dataset, n)
            entry = {"gold_write_seconds": round(time.perf_counter() - start, 2)}
            entry["load"] = bench_load(settings, dataset, snapshot, args.repeats)
            entry["train"] = bench_train(settings, dataset, snapshot, args.train_limit)
            entry["load_to_train_ratio"] = round(entry["load"]["images_per_second"]
                                                 / max(entry["train"]["images_per_second"], 1), 1)
            results[dataset] = entry
            print(json.dumps({dataset: entry}), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
