"""Manifest objects are opened only through ``io.read_manifest_object``, which confines the URI to the
warehouse at every read: an edited row (or a symbolic link inside the warehouse) never reads outside."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lakehouse import storage
from lakehouse.errors import LakehouseError
from lakehouse.settings import LakehouseSettings
from spark_jobs.vision import formats, io
from spark_jobs.vision.transforms import content_hash


@pytest.fixture
def settings(tmp_path: Path) -> LakehouseSettings:
    return LakehouseSettings(profile="local", home=tmp_path / "home")


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = storage.filesystem

    def spy(settings: LakehouseSettings, uri: str) -> Any:
        seen.append(storage.to_uri(uri))
        return real(settings, uri)

    monkeypatch.setattr(storage, "filesystem", spy)
    return seen


def _stored_idx(settings: LakehouseSettings, where: Path | None = None) -> tuple[str, np.ndarray]:
    images = np.arange(3 * 28 * 28, dtype=np.uint32).astype(np.uint8).reshape(3, 28, 28)
    path = where or Path(storage.to_uri(settings.warehouse)[len("file://"):]) / "raw_files" / "x-idx3-ubyte"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(formats.write_idx(images))
    return storage.to_uri(str(path)), images


def test_a_symlink_inside_the_warehouse_is_not_followed_outside(settings: LakehouseSettings, tmp_path: Path,
                                                                 opened: list[str]) -> None:
    outside_uri, _ = _stored_idx(settings, tmp_path / "outside" / "x-idx3-ubyte")
    link = Path(storage.to_uri(settings.warehouse)[len("file://"):]) / "raw_files" / "link-idx3-ubyte"
    link.parent.mkdir(parents=True)
    link.symlink_to(outside_uri[len("file://"):])
    uri = "file://" + str(link)  # (to_uri would resolve the link itself)
    with pytest.raises(io.UnsafeURIError, match=r"resolves to .*outside the warehouse"):
        io.read_manifest_object(settings, uri)
    assert opened == [], "refused before anything was opened"


@pytest.mark.parametrize("edited", ["file:///etc/passwd", "raw_files/../../../etc/passwd", "/etc/passwd",
                                    "s3://other/x", "file:/etc/passwd"])
def test_object_cache_refuses_without_opening(settings: LakehouseSettings, opened: list[str], edited: str) -> None:
    cache = io.ObjectCache(settings)
    cache.prefetch([edited, "raw_files/also-missing"])
    result = cache.images(edited, "idx")
    assert isinstance(result, str) and result.startswith("unsafe source URI")
    assert not [u for u in opened if "passwd" in u or "other" in u]


def test_load_pixels_names_the_refused_row(settings: LakehouseSettings, opened: list[str]) -> None:
    uri, images = _stored_idx(settings)
    rows = pd.DataFrame({"source_uri": [uri, uri, "file:///etc/passwd"], "record_index": [0, 1, 0],
                         "sha256": [content_hash(images[0][None]), content_hash(images[1][None]), "x"]})
    formats_by_uri = {uri: "idx", "file:///etc/passwd": "idx"}
    with pytest.raises(LakehouseError) as info:
        io.load_pixels(settings, rows, formats_by_uri)
    message = str(info.value)
    assert message.startswith("validated image file:///etc/passwd#0 refused: unsafe source URI")
    assert "outside the warehouse" in message and "\n" not in message
    assert "file:///etc/passwd" not in opened
    pixels = io.load_pixels(settings, rows.iloc[:2], formats_by_uri)
    np.testing.assert_array_equal(pixels[:, 0], images[:2])
