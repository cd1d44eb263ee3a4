"""PNG image folders: decoding, layout rules, and undecodable images kept for quarantine."""

from __future__ import annotations

import datetime as dt
import io

import numpy as np
import pytest
from PIL import Image

from spark_jobs.vision import formats, generator
from spark_jobs.vision.transforms import build_png_manifest, content_hash, validate_manifest


def _png(mode: str, size: tuple[int, int] = (28, 28)) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size).save(out, format="PNG")
    return out.getvalue()


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_png_round_trip_is_channels_first_and_deterministic(shape: tuple[int, int, int]) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    data = formats.write_png(pixels)
    assert data == formats.write_png(pixels)
    np.testing.assert_array_equal(formats.decode_png(data, "x.png"), pixels)
    np.testing.assert_array_equal(formats.decode_images("png", data, "x.png"), pixels[None])


def test_png_that_does_not_decode() -> None:
    good = formats.write_png(np.zeros((1, 28, 28), dtype=np.uint8))
    with pytest.raises(formats.FormatError, match=r"cut\.png: PNG does not decode"):
        formats.decode_png(good[: len(good) // 2], "cut.png")
    with pytest.raises(formats.FormatError, match=r"junk\.png: not a PNG file"):
        formats.decode_png(b"GIF89a not a png at all", "junk.png")
    corrupt = bytearray(good)
    corrupt[40:60] = b"\xff" * 20  # inside the compressed pixel data
    with pytest.raises(formats.FormatError, match="PNG does not decode"):
        formats.decode_png(bytes(corrupt), "flipped.png")


def test_png_refuses_other_modes_and_huge_images() -> None:
    with pytest.raises(formats.FormatError, match="unsupported PNG mode 'RGBA'"):
        formats.decode_png(_png("RGBA"), "alpha.png")
    with pytest.raises(formats.FormatError, match="larger than any dataset image"):
        formats.decode_png(_png("L", (2048, 1024)), "huge.png")


def test_png_delivery_reads_folders_and_keeps_bad_images() -> None:
    files = generator.generate_files("cifar10", 20, seed=3, image_format="png")
    files["png/training/ship/extra.png"] = b"\x89PNG\r\n\x1a\n truncated"
    images = {i.file_name: i for i in formats.read_png_delivery("cifar10", files)}
    assert len(images) == 21 and formats.read_delivery("cifar10", files) == []
    bad = images["png/training/ship/extra.png"]
    assert bad.pixels is None and "PNG does not decode" in (bad.decode_error or "")
    assert bad.label == 8 and bad.source_split == "train"
    assert {i.source_split for i in images.values()} == {"train", "test"}


@pytest.mark.parametrize("name", ["png/train/10/a.png", "png/valid/3/a.png", "png/train/3/a.jpg", "png/train/a.png",
                                  "png/train/cat/a.png"])
def test_misplaced_png_stops_the_delivery(name: str) -> None:
    files = generator.generate_files("mnist", 10, seed=1, image_format="png")
    files[name] = files[next(iter(files))]
    with pytest.raises(formats.FormatError, match=rf"1 file\(s\) not in png/.*: {name}"):
        formats.read_png_delivery("mnist", files)


def test_partial_official_delivery_next_to_pngs_is_still_incomplete() -> None:
    files = generator.generate_files("mnist", 10, seed=1, image_format="png")
    files["train-images-idx3-ubyte.gz"] = generator.generate_files("mnist", 10)["train-images-idx3-ubyte.gz"]
    with pytest.raises(formats.FormatError, match="MNIST delivery is incomplete"):
        formats.read_delivery("mnist", files)


def test_png_manifest_rows_and_silver_quarantines_the_undecodable_one() -> None:
    files = generator.generate_files("mnist", 12, seed=2, image_format="png")
    files["png/test/4/broken.png"] = b"\x89PNG\r\n\x1a\n\x00\x00"
    images = formats.read_png_delivery("mnist", files)
    manifest = build_png_manifest(images, dataset="mnist", raw_dir="s3://lake/warehouse/raw_files/x",
                                  landing_dir="s3://lake/landing/vision/mnist", logical_date=dt.date(2024, 1, 1),
                                  run_id="r")
    assert len(manifest) == 13 and (manifest["record_index"] == 0).all()
    assert manifest["source_uri"].str.startswith("s3://lake/warehouse/raw_files/x/png/").all()
    ok = manifest[manifest["image_id"].notna()]
    assert ok["image_id"].tolist() == [content_hash(i.pixels) for i in images if i.pixels is not None]
    assert (ok["width"] == 28).all() and (ok["channels"] == 1).all()
    # What silver's decode check reports for these objects: the hash of the decoded pixels, or the error.
    decoded = manifest[["image_id"]].rename(columns={"image_id": "decoded_sha256"}).assign(
        decode_error=[i.decode_error for i in images])
    valid, rejected = validate_manifest(manifest, decoded, formats.DATASETS["mnist"], "s3://lake/warehouse")
    assert len(valid) == 12 and len(rejected) == 1
    assert rejected.loc[0, "source_uri"].endswith("png/test/4/broken.png")
    assert rejected.loc[0, "reason"].startswith("object does not decode: png/test/4/broken.png: PNG does not decode")
