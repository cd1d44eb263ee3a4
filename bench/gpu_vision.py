"""GPU benchmark for the vision CNNs (run on a machine with CUDA; falls back to CPU with a warning).

- MNIST-sized: 60,000 train / 10,000 test generated 28x28 digits, LeNet-style net, time until the
  validation accuracy reaches --target (default 0.99), measured from the first step (data already on
  the device, as the pipeline's trainer does).
- CIFAR-10-sized: 50,000 train / 10,000 test generated 32x32 colour images, small ResNet with
  crop + flip augmentation, seconds per epoch (first epoch reported separately: cuDNN autotuning).

The images come from the project's generator (the official archives cannot be downloaded here), so the
accuracy numbers are not comparable with published MNIST/CIFAR-10 results; the speed numbers are.
For reference, public CIFAR-10 speed runs reach 94% in about 2.6-3.8 s on one A100 with far more
tuned nets. Prints one JSON document; --out writes it to a file.

    python bench/gpu_vision.py [--mnist 70000] [--cifar 60000] [--cifar-epochs 3] [--out gpu.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ml import vision
from spark_jobs.vision import generator, transforms

SPLIT = transforms.SplitConfig(val_fraction=1 / 12)


def make_data(dataset: str, n: int, seed: int = 0) -> vision.VisionData:
    """Generated images split train/val/test like the pipeline (val = 1/12 of train, test = 1/7)."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 10)
    images = generator.mnist_like(labels, rng)[:, None] if dataset == "mnist" else generator.cifar_like(labels, rng)
    n_test = n // 7
    splits = np.array(["test"] * n_test + ["train"] * (n - n_test), dtype=object)
    val = rng.random(n) < SPLIT.val_fraction
    splits[(splits == "train") & val] = "val"
    mean, std = transforms.channel_stats(images[splits == "train"])
    return vision.VisionData(
        images={s: torch.from_numpy(np.ascontiguousarray(images[splits == s])) for s in vision.SPLITS},
        labels={s: torch.from_numpy(labels[splits == s].astype(np.int64)) for s in vision.SPLITS},
        mean=mean, std=std)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mnist", type=int, default=70000)
    parser.add_argument("--cifar", type=int, default=60000)
    parser.add_argument("--target", type=float, default=0.99)
    parser.add_argument("--mnist-max-epochs", type=int, default=10)
    parser.add_argument("--cifar-epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    device = vision.pick_device("auto")
    if device.type != "cuda":
        print("warning: no CUDA device, measuring on CPU", file=sys.stderr)
    result: dict[str, Any] = {"device": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
                              "torch": torch.__version__}
    start = time.perf_counter()
    mnist = make_data("mnist", args.mnist)
    result["mnist_generate_seconds"] = round(time.perf_counter() - start, 1)
    config = vision.TrainConfig(dataset="mnist", epochs=args.mnist_max_epochs, batch_size=args.batch_size,
                                learning_rate=4e-3, target_accuracy=args.target)
    trained = vision.train_model(mnist, config, log=lambda line: print(line, file=sys.stderr))
    reached = [h for h in trained.history if h["val_accuracy"] >= args.target]
    test = vision.evaluate(trained.model, mnist.images["test"], mnist.labels["test"], mnist.mean, mnist.std, 10)
    result["mnist"] = {
        "train_images": len(mnist.labels["train"]), "target_val_accuracy": args.target,
        "reached": bool(reached), "epochs": len(trained.history),
        "seconds_to_target": round(sum(h["seconds"] for h in trained.history), 2) if reached else None,
        "test_accuracy": round(test["accuracy"], 4), "history": trained.history,
    }
    start = time.perf_counter()
    cifar = make_data("cifar10", args.cifar)
    result["cifar_generate_seconds"] = round(time.perf_counter() - start, 1)
    config = vision.TrainConfig(dataset="cifar10", epochs=args.cifar_epochs, batch_size=args.batch_size,
                                learning_rate=4e-3, augment=True)
    trained = vision.train_model(cifar, config, log=lambda line: print(line, file=sys.stderr))
    epochs = [h["seconds"] for h in trained.history]
    test = vision.evaluate(trained.model, cifar.images["test"], cifar.labels["test"], cifar.mean, cifar.std, 10)
    result["cifar10"] = {
        "train_images": len(cifar.labels["train"]), "first_epoch_seconds": round(epochs[0], 2),
        "steady_epoch_seconds": round(float(np.median(epochs[1:])), 2) if len(epochs) > 1 else None,
        "images_per_second": round(len(cifar.labels["train"]) / (np.median(epochs[1:]) if len(epochs) > 1
                                                                 else epochs[0])),
        "test_accuracy": round(test["accuracy"], 4), "history": trained.history,
    }
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
