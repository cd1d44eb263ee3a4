"""Readers that cannot be tricked: tiny crafted files (pickles that reconstruct arrays with no data
behind them, gzip IDX files whose header claims hundreds of thousands of images, IDX headers whose
dimensions overflow) are refused with a FormatError naming the file, before any large allocation."""

from __future__ import annotations

import pickle
import struct
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pytest

from lakehouse.settings import VisionSettings
from spark_jobs.vision import formats
from spark_jobs.vision.formats import FormatError, ReadLimits

# A tiny file may cost a few MB of Python objects and decoding buffers, never more.
SMALL_ALLOCATION = 4 * 1024 * 1024


@contextmanager
def peak_allocation() -> Iterator[list[int]]:
    """Peak bytes allocated (tracemalloc sees numpy's and the unpickler's buffers) inside the block."""
    result: list[int] = []
    tracemalloc.start()
    try:
        yield result
    finally:
        result.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


def refused(read: Callable[[], object], name: str, match: str) -> int:
    """Assert ``read`` raises a FormatError that names ``name`` and matches ``match``; return its peak."""
    with peak_allocation() as peak, pytest.raises(FormatError) as info:
        read()
    assert name in str(info.value), f"error does not name the file: {info.value}"
    assert info.match(match)
    assert "\n" not in str(info.value)
    return peak[0]


# ---- crafted CIFAR pickles -------------------------------------------------------------------
G = b"cnumpy.core.multiarray\n_reconstruct\n"
NDARRAY = b"cnumpy\nndarray\n"


def _int(value: int) -> bytes:
    return b"J" + struct.pack("<i", value)


def _tuple(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


def _bytes(data: bytes) -> bytes:
    return (b"C" + bytes([len(data)]) if len(data) < 256 else b"B" + struct.pack("<I", len(data))) + data


def _reconstruct(shape: tuple[int, ...], code: bytes = b"B") -> bytes:
    """``_reconstruct(ndarray, shape, code)`` with no ``__setstate__``: numpy's own version allocates
    ``shape`` of uninitialised memory."""
    return G + NDARRAY + _tuple(*(_int(s) for s in shape)) + _bytes(code) + b"\x87R"


def _dtype(code: bytes, state: bytes) -> bytes:
    return b"cnumpy\ndtype\n" + _tuple(_bytes(code), b"K\x00K\x01") + b"R" + state + b"b"


def _array(shape: tuple[int, ...], code: bytes, data: bytes, *, fortran: bool = False,
           dtype_state: bytes | None = None) -> bytes:
    """An ndarray as numpy pickles it: ``_reconstruct(ndarray, (0,), b'b')`` then BUILD with
    ``(1, shape, dtype, is_fortran, data)``; ``shape`` and ``data`` are whatever the attacker wants."""
    order = b"|" if code in (b"u1", b"i1", b"b1") else b"<"
    state = dtype_state or _tuple(b"K\x03", _bytes(order), b"NNN", _int(-1), _int(-1), b"K\x00")
    return (G + NDARRAY + _tuple(_int(0)) + _bytes(b"b") + b"\x87R"
            + _tuple(b"K\x01", _tuple(*(_int(s) for s in shape)), _dtype(code, state),
                     b"\x88" if fortran else b"\x89", _bytes(data)) + b"b")


def _batch(data_obj: bytes, labels_obj: bytes) -> bytes:
    return b"\x80\x02}(" + _bytes(b"data") + data_obj + _bytes(b"labels") + labels_obj + b"u."


def test_crafted_pickles_parse_with_numpy_but_not_with_us() -> None:
    """The crafted files are valid pickles: plain pickle.loads builds a (100000, 3072) array from 200 bytes."""
    data = _batch(_reconstruct((100_000, 3072)), _reconstruct((100_000,), b"i8"))
    assert len(data) < 200
    obj = pickle.loads(data, encoding="bytes")
    assert obj[b"data"].shape == (100_000, 3072)


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        (_batch(_reconstruct((100_000, 3072)), _reconstruct((100_000,), b"i8")), "no data"),
        (_batch(NDARRAY + _tuple(_tuple(_int(100_000), _int(3072))) + b"R", b"]."), r"numpy\.ndarray"),
        (_batch(_array((100_000, 3072), b"u1", b""), b"]"), "declares shape"),
        (_batch(_array((100_000, 3072), b"u1", b"x" * 300), b"]"), "declares shape"),
        (_batch(_array((2, 3072), b"u1", b"x" * 3072), b"]"), "declares shape"),
        (_batch(_array((1, 3072), b"u1", b"x" * 3072, fortran=True), b"]"), "Fortran"),
        (_batch(_array((1, 8), b"O8", b"x" * 64), b"]"), "dtype"),
        (_batch(_array((1, 3072), b"V3072", b"x" * 3072), b"]"), "dtype"),
        (_batch(_array((1, 3072), b"u1", b"x" * 3072,
                       dtype_state=_tuple(b"K\x03", _bytes(b"|"), b"NNN", _int(-1), _int(-1), b"K?")), b"]"),
         "dtype"),
        (_batch(_array((-1, 3072), b"u1", b"x" * 3072), b"]"), "declares shape"),
        (b"\x80\x04\x8e" + struct.pack("<Q", 300_000_000) + b"abc", "300000000 bytes"),
        (b"\x80\x02]r" + struct.pack("<I", 50_000_000) + b".", "memo"),
        (b"\x80\x04\x8f.", "opcode EMPTY_SET"),
    ],
    ids=["reconstruct-without-data", "ndarray-constructor", "empty-data", "short-data", "shape-larger-than-data",
         "fortran", "object-dtype", "void-dtype", "dtype-flags", "negative-dim", "bytes8-length-lie",
         "memo-index-lie", "unexpected-opcode"],
)
def test_crafted_cifar_pickle_is_refused_without_allocating(payload: bytes, match: str) -> None:
    peak = refused(lambda: formats.read_cifar_batch(payload, "data_batch_3", "train"), "data_batch_3", match)
    assert peak < SMALL_ALLOCATION, f"a {len(payload)}-byte file allocated {peak / 1e6:.1f} MB"


