"""MNIST IDX, CIFAR-10 python-pickle and binary batches, the published CIFAR-10 tarballs and per-image
PNG folders: strict readers and writers (pure, bytes in / bytes out).

Readers refuse anything that is not exactly the official layout, with a message that names the file
and what is wrong (wrong magic number, truncated data, trailing bytes, label/image count mismatch,
corrupt or foreign pickle). CIFAR-10 batches are unpickled with a restricted unpickler that only
resolves the few numpy globals an ndarray needs, so a crafted pickle can never run code.
A small file can never make a reader allocate much: every size a file declares (IDX header dimensions,
pickle string lengths and memo indices, numpy array shapes) is checked against the bytes actually
present and against ``ReadLimits`` (``settings.vision``) before anything is allocated, gzip is inflated
only as far as the IDX header declares, and numpy arrays are views of the file's own bytes.
The published tarballs (``cifar-10-python.tar.gz``, ``cifar-10-binary.tar.gz``) are read as a stream in
memory (:func:`unpack_archive`), never extracted to disk: member names are untrusted, so a member is
only ever looked up in the table of official names (``cifar-10-batches-py/data_batch_1``, ...) and
kept under that official name; anything else (links, devices, absolute or ``..`` paths, unknown or
duplicate names, a member over ``max_file_bytes``) refuses the archive with one line naming it.
Per-image problems (a label out of range, a PNG that does not decode) are not delivery errors: they
are left to the silver validation, which quarantines the image and keeps the rest.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import math
import pickle
import pickletools
import struct
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from lakehouse.errors import LakehouseError
from schemas.vision import DATASETS, DatasetSpec

if TYPE_CHECKING:
    from lakehouse.settings import VisionSettings


class FormatError(LakehouseError):
    """A delivered file does not match its official format."""


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


# ---- limits ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ReadLimits:
    """Caps every reader checks against a file's declared sizes before allocating or decompressing.

    ``max_images_per_file``: images (records) one file may declare; ``max_file_bytes``: bytes a file
    may have, delivered or decompressed. Defaults lie above the official archives (60,000 MNIST
    training images in 47 MB; 10,000 images in a 31 MB CIFAR-10 batch); the pipeline takes them from
    ``settings.vision`` (:meth:`from_settings`).
    """

    max_images_per_file: int = 100_000
    max_file_bytes: int = 256 * 1024 * 1024

    @classmethod
    def from_settings(cls, vision: VisionSettings) -> ReadLimits:
        """The caps configured in ``settings.vision``."""
        return cls(max_images_per_file=vision.max_images_per_file, max_file_bytes=vision.max_file_bytes)

    def check_file_size(self, size: int, name: str) -> None:
        """Refuse a file larger than ``max_file_bytes``."""
        if size > self.max_file_bytes:
            raise FormatError(f"{name}: {size} bytes, more than the limit of {self.max_file_bytes} bytes "
                              "(vision.max_file_bytes)")

    def check_count(self, count: int, name: str, what: str = "images") -> None:
        """Refuse a file that declares more than ``max_images_per_file`` images (or labels)."""
        if count > self.max_images_per_file:
            raise FormatError(f"{name}: declares {count} {what}, more than the limit of "
                              f"{self.max_images_per_file} per file (vision.max_images_per_file)")


DEFAULT_LIMITS = ReadLimits()


# ---- MNIST IDX ---------------------------------------------------------------------------------
IDX_IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension
_IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8"),
}
GZIP_MAGIC = b"\x1f\x8b"
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # gzip wrapper: zlib checks the CRC-32 and length trailer

# Official file names (each may also be delivered gzipped, with a .gz suffix).
MNIST_FILES: dict[str, tuple[str, str]] = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CIFAR_DIR = "cifar-10-batches-py"
CIFAR_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_TEST_BATCH = "test_batch"
CIFAR_META = "batches.meta"
# cifar-10-binary.tar.gz: records of 1 label byte + 3,072 pixel bytes (R, G, B planes, 32x32 each).
CIFAR_BIN_DIR = "cifar-10-batches-bin"
CIFAR_BIN_TRAIN_BATCHES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
CIFAR_BIN_TEST_BATCH = "test_batch.bin"
CIFAR_BIN_META = "batches.meta.txt"
CIFAR_BIN_RECORD = 1 + 3 * 32 * 32
# The published archives and the one folder each holds (``readme.html`` beside the batches is skipped).
CIFAR_ARCHIVES = {"cifar-10-python.tar.gz": CIFAR_DIR, "cifar-10-binary.tar.gz": CIFAR_BIN_DIR}
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
MAX_ARCHIVE_MEMBERS = 64  # the official archives hold 9 members and a folder


class _GzipStream:
    """Inflates gzip data on demand, never more than asked for: a small file whose stream would inflate
    to gigabytes costs only what is read. Concatenated members and trailing zero padding are read the
    way ``gzip.decompress`` reads them; anything else after the data is an error naming the file."""

    def __init__(self, data: bytes, name: str) -> None:
        self._name = name
        self._inflater = zlib.decompressobj(_GZIP_WBITS)
        self._pending = data

    def read(self, size: int) -> bytes:
        """Up to ``size`` decompressed bytes (fewer only at the end of the data)."""
        out = bytearray()
        try:
            while len(out) < size:
                if self._inflater.eof:
                    rest = self._inflater.unused_data
                    if not rest.strip(b"\x00"):
                        break
                    if not rest.startswith(GZIP_MAGIC):
                        raise FormatError(f"{self._name}: {len(rest)} unexpected bytes after the gzip data")
                    self._inflater, self._pending = zlib.decompressobj(_GZIP_WBITS), rest
                if not self._pending:
                    raise FormatError(f"{self._name}: corrupt or truncated gzip data (the stream ends before "
                                      "its end marker)")
                out += self._inflater.decompress(self._pending, size - len(out))
                self._pending = self._inflater.unconsumed_tail
        except zlib.error as exc:
            raise FormatError(f"{self._name}: corrupt or truncated gzip data ({exc})") from None
        return bytes(out)


def maybe_gunzip(data: bytes, name: str, *, limits: ReadLimits = DEFAULT_LIMITS) -> bytes:
    """Decompress gzip data (detected by its magic bytes, not the file name), at most
    ``limits.max_file_bytes`` of it."""
    limits.check_file_size(len(data), name)
    if not data.startswith(GZIP_MAGIC):
        return data
    stream = _GzipStream(data, name)
    out = stream.read(limits.max_file_bytes)
    if len(out) == limits.max_file_bytes and stream.read(1):
        raise FormatError(f"{name}: decompresses to more than the limit of {limits.max_file_bytes} bytes "
                          "(vision.max_file_bytes)")
    return out


@dataclass(frozen=True)
class _IdxLayout:
    dtype: np.dtype
    dims: tuple[int, ...]
    header: int
    size: int  # header + data bytes the header declares


def _idx_layout(head: bytes, name: str, magic: int | None, limits: ReadLimits) -> _IdxLayout:
    """What an IDX header declares, checked against the limits (exact integer arithmetic: no overflow)."""
    if len(head) < 4:
        raise FormatError(f"{name}: truncated IDX file: {len(head)} bytes, shorter than the 4-byte magic number")
    found = struct.unpack(">I", head[:4])[0]
    if magic is not None and found != magic:
        raise FormatError(f"{name}: wrong magic number 0x{found:08x}, expected 0x{magic:08x}")
    if head[0] != 0 or head[1] != 0 or head[2] not in _IDX_TYPES or head[3] == 0:
        raise FormatError(f"{name}: wrong magic number 0x{found:08x}: not an IDX file")
    dtype, ndim = _IDX_TYPES[head[2]], head[3]
    header = 4 + 4 * ndim
    if len(head) < header:
        raise FormatError(f"{name}: truncated IDX header: {len(head)} bytes, expected at least {header}")
    dims = struct.unpack(">" + "I" * ndim, head[4:header])
    limits.check_count(dims[0], name)
    size = header + math.prod(dims) * dtype.itemsize
    if size > limits.max_file_bytes:
        raise FormatError(f"{name}: declares shape {dims}, {size} bytes, more than the limit of "
                          f"{limits.max_file_bytes} bytes (vision.max_file_bytes)")
    return _IdxLayout(dtype, dims, header, size)


def parse_idx(data: bytes, name: str, *, magic: int | None = None,
              limits: ReadLimits = DEFAULT_LIMITS) -> np.ndarray:
    """Parse an (uncompressed) IDX file; ``magic`` pins the expected type and dimension count.

    The header's shape is checked against ``limits`` and against the bytes present before the
    array is built (a view of ``data``: nothing is allocated for the pixels).
    """
    limits.check_file_size(len(data), name)
    layout = _idx_layout(data[:1028], name, magic, limits)  # 1028 = the longest header (255 dims)
    if len(data) < layout.size:
        raise FormatError(f"{name}: truncated IDX file: {len(data)} bytes, expected {layout.size} for shape "
                          f"{layout.dims}")
    if len(data) > layout.size:
        raise FormatError(f"{name}: {len(data) - layout.size} unexpected trailing bytes after the IDX data "
                          f"(shape {layout.dims})")
    count = layout.size - layout.header
    return np.frombuffer(data, dtype=layout.dtype, count=count // layout.dtype.itemsize,
                         offset=layout.header).reshape(layout.dims)


def _gunzip_idx(data: bytes, name: str, magic: int | None, limits: ReadLimits) -> bytes:
    """The IDX bytes inside gzip ``data``: the header is inflated first and checked, then exactly the
    bytes it declares (one more reveals trailing data), so a gzip bomb is never inflated."""
    limits.check_file_size(len(data), name)
    stream = _GzipStream(data, name)
    head = stream.read(4)
    if len(head) == 4 and head[3]:
        head += stream.read(4 * head[3])
    layout = _idx_layout(head, name, magic, limits)
    body = stream.read(layout.size - len(head))
    if len(head) + len(body) == layout.size and stream.read(1):
        raise FormatError(f"{name}: unexpected trailing bytes after the IDX data (shape {layout.dims}): the gzip "
                          f"stream inflates past the {layout.size} bytes its header declares")
    return head + body


def read_idx(data: bytes, name: str, *, magic: int | None = None, limits: ReadLimits = DEFAULT_LIMITS) -> np.ndarray:
    """Read an IDX file, gzipped (detected by content) or not."""
    if data.startswith(GZIP_MAGIC):
        data = _gunzip_idx(data, name, magic, limits)
    return parse_idx(data, name, magic=magic, limits=limits)


def read_idx_images(data: bytes, name: str, *, limits: ReadLimits = DEFAULT_LIMITS) -> np.ndarray:
    """MNIST images file -> uint8 ``(N, 1, H, W)``."""
    return read_idx(data, name, magic=IDX_IMAGES_MAGIC, limits=limits)[:, None, :, :]


def read_mnist(images: bytes, labels: bytes, images_name: str, labels_name: str, split: str, *,
               limits: ReadLimits = DEFAULT_LIMITS) -> ImageBatch:
    """An MNIST images/labels file pair -> ImageBatch (counts must match)."""
    pixels = read_idx_images(images, images_name, limits=limits)
    label_values = read_idx(labels, labels_name, magic=IDX_LABELS_MAGIC, limits=limits)
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
# The numpy globals an official batch (or one written by numpy 1.x / 2.x) names. None of them is
# handed to the unpickler: each resolves to a stand-in below that builds the value from the bytes
# present in the file (np.frombuffer) after checking the declared shape and type against them.
_NUMPY_MODULES = ("numpy.core.multiarray", "numpy._core.multiarray")
# Opcodes of pickles of dicts, lists, tuples, bytes, str, numbers and reduced numpy objects
# (protocols 0-4). Anything else (sets, NEWOBJ, extension registry, out-of-band buffers, persistent
# ids) is not part of a CIFAR-10 batch.
_PICKLE_OPCODES = frozenset({
    "PROTO", "FRAME", "STOP", "MARK", "POP", "POP_MARK", "DUP",
    "EMPTY_DICT", "DICT", "SETITEM", "SETITEMS", "EMPTY_LIST", "LIST", "APPEND", "APPENDS",
    "EMPTY_TUPLE", "TUPLE", "TUPLE1", "TUPLE2", "TUPLE3",
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "NONE", "NEWTRUE", "NEWFALSE",
    "FLOAT", "BINFLOAT", "STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE",
    "SHORT_BINUNICODE", "BINUNICODE8", "BINBYTES", "SHORT_BINBYTES", "BINBYTES8",
    "GLOBAL", "STACK_GLOBAL", "REDUCE", "BUILD",
    "PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE", "GET", "BINGET", "LONG_BINGET",
})
_MEMO_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})
# Picklers number memo entries sequentially (Python 2's cPickle, which wrote the official batches,
# from 1 rather than 0); a little slack, but no index far ahead of the values stored.
_MEMO_SLACK = 8
# Plain numeric element types only: no objects, records, sub-arrays, strings or datetimes.
_PICKLE_DTYPES = frozenset({"b1", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f4", "f8"})
_MAX_ARRAY_DIMS = 4
MAX_PICKLE_BYTES = DEFAULT_LIMITS.max_file_bytes  # the default cap (settings: vision.max_file_bytes)


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """The one use of ``_codecs.encode`` in protocol-2 pickles: bytes stored as latin-1 text."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise FormatError("refusing _codecs.encode with anything but a latin-1 string")
    return text.encode("latin1")


