"""Byte-exact object I/O: what is written is what is stored is what is read, whatever the name
(pyarrow would gzip/gunzip '.gz' names on its own), and every failure names the object."""

from __future__ import annotations

import gzip
import hashlib
import re
from pathlib import Path

import pytest

from lakehouse import storage
from lakehouse.errors import LakehouseError
from lakehouse.settings import PROJECT_ROOT, LakehouseSettings


@pytest.fixture
def settings(tmp_path: Path) -> LakehouseSettings:
    return LakehouseSettings(profile="local", home=tmp_path / "home")


@pytest.mark.parametrize("name", ["delivery.gz", "data.bz2", "x.zst", "plain.bin"])
def test_bytes_round_trip_exactly_whatever_the_name(settings: LakehouseSettings, tmp_path: Path, name: str) -> None:
    data = gzip.compress(b"\x00\x00\x08\x03" + bytes(100), mtime=0)
    uri = storage.to_uri(str(tmp_path / "landing" / "sub" / name))
    storage.write_bytes(settings, uri, data)
    assert (tmp_path / "landing" / "sub" / name).read_bytes() == data, "stored exactly as written"
    assert storage.read_bytes(settings, uri) == data, "read exactly as stored"
    with storage.open_read(settings, uri) as stream:
        assert stream.read() == data
    assert storage.sha256_of(settings, uri) == hashlib.sha256(data).hexdigest()


def test_a_file_written_outside_storage_reads_back_unchanged(settings: LakehouseSettings, tmp_path: Path) -> None:
    """A delivered .gz (written by anyone) is read as its bytes, never decompressed."""
    data = gzip.compress(b"payload", mtime=0)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(data)
    assert storage.read_bytes(settings, str(tmp_path / "t10k-labels-idx1-ubyte.gz")) == data


def test_missing_object_names_its_uri(settings: LakehouseSettings, tmp_path: Path) -> None:
    uri = storage.to_uri(str(tmp_path / "nope.gz"))
    with pytest.raises(storage.ObjectNotFoundError) as info:
        storage.read_bytes(settings, uri)
    assert isinstance(info.value, FileNotFoundError) and isinstance(info.value, LakehouseError)
    assert str(info.value).startswith(f"{uri}: cannot read: no such file")


def test_list_files_lists_every_file_with_relative_names(settings: LakehouseSettings, tmp_path: Path) -> None:
    root = tmp_path / "delivery"
    delivered = {"a.txt": b"1", ".hidden": b"22", "_manifest.json": b"{}", "sub/B.TXT": b"", "sub/c": b"c"}
    for name, data in delivered.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    files = storage.list_files(settings, str(root))
    assert [(f.name, f.size) for f in files] == [(".hidden", 2), ("_manifest.json", 2), ("a.txt", 1), ("sub/B.TXT", 0),
                                                 ("sub/c", 1)]
    assert files[3].uri == storage.to_uri(str(root)) + "/sub/B.TXT" and files[3].base_name == "B.TXT"
    assert [f.name for f in storage.list_files(settings, str(root), recursive=False)] == [".hidden", "_manifest.json",
                                                                                        "a.txt"]
    assert storage.list_files(settings, str(tmp_path / "missing")) == []


_STREAM_CALL = re.compile(r"\.(open_input_stream|open_output_stream|open_input_file|open_append_stream)\(")
_NOT_YET_ROUTED: set[str] = set()


def test_no_module_opens_pyarrow_streams_outside_storage() -> None:
    """The class of bug, not one instance: every object read/write goes through lakehouse/storage.py."""
    offenders = []
    for folder in ("lakehouse", "spark_jobs", "ml", "dags", "expectations", "schemas"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            relative = path.relative_to(PROJECT_ROOT).as_posix()
            if relative == "lakehouse/storage.py" or relative in _NOT_YET_ROUTED:
                continue
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if _STREAM_CALL.search(line):
                    offenders.append(f"{relative}:{number}: {line.strip()}")
    assert offenders == [], "open objects with lakehouse.storage helpers:\n" + "\n".join(offenders)