def test_labels_list_longer_than_the_cap_is_refused() -> None:
    images = np.zeros((3, 3, 32, 32), np.uint8)
    data = formats.write_cifar_batch(images, np.zeros(3, np.int64), batch_label="b")
    limits = ReadLimits(max_images_per_file=2)
    with pytest.raises(FormatError, match=r"data_batch_1: declares 3 images, more than the limit of 2"):
        formats.read_cifar_batch(data, "data_batch_1", "train", limits=limits)
    payload = {b"data": np.zeros((1, 3072), np.uint8), b"labels": list(range(5))}
    with pytest.raises(FormatError, match=r"data_batch_1: declares 5 labels, more than the limit of 2"):
        formats.read_cifar_batch(pickle.dumps(payload, protocol=2), "data_batch_1", "train", limits=limits)


def test_numpy_pickles_of_both_numpy_lines_still_read() -> None:
    """The safe stand-ins build exactly what numpy's reconstruction would, from the bytes present."""
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
    for labels in ([1, 2, 3], np.array([4, 5, 6], dtype=np.int64), [np.int64(7), np.int64(8), np.int64(9)]):
        for protocol in (2, 3, 4):
            payload = {b"data": images, b"labels": labels, b"batch_label": b"x"}
            data = pickle.dumps(payload, protocol=protocol)
            for module in (b"numpy._core.multiarray", b"numpy.core.multiarray"):
                patched = data.replace(b"numpy._core.multiarray", module) if protocol == 2 else data
                batch = formats.read_cifar_batch(patched, "data_batch_1", "train")
                np.testing.assert_array_equal(batch.images.reshape(3, 3072), images)
                assert batch.labels.tolist() == [int(v) for v in labels]
    big_endian = pickle.dumps({b"data": images, b"labels": np.array([1, 2, 3], dtype=">i4")}, protocol=2)
    assert formats.read_cifar_batch(big_endian, "b", "train").labels.tolist() == [1, 2, 3]