def _text(value: object) -> str | None:
    if isinstance(value, bytes):
        return value.decode("latin1")
    return value if isinstance(value, str) else None


def _check_pickle_stream(data: bytes, name: str) -> None:
    """Walk the opcodes before unpickling: every declared length must fit in the bytes present and
    memo indices must be sequential. CPython's unpickler allocates a counted string's declared length,
    and grows its memo to a declared index, before reading anything, so a 20-byte file could
    otherwise cost gigabytes. Foreign opcodes are refused here too."""
    puts = 0
    try:
        for opcode, arg, pos in pickletools.genops(data):
            if opcode.name not in _PICKLE_OPCODES:
                raise FormatError(f"{name}: refusing pickle opcode {opcode.name} at byte {pos}: not part of a "
                                  "CIFAR-10 batch")
            if opcode.name == "FRAME" and isinstance(arg, int) and arg > len(data) - (pos or 0):
                raise FormatError(f"{name}: corrupt CIFAR-10 pickle: a frame at byte {pos} declares {arg} bytes, "
                                  f"the file has {len(data)}")
            if opcode.name in _MEMO_PUTS:
                if not isinstance(arg, int) or not 0 <= arg <= puts + _MEMO_SLACK:
                    raise FormatError(f"{name}: corrupt CIFAR-10 pickle: memo index {arg} at byte {pos} skips "
                                      f"ahead of the {puts} values stored so far")
                puts += 1
            elif opcode.name == "MEMOIZE":
                puts += 1
    except FormatError:
        raise
    except Exception as exc:  # pickletools reports truncated or malformed opcodes as ValueError
        raise FormatError(f"{name}: corrupt CIFAR-10 pickle ({type(exc).__name__}: {exc})") from None


