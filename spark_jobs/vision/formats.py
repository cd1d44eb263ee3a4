"""MNIST IDX, CIFAR-10 python-pickle batches and per-image PNG folders: strict readers and writers
(pure, bytes in / bytes out).

Readers refuse anything that is not exactly the official layout, with a message that names the file
and what is wrong (wrong magic number, truncated data, trailing bytes, label/image count mismatch,
corrupt or foreign pickle). CIFAR-10 batches are unpickled with a restricted unpickler that only
resolves the few numpy globals an ndarray needs, so a crafted pickle can never run code.
Per-image problems (a label out of range, a PNG that does not decode) are not delivery errors: they
are left to the silver validation, which quarantines the image and keeps the rest.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import pickle
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from lakehouse.errors import LakehouseError


class FormatError(LakehouseError):
    """A delivered file does not match its official format."""


@dataclass(frozen=True)
class DatasetSpec:
    """Shape and classes every image of a dataset must have."""

    name: str
    height: int
    width: int
    channels: int
    num_classes: int
    class_names: tuple[str, ...]


DATASETS: dict[str, DatasetSpec] = {
    "mnist": DatasetSpec("mnist", 28, 28, 1, 10, tuple(str(d) for d in range(10))),
    "cifar10": DatasetSpec("cifar10", 32, 32, 3, 10, ("airplane", "automobile", "bird", "cat", "deer", "dog",
                                                     "frog", "horse", "ship", "truck")),
}


def dataset_spec(name: str) -> DatasetSpec:
    """The spec of a dataset name, or a readable error."""
    try:
        return DATASETS[name]
    except KeyError:
        raise LakehouseError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}") from None


@dataclass(frozen=True)
class ImageBatch:
    """Images of one delivered file: uint8 ``(N, C, H, W)`` plus integer labels ``(N,)``."""

    images: np.ndarray
    labels: np.ndarray
    source_split: str


# ---- MNIST IDX ---------------------------------------------------------------------------------
IDX_IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension
_IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"

# Official file names (each may also be delivered gzipped, with a .gz suffix).
MNIST_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CIFAR_DIR = "cifar-10-batches-py"
CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCH = "test_batch"
CIFAR_META = "batches.meta"


def maybe_gunzip(data: bytes, name: str) -> bytes:
    """Decompress gzip data (detected by its magic bytes, not the file name)."""
    if not data.startswith(GZIP_MAGIC):
        return data
    try:
        return gzip.decompress(data)
    except (EOFError, OSError, zlib.error) as exc:
        raise FormatError(f"{name}: corrupt or truncated gzip data ({exc})") from None


def parse_idx(data: bytes, name: str, *, magic: int | None = None) -> np.ndarray:
    """Parse an (uncompressed) IDX file; ``magic`` pins the expected type and dimension count."""
    if len(data) < 4:
        raise FormatError(f"{name}: truncated IDX file: {len(data)} bytes, shorter than the 4-byte magic number")
    found = struct.unpack(">I", data[:4])[0]
    if magic is not None and found != magic:
        raise FormatError(f"{name}: wrong magic number 0x{found:08x}, expected 0x{magic:08x}")
    if data[0] != 0 or data[1] != 0 or data[2] not in _IDX_TYPES or data[3] == 0:
        raise FormatError(f"{name}: wrong magic number 0x{found:08x}: not an IDX file")
    dtype, ndim = _IDX_TYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise FormatError(f"{name}: truncated IDX header: {len(data)} bytes, expected at least {header}")
    dims = struct.unpack(">" + "I" * ndim, data[4:header])
    count = int(np.prod(dims, dtype=np.int64))
    expected = header + count * dtype.itemsize
    if len(data) < expected:
        raise FormatError(f"{name}: truncated IDX file: {len(data)} bytes, expected {expected} for shape {dims}")
    if len(data) > expected:
        raise FormatError(f"{name}: {len(data) - expected} unexpected trailing bytes after the IDX data "
                          f"(shape {dims})")
    return np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(dims)


def read_idx(data: bytes, name: str, *, magic: int | None = None) -> np.ndarray:
    """Read an IDX file, gzipped or not."""
    return parse_idx(maybe_gunzip(data, name), name, magic=magic)


def read_idx_images(data: bytes, name: str) -> np.ndarray:
    """MNIST images file -> uint8 ``(N, 1, H, W)``."""
    return read_idx(data, name, magic=IDX_IMAGES_MAGIC)[:, None, :, :]


def read_mnist(images: bytes, labels: bytes, images_name: str, labels_name: str, split: str) -> ImageBatch:
    """An MNIST images/labels file pair -> ImageBatch (counts must match)."""
    pixels = read_idx_images(images, images_name)
    label_values = read_idx(labels, labels_name, magic=IDX_LABELS_MAGIC)
    if len(pixels) != len(label_values):
        raise FormatError(f"label/image count mismatch: {images_name} has {len(pixels)} images but "
                          f"{labels_name} has {len(label_values)} labels")
    return ImageBatch(pixels, label_values.astype(np.int64), split)


def write_idx(array: np.ndarray, *, gzipped: bool = False) -> bytes:
    """Serialise a uint8 array as IDX (gzip with a fixed mtime, so equal arrays give equal bytes)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape)
    raw = header + array.tobytes()
    return gzip.compress(raw, mtime=0) if gzipped else raw


