"""`lakehouse generate images`: deterministic files in the official formats, learnable structure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from spark_jobs.vision import formats, generator


@pytest.mark.parametrize("dataset", ["mnist", "cifar10"])
def test_generate_is_deterministic_and_readable(dataset: str) -> None:
    files = generator.generate_files(dataset, 50, seed=7, test_fraction=0.2)
    assert files == generator.generate_files(dataset, 50, seed=7, test_fraction=0.2)
    assert files != generator.generate_files(dataset, 50, seed=8, test_fraction=0.2)
    batches = formats.read_delivery(dataset, files)
    labels = np.concatenate([b.batch.labels for b in batches])
    assert len(labels) == 50 and np.bincount(labels).tolist() == [5] * 10
    assert sum(len(b.batch.labels) for b in batches if b.batch.source_split == "test") == 10


def test_generated_classes_differ() -> None:
    batch = formats.read_delivery("mnist", generator.generate_files("mnist", 200, seed=0))[0].batch
    means = np.stack([batch.images[batch.labels == k].mean(axis=0) for k in range(10)])
    assert np.abs(means[1] - means[8]).mean() > 10  # class templates are far apart


def test_digits_files_are_mnist_idx() -> None:
    files = generator.digits_files()
    batches = formats.read_delivery("mnist", files)
    assert sum(len(b.batch.labels) for b in batches) == 1797
    assert batches[0].batch.images.shape[1:] == (1, 28, 28)


def test_cli_generate_images(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lakehouse.cli import app
    from lakehouse.settings import get_settings

    monkeypatch.setenv("LAKEHOUSE_HOME", str(tmp_path))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["generate", "images", "--dataset", "mnist", "--n", "20", "--no-gzip"])
        assert result.exit_code == 0, result.output
        landing = tmp_path / "landing" / "vision" / "mnist"
        assert sorted(p.name for p in landing.iterdir()) == ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte",
                                                             "train-images-idx3-ubyte", "train-labels-idx1-ubyte"]
        digits = CliRunner().invoke(app, ["generate", "images", "--sklearn-digits"])
        assert digits.exit_code == 0, digits.output
        assert len(formats.read_delivery("mnist", {p.name: p.read_bytes() for p in landing.iterdir()})) == 2
        bad = CliRunner().invoke(app, ["generate", "images", "--dataset", "svhn", "--n", "5"])
        assert bad.exit_code == 1 and "unknown dataset 'svhn'" in bad.output
        pngs = CliRunner().invoke(app, ["generate", "images", "--dataset", "cifar10", "--n", "12", "--format", "png"])
        assert pngs.exit_code == 0 and "wrote  12 PNG files" in pngs.output, pngs.output
        cifar = tmp_path / "landing" / "vision" / "cifar10"
        delivered = {p.relative_to(cifar).as_posix(): p.read_bytes() for p in cifar.rglob("*.png")}
        assert len(formats.read_png_delivery("cifar10", delivered)) == 12
        jpeg = CliRunner().invoke(app, ["generate", "images", "--format", "jpeg"])
        assert jpeg.exit_code == 1 and "unknown image format 'jpeg'" in jpeg.output
    finally:
        get_settings.cache_clear()
