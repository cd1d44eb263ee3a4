"""CNNs, torch transforms, Gold -> tensor conversion and metrics (CPU)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pytest
import torch

from ml import vision
from spark_jobs.vision import formats, transforms
from spark_jobs.vision.generator import generate_files


@pytest.mark.parametrize(("dataset", "shape"), [("mnist", (1, 28, 28)), ("cifar10", (3, 32, 32))])
def test_forward_backward_step(dataset: str, shape: tuple[int, int, int]) -> None:
    torch.manual_seed(0)
    model = vision.build_model(dataset, shape[0], 10, width=8)
    x = torch.randn(6, *shape)
    y = torch.arange(6) % 10
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    logits = model(x)
    assert logits.shape == (6, 10)
    loss = torch.nn.functional.cross_entropy(logits, y)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    optimizer.step()
    assert torch.nn.functional.cross_entropy(model(x), y).item() != loss.item()


def test_random_crop_flip_is_seeded_and_keeps_shape() -> None:
    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    a = vision.random_crop_flip(x, 2, torch.Generator().manual_seed(1))
    b = vision.random_crop_flip(x, 2, torch.Generator().manual_seed(1))
    assert a.shape == x.shape and torch.equal(a, b)
    for out in (vision.random_crop_flip(x, 2, torch.Generator().manual_seed(s)) for s in range(5)):
        # each output image is a crop of the reflect-padded input, possibly mirrored
        padded = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="reflect")
        for i in range(2):
            found = any(torch.equal(out[i], cand) or torch.equal(out[i], cand.flip(2))
                        for dy in range(5) for dx in range(5) for cand in [padded[i, :, dy:dy + 8, dx:dx + 8]])
            assert found


def test_normalise() -> None:
    x = torch.full((1, 2, 2, 2), 255, dtype=torch.uint8)
    out = vision.normalise(x, torch.tensor([0.5, 0.0]), torch.tensor([0.5, 2.0]))
    assert torch.allclose(out[0, 0], torch.ones(2, 2)) and torch.allclose(out[0, 1], torch.full((2, 2), 0.5))


def _gold_table(dataset: str = "mnist", n: int = 60) -> pa.Table:
    delivered = formats.read_delivery(dataset, generate_files(dataset, n, seed=2))
    import pandas as pd

    raw = pd.concat([transforms.build_raw_manifest(
        d.batch, dataset=dataset, source_uri=f"file:///w/{d.file_name}", landing_uri="l", source_format="idx",
        source_file_sha256="f", logical_date=dt.date(2024, 1, 1), run_id="r") for d in delivered], ignore_index=True)
    pixels = np.concatenate([d.batch.images for d in delivered])
    gold = transforms.build_training_set(raw, pixels, config=transforms.SplitConfig(),
                                         logical_date=dt.date(2024, 1, 1), run_id="r")
    return pa.Table.from_pandas(gold, preserve_index=False)


def test_data_from_arrow_layout() -> None:
    table = _gold_table()
    data = vision.data_from_arrow(table)
    assert data.input_shape == (1, 28, 28)
    assert sum(len(v) for v in data.labels.values()) == 60
    assert data.images["train"].dtype == torch.uint8
    first = table.filter(pa.compute.equal(table.column("split"), "test")).slice(0, 1).to_pylist()[0]
    np.testing.assert_array_equal(data.images["test"][0].numpy().tobytes(), first["pixels"])


def test_pixels_from_arrow_rejects_ragged() -> None:
    with pytest.raises(Exception, match="not all"):
        vision.pixels_from_arrow(pa.array([b"\x00" * 4, b"\x00" * 3], pa.binary()), (1, 2, 2))
    sliced = pa.array([b"\x01" * 4, b"\x02" * 4, b"\x03" * 4], pa.binary()).slice(1)
    assert vision.pixels_from_arrow(sliced, (1, 2, 2))[:, 0, 0, 0].tolist() == [2, 3]


def test_classification_metrics() -> None:
    m = vision.classification_metrics(np.array([0, 1, 1, 2]), np.array([0, 1, 2, 2]), 3)
    assert m["accuracy"] == 0.75
    assert m["per_class_accuracy"] == [1.0, 1.0, 0.5]
    assert m["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]


def test_train_is_seeded_and_learns() -> None:
    torch.set_num_threads(1)
    data = vision.data_from_arrow(_gold_table("mnist", 100))
    config = vision.TrainConfig(dataset="mnist", epochs=2, batch_size=32, width=8, seed=3, device="cpu")
    a = vision.train_model(data, config)
    b = vision.train_model(data, config)
    for pa_, pb in zip(a.model.parameters(), b.model.parameters(), strict=True):
        assert torch.equal(pa_, pb)
    assert a.history[-1]["loss"] < a.history[0]["loss"]
    cifar = vision.data_from_arrow(_gold_table("cifar10", 40))
    result = vision.train_model(cifar, vision.TrainConfig(dataset="cifar10", epochs=1, batch_size=16, width=8,
                                                          augment=True, device="cpu"))
    assert len(result.history) == 1 and result.device == "cpu"