class _PendingDtype:
    """Stand-in for ``numpy.dtype(code, align, copy)``: a plain numeric type; its pickled state may only
    set the byte order."""

    __slots__ = ("_built", "_name", "dtype")

    def __init__(self, name: str, code: object, align: object = False, copy: object = True) -> None:
        text = _text(code)
        if text is None or text not in _PICKLE_DTYPES:
            raise FormatError(f"{name}: refusing numpy dtype {code!r}: only plain integer, float and bool "
                              "element types belong in a CIFAR-10 batch")
        self.dtype, self._name, self._built = np.dtype(text), name, False

    def __setstate__(self, state: object) -> None:
        # numpy writes (3, byteorder, subarray, names, fields, elsize, alignment, flags[, metadata])
        ok = (isinstance(state, tuple) and len(state) in (8, 9) and state[0] in (3, 4)
              and _text(state[1]) in ("<", ">", "|", "=") and state[2:5] == (None, None, None)
              and state[5:8] == (-1, -1, 0) and (len(state) == 8 or state[8] is None) and not self._built)
        if not ok:
            raise FormatError(f"{self._name}: refusing numpy dtype state {str(state)[:80]}: only a byte order "
                              "may be set on a plain element type")
        order = _text(state[1])
        if order in ("<", ">") and self.dtype.itemsize > 1:
            self.dtype = self.dtype.newbyteorder(order)
        self._built = True