def test_memo_numbered_from_one_like_python2_cpickle_still_reads() -> None:
    """Python 2's cPickle (which wrote the official batches) numbers memo entries from 1, not 0."""
    import pickletools

    payload = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [3, 4]}
    data = pickle.dumps(payload, protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    ops = list(pickletools.genops(data))
    shifted = bytearray()
    for (opcode, arg, pos), nxt in zip(ops, [*(p for _, _, p in ops[1:]), len(data)], strict=True):
        chunk = data[pos:nxt]
        if opcode.name in ("BINPUT", "BINGET"):
            assert arg < 255
            chunk = chunk[:1] + bytes([arg + 1])
        shifted += chunk
    assert bytes(shifted) != data
    assert formats.read_cifar_batch(bytes(shifted), "data_batch_1", "train").labels.tolist() == [3, 4]


# ---- MNIST IDX: overflowing headers and gzip bombs ----------------------------------------------
def _idx_header(code: int, dims: tuple[int, ...]) -> bytes:
    return struct.pack(">BBBB", 0, 0, code, len(dims)) + struct.pack(">" + "I" * len(dims), *dims)


def _gzip_stream(parts: Iterator[bytes]) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    return b"".join(compressor.compress(p) for p in parts) + compressor.flush()


def _zeros(total: int, block: int = 1 << 20) -> Iterator[bytes]:
    while total > 0:
        yield bytes(min(block, total))
        total -= block


@pytest.mark.parametrize(
    "dims", [(0x80000000, 0x80000000, 0x80000000, 2), (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF), (3, 1 << 31, 1 << 31)],
    ids=["product-overflows-int64", "all-max", "absurd-image-size"])
def test_overflowing_idx_header_names_the_file(dims: tuple[int, ...]) -> None:
    data = _idx_header(0x0E if len(dims) == 4 else 0x08, dims) + bytes(16)
    peak = refused(lambda: formats.read_idx(data, "train-images-idx3-ubyte"), "train-images-idx3-ubyte",
                   "declares")
    assert peak < SMALL_ALLOCATION


def test_idx_header_claiming_more_images_than_the_cap_is_refused() -> None:
    data = _idx_header(0x08, (300_000, 28, 28))  # header only: no pixels at all
    refused(lambda: formats.read_idx_images(data, "train-images-idx3-ubyte"), "train-images-idx3-ubyte",
            r"300000 images, more than the limit of 100000")
    labels = _idx_header(0x08, (5,)) + bytes(5)
    with pytest.raises(FormatError, match=r"labels: declares 5 images, more than the limit of 4"):
        formats.read_idx(labels, "labels", limits=ReadLimits(max_images_per_file=4))


def test_tiny_gzip_claiming_300000_images_never_decompresses_them() -> None:
    """A gzip bomb: 230 kB that inflate to 235 MB of zeros behind a header claiming 300,000 images."""
    n = 300_000
    bomb = _gzip_stream(iter([_idx_header(0x08, (n, 28, 28)), *_zeros(n * 784)]))
    assert len(bomb) < 300_000
    peak = refused(lambda: formats.read_idx_images(bomb, "train-images-idx3-ubyte.gz"),
                   "train-images-idx3-ubyte.gz", "more than the limit")
    assert peak < SMALL_ALLOCATION


def test_gzip_inflating_past_the_declared_size_stops_at_the_declared_size() -> None:
    """Header says 10 images, the stream inflates to 200 MB: reading stops one byte after the 10 images."""
    bomb = _gzip_stream(iter([_idx_header(0x08, (10, 28, 28)), *_zeros(200 << 20)]))
    peak = refused(lambda: formats.read_idx_images(bomb, "t10k-images-idx3-ubyte.gz"), "t10k-images-idx3-ubyte.gz",
                   "trailing bytes")
    assert peak < SMALL_ALLOCATION


def test_small_gzip_with_a_header_within_the_cap_but_no_data_is_truncated() -> None:
    data = _gzip_stream(iter([_idx_header(0x08, (60_000, 28, 28)), bytes(100)]))
    peak = refused(lambda: formats.read_idx_images(data, "train-images-idx3-ubyte.gz"), "train-images-idx3-ubyte.gz",
                   "truncated IDX file")
    assert peak < SMALL_ALLOCATION


def test_gzip_members_and_padding_read_like_gzip_does() -> None:
    idx = formats.write_idx(np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28))
    two_members = _gzip_stream(iter([idx[:100]])) + _gzip_stream(iter([idx[100:]]))
    assert formats.read_idx_images(two_members, "x.gz").shape == (2, 1, 28, 28)
    assert formats.read_idx_images(_gzip_stream(iter([idx])) + bytes(8), "x.gz").shape == (2, 1, 28, 28)
    with pytest.raises(FormatError, match=r"x\.gz: .*after the gzip data"):
        formats.read_idx_images(_gzip_stream(iter([idx])) + b"junk", "x.gz")


def test_every_reader_error_names_the_file() -> None:
    """Bad bytes of every kind, through every public reader: the message always starts with the file name."""
    idx = formats.write_idx(np.zeros((2, 28, 28), np.uint8))
    gz = formats.write_idx(np.zeros((2, 28, 28), np.uint8), gzipped=True)
    cases: list[tuple[str, bytes]] = [
        ("idx", b""), ("idx", idx[:3]), ("idx", idx[:10]), ("idx", idx + b"x"),
        ("idx", _idx_header(0x0E, (1 << 31,) * 4)),
        ("idx.gz", gz[:20]), ("idx.gz", gz[:-3]), ("idx.gz", gz[:10] + b"\xff" * 40),
        ("cifar-pickle", b""), ("cifar-pickle", b"\x80\x02garbage"), ("cifar-pickle", pickle.dumps([1], protocol=2)),
        ("png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 20), ("png", b"not png"),
    ]
    for source_format, data in cases:
        with pytest.raises(FormatError) as info:
            formats.decode_images(source_format, data, "some-delivered-file")
        assert str(info.value).startswith("some-delivered-file"), (source_format, data[:20], str(info.value))


def test_limits_come_from_vision_settings() -> None:
    defaults = VisionSettings()
    assert defaults.max_images_per_file >= 60_000 and defaults.max_file_bytes >= 10_000 * 3072 * 2
    limits = ReadLimits.from_settings(VisionSettings(max_images_per_file=5, max_file_bytes=1000))
    assert limits == ReadLimits(max_images_per_file=5, max_file_bytes=1000)
    big = formats.write_idx(np.zeros((2, 28, 28), np.uint8))
    with pytest.raises(FormatError, match=r"big-file: .*more than the limit of 1000 bytes"):
        formats.read_idx(big, "big-file", limits=limits)
