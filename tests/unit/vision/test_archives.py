"""The published CIFAR-10 tarballs read as delivered (python and binary versions), in memory, with every
member name treated as untrusted: links, '..' and absolute paths, unknown or duplicate members, oversized
members and damaged archives refuse the whole archive with one line."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest

from spark_jobs.vision import formats, generator

N = 60


def tarball(members: list[tuple[tarfile.TarInfo, bytes]]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return out.getvalue()


def regular(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def test_the_python_tarball_reads_like_the_loose_batches() -> None:
    archive = generator.cifar_archive_files(N, seed=3)
    assert list(archive) == ["cifar-10-python.tar.gz"]
    assert archive == generator.cifar_archive_files(N, seed=3), "same arguments, same bytes"
    members = formats.unpack_archive(archive["cifar-10-python.tar.gz"], "cifar-10-python.tar.gz")
    loose = generator.generate_files("cifar10", N, seed=3)
    assert members == loose, "readme.html skipped, every batch byte for byte"
    files, archives = formats.unpack_archives("cifar10", archive)
    assert archives == {"cifar-10-python.tar.gz": sorted(loose)}
    delivered = formats.read_delivery("cifar10", files)
    assert sum(len(d.batch.labels) for d in delivered) == N
    assert {d.source_format for d in delivered} == {"cifar-pickle"}


def test_the_binary_tarball_holds_the_same_images_as_the_python_one() -> None:
    python = formats.read_delivery("cifar10", formats.unpack_archives(
        "cifar10", generator.cifar_archive_files(N, seed=3))[0])
    files, archives = formats.unpack_archives("cifar10", generator.cifar_archive_files(N, seed=3, version="binary"))
    assert set(archives["cifar-10-binary.tar.gz"]) == {f"{formats.CIFAR_BIN_DIR}/{n}" for n in (
        *formats.CIFAR_BIN_TRAIN_BATCHES, formats.CIFAR_BIN_TEST_BATCH, formats.CIFAR_BIN_META)}
    binary = formats.read_delivery("cifar10", files)
    assert {d.source_format for d in binary} == {"cifar-bin"}
    assert [d.batch.source_split for d in binary] == [d.batch.source_split for d in python]
    for a, b in zip(python, binary, strict=True):
        assert np.array_equal(a.batch.images, b.batch.images) and np.array_equal(a.batch.labels, b.batch.labels)
    first = binary[0]
    decoded = formats.decode_images("cifar-bin", files[first.file_name], first.file_name)
    assert np.array_equal(decoded, first.batch.images)


def test_mnist_deliveries_are_left_alone() -> None:
    files = generator.generate_files("mnist", 20, seed=1)
    assert formats.unpack_archives("mnist", files) == (files, {})


def _symlink() -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(f"{formats.CIFAR_DIR}/data_batch_1")
    info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
    return info, b""


def _hardlink() -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(f"{formats.CIFAR_DIR}/data_batch_2")
    info.type, info.linkname = tarfile.LNKTYPE, "../../outside"
    return info, b""


@pytest.mark.parametrize(("members", "expected"), [
    ([_symlink()], "is not a regular file"),
    ([_hardlink()], "is not a regular file"),
    ([regular("../../etc/cron.d/evil")], "absolute or '..' path"),
    ([regular(f"{formats.CIFAR_DIR}/../../x")], "absolute or '..' path"),
    ([regular("/etc/passwd")], "absolute or '..' path"),
    ([regular(f"{formats.CIFAR_DIR}/evil.py")], "unexpected member"),
    ([regular(f"{formats.CIFAR_DIR}/data_batch_1"), regular(f"{formats.CIFAR_DIR}/./data_batch_1")], "appears twice"),
    ([regular(f"{formats.CIFAR_DIR}/readme.html")], "holds no CIFAR-10 batches"),
    ([regular(f"{formats.CIFAR_DIR}/readme.html")] * (formats.MAX_ARCHIVE_MEMBERS + 1), "more than 64 members"),
])
def test_hostile_members_refuse_the_archive_in_one_line(members, expected) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(formats.FormatError) as info:
        formats.unpack_archive(tarball(members), "cifar-10-python.tar.gz")
    message = str(info.value)
    assert expected in message and message.startswith("cifar-10-python.tar.gz: ") and "\n" not in message


def test_a_member_over_the_size_limit_is_refused_before_it_is_read() -> None:
    data = tarball([regular(f"{formats.CIFAR_DIR}/data_batch_1", b"\0" * 5000)])
    with pytest.raises(formats.FormatError, match="more than the limit of 4096 bytes"):
        formats.unpack_archive(data, "cifar-10-python.tar.gz", limits=formats.ReadLimits(max_file_bytes=4096))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip"])
def test_damaged_archives_are_one_readable_line(damage: str) -> None:
    good = generator.cifar_archive_files(N, seed=3)["cifar-10-python.tar.gz"]
    data = {"truncate": good[: len(good) // 2], "garbage": b"not a tarball at all",
            "flip": good[:200] + bytes(b ^ 0xFF for b in good[200:260]) + good[260:]}[damage]
    with pytest.raises(formats.FormatError) as info:
        formats.unpack_archive(data, "cifar-10-python.tar.gz")
    assert str(info.value).startswith("cifar-10-python.tar.gz: ") and "\n" not in str(info.value)


def test_a_batch_delivered_both_loose_and_in_the_archive_is_an_error() -> None:
    files = {**generator.cifar_archive_files(N, seed=3), **generator.generate_files("cifar10", N, seed=3)}
    with pytest.raises(formats.FormatError, match="also delivered outside the archive"):
        formats.unpack_archives("cifar10", files)


def test_binary_batches_must_be_whole_records() -> None:
    with pytest.raises(formats.FormatError, match="not a whole number of 3073-byte"):
        formats.read_cifar_bin_batch(b"\0" * 3074, "data_batch_1.bin", "train")
