"""Strict MNIST IDX and CIFAR-10 pickle readers: good files round-trip, corrupt files fail clearly."""

from __future__ import annotations

import gzip
import os
import pickle
import struct

import numpy as np
import pytest

from spark_jobs.vision import formats
from spark_jobs.vision.formats import FormatError


def _images(n: int = 5) -> np.ndarray:
    return np.arange(n * 28 * 28, dtype=np.uint32).astype(np.uint8).reshape(n, 28, 28)


@pytest.mark.parametrize("gzipped", [False, True])
def test_idx_round_trip(gzipped: bool) -> None:
    images, labels = _images(), np.array([0, 1, 2, 3, 9], dtype=np.uint8)
    batch = formats.read_mnist(formats.write_idx(images, gzipped=gzipped), formats.write_idx(labels, gzipped=gzipped),
                               "img", "lbl", "train")
    assert batch.images.shape == (5, 1, 28, 28)
    np.testing.assert_array_equal(batch.images[:, 0], images)
    assert batch.labels.tolist() == [0, 1, 2, 3, 9]


def test_idx_gzip_is_deterministic() -> None:
    assert formats.write_idx(_images(), gzipped=True) == formats.write_idx(_images(), gzipped=True)


def test_idx_wrong_magic() -> None:
    labels = formats.write_idx(np.zeros(5, dtype=np.uint8))
    with pytest.raises(FormatError, match=r"wrong magic number 0x00000801, expected 0x00000803"):
        formats.read_mnist(labels, labels, "train-images", "train-labels", "train")
    with pytest.raises(FormatError, match="wrong magic number"):
        formats.read_idx(b"\x12\x34\x08\x01" + b"\x00" * 8, "junk")


@pytest.mark.parametrize("cut", [2, 10, 100])
def test_idx_truncated(cut: int) -> None:
    data = formats.write_idx(_images())
    with pytest.raises(FormatError, match="truncated"):
        formats.read_idx_images(data[:cut], "train-images-idx3-ubyte")


