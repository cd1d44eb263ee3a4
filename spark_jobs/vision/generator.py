"""Deterministic MNIST / CIFAR-10 look-alikes in the official file formats or as PNG image folders
(tests and the demo).

MNIST-like images are seven-segment digits drawn with random shift, stroke width, intensity and
noise; CIFAR-like images are class-specific colour pairs and stripe orientations with jitter and
noise. Both are learnable by a small CNN but not trivially separable by one pixel. Same arguments,
same bytes: the seed fixes everything, IDX gzip uses a fixed mtime.
Also: scikit-learn's real 8x8 digits written as MNIST IDX (upscaled to 28x28) for the accuracy check.
"""

from __future__ import annotations

import numpy as np

from lakehouse import storage
from lakehouse.errors import LakehouseError
from lakehouse.settings import LakehouseSettings
from spark_jobs.vision import formats

# Seven-segment layout: a top, b upper-right, c lower-right, d bottom, e lower-left, f upper-left, g middle.
_SEGMENTS = {0: "abcdef", 1: "bc", 2: "abged", 3: "abgcd", 4: "fgbc", 5: "afgcd", 6: "afgedc", 7: "abc",
             8: "abcdefg", 9: "abcdfg"}


def _split_labels(n: int, test_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    if n < 1:
        raise LakehouseError("--n must be at least 1")
    if not 0.0 <= test_fraction < 1.0:
        raise LakehouseError("--test-fraction must be in [0, 1)")
    labels = rng.permutation(np.arange(n) % 10)
    n_test = round(n * test_fraction)
    return labels, n_test


def mnist_like(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 ``(N, 28, 28)`` seven-segment digits for ``labels``."""
    n = len(labels)
    out = np.zeros((n, 28, 28), dtype=np.float32)
    for i, label in enumerate(labels):
        img = out[i]
        top, left = 4 + rng.integers(-2, 3), 8 + rng.integers(-3, 4)
        h, w = 20 + rng.integers(-2, 2), 12 + rng.integers(-2, 3)
        t = int(rng.integers(2, 4))
        mid = top + h // 2
        boxes = {
            "a": (top, top + t, left, left + w), "d": (top + h - t, top + h, left, left + w),
            "g": (mid - t // 2, mid - t // 2 + t, left, left + w),
            "f": (top, mid, left, left + t), "e": (mid, top + h, left, left + t),
            "b": (top, mid, left + w - t, left + w), "c": (mid, top + h, left + w - t, left + w),
        }
        for seg in _SEGMENTS[int(label)]:
            r0, r1, c0, c1 = boxes[seg]
            img[max(r0, 0):min(r1, 28), max(c0, 0):min(c1, 28)] = rng.uniform(0.7, 1.0)
    out += rng.normal(0.0, 0.08, size=out.shape).astype(np.float32)
    return (np.clip(out, 0.0, 1.0) * 255).astype(np.uint8)


_PALETTE = np.array([[0.2, 0.4, 0.9], [0.9, 0.1, 0.1], [0.3, 0.8, 0.3], [0.9, 0.6, 0.2], [0.5, 0.4, 0.2],
                     [0.7, 0.5, 0.4], [0.2, 0.7, 0.4], [0.6, 0.3, 0.2], [0.1, 0.3, 0.6], [0.8, 0.8, 0.1]],
                    dtype=np.float32)


def cifar_like(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 ``(N, 3, 32, 32)``: class colour + class stripe angle/frequency, jitter and noise."""
    n = len(labels)
    yy, xx = np.mgrid[0:32, 0:32].astype(np.float32) / 32.0
    out = np.empty((n, 3, 32, 32), dtype=np.float32)
    for i, label in enumerate(labels):
        k = int(label)
        angle = np.pi * k / 10 + rng.normal(0, 0.08)
        freq = 2.0 + (k % 4) + rng.normal(0, 0.2)
        phase = rng.uniform(0, 2 * np.pi)
        wave = 0.5 + 0.5 * np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)) + phase)
        colour = np.clip(_PALETTE[k] + rng.normal(0, 0.1, 3), 0, 1)
        background = np.clip(_PALETTE[(k + 5) % 10] * 0.5 + rng.normal(0, 0.1, 3), 0, 1)
        img = colour[:, None, None] * wave[None] + background[:, None, None] * (1 - wave[None])
        if rng.random() < 0.5:
            img = img[:, :, ::-1]
        out[i] = img
    out += rng.normal(0.0, 0.06, size=out.shape).astype(np.float32)
    return (np.clip(out, 0.0, 1.0) * 255).astype(np.uint8)


