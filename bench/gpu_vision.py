"""GPU benchmark for the vision CNNs, fed from a Gold snapshot (run on a CUDA machine; CPU works, with a warning).

What it measures, for MNIST-sized and CIFAR-10-sized sets:

- **Loader**: the training read path, timed in three parts: the PyIceberg scan of one dataset/date of a pinned
  ``gold.image_training_set`` snapshot (``ml.vision.read_gold``), the decode of the Arrow pixel column into
  uint8 NCHW tensors (``ml.vision.data_from_arrow``), and the copy to the GPU (pinned host memory). The Gold
  table is created in a throw-away local lake (SQLite catalog, files on disk) and filled with PyIceberg,
  because the device machine has no Java for Spark; the read side is exactly what training runs.
- **Training** (``ml.vision.train_model``: bf16 autocast and channels_last on CUDA, the whole uint8 set
  resident on the GPU, augmentation on the GPU):
  - MNIST-sized (60,000 train / 10,000 test 28x28 digits, LeNet-style): seconds until validation accuracy
    reaches ``--target`` (default 0.99), from the first step, and the test accuracy then;
  - CIFAR-10-sized (50,000 train / 10,000 test 32x32 colour images, small ResNet, crop + flip): the first
    epoch (cuDNN autotuning) and the steady epochs' images/s, for each ``--cifar-batch-sizes``.

The images come from the project's generator (the official archives cannot be downloaded here), so accuracy
is not comparable with published MNIST/CIFAR-10 results; the speeds are. Public CIFAR-10 speed runs reach
94 % in about 2.6-3.8 s on one A100 with far more tuned nets. Prints one JSON document; ``--out`` writes it.

    python bench/gpu_vision.py [--mnist 70000] [--cifar 60000] [--cifar-epochs 4] [--cifar-batch-sizes 512,1024]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from lakehouse import catalog
from lakehouse.settings import LakehouseSettings
from ml import vision
from schemas.vision import GOLD_IMAGE_TRAINING_SET
from spark_jobs.vision import generator, transforms

log = logging.getLogger("bench.gpu_vision")
LOGICAL_DATE = dt.date(2024, 1, 2)
VAL_FRACTION = 1 / 12
TEST_FRACTION = 1 / 7


def gold_rows(dataset: str, n: int, schema: pa.Schema, seed: int = 0) -> pa.Table:
    """``n`` generated images as Gold rows (one dataset, one date), split train/val/test like the pipeline's
    proportions, with the training split's per-channel mean/std stored on every row."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 10)
    images = generator.mnist_like(labels, rng)[:, None] if dataset == "mnist" else generator.cifar_like(labels, rng)
    n_test = int(n * TEST_FRACTION)
    splits = np.array(["test"] * n_test + ["train"] * (n - n_test), dtype=object)
    splits[(splits == "train") & (rng.random(n) < VAL_FRACTION)] = "val"
    mean, std = transforms.channel_stats(images[splits == "train"])
    channels, height, width = images.shape[1:]
    flat = images.reshape(n, -1)
    scaled = flat.astype(np.float32) / 255.0
    columns: dict[str, Any] = {
        "ingest_date": [LOGICAL_DATE] * n,
        "dataset": [dataset] * n,
        "image_id": [f"{dataset}-{i:08d}" for i in range(n)],
        "label": labels.astype(np.int32),
        "split": splits.tolist(),
        "source_split": splits.tolist(),
        "width": np.full(n, width, dtype=np.int32),
        "height": np.full(n, height, dtype=np.int32),
        "channels": np.full(n, channels, dtype=np.int32),
        "pixels": [row.tobytes() for row in flat],
        "pixel_mean": scaled.mean(axis=1).astype(np.float64),
        "pixel_std": scaled.std(axis=1).astype(np.float64),
        "norm_mean": [list(map(float, mean))] * n,
        "norm_std": [list(map(float, std))] * n,
        "run_id": ["bench"] * n,
    }
    return pa.table({f.name: pa.array(columns[f.name], type=f.type) for f in schema}, schema=schema)


def publish_gold(settings: LakehouseSettings, dataset: str, n: int) -> int:
    """Append ``n`` generated rows to the local lake's Gold table; the new snapshot's id (the one training pins)."""
    catalog.create_tables(settings, [GOLD_IMAGE_TRAINING_SET])
    table = catalog.load_catalog(settings).load_table(GOLD_IMAGE_TRAINING_SET.identifier)
    # The catalog assigns its own field ids (list elements included): write with the table's schema.
    table.append(gold_rows(dataset, n, table.schema().as_arrow()))
    return table.refresh().current_snapshot().snapshot_id


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def load_from_gold(settings: LakehouseSettings, dataset: str, snapshot_id: int,
                   device: torch.device) -> tuple[vision.VisionData, dict[str, Any]]:
    """Training's read path, timed: Iceberg scan -> Arrow -> uint8 tensors -> GPU."""
    start = time.perf_counter()
    arrow = vision.read_gold(settings, dataset, LOGICAL_DATE, snapshot_id)
    scanned = time.perf_counter()
    data = vision.data_from_arrow(arrow)
    decoded = time.perf_counter()
    on_device = [t.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else t
                 for t in (*data.images.values(), *data.labels.values())]
    _sync(device)
    uploaded = time.perf_counter()
    n = arrow.num_rows
    nbytes = sum(t.numel() * t.element_size() for t in on_device)
    total = uploaded - start
    return data, {
        "images": n, "bytes": nbytes, "scan_seconds": round(scanned - start, 3),
        "decode_seconds": round(decoded - scanned, 3), "upload_seconds": round(uploaded - decoded, 3),
        "seconds": round(total, 3), "images_per_second": round(n / total),
    }