def test_idx_truncated_gzip() -> None:
    data = formats.write_idx(_images(), gzipped=True)
    with pytest.raises(FormatError, match=r"train-images-idx3-ubyte\.gz: corrupt or truncated gzip"):
        formats.read_idx_images(data[: len(data) // 2], "train-images-idx3-ubyte.gz")


def test_idx_trailing_bytes() -> None:
    with pytest.raises(FormatError, match="3 unexpected trailing bytes"):
        formats.read_idx_images(formats.write_idx(_images()) + b"abc", "x")


def test_idx_count_mismatch() -> None:
    images = formats.write_idx(_images(5))
    labels = formats.write_idx(np.zeros(4, dtype=np.uint8))
    with pytest.raises(FormatError, match="label/image count mismatch: img has 5 images but lbl has 4 labels"):
        formats.read_mnist(images, labels, "img", "lbl", "train")


def test_idx_header_dims_lie() -> None:
    data = bytearray(formats.write_idx(_images(2)))
    data[4:8] = struct.pack(">I", 3)  # claims 3 images, holds 2
    with pytest.raises(FormatError, match="truncated IDX file"):
        formats.read_idx_images(bytes(data), "x")


def _cifar(n: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8), np.arange(n) % 10


def test_cifar_round_trip() -> None:
    images, labels = _cifar()
    data = formats.write_cifar_batch(images, labels, batch_label="training batch 1 of 5")
    batch = formats.read_cifar_batch(data, "data_batch_1", "train")
    np.testing.assert_array_equal(batch.images, images)
    assert batch.labels.tolist() == labels.tolist()
    raw = pickle.loads(data, encoding="bytes")  # the layout the official loader snippet expects
    assert set(raw) == {b"batch_label", b"labels", b"data", b"filenames"} and raw[b"data"].shape == (4, 3072)
    names = formats.read_cifar_meta(formats.write_cifar_meta(formats.DATASETS["cifar10"].class_names, 4), "meta")
    assert names[0] == "airplane" and len(names) == 10


def test_cifar_reads_python2_style_pickle() -> None:
    """Official batches were written by Python 2 (str keys -> bytes, numpy.core globals)."""
    images, labels = _cifar(2)
    payload = {b"batch_label": b"x", b"labels": labels.tolist(), b"data": images.reshape(2, 3072)}
    data = pickle.dumps(payload, protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert formats.read_cifar_batch(data, "data_batch_1", "train").images.shape == (2, 3, 32, 32)


def test_cifar_corrupt_pickle() -> None:
    images, labels = _cifar()
    data = formats.write_cifar_batch(images, labels, batch_label="b")
    with pytest.raises(FormatError, match="data_batch_1: corrupt CIFAR-10 pickle"):
        formats.read_cifar_batch(data[: len(data) // 2], "data_batch_1", "train")
    with pytest.raises(FormatError, match="corrupt CIFAR-10 pickle"):
        formats.read_cifar_batch(b"not a pickle at all", "data_batch_1", "train")


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("touch /tmp/vision-pwned",))


def test_cifar_unpickler_refuses_code(tmp_path: object) -> None:
    data = pickle.dumps({b"data": _Evil(), b"labels": []}, protocol=2)
    with pytest.raises(FormatError, match=r"refusing to unpickle (posix|os)\.system"):
        formats.read_cifar_batch(data, "data_batch_1", "train")
    assert not os.path.exists("/tmp/vision-pwned")
    builtins_payload = pickle.dumps({b"data": eval, b"labels": []}, protocol=2)
    with pytest.raises(FormatError, match=r"refusing to unpickle (__builtin__|builtins)\.eval"):
        formats.read_cifar_batch(builtins_payload, "data_batch_1", "train")


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ([1, 2, 3], "holds a list, not a dict"),
        ({b"labels": [1]}, "missing keys"),
        ({b"data": np.zeros((2, 3072), dtype=np.float32), b"labels": [0, 1]}, "uint8 array of shape"),
        ({b"data": np.zeros((2, 100), dtype=np.uint8), b"labels": [0, 1]}, "uint8 array of shape"),
        ({b"data": np.zeros((2, 3072), dtype=np.uint8), b"labels": [0]}, "label/image count mismatch"),
        ({b"data": np.zeros((2, 3072), dtype=np.uint8), b"labels": ["a", "b"]}, "list of integers"),
    ],
)
def test_cifar_wrong_structure(payload: object, message: str) -> None:
    with pytest.raises(FormatError, match=message):
        formats.read_cifar_batch(pickle.dumps(payload, protocol=2), "data_batch_1", "train")


def test_read_delivery_mnist_and_missing_file() -> None:
    from spark_jobs.vision.generator import generate_files

    files = generate_files("mnist", 30, seed=3)
    batches = formats.read_delivery("mnist", files)
    assert [b.batch.source_split for b in batches] == ["train", "test"]
    assert sum(len(b.batch.labels) for b in batches) == 30
    del files["t10k-labels-idx1-ubyte.gz"]
    with pytest.raises(FormatError, match="MNIST delivery is incomplete: t10k-labels-idx1-ubyte"):
        formats.read_delivery("mnist", files)


def test_read_delivery_test_files_are_optional() -> None:
    """Only MNIST's two training IDX files, or only CIFAR-10's data batches: every image is a training-file
    image (the Gold job draws the test split by hash); the training files themselves stay required."""
    from spark_jobs.vision.generator import generate_files

    mnist = generate_files("mnist", 30, seed=3)
    only_train = {k: v for k, v in mnist.items() if k.startswith("train-")}
    (batch,) = formats.read_delivery("mnist", only_train)
    assert batch.batch.source_split == "train" and len(batch.batch.labels) == 24
    with pytest.raises(FormatError, match="MNIST delivery is incomplete: train-labels-idx1-ubyte"):
        formats.read_delivery("mnist", {k: v for k, v in mnist.items() if k != "train-labels-idx1-ubyte.gz"})
    cifar = generate_files("cifar10", 20, seed=3)
    assert len(formats.read_delivery("cifar10", cifar)) == 6
    batches_only = {k: v for k, v in cifar.items() if "data_batch_" in k}
    read = formats.read_delivery("cifar10", batches_only)
    assert len(read) == 5 and {b.batch.source_split for b in read} == {"train"}
    assert all(b.companion_files == () for b in read)
    with pytest.raises(FormatError, match=r"CIFAR-10 delivery is incomplete: need at least one of data_batch_1\.\.5"):
        formats.read_delivery("cifar10", {k: v for k, v in cifar.items() if "data_batch_" not in k})
    bad_meta = {**cifar, "cifar-10-batches-py/batches.meta": formats.write_cifar_meta(("a", "b"), 4)}
    with pytest.raises(FormatError, match="2 label names, expected 10"):
        formats.read_delivery("cifar10", bad_meta)


def test_gzip_detected_by_content_not_name() -> None:
    data = gzip.compress(formats.write_idx(np.zeros(3, dtype=np.uint8)))
    assert formats.read_idx(data, "labels-without-gz-suffix").shape == (3,)