# ---- CIFAR-10 python pickles -----------------------------------------------------------------
# The only globals an official batch (or one written by numpy 1.x / 2.x) needs.
_ALLOWED_GLOBALS = frozenset({
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
})
MAX_PICKLE_BYTES = 512 * 1024 * 1024


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """The one use of ``_codecs.encode`` in protocol-2 pickles: bytes stored as latin-1 text."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise FormatError("refusing _codecs.encode with anything but a latin-1 string")
    return text.encode("latin1")


class _CifarUnpickler(pickle.Unpickler):
    """Resolves only the numpy globals of a CIFAR batch; everything else is refused."""

    def __init__(self, data: bytes, name: str) -> None:
        super().__init__(io.BytesIO(data), encoding="bytes")
        self._name = name

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        if (module, name) == ("_codecs", "encode"):  # how Python 3 writes bytes at protocol 2
            return _latin1_encode
        raise FormatError(f"{self._name}: refusing to unpickle {module}.{name}: only the CIFAR-10 batch "
                          "structure (dict, lists, numpy uint8 array) is allowed")

    def persistent_load(self, pid: object) -> object:
        raise FormatError(f"{self._name}: refusing a persistent id in the pickle: not a CIFAR-10 batch")


def load_cifar_pickle(data: bytes, name: str) -> dict[str, object]:
    """Unpickle a CIFAR-10 file with the restricted unpickler; keys become ``str``."""
    if len(data) > MAX_PICKLE_BYTES:
        raise FormatError(f"{name}: {len(data)} bytes is too large for a CIFAR-10 batch")
    try:
        obj = _CifarUnpickler(data, name).load()
    except FormatError:
        raise
    except Exception as exc:  # any unpickling failure means a corrupt file
        raise FormatError(f"{name}: corrupt CIFAR-10 pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(obj, dict):
        raise FormatError(f"{name}: not a CIFAR-10 batch: the pickle holds a {type(obj).__name__}, not a dict")
    return {(k.decode("latin1") if isinstance(k, bytes) else str(k)): v for k, v in obj.items()}


def read_cifar_batch(data: bytes, name: str, split: str) -> ImageBatch:
    """A CIFAR-10 batch (``data_batch_N`` / ``test_batch``) -> ImageBatch ``(N, 3, 32, 32)``."""
    batch = load_cifar_pickle(data, name)
    missing = [k for k in ("data", "labels") if k not in batch]
    if missing:
        raise FormatError(f"{name}: not a CIFAR-10 batch: missing keys {missing}")
    pixels, labels = batch["data"], batch["labels"]
    if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.ndim != 2 or pixels.shape[1] != 3072:
        shape = getattr(pixels, "shape", None)
        dtype = getattr(pixels, "dtype", type(pixels).__name__)
        raise FormatError(f"{name}: CIFAR-10 'data' must be a uint8 array of shape (N, 3072), got {dtype} {shape}")
    if not isinstance(labels, list | np.ndarray) or not all(isinstance(v, int | np.integer) for v in labels):
        raise FormatError(f"{name}: CIFAR-10 'labels' must be a list of integers")
    if len(labels) != len(pixels):
        raise FormatError(f"label/image count mismatch in {name}: {len(pixels)} images but {len(labels)} labels")
    return ImageBatch(pixels.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64), split)


def read_cifar_images(data: bytes, name: str) -> np.ndarray:
    """Images of a CIFAR-10 batch as uint8 ``(N, 3, 32, 32)``."""
    return read_cifar_batch(data, name, "unknown").images


def read_cifar_meta(data: bytes, name: str) -> list[str]:
    """``batches.meta`` -> the class names."""
    meta = load_cifar_pickle(data, name)
    names = meta.get("label_names")
    if not isinstance(names, list) or not all(isinstance(n, bytes | str) for n in names):
        raise FormatError(f"{name}: not a CIFAR-10 meta file: 'label_names' must be a list of strings")
    return [n.decode("latin1") if isinstance(n, bytes) else n for n in names]


def write_cifar_batch(images: np.ndarray, labels: np.ndarray, *, batch_label: str,
                      filenames: list[str] | None = None) -> bytes:
    """Serialise ``(N, 3, 32, 32)`` uint8 images as an official-layout batch (bytes keys, protocol 2)."""
    images = np.ascontiguousarray(images, dtype=np.uint8)
    if images.ndim != 4 or images.shape[1:] != (3, 32, 32):
        raise ValueError(f"CIFAR-10 images must be (N, 3, 32, 32), got {images.shape}")
    names = filenames or [f"image_{i:06d}.png" for i in range(len(images))]
    batch = {
        b"batch_label": batch_label.encode(),
        b"labels": [int(v) for v in labels],
        b"data": images.reshape(len(images), 3072),
        b"filenames": [n.encode() for n in names],
    }
    return pickle.dumps(batch, protocol=2)


def write_cifar_meta(label_names: tuple[str, ...], num_cases_per_batch: int) -> bytes:
    """Serialise ``batches.meta``."""
    meta = {b"label_names": [n.encode() for n in label_names], b"num_cases_per_batch": int(num_cases_per_batch),
            b"num_vis": 3072}
    return pickle.dumps(meta, protocol=2)


# ---- a delivery: the set of files of one dataset --------------------------------------------
@dataclass(frozen=True)
class DeliveredBatch:
    """One file that holds pixels, read: which file, its format and the images + labels."""

    file_name: str
    source_format: str
    batch: ImageBatch
    companion_files: tuple[str, ...] = ()


def source_format_of(dataset: str, data: bytes) -> str:
    """``idx``, ``idx.gz`` or ``cifar-pickle`` (how the silver job decodes the file again)."""
    if dataset == "cifar10":
        return "cifar-pickle"
    return "idx.gz" if data.startswith(GZIP_MAGIC) else "idx"


def decode_images(source_format: str, data: bytes, name: str) -> np.ndarray:
    """Pixels of one delivered file in the given format, uint8 ``(N, C, H, W)``."""
    if source_format in ("idx", "idx.gz"):
        return read_idx_images(data, name)
    if source_format == "cifar-pickle":
        return read_cifar_images(data, name)
    if source_format == "png":
        return decode_png(data, name)[None]
    raise FormatError(f"{name}: unknown source format {source_format!r}")


def _find(files: Mapping[str, bytes], base: str) -> str | None:
    for candidate in (base, base + ".gz", f"{CIFAR_DIR}/{base}"):
        if candidate in files:
            return candidate
    return None


def expected_files(dataset: str) -> list[str]:
    """The official file names of a dataset, for messages."""
    if dataset == "mnist":
        return [f"{name}[.gz]" for pair in MNIST_FILES.values() for name in pair] + ["or png/<split>/<class>/*.png"]
    return [*CIFAR_TRAIN_BATCHES, CIFAR_TEST_BATCH, CIFAR_META, "or png/<split>/<class>/*.png"]


def read_delivery(dataset: str, files: Mapping[str, bytes]) -> list[DeliveredBatch]:
    """Read every pixel file of a delivery (``{relative name: bytes}``); fail on the first bad file.

    MNIST needs all four IDX files; CIFAR-10 needs ``batches.meta``, ``test_batch`` and at least one
    ``data_batch_N`` (the official archive has five). A delivery of only a ``png/`` folder has no
    official files (empty result); its images are read by :func:`read_png_delivery`.
    """
    dataset_spec(dataset)
    if not any(_find(files, base) for base in _official_bases(dataset)) and png_files(files):
        return []  # a PNG-folder delivery only (read_png_delivery)
    out: list[DeliveredBatch] = []
    if dataset == "mnist":
        for split, (images_base, labels_base) in MNIST_FILES.items():
            images_name, labels_name = _find(files, images_base), _find(files, labels_base)
            if images_name is None or labels_name is None:
                missing = images_base if images_name is None else labels_base
                raise FormatError(f"MNIST delivery is incomplete: {missing}[.gz] not found "
                                  f"(expected {', '.join(expected_files(dataset))})")
            batch = read_mnist(files[images_name], files[labels_name], images_name, labels_name, split)
            out.append(DeliveredBatch(images_name, source_format_of(dataset, files[images_name]), batch,
                                      (labels_name,)))
        return out
    meta_name = _find(files, CIFAR_META)
    test_name = _find(files, CIFAR_TEST_BATCH)
    train_names = [n for n in (_find(files, b) for b in CIFAR_TRAIN_BATCHES) if n is not None]
    if meta_name is None or test_name is None or not train_names:
        raise FormatError("CIFAR-10 delivery is incomplete: need batches.meta, test_batch and data_batch_1..5, "
                          f"or only png/<split>/<class>/*.png (found {', '.join(sorted(files)) or 'nothing'})")
    names = read_cifar_meta(files[meta_name], meta_name)
    if len(names) != DATASETS["cifar10"].num_classes:
        raise FormatError(f"{meta_name}: {len(names)} label names, expected 10")
    for name in [*train_names, test_name]:
        split = "test" if name == test_name else "train"
        out.append(DeliveredBatch(name, "cifar-pickle", read_cifar_batch(files[name], name, split), (meta_name,)))
    return out


def _official_bases(dataset: str) -> list[str]:
    if dataset == "mnist":
        return [name for pair in MNIST_FILES.values() for name in pair]
    return [*CIFAR_TRAIN_BATCHES, CIFAR_TEST_BATCH, CIFAR_META]


# ---- per-image PNG folders ----------------------------------------------------------------------
# Layout: png/<split>/<class>/<file>.png, the way MNIST and CIFAR-10 are also passed around as image
# folders (split "training"/"testing" accepted; class = index or CIFAR-10 class name).
PNG_DIR = "png"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PNG_SPLITS = {"train": "train", "training": "train", "test": "test", "testing": "test"}
MAX_PNG_PIXELS = 1 << 20  # far above any dataset image; refuses decompression bombs before decoding
_PNG_MODES = {"L": 1, "RGB": 3}


def decode_png(data: bytes, name: str) -> np.ndarray:
    """One PNG image -> uint8 ``(C, H, W)`` (greyscale: 1 channel, RGB: 3), or a FormatError saying why not."""
    from PIL import Image, UnidentifiedImageError

    if not data.startswith(PNG_MAGIC):
        raise FormatError(f"{name}: not a PNG file (wrong signature)")
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            width, height = image.size
            if width * height > MAX_PNG_PIXELS:
                raise FormatError(f"{name}: PNG of {width}x{height} pixels is larger than any dataset image")
            if image.mode not in _PNG_MODES:
                raise FormatError(f"{name}: unsupported PNG mode {image.mode!r} (expected greyscale L or RGB)")
            image.load()
            pixels = np.asarray(image, dtype=np.uint8)
    except FormatError:
        raise
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise FormatError(f"{name}: PNG does not decode ({type(exc).__name__}: {exc})") from None
    return pixels[None] if pixels.ndim == 2 else np.ascontiguousarray(pixels.transpose(2, 0, 1))


def write_png(pixels: np.ndarray) -> bytes:
    """uint8 ``(C, H, W)`` (C = 1 or 3) -> PNG bytes (same pixels, same bytes)."""
    from PIL import Image

    pixels = np.ascontiguousarray(pixels, dtype=np.uint8)
    if pixels.ndim != 3 or pixels.shape[0] not in (1, 3):
        raise ValueError(f"PNG pixels must be (1|3, H, W), got {pixels.shape}")
    image = Image.fromarray(pixels[0] if pixels.shape[0] == 1 else pixels.transpose(1, 2, 0))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()


def png_files(files: Mapping[str, bytes]) -> list[str]:
    """Names of a delivery that lie in its ``png/`` folder."""
    return sorted(name for name in files if name.startswith(PNG_DIR + "/"))


@dataclass(frozen=True)
class DeliveredImage:
    """One PNG of a delivery: split and label from its folders; pixels, or why they do not decode."""

    file_name: str
    source_split: str
    label: int
    file_sha256: str
    pixels: np.ndarray | None
    decode_error: str | None


def _png_label(dataset: str, folder: str) -> int | None:
    spec = dataset_spec(dataset)
    if folder.isdigit():
        return int(folder) if int(folder) < spec.num_classes else None
    return spec.class_names.index(folder) if folder in spec.class_names else None


def read_png_delivery(dataset: str, files: Mapping[str, bytes]) -> list[DeliveredImage]:
    """Every PNG of a delivery's ``png/<split>/<class>/`` folders, decoded.

    Misplaced files (wrong depth, unknown split or class folder, not ``.png``) are a delivery error
    that names them: nothing is landed. A PNG that does not decode is kept with its reason, for silver
    to quarantine.
    """
    spec = dataset_spec(dataset)
    out: list[DeliveredImage] = []
    misplaced: list[str] = []
    for name in png_files(files):
        parts = name.split("/")
        label = _png_label(dataset, parts[2]) if len(parts) == 4 else None
        if len(parts) != 4 or parts[1] not in PNG_SPLITS or label is None or not parts[3].lower().endswith(".png"):
            misplaced.append(name)
            continue
        data = files[name]
        try:
            pixels, error = decode_png(data, name), None
        except FormatError as exc:
            pixels, error = None, str(exc)
        out.append(DeliveredImage(name, PNG_SPLITS[parts[1]], label, hashlib.sha256(data).hexdigest(), pixels, error))
    if misplaced:
        shown = ", ".join(misplaced[:5]) + (f" and {len(misplaced) - 5} more" if len(misplaced) > 5 else "")
        raise FormatError(f"{len(misplaced)} file(s) not in png/<train|test>/<class>/<name>.png with a "
                          f"{spec.name} class (0..{spec.num_classes - 1}"
                          f"{' or a class name' if spec.name == 'cifar10' else ''}): {shown}")
    return out