def png_folder_files(images: np.ndarray, labels: np.ndarray, split: str, *, start: int = 0) -> dict[str, bytes]:
    """``png/<split>/<label>/<index>.png`` files of uint8 ``(N, C, H, W)`` images."""
    return {f"{formats.PNG_DIR}/{split}/{int(label)}/{start + i:06d}.png": formats.write_png(image)
            for i, (image, label) in enumerate(zip(images, labels, strict=True))}


def generate_files(dataset: str, n: int, *, seed: int = 0, test_fraction: float = 0.2,
                   gzip_idx: bool = True, image_format: str = "official") -> dict[str, bytes]:
    """``{relative file name: bytes}`` of a delivery of ``n`` images, exactly as the archives ship it
    (``image_format="official"``) or as ``png/<split>/<class>/`` image folders (``"png"``)."""
    formats.dataset_spec(dataset)
    if image_format not in ("official", "png"):
        raise LakehouseError(f"unknown image format {image_format!r}: choose official or png")
    rng = np.random.default_rng([seed, 0 if dataset == "mnist" else 1])
    labels, n_test = _split_labels(n, test_fraction, rng)
    train_labels, test_labels = labels[: n - n_test], labels[n - n_test :]
    if image_format == "png":
        images = mnist_like(labels, rng)[:, None] if dataset == "mnist" else cifar_like(labels, rng)
        return {**png_folder_files(images[: n - n_test], train_labels, "train"),
                **png_folder_files(images[n - n_test :], test_labels, "test", start=n - n_test)}
    if dataset == "mnist":
        files: dict[str, bytes] = {}
        suffix = ".gz" if gzip_idx else ""
        for split, split_labels in (("train", train_labels), ("test", test_labels)):
            images_name, labels_name = formats.MNIST_FILES[split]
            files[images_name + suffix] = formats.write_idx(mnist_like(split_labels, rng), gzipped=gzip_idx)
            files[labels_name + suffix] = formats.write_idx(split_labels.astype(np.uint8), gzipped=gzip_idx)
        return files
    images = cifar_like(labels, rng)
    train_images, test_images = images[: n - n_test], images[n - n_test :]
    prefix = formats.CIFAR_DIR + "/"
    files = {}
    chunks = np.array_split(np.arange(len(train_images)), len(formats.CIFAR_TRAIN_BATCHES))
    for number, (name, idx) in enumerate(zip(formats.CIFAR_TRAIN_BATCHES, chunks, strict=True), start=1):
        files[prefix + name] = formats.write_cifar_batch(train_images[idx], train_labels[idx],
                                                         batch_label=f"training batch {number} of 5")
    files[prefix + formats.CIFAR_TEST_BATCH] = formats.write_cifar_batch(test_images, test_labels,
                                                                         batch_label="testing batch 1 of 1")
    files[prefix + formats.CIFAR_META] = formats.write_cifar_meta(formats.DATASETS["cifar10"].class_names,
                                                                  max(1, len(chunks[0])))
    return files