class _PendingArray:
    """Stand-in for ``numpy.core.multiarray._reconstruct``: allocates nothing. The array exists only once
    the pickled state supplies its data, and only if shape x itemsize equals the bytes present."""

    __slots__ = ("_name", "array")

    def __init__(self, name: str) -> None:
        self.array: np.ndarray | None = None
        self._name = name

    def __setstate__(self, state: object) -> None:
        name = self._name
        if self.array is not None:
            raise FormatError(f"{name}: corrupt CIFAR-10 pickle: a numpy array's state is set twice")
        if not isinstance(state, tuple) or len(state) not in (4, 5):
            raise FormatError(f"{name}: corrupt CIFAR-10 pickle: numpy array state is not "
                              "(version, shape, dtype, is_fortran, data)")
        shape, dtype, fortran, data = state[-4:]
        if len(state) == 5 and state[0] != 1:
            raise FormatError(f"{name}: corrupt CIFAR-10 pickle: numpy array state version {state[0]!r}")
        if (not isinstance(shape, tuple) or len(shape) > _MAX_ARRAY_DIMS
                or not all(type(d) is int and d >= 0 for d in shape)):
            raise FormatError(f"{name}: a numpy array declares shape {str(shape)[:80]}: not a shape of at most "
                              f"{_MAX_ARRAY_DIMS} non-negative sizes")
        if not isinstance(dtype, _PendingDtype):
            raise FormatError(f"{name}: refusing a numpy array whose dtype is a {type(dtype).__name__}")
        if fortran is not False:
            raise FormatError(f"{name}: refusing a Fortran-ordered (or oddly flagged) numpy array: CIFAR-10 "
                              "batches are C-ordered")
        if not isinstance(data, bytes):
            raise FormatError(f"{name}: refusing a numpy array whose data is a {type(data).__name__}, not bytes")
        expected = math.prod(shape) * dtype.dtype.itemsize
        if expected != len(data):
            raise FormatError(f"{name}: a numpy array declares shape {shape} of {dtype.dtype} = {expected} bytes "
                              f"but holds {len(data)} bytes")
        self.array = np.frombuffer(data, dtype=dtype.dtype).reshape(shape)