def bench_mnist(settings: LakehouseSettings, n: int, target: float, max_epochs: int, batch_size: int,
                device: torch.device) -> dict[str, Any]:
    """Time to ``target`` validation accuracy on an MNIST-sized Gold snapshot."""
    snapshot = publish_gold(settings, "mnist", n)
    data, loader = load_from_gold(settings, "mnist", snapshot, device)
    config = vision.TrainConfig(dataset="mnist", epochs=max_epochs, batch_size=batch_size,
                                learning_rate=4e-3, target_accuracy=target)
    trained = vision.train_model(data, config, log=log.info)
    reached = [h for h in trained.history if h["val_accuracy"] >= target]
    test = vision.evaluate(trained.model, data.images["test"], data.labels["test"], data.mean, data.std, 10)
    return {
        "loader": loader, "train_images": len(data.labels["train"]), "batch_size": batch_size,
        "target_val_accuracy": target, "reached": bool(reached), "epochs": len(trained.history),
        "seconds_to_target": round(sum(h["seconds"] for h in trained.history), 2) if reached else None,
        "training_images_per_second": round(trained.images_per_second),
        "test_accuracy": round(test["accuracy"], 4), "history": trained.history,
    }


def bench_cifar(settings: LakehouseSettings, n: int, epochs: int, batch_sizes: list[int],
                device: torch.device) -> dict[str, Any]:
    """Seconds per epoch and images/s on a CIFAR-10-sized Gold snapshot, per batch size."""
    snapshot = publish_gold(settings, "cifar10", n)
    data, loader = load_from_gold(settings, "cifar10", snapshot, device)
    runs = []
    for batch_size in batch_sizes:
        # Learning rate scaled with the batch (linear rule from 512), so each run is a sensible training run.
        config = vision.TrainConfig(dataset="cifar10", epochs=epochs, batch_size=batch_size,
                                    learning_rate=4e-3 * batch_size / 512, augment=True)
        trained = vision.train_model(data, config, log=log.info)
        seconds = [h["seconds"] for h in trained.history]
        steady = float(np.median(seconds[1:])) if len(seconds) > 1 else seconds[0]
        test = vision.evaluate(trained.model, data.images["test"], data.labels["test"], data.mean, data.std, 10)
        runs.append({
            "batch_size": batch_size, "first_epoch_seconds": round(seconds[0], 2),
            "steady_epoch_seconds": round(steady, 3),
            "training_images_per_second": round(len(data.labels["train"]) / steady),
            "test_accuracy": round(test["accuracy"], 4), "history": trained.history,
        })
    return {"loader": loader, "train_images": len(data.labels["train"]), "epochs": epochs, "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", type=int, default=70000, help="images in the MNIST-sized set (0: skip)")
    parser.add_argument("--cifar", type=int, default=60000, help="images in the CIFAR-10-sized set (0: skip)")
    parser.add_argument("--target", type=float, default=0.99)
    parser.add_argument("--mnist-max-epochs", type=int, default=10)
    parser.add_argument("--mnist-batch-size", type=int, default=512)
    parser.add_argument("--cifar-epochs", type=int, default=4)
    parser.add_argument("--cifar-batch-sizes", default="512,1024")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    device = vision.pick_device("auto")
    if device.type != "cuda":
        log.warning("no CUDA device: measuring on CPU")
    result: dict[str, Any] = {
        "device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu", "torch": torch.__version__,
        "amp": "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "off",
        "channels_last": device.type == "cuda",
    }
    with tempfile.TemporaryDirectory(prefix="gpu-vision-lake-") as home:
        settings = LakehouseSettings(profile="local", home=Path(home))
        if args.mnist:
            result["mnist"] = bench_mnist(settings, args.mnist, args.target, args.mnist_max_epochs,
                                          args.mnist_batch_size, device)
        if args.cifar:
            sizes = [int(s) for s in args.cifar_batch_sizes.split(",") if s.strip()]
            result["cifar10"] = bench_cifar(settings, args.cifar, args.cifar_epochs, sizes, device)
    text = json.dumps(result, indent=2)
    sys.stdout.write(text + "\n")
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