def cifar_archive_files(n: int, *, seed: int = 0, test_fraction: float = 0.2, version: str = "python"
                        ) -> dict[str, bytes]:
    """``{archive name: bytes}``: ``n`` CIFAR-10 images as the published tarball of ``version``
    (``python``: ``cifar-10-python.tar.gz`` with pickled batches; ``binary``: ``cifar-10-binary.tar.gz``
    with ``.bin`` records), each with its ``readme.html``, same images as :func:`generate_files`."""
    if version not in ("python", "binary"):
        raise LakehouseError(f"unknown CIFAR-10 version {version!r}: choose python or binary")
    loose = generate_files("cifar10", n, seed=seed, test_fraction=test_fraction)
    readme = b"<html><body>CIFAR-10 (generated by lakehouse generate cifar-archive)</body></html>\n"
    if version == "python":
        return {"cifar-10-python.tar.gz": formats.write_cifar_archive(
            {**loose, f"{formats.CIFAR_DIR}/readme.html": readme})}
    members = {f"{formats.CIFAR_BIN_DIR}/readme.html": readme,
               f"{formats.CIFAR_BIN_DIR}/{formats.CIFAR_BIN_META}":
                   ("\n".join(formats.DATASETS["cifar10"].class_names) + "\n\n").encode()}
    for base, bin_name in [*zip(formats.CIFAR_TRAIN_BATCHES, formats.CIFAR_BIN_TRAIN_BATCHES, strict=True),
                           (formats.CIFAR_TEST_BATCH, formats.CIFAR_BIN_TEST_BATCH)]:
        batch = formats.read_cifar_batch(loose[f"{formats.CIFAR_DIR}/{base}"], base, "unknown")
        members[f"{formats.CIFAR_BIN_DIR}/{bin_name}"] = formats.write_cifar_bin_batch(batch.images, batch.labels)
    return {"cifar-10-binary.tar.gz": formats.write_cifar_archive(members)}


def digits_files(*, test_fraction: float = 0.2, seed: int = 0) -> dict[str, bytes]:
    """scikit-learn's real 8x8 handwritten digits as an MNIST IDX delivery (upscaled 3x, padded to 28x28)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.clip(digits.images * (255.0 / 16.0), 0, 255).astype(np.uint8)  # (1797, 8, 8), values 0..16
    images = np.kron(images, np.ones((1, 3, 3), dtype=np.uint8))  # nearest-neighbour 24x24
    images = np.pad(images, ((0, 0), (2, 2), (2, 2)))
    labels = digits.target.astype(np.uint8)
    order = np.random.default_rng(seed).permutation(len(labels))
    n_test = round(len(labels) * test_fraction)
    test, train = order[:n_test], order[n_test:]
    files = {}
    for split, idx in (("train", train), ("test", test)):
        images_name, labels_name = formats.MNIST_FILES[split]
        files[images_name] = formats.write_idx(images[idx])
        files[labels_name] = formats.write_idx(labels[idx])
    return files


def write_files(settings: LakehouseSettings, dest_uri: str, files: dict[str, bytes], *,
                replace: bool = True) -> list[str]:
    """Write ``files`` under ``dest_uri`` (local or S3) byte for byte, first removing what was there when
    ``replace`` (a delivery is a whole set of files: stale gzipped and plain copies must not mix).
    Returns the URIs."""
    import pyarrow.fs as pafs

    written = []
    fs, base = storage.filesystem(settings, dest_uri)
    if replace and fs.get_file_info(base).type == pafs.FileType.Directory:
        fs.delete_dir_contents(base)
    for name, data in sorted(files.items()):
        uri = storage.join(storage.to_uri(dest_uri), name)
        storage.write_bytes(settings, uri, data)  # exactly these bytes: a .gz name is not gzipped again
        written.append(uri)
    return written


def generate_to_landing(settings: LakehouseSettings, dataset: str, n: int, *, seed: int = 0,
                        test_fraction: float = 0.2, gzip_idx: bool = True, dest: str | None = None,
                        image_format: str = "official") -> list[str]:
    """Generate a delivery and write it to the dataset's landing directory (or ``dest``)."""
    from spark_jobs.vision.io import landing_dir

    files = generate_files(dataset, n, seed=seed, test_fraction=test_fraction, gzip_idx=gzip_idx,
                           image_format=image_format)
    return write_files(settings, dest or landing_dir(settings, dataset), files)