class _NdarrayToken:
    """What ``numpy.ndarray`` resolves to: a marker for ``_reconstruct``; calling it would allocate
    uninitialised memory of any declared shape, so that is refused."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __call__(self, *args: object, **kwargs: object) -> object:
        raise FormatError(f"{self._name}: refusing to call numpy.ndarray directly: arrays are only built from "
                          "the data a CIFAR-10 batch holds")


class _CifarUnpickler(pickle.Unpickler):
    """Resolves only the numpy globals of a CIFAR batch, to safe stand-ins; everything else is refused."""

    def __init__(self, data: bytes, name: str) -> None:
        super().__init__(io.BytesIO(data), encoding="bytes")
        self._name = name
        self._ndarray = _NdarrayToken(name)

    def find_class(self, module: str, name: str) -> object:
        if module in _NUMPY_MODULES and name == "_reconstruct":
            return self._reconstruct
        if module in _NUMPY_MODULES and name == "scalar":
            return self._scalar
        if (module, name) == ("numpy", "ndarray"):
            return self._ndarray
        if (module, name) == ("numpy", "dtype"):
            return lambda *args: _PendingDtype(self._name, *args)
        if (module, name) == ("_codecs", "encode"):  # how Python 3 writes bytes at protocol 2
            return _latin1_encode
        raise FormatError(f"{self._name}: refusing to unpickle {module}.{name}: only the CIFAR-10 batch "
                          "structure (dict, lists, numpy uint8 array) is allowed")

    def _reconstruct(self, subtype: object, shape: object, code: object) -> _PendingArray:
        if subtype is not self._ndarray:
            raise FormatError(f"{self._name}: refusing to reconstruct a {type(subtype).__name__}: only plain "
                              "numpy arrays are allowed")
        return _PendingArray(self._name)

    def _scalar(self, dtype: object, data: object = None) -> object:
        if not isinstance(dtype, _PendingDtype) or not isinstance(data, bytes) or len(data) != dtype.dtype.itemsize:
            raise FormatError(f"{self._name}: refusing a numpy scalar that is not {getattr(dtype, 'dtype', '?')} "
                              "bytes of its own size")
        return np.frombuffer(data, dtype=dtype.dtype)[0]

    def persistent_load(self, pid: object) -> object:
        raise FormatError(f"{self._name}: refusing a persistent id in the pickle: not a CIFAR-10 batch")


def _resolved(name: str, value: object) -> object:
    if isinstance(value, _PendingArray):
        if value.array is None:
            raise FormatError(f"{name}: a numpy array in the pickle has no data (reconstructed without its "
                              "state): refusing uninitialised memory")
        return value.array
    if isinstance(value, _PendingDtype):
        return value.dtype
    return value


def load_cifar_pickle(data: bytes, name: str, *, limits: ReadLimits = DEFAULT_LIMITS) -> dict[str, object]:
    """Unpickle a CIFAR-10 file with the restricted unpickler; keys become ``str``.

    Declared lengths are checked against the bytes present before unpickling, and numpy arrays are
    built only from data the file holds, so a file never costs much more memory than its size.
    """
    limits.check_file_size(len(data), name)
    _check_pickle_stream(data, name)
    try:
        obj = _CifarUnpickler(data, name).load()
    except FormatError:
        raise
    except Exception as exc:  # any unpickling failure means a corrupt file
        raise FormatError(f"{name}: corrupt CIFAR-10 pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(obj, dict):
        raise FormatError(f"{name}: not a CIFAR-10 batch: the pickle holds a {type(obj).__name__}, not a dict")
    return {(k.decode("latin1") if isinstance(k, bytes) else str(k)): _resolved(name, v) for k, v in obj.items()}


def read_cifar_batch(data: bytes, name: str, split: str, *, limits: ReadLimits = DEFAULT_LIMITS) -> ImageBatch:
    """A CIFAR-10 batch (``data_batch_N`` / ``test_batch``) -> ImageBatch ``(N, 3, 32, 32)``."""
    batch = load_cifar_pickle(data, name, limits=limits)
    missing = [k for k in ("data", "labels") if k not in batch]
    if missing:
        raise FormatError(f"{name}: not a CIFAR-10 batch: missing keys {missing}")
    pixels, labels = batch["data"], batch["labels"]
    if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.ndim != 2 or pixels.shape[1] != 3072:
        shape = getattr(pixels, "shape", None)
        dtype = getattr(pixels, "dtype", type(pixels).__name__)
        raise FormatError(f"{name}: CIFAR-10 'data' must be a uint8 array of shape (N, 3072), got {dtype} {shape}")
    limits.check_count(len(pixels), name)
    if not isinstance(labels, list | np.ndarray) or (isinstance(labels, np.ndarray) and labels.ndim != 1):
        raise FormatError(f"{name}: CIFAR-10 'labels' must be a list of integers")
    limits.check_count(len(labels), name, "labels")
    if not all(isinstance(v, int | np.integer) for v in labels):
        raise FormatError(f"{name}: CIFAR-10 'labels' must be a list of integers")
    if len(labels) != len(pixels):
        raise FormatError(f"label/image count mismatch in {name}: {len(pixels)} images but {len(labels)} labels")
    return ImageBatch(pixels.reshape(-1, 3, 32, 32), np.asarray(labels, dtype=np.int64), split)


def read_cifar_images(data: bytes, name: str, *, limits: ReadLimits = DEFAULT_LIMITS) -> np.ndarray:
    """Images of a CIFAR-10 batch as uint8 ``(N, 3, 32, 32)``."""
    return read_cifar_batch(data, name, "unknown", limits=limits).images


def read_cifar_meta(data: bytes, name: str, *, limits: ReadLimits = DEFAULT_LIMITS) -> list[str]:
    """``batches.meta`` -> the class names."""
    meta = load_cifar_pickle(data, name, limits=limits)
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


# ---- CIFAR-10 binary version ---------------------------------------------------------------------
def read_cifar_bin_batch(data: bytes, name: str, split: str, *, limits: ReadLimits = DEFAULT_LIMITS) -> ImageBatch:
    """A binary CIFAR-10 batch (``data_batch_N.bin``): records of one label byte + 3,072 pixel bytes."""
    limits.check_file_size(len(data), name)
    if len(data) % CIFAR_BIN_RECORD:
        raise FormatError(f"{name}: {len(data)} bytes is not a whole number of {CIFAR_BIN_RECORD}-byte CIFAR-10 "
                          "records (truncated, or not a binary CIFAR-10 batch)")
    limits.check_count(len(data) // CIFAR_BIN_RECORD, name)
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, CIFAR_BIN_RECORD)
    return ImageBatch(records[:, 1:].reshape(-1, 3, 32, 32), records[:, 0].astype(np.int64), split)


def write_cifar_bin_batch(images: np.ndarray, labels: np.ndarray) -> bytes:
    """``(N, 3, 32, 32)`` uint8 images + labels as a binary CIFAR-10 batch."""
    images = np.ascontiguousarray(images, dtype=np.uint8)
    if images.ndim != 4 or images.shape[1:] != (3, 32, 32):
        raise ValueError(f"CIFAR-10 images must be (N, 3, 32, 32), got {images.shape}")
    return np.concatenate([np.asarray(labels, dtype=np.uint8)[:, None], images.reshape(len(images), 3072)],
                          axis=1).tobytes()


def read_cifar_bin_meta(data: bytes, name: str, *, limits: ReadLimits = DEFAULT_LIMITS) -> list[str]:
    """``batches.meta.txt``: the class names, one a line (blank lines ignored)."""
    limits.check_file_size(len(data), name)
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise FormatError(f"{name}: not a CIFAR-10 meta text file (not ASCII)") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


# ---- the published tarballs -----------------------------------------------------------------------
def is_archive(name: str) -> bool:
    """Whether a delivered name is a tar archive (``.tar.gz``, ``.tgz``, ``.tar``)."""
    return name.lower().endswith(ARCHIVE_SUFFIXES)


def _member_official_name(member_name: str) -> str | None:
    """The official path (``cifar-10-batches-py/data_batch_1``) an archive member is, or None. The member
    name is compared, never used: only the returned constant names a file anywhere."""
    for folder, bases in ((CIFAR_DIR, (*CIFAR_TRAIN_BATCHES, CIFAR_TEST_BATCH, CIFAR_META)),
                          (CIFAR_BIN_DIR, (*CIFAR_BIN_TRAIN_BATCHES, CIFAR_BIN_TEST_BATCH, CIFAR_BIN_META))):
        for base in bases:
            if member_name == f"{folder}/{base}":
                return f"{folder}/{base}"
    return None


def unpack_archive(data: bytes, name: str, *, limits: ReadLimits = DEFAULT_LIMITS) -> dict[str, bytes]:
    """``{official path: bytes}`` of a published CIFAR-10 tarball, read as one stream in memory.

    Folders and documentation/hidden members (``readme.html``, ``._*``) are skipped. Refused, with one
    line naming the archive and the member: anything but a regular file or folder (symlinks, hard links,
    devices), an absolute or ``..`` name, a name that is not an official file, the same file twice, a
    member larger than ``max_file_bytes``, more than ``MAX_ARCHIVE_MEMBERS`` members or than
    ``2 * max_file_bytes`` inflated in all, and a corrupt or truncated archive.
    """
    import posixpath
    import tarfile

    from lakehouse.deliveries import ignore_reason

    limits.check_file_size(len(data), name)
    out: dict[str, bytes] = {}
    inflated = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r|*") as archive:
            for count, member in enumerate(archive, start=1):
                if count > MAX_ARCHIVE_MEMBERS:
                    raise FormatError(f"{name}: more than {MAX_ARCHIVE_MEMBERS} members: not a CIFAR-10 archive")
                shown = repr(member.name[:200])
                normal = posixpath.normpath(member.name)
                if member.name.startswith(("/", "\\")) or normal == ".." or normal.startswith("../") \
                        or "\\" in member.name:
                    raise FormatError(f"{name}: member {shown} has an absolute or '..' path: refusing the archive")
                if member.isdir():
                    continue
                if not member.isfile():
                    raise FormatError(f"{name}: member {shown} is not a regular file (link or device): "
                                      "refusing the archive")
                limits.check_file_size(member.size, f"{name}: member {shown}")
                inflated += member.size
                if inflated > 2 * limits.max_file_bytes:
                    raise FormatError(f"{name}: members inflate to more than {2 * limits.max_file_bytes} bytes "
                                      "(2 x vision.max_file_bytes)")
                official = _member_official_name(normal)
                if official is None:
                    if ignore_reason(normal) is not None:
                        continue  # readme.html, ._AppleDouble files: documentation, not data
                    raise FormatError(f"{name}: unexpected member {shown} (a CIFAR-10 archive holds "
                                      f"{CIFAR_DIR}/ or {CIFAR_BIN_DIR}/ batches, meta and readme.html only)")
                if official in out:
                    raise FormatError(f"{name}: member {shown} appears twice")
                handle = archive.extractfile(member)
                content = handle.read() if handle is not None else b""
                if len(content) != member.size:
                    raise FormatError(f"{name}: member {shown} is truncated")
                out[official] = content
    except FormatError:
        raise
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:  # gzip.BadGzipFile is an OSError
        raise FormatError(f"{name}: not a readable tar archive ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0][:160] if str(exc) else 'truncated'})") from None
    if not out:
        raise FormatError(f"{name}: holds no CIFAR-10 batches (expected {CIFAR_DIR}/ or {CIFAR_BIN_DIR}/)")
    return out


def unpack_archives(dataset: str, files: Mapping[str, bytes], *, limits: ReadLimits = DEFAULT_LIMITS
                    ) -> tuple[dict[str, bytes], dict[str, list[str]]]:
    """The delivery with each CIFAR-10 tarball's members added under their official paths, and
    ``{archive name: [member paths]}``. Other datasets' deliveries are returned unchanged (MNIST is
    published as four loose ``.gz`` files). A member that is also delivered loose is an error: the
    delivery would hold two versions of one file."""
    if dataset != "cifar10":
        return dict(files), {}
    out = dict(files)
    archives: dict[str, list[str]] = {}
    for archive in sorted(n for n in files if is_archive(n)):
        members = unpack_archive(files[archive], archive, limits=limits)
        twice = sorted(m for m in members if m.lower() in {n.lower() for n in out})
        if twice:
            raise FormatError(f"{archive}: {twice[0]} is also delivered outside the archive: deliver one or the other")
        out.update(members)
        archives[archive] = sorted(members)
    return out, archives


def write_cifar_archive(files: Mapping[str, bytes]) -> bytes:
    """A gzipped tarball of ``{path: bytes}`` shaped like the published one (folder entry first, fixed
    timestamps and owners: same files, same bytes)."""
    import tarfile

    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as zipped, tarfile.open(fileobj=zipped, mode="w") as tar:
        for folder in sorted({n.rsplit("/", 1)[0] for n in files if "/" in n}):
            info = tarfile.TarInfo(folder)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1244000000
            tar.addfile(info)
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), 0o644, 1244000000
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


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


def decode_images(source_format: str, data: bytes, name: str, *,
                  limits: ReadLimits = DEFAULT_LIMITS) -> np.ndarray:
    """Pixels of one delivered file in the given format, uint8 ``(N, C, H, W)``."""
    if source_format in ("idx", "idx.gz"):
        return read_idx_images(data, name, limits=limits)
    if source_format == "cifar-pickle":
        return read_cifar_images(data, name, limits=limits)
    if source_format == "cifar-bin":
        return read_cifar_bin_batch(data, name, "unknown", limits=limits).images
    if source_format == "png":
        limits.check_file_size(len(data), name)
        return decode_png(data, name)[None]
    raise FormatError(f"{name}: unknown source format {source_format!r}")


def _find(files: Mapping[str, bytes], base: str) -> str | None:
    """The delivered name of an official file: exact, gzipped or under ``cifar-10-batches-py/``; the
    name's case is not significant (``T10K-LABELS-IDX1-UBYTE.GZ`` is the same file)."""
    by_lower: dict[str, str] = {}
    for name in sorted(files):
        by_lower.setdefault(name.lower(), name)
    for candidate in (base, base + ".gz", f"{CIFAR_DIR}/{base}", f"{CIFAR_BIN_DIR}/{base}"):
        if candidate in files:
            return candidate
        if candidate.lower() in by_lower:
            return by_lower[candidate.lower()]
    return None


