"""CNN classifiers for the vision pipeline: LeNet-style for MNIST, small ResNet for CIFAR-10.

Training reads one pinned snapshot of ``gold.image_training_set`` with PyIceberg (no Spark), uses the
per-channel mean/std stored with that snapshot, keeps tensors channels-first (NCHW), augments CIFAR-10
with random crop + horizontal flip written in torch, and runs on CUDA when present (mixed precision,
channels_last, pinned host memory, the whole uint8 set resident on the GPU) or on CPU otherwise.
Everything is seeded, and on CPU training runs with torch's deterministic algorithms, so the same rows,
hyper-parameters and thread count give the same weights. The model, its metrics (accuracy, per-class
accuracy, confusion matrix), the Gold snapshot id and the fingerprint of the rows read go to the model
registry; ``rebuild_training_set`` + ``retrain`` reproduce it from that record.

Entry point for the Kubernetes training pod:
``python -m ml.vision --dataset mnist --logical-date 2024-01-02 --run-id RUN [--snapshot-id ID]``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lakehouse.errors import LakehouseError, one_line_errors
from lakehouse.settings import LakehouseSettings, get_settings
from schemas.vision import DATASETS

if TYPE_CHECKING:
    import pyarrow as pa

    from lakehouse.pipeline import RunContext
    from lakehouse.training import Evaluation

GOLD_TABLE = "gold.image_training_set"
GOLD_COLUMNS = ("image_id", "label", "split", "width", "height", "channels", "pixels", "norm_mean", "norm_std")
SPLITS = ("train", "val", "test")
# Training images normalised and augmented together (a few batches' worth; ~200 MB as float at 32x32x3).
AUGMENT_CHUNK_IMAGES = 16384


# ---- data ------------------------------------------------------------------------------------
@dataclass
class VisionData:
    """Gold rows as tensors: uint8 NCHW images and int64 labels per split, plus normalisation stats."""

    images: dict[str, torch.Tensor]
    labels: dict[str, torch.Tensor]
    mean: list[float]
    std: list[float]
    num_classes: int = 10

    @property
    def input_shape(self) -> tuple[int, int, int]:
        c, h, w = self.images["train"].shape[1:]
        return int(c), int(h), int(w)


def pixels_from_arrow(column: pa.ChunkedArray | pa.Array, shape: tuple[int, int, int]) -> np.ndarray:
    """A binary column of equal-sized images -> uint8 ``(N, C, H, W)`` without a per-row Python loop."""
    import pyarrow as pa

    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_large_binary(array.type):
        offsets_dtype: type = np.int64
    elif pa.types.is_binary(array.type):
        offsets_dtype = np.int32
    else:
        raise LakehouseError(f"gold pixels column has type {array.type}, expected binary")
    n = len(array)
    size = int(np.prod(shape))
    if n == 0:
        return np.zeros((0, *shape), dtype=np.uint8)
    if array.null_count:
        raise LakehouseError("gold pixels column has nulls")
    _, offsets_buf, data_buf = array.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=offsets_dtype, count=n + 1, offset=array.offset * np.dtype(
        offsets_dtype).itemsize)
    if not np.all(np.diff(offsets) == size):
        raise LakehouseError(f"gold pixels are not all {shape} uint8 images")
    data = np.frombuffer(data_buf, dtype=np.uint8, count=n * size, offset=int(offsets[0]))
    return data.reshape(n, *shape)


def data_from_arrow(table: pa.Table, num_classes: int = 10) -> VisionData:
    """Turn Gold rows (one dataset, one date) into per-split tensors and the stored stats."""
    if table.num_rows == 0:
        raise LakehouseError("the Gold snapshot holds no rows for this dataset and date")
    first = table.slice(0, 1).to_pylist()[0]
    shape = (int(first["channels"]), int(first["height"]), int(first["width"]))
    mean, std = [float(v) for v in first["norm_mean"]], [float(v) for v in first["norm_std"]]
    if len(mean) != shape[0] or any(s <= 0 for s in std):
        raise LakehouseError(f"implausible normalisation stats in Gold: mean={mean} std={std}")
    pixels = pixels_from_arrow(table.column("pixels"), shape)
    labels = table.column("label").to_numpy().astype(np.int64)
    splits = np.asarray(table.column("split").to_pylist(), dtype=object)
    images: dict[str, torch.Tensor] = {}
    targets: dict[str, torch.Tensor] = {}
    for split in SPLITS:
        mask = splits == split
        images[split] = torch.from_numpy(np.ascontiguousarray(pixels[mask]))
        targets[split] = torch.from_numpy(labels[mask])
    if len(targets["train"]) == 0:
        raise LakehouseError("the Gold snapshot has no training images")
    return VisionData(images, targets, mean, std, num_classes)


def read_gold(settings: LakehouseSettings, dataset: str, logical_date: dt.date,
              snapshot_id: int | None = None) -> pa.Table:
    """The Gold rows training reads: one dataset/date of the pinned snapshot (PyIceberg), as Arrow."""
    from pyiceberg.expressions import And, EqualTo

    from lakehouse.registry import read_table_snapshot

    table = read_table_snapshot(settings, GOLD_TABLE, snapshot_id,
                                row_filter=And(EqualTo("dataset", dataset),
                                               EqualTo("ingest_date", logical_date.isoformat())),
                                columns=GOLD_COLUMNS)
    if table.num_rows == 0:
        raise LakehouseError(f"{GOLD_TABLE} has no {dataset} rows for {logical_date} in snapshot {snapshot_id}: "
                             "run the pipeline (and its gates) first")
    return table


def load_gold(settings: LakehouseSettings, dataset: str, logical_date: dt.date,
              snapshot_id: int | None = None) -> VisionData:
    """Read one dataset/date of the pinned Gold snapshot (PyIceberg) as tensors."""
    return data_from_arrow(read_gold(settings, dataset, logical_date, snapshot_id))


# ---- transforms in torch ---------------------------------------------------------------------
def normalise(batch: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 NCHW -> float, scaled to [0, 1] and standardised per channel."""
    return (batch.float().div_(255.0) - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)


