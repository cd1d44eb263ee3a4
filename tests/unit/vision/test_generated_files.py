"""`lakehouse generate images` writes exactly the official bytes: a .gz file is gzipped once."""

from __future__ import annotations

import gzip
from pathlib import Path

from lakehouse import storage
from lakehouse.settings import LakehouseSettings
from spark_jobs.vision import formats, generator, io


def test_generated_gz_files_are_gzipped_once_and_stored_as_generated(tmp_path: Path) -> None:
    settings = LakehouseSettings(profile="local", home=tmp_path)
    written = generator.generate_to_landing(settings, "mnist", 30, seed=2)
    expected = generator.generate_files("mnist", 30, seed=2)
    landing = Path(storage.to_uri(io.landing_dir(settings, "mnist"))[len("file://"):])
    assert sorted(p.name for p in landing.iterdir()) == sorted(expected) and len(written) == 4
    for name, data in expected.items():
        stored = (landing / name).read_bytes()
        assert stored == data, f"{name} is not stored as generated"
        inner = gzip.decompress(stored)
        magic = formats.IDX_IMAGES_MAGIC if "images" in name else formats.IDX_LABELS_MAGIC
        assert int.from_bytes(inner[:4], "big") == magic, f"{name}: one gunzip must give the IDX magic"