def expected_files(dataset: str) -> list[str]:
    """The official file names of a dataset, for messages (test files and the CIFAR-10 meta file optional)."""
    if dataset == "mnist":
        train, test = MNIST_FILES["train"], MNIST_FILES["test"]
        return [f"{name}[.gz]" for name in train] + [f"optionally {' + '.join(f'{n}[.gz]' for n in test)}",
                                                     "or png/<split>/<class>/*.png"]
    return ["data_batch_1..5", f"optionally {CIFAR_TEST_BATCH} and {CIFAR_META}", "or png/<split>/<class>/*.png"]


def read_delivery(dataset: str, files: Mapping[str, bytes], *,
                  limits: ReadLimits = DEFAULT_LIMITS) -> list[DeliveredBatch]:
    """Read every pixel file of a delivery (``{relative name: bytes}``); fail on the first bad file.

    MNIST needs both training IDX files; the two test files are optional but come as a pair. CIFAR-10
    needs at least one ``data_batch_N`` (the official archive has five); ``test_batch`` and
    ``batches.meta`` are optional (the meta file, when delivered, must name ten classes). Without test
    files the Gold job draws the test split by hash from the delivered images
    (``transforms.assign_splits``). A delivery of only a ``png/`` folder has no official files (empty
    result); its images are read by :func:`read_png_delivery`. Every file is checked against ``limits``.
    """
    dataset_spec(dataset)
    if not any(_find(files, base) for base in _official_bases(dataset)) and png_files(files):
        return []  # a PNG-folder delivery only (read_png_delivery)
    out: list[DeliveredBatch] = []
    if dataset == "mnist":
        for split, (images_base, labels_base) in MNIST_FILES.items():
            images_name, labels_name = _find(files, images_base), _find(files, labels_base)
            if split == "test" and images_name is None and labels_name is None:
                continue  # no test files: the test split is drawn by hash
            if images_name is None or labels_name is None:
                missing = images_base if images_name is None else labels_base
                raise FormatError(f"MNIST delivery is incomplete: {missing}[.gz] not found "
                                  f"(expected {', '.join(expected_files(dataset))})")
            batch = read_mnist(files[images_name], files[labels_name], images_name, labels_name, split,
                               limits=limits)
            out.append(DeliveredBatch(images_name, source_format_of(dataset, files[images_name]), batch,
                                      (labels_name,)))
        return out
    meta_name = _find(files, CIFAR_META)
    test_name = _find(files, CIFAR_TEST_BATCH)
    train_names = [n for n in (_find(files, b) for b in CIFAR_TRAIN_BATCHES) if n is not None]
    if not train_names and any(_find(files, b) for b in CIFAR_BIN_TRAIN_BATCHES):
        return _read_cifar_bin_delivery(files, limits=limits)  # the binary version (no python batches)
    if not train_names:
        raise FormatError("CIFAR-10 delivery is incomplete: need at least one of data_batch_1..5 (test_batch and "
                          "batches.meta optional), or only png/<split>/<class>/*.png "
                          f"(found {', '.join(sorted(files)) or 'nothing'})")
    if meta_name is not None:
        names = read_cifar_meta(files[meta_name], meta_name, limits=limits)
        if len(names) != DATASETS["cifar10"].num_classes:
            raise FormatError(f"{meta_name}: {len(names)} label names, expected 10")
    companions = (meta_name,) if meta_name is not None else ()
    for name in [*train_names, *([test_name] if test_name is not None else [])]:
        split = "test" if name == test_name else "train"
        out.append(DeliveredBatch(name, "cifar-pickle", read_cifar_batch(files[name], name, split, limits=limits),
                                  companions))
    return out