def random_crop_flip(batch: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """Per-image random crop (reflect padding) and horizontal flip of an NCHW batch, on its device."""
    n, c, h, w = batch.shape
    device = batch.device
    padded = F.pad(batch, (padding, padding, padding, padding), mode="reflect")
    dy = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=generator.device).to(device)
    dx = torch.randint(0, 2 * padding + 1, (n,), generator=generator, device=generator.device).to(device)
    rows = (dy[:, None] + torch.arange(h, device=device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=device))[:, None, None, :]
    out = padded[torch.arange(n, device=device)[:, None, None, None], torch.arange(c, device=device)[None, :, None,
                                                                                                     None], rows, cols]
    flip = (torch.rand(n, generator=generator, device=generator.device) < 0.5).to(device)
    return torch.where(flip[:, None, None, None], out.flip(3), out)


# ---- models ----------------------------------------------------------------------------------
class LeNet(nn.Module):
    """LeNet-style CNN (two conv/BN/pool stages, two dense layers) for 28x28 grey digits."""

    def __init__(self, in_channels: int = 1, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, width, 5, padding=2, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 5, padding=2, bias=False), nn.BatchNorm2d(2 * width), nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(7),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(2 * width * 49, 128), nn.ReLU(inplace=True),
                                        nn.Dropout(0.25), nn.Linear(128, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


class BasicBlock(nn.Module):
    """3x3-3x3 residual block with an optional strided 1x1 projection."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x), inplace=True)


class SmallResNet(nn.Module):
    """ResNet-style CNN for 32x32 colour images: stem, three stages (w, 2w, 4w), global pool."""

    def __init__(self, in_channels: int = 3, num_classes: int = 10, width: int = 32) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width),
                                  nn.ReLU(inplace=True))
        self.stages = nn.Sequential(BasicBlock(width, width), BasicBlock(width, 2 * width, 2),
                                    BasicBlock(2 * width, 4 * width, 2))
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * width, num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)))


def build_model(dataset: str, in_channels: int, num_classes: int = 10, width: int | None = None) -> nn.Module:
    """The architecture of a dataset."""
    if dataset == "mnist":
        return LeNet(in_channels, num_classes, width or 16)
    if dataset == "cifar10":
        return SmallResNet(in_channels, num_classes, width or 32)
    raise LakehouseError(f"no model for dataset {dataset!r}")


# ---- training --------------------------------------------------------------------------------
@dataclass
class TrainConfig:
    """Hyper-parameters of one training run."""

    dataset: str
    epochs: int = 5
    batch_size: int = 128
    learning_rate: float = 3e-3
    weight_decay: float = 5e-4
    seed: int = 0
    augment: bool = False
    width: int | None = None
    device: str = "auto"
    target_accuracy: float | None = None  # stop early once validation accuracy reaches it


def pick_device(requested: str = "auto") -> torch.device:
    """CUDA when present (or requested), else CPU."""
    if requested == "cpu":
        return torch.device("cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise LakehouseError("device cuda requested but no CUDA device is available")
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class TrainResult:
    """A trained model plus how training went."""

    model: nn.Module
    history: list[dict[str, float]] = field(default_factory=list)
    device: str = "cpu"
    train_seconds: float = 0.0
    images_per_second: float = 0.0


def _to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    if device.type == "cuda":
        return x.pin_memory().to(device, non_blocking=True)
    return x


@contextlib.contextmanager
def deterministic_cpu(device: torch.device, threads: int | None = None) -> Iterator[None]:
    """On CPU: torch's deterministic algorithms (and ``threads`` intra-op threads when given) for the block,
    restored afterwards. CUDA runs are left as they are (cuDNN autotuning is what makes them fast)."""
    if device.type != "cpu":
        yield
        return
    previous = (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads())
    torch.use_deterministic_algorithms(True)
    if threads:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0])
        torch.set_num_threads(previous[1])


def train_model(data: VisionData, config: TrainConfig,
                log: Callable[[str], None] | None = None, threads: int | None = None) -> TrainResult:
    """Train the dataset's CNN on ``data['train']`` (AdamW + one-cycle LR); validation accuracy per epoch.
    Seeded; on CPU with deterministic algorithms (and ``threads`` intra-op threads when given)."""
    device = pick_device(config.device)
    with deterministic_cpu(device, threads):
        return _train_model(data, config, device, log)


def _train_model(data: VisionData, config: TrainConfig, device: torch.device,
                 log: Callable[[str], None] | None) -> TrainResult:
    torch.manual_seed(config.seed)
    np.random.seed(config.seed)
    cuda = device.type == "cuda"
    if cuda:
        torch.backends.cudnn.benchmark = True
    channels = data.input_shape[0]
    model = build_model(config.dataset, channels, data.num_classes, config.width).to(device)
    memory_format = torch.channels_last if cuda else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    x_train = _to_device(data.images["train"], device)
    y_train = _to_device(data.labels["train"], device)
    mean = torch.tensor(data.mean, device=device)
    std = torch.tensor(data.std, device=device)
    n = len(y_train)
    steps_per_epoch = max(1, (n + config.batch_size - 1) // config.batch_size)
    steps_per_chunk = max(1, AUGMENT_CHUNK_IMAGES // config.batch_size)
    # fused: one kernel per step for all parameters (CUDA only; the CPU path stays the deterministic default)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay,
                                  fused=cuda)
    total_steps = config.epochs * steps_per_epoch
    scheduler: torch.optim.lr_scheduler.LRScheduler
    if total_steps >= 8:
        scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.learning_rate,
                                                        total_steps=total_steps, pct_start=0.25)
    else:  # too few steps for a warm-up/anneal cycle (tiny test runs)
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda _: 1.0)
    amp_dtype = torch.bfloat16 if cuda and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=cuda and amp_dtype == torch.float16)
    generator = torch.Generator(device=device).manual_seed(config.seed)
    result = TrainResult(model, device=str(device))
    seen = 0
    start = time.perf_counter()
    for epoch in range(config.epochs):
        model.train()
        epoch_start = time.perf_counter()
        order = torch.randperm(n, generator=generator, device=device)
        total_loss = torch.zeros((), device=device)
        for step in range(steps_per_epoch):
            if step % steps_per_chunk == 0:
                # Whole chunks of batches are normalised and augmented at once: per batch, these dozen small
                # kernels cost more launch time than their work on a GPU.
                chunk_idx = order[step * config.batch_size:(step + steps_per_chunk) * config.batch_size]
                chunk = normalise(x_train[chunk_idx], mean, std)
                if config.augment:
                    chunk = random_crop_flip(chunk, 4, generator)
                chunk = chunk.contiguous(memory_format=memory_format)
            first = (step % steps_per_chunk) * config.batch_size
            idx = order[step * config.batch_size:(step + 1) * config.batch_size]
            xb = chunk[first:first + len(idx)]
            with torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=cuda):
                loss = F.cross_entropy(model(xb), y_train[idx], label_smoothing=0.05)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            total_loss += loss.detach() * len(idx)
        seen += n
        val = evaluate(model, data.images["val"], data.labels["val"], data.mean, data.std,
                       data.num_classes, device=device) if len(data.labels["val"]) else {"accuracy": float("nan")}
        seconds = time.perf_counter() - epoch_start
        entry = {"epoch": epoch + 1, "loss": float(total_loss) / n, "val_accuracy": val["accuracy"],
                 "seconds": seconds, "images_per_second": n / seconds}
        result.history.append(entry)
        if log:
            log(json.dumps(entry))
        if config.target_accuracy is not None and val["accuracy"] >= config.target_accuracy:
            break
    if cuda:
        torch.cuda.synchronize()
    result.train_seconds = time.perf_counter() - start
    result.images_per_second = seen / result.train_seconds if result.train_seconds else 0.0
    return result


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, mean: Sequence[float], std: Sequence[float],
            device: torch.device | None = None, batch_size: int = 1024) -> torch.Tensor:
    """Predicted classes of uint8 NCHW images."""
    device = device or next(model.parameters()).device
    model.eval()
    m = torch.tensor(list(mean), device=device)
    s = torch.tensor(list(std), device=device)
    cuda = device.type == "cuda"
    memory_format = torch.channels_last if cuda else torch.contiguous_format
    out = []
    for start in range(0, len(images), batch_size):
        xb = normalise(images[start:start + batch_size].to(device, non_blocking=True), m, s)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=cuda):
            logits = model(xb.contiguous(memory_format=memory_format))
        out.append(logits.argmax(1).cpu())
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def classification_metrics(predicted: np.ndarray, actual: np.ndarray, num_classes: int) -> dict[str, Any]:
    """Accuracy, per-class accuracy (recall) and the confusion matrix (rows: actual, cols: predicted)."""
    confusion = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(confusion, (actual.astype(np.int64), predicted.astype(np.int64)), 1)
    per_class_total = confusion.sum(axis=1)
    per_class = [float(confusion[k, k] / per_class_total[k]) if per_class_total[k] else float("nan")
                 for k in range(num_classes)]
    total = int(confusion.sum())
    return {"accuracy": float(np.trace(confusion) / total) if total else float("nan"), "per_class_accuracy": per_class,
            "confusion_matrix": confusion.tolist(), "n": total}


def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, mean: Sequence[float],
             std: Sequence[float], num_classes: int, device: torch.device | None = None) -> dict[str, Any]:
    """Metrics of ``model`` on one split."""
    predicted = predict(model, images, mean, std, device)
    return classification_metrics(predicted.numpy(), labels.cpu().numpy(), num_classes)


# ---- orchestration: train, evaluate, register -------------------------------------------------
def config_from_settings(settings: LakehouseSettings, dataset: str, **overrides: Any) -> TrainConfig:
    """The run's hyper-parameters: settings.vision, then explicit overrides."""
    v = settings.vision
    values: dict[str, Any] = {
        "dataset": dataset,
        "epochs": v.epochs.get(dataset, 5),
        "batch_size": v.batch_size,
        "learning_rate": v.learning_rate.get(dataset, 3e-3),
        "weight_decay": v.weight_decay,
        "seed": v.seed,
        "augment": dataset == "cifar10",
        "device": v.device,
        "width": v.width,
    }
    values.update({k: val for k, val in overrides.items() if val is not None})
    return TrainConfig(**values)


def model_name(dataset: str) -> str:
    """Registry name of a dataset's classifier."""
    return f"vision_{dataset}_cnn"


class CnnTrainer:
    """The vision CNN under the training protocol (lakehouse.training): fit on the Gold snapshot of the run's
    ``dataset``, evaluate on val/test against the majority-class baseline, register."""

    framework = "pytorch"
    model_file = "model.pt"
    # Recorded metrics that measure the machine, not the model (skipped by model reproduce).
    volatile_metrics: tuple[str, ...] = ("train_seconds", "train_images_per_second", "device")

    def dataset(self, run: RunContext) -> str:
        recorded = run.params.get("recorded") or {}
        return str(recorded.get("dataset") or run.params.get("dataset") or run.settings.vision.default_dataset)

    def model_name(self, run: RunContext) -> str:
        return model_name(self.dataset(run))

    def reads(self, run: RunContext) -> tuple[str, ...]:
        return (GOLD_TABLE,)

    def load(self, run: RunContext, snapshots: dict[str, int]) -> pa.Table:
        return read_gold(run.settings, self.dataset(run), run.logical_date, snapshots[GOLD_TABLE])

    def _config(self, run: RunContext) -> tuple[TrainConfig, int | None]:
        recorded = run.params.get("recorded")
        if not recorded:
            return config_from_settings(run.settings, self.dataset(run)), None
        from dataclasses import fields

        known = {f.name for f in fields(TrainConfig)}
        config = TrainConfig(**{k: v for k, v in recorded.items() if k in known})
        fit_report = recorded.get("fit_report", {})
        # same device kind as recorded (CPU when that was CPU or no CUDA device is here)
        config.device = "cuda" if str(fit_report.get("device", "cpu")).startswith("cuda") and \
            torch.cuda.is_available() else "cpu"
        return config, recorded.get("torch_threads")

    def fit(self, run: RunContext, rows: pa.Table, model_path: Path) -> dict[str, Any]:
        config, threads = self._config(run)
        data = data_from_arrow(rows)
        threads = threads or torch.get_num_threads()
        log = logging.getLogger("ml.vision")
        trained = train_model(data, config, log=log.info, threads=threads)
        spec = DATASETS[config.dataset]
        torch.save({"state_dict": trained.model.state_dict(), "dataset": config.dataset, "config": asdict(config),
                    "input_shape": data.input_shape, "norm_mean": data.mean, "norm_std": data.std,
                    "class_names": list(spec.class_names)}, model_path)
        return {**asdict(config), "norm_mean": data.mean, "norm_std": data.std, "torch": torch.__version__,
                "torch_threads": threads,
                "fit_report": {"train_seconds": trained.train_seconds, "device": trained.device,
                               "train_images_per_second": trained.images_per_second, "history": trained.history}}

    def evaluate(self, run: RunContext, rows: pa.Table, model_path: Path, params: dict[str, Any]) -> Evaluation:
        from lakehouse.training import Comparison, Evaluation

        saved = torch.load(model_path, map_location="cpu", weights_only=False)
        data = data_from_arrow(rows)
        spec = DATASETS[saved["dataset"]]
        model = build_model(saved["dataset"], data.input_shape[0], spec.num_classes,
                            width=saved["config"].get("width"))
        model.load_state_dict(saved["state_dict"])
        threads = params.get("torch_threads")
        with deterministic_cpu(torch.device("cpu"), threads):
            test = evaluate(model, data.images["test"], data.labels["test"], data.mean, data.std, spec.num_classes)
            val = evaluate(model, data.images["val"], data.labels["val"], data.mean, data.std, spec.num_classes)
        train_labels = data.labels["train"].cpu().numpy()
        majority = int(np.bincount(train_labels, minlength=spec.num_classes).argmax()) if len(train_labels) else 0
        test_labels = data.labels["test"].cpu().numpy()
        baseline = float((test_labels == majority).mean()) if len(test_labels) else float("nan")
        fit_report = params.get("fit_report", {})
        metrics = {
            "test_accuracy": test["accuracy"], "val_accuracy": val["accuracy"],
            "test_per_class_accuracy": dict(zip(spec.class_names, test["per_class_accuracy"], strict=True)),
            "test_confusion_matrix": test["confusion_matrix"], "test_n": test["n"], "val_n": val["n"],
            "train_n": len(train_labels), "baseline_majority_class_accuracy": baseline,
            "train_seconds": fit_report.get("train_seconds"), "device": fit_report.get("device"),
            "train_images_per_second": fit_report.get("train_images_per_second"),
        }
        return Evaluation(metrics, [Comparison("test_accuracy", test["accuracy"], "majority_class", baseline,
                                               higher_is_better=True)])

    def must_beat_baselines(self, run: RunContext) -> bool:
        return run.settings.vision.require_beat_baseline


TRAINER = CnnTrainer()


def main(argv: Sequence[str] | None = None) -> int:
    """CLI for the training pod: fit one dataset on the GPU for one logical date (the candidate is kept for the
    run's evaluate and register tasks, which run on the Airflow worker)."""
    from lakehouse.pipeline import RunContext
    from lakehouse.training import fit_step

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--dataset", required=True, choices=["mnist", "cifar10"])
    parser.add_argument("--logical-date", required=True, type=dt.date.fromisoformat)
    parser.add_argument("--run-id", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    with one_line_errors(f"vision training failed for {args.logical_date}: "):
        run = RunContext(get_settings(), args.logical_date, args.run_id, {"dataset": args.dataset})
        summary = fit_step(run, "ml.vision:TRAINER")
    print(json.dumps(summary, default=str, sort_keys=True))  # stdout: the one JSON summary line
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