def _read_cifar_bin_delivery(files: Mapping[str, bytes], *, limits: ReadLimits) -> list[DeliveredBatch]:
    """The CIFAR-10 binary version: ``data_batch_N.bin`` (at least one), optional ``test_batch.bin`` and
    ``batches.meta.txt`` (ten class names, one a line)."""
    meta_name = _find(files, CIFAR_BIN_META)
    test_name = _find(files, CIFAR_BIN_TEST_BATCH)
    train_names = [n for n in (_find(files, b) for b in CIFAR_BIN_TRAIN_BATCHES) if n is not None]
    if meta_name is not None:
        names = read_cifar_bin_meta(files[meta_name], meta_name, limits=limits)
        if len(names) != DATASETS["cifar10"].num_classes:
            raise FormatError(f"{meta_name}: {len(names)} label names, expected 10")
    companions = (meta_name,) if meta_name is not None else ()
    return [DeliveredBatch(name, "cifar-bin", read_cifar_bin_batch(files[name], name, "test" if name == test_name
                                                                   else "train", limits=limits), companions)
            for name in [*train_names, *([test_name] if test_name is not None else [])]]


def official_name(dataset: str, name: str) -> str | None:
    """The official file ``name`` is a copy of (any case, gzipped or not, under ``cifar-10-batches-py/``
    or not), or None."""
    lower = name.lower().removesuffix(".gz").removeprefix(CIFAR_DIR + "/").removeprefix(CIFAR_BIN_DIR + "/")
    return next((base for base in _official_bases(dataset) if base.lower() == lower), None)


def _official_bases(dataset: str) -> list[str]:
    if dataset == "mnist":
        return [name for pair in MNIST_FILES.values() for name in pair]
    return [*CIFAR_TRAIN_BATCHES, CIFAR_TEST_BATCH, CIFAR_META, *CIFAR_BIN_TRAIN_BATCHES, CIFAR_BIN_TEST_BATCH,
            CIFAR_BIN_META]


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
