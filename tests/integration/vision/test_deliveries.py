"""Vision deliveries are kept byte for byte and every delivered file is accounted for (both profiles).

Files are placed and inspected with plain file writes / boto3 (tests/support/delivery.py), never with
the code under test."""

from __future__ import annotations

import datetime as dt
import gzip
import hashlib
import io as io_module
from typing import Any

import numpy as np
import pytest
from pyspark.sql import functions as F

from lakehouse.jobs import JobContext, run_job
from lakehouse.settings import LakehouseSettings
from lakehouse.write import current_snapshot_id
from schemas.deliveries import DELIVERED_FILES
from schemas.vision import RAW_IMAGE_MANIFEST
from spark_jobs.vision import formats, generator, io, raw
from tests.support.delivery import deliver, listed, stored

BYTES_DAY = dt.date(2022, 4, 1)
TRUNCATED_DAY = dt.date(2022, 4, 2)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _as_published(files: dict[str, bytes]) -> dict[str, bytes]:
    """The .gz files re-compressed the way the published MNIST archives are: by the gzip tool, whose
    header carries the original file name and a modification time (1998), at the default level."""
    out = {}
    for name, data in files.items():
        buffer = io_module.BytesIO()
        with gzip.GzipFile(filename=name.removesuffix(".gz"), mode="wb", compresslevel=6, fileobj=buffer,
                           mtime=901_238_400) as handle:
            handle.write(gzip.decompress(data))
        out[name] = buffer.getvalue()
    return out


def _delivered_rows(spark: Any, settings: LakehouseSettings, day: dt.date, domain: str, dataset: str) -> list[Any]:
    return spark.table(settings.table_name(DELIVERED_FILES.identifier)).where(
        (F.col("logical_date") == F.lit(day)) & (F.col("domain") == domain) & (F.col("dataset") == dataset)
    ).orderBy("file_name").collect()


def test_gzipped_delivery_is_kept_byte_for_byte_and_every_file_is_accounted_for(spark, lake) -> None:  # type: ignore[no-untyped-def]
    official = _as_published(generator.generate_files("mnist", 60, seed=31))  # the four IDX files, gzipped
    odd_case = "T10K-LABELS-IDX1-UBYTE.GZ"
    files = {name: data for name, data in official.items() if name != "t10k-labels-idx1-ubyte.gz"}
    files[odd_case] = official["t10k-labels-idx1-ubyte.gz"]
    files.update({
        "README.txt": b"MNIST delivery, see yann.lecun.com",
        "_manifest.json": b'{"files": 4}',
        ".DS_Store": b"\x00\x00\x00\x01Bud1",
        "empty.bin": b"",
        "notes.csv": b"a,b\n1,2\n",
        "png/train/3/extra.png": formats.write_png(np.full((1, 28, 28), 7, np.uint8)),
        "png/train/4/empty.png": b"",
    })
    landing = io.landing_dir(lake, "mnist")
    deliver(lake, landing, files)

    summary = raw.main(JobContext(lake, spark, BYTES_DAY, "bytes_run", {"dataset": "mnist"}))

    # 1. kept byte for byte: raw zone == delivery == the manifest's and the accounting's SHA-256
    raw_zone = io.raw_zone_dir(lake, "mnist", BYTES_DAY)
    manifest = io.read_dataset_rows(spark, lake, RAW_IMAGE_MANIFEST.identifier, BYTES_DAY, "mnist")
    for name in [*official, odd_case]:
        if name == "t10k-labels-idx1-ubyte.gz":
            continue
        kept = stored(lake, f"{raw_zone}/{name}")
        assert kept == files[name], f"{name}: the raw-zone copy differs from the delivered file"
        assert gzip.decompress(kept)[:3] == b"\x00\x00\x08", f"{name}: not an IDX file after one gunzip"
        of_file = manifest[manifest["source_uri"] == f"{raw_zone}/{name}"]
        if "images" in name:
            assert len(of_file) > 0 and set(of_file["source_file_sha256"]) == {_sha(files[name])}
    accounted = {r["file_name"]: r for r in _delivered_rows(spark, lake, BYTES_DAY, "vision", "mnist")}
    for name, data in files.items():
        assert accounted[name]["sha256"] == _sha(data) and accounted[name]["size_bytes"] == len(data), name

    # 2. every delivered file accounted for, in the summary and in raw.delivered_files, the same way
    expected = {
        "train-images-idx3-ubyte.gz": ("ingested", None), "train-labels-idx1-ubyte.gz": ("ingested", None),
        "t10k-images-idx3-ubyte.gz": ("ingested", None), odd_case: ("ingested", None),
        "png/train/3/extra.png": ("ingested", None),
        "png/train/4/empty.png": ("quarantined", "empty_file"), "empty.bin": ("quarantined", "empty_file"),
        "README.txt": ("ignored", "documentation file"), "_manifest.json": ("ignored", "metadata file"),
        ".DS_Store": ("ignored", "hidden file"), "notes.csv": ("ignored", "not a file of a mnist delivery"),
    }
    in_summary = {f["file"]: f for f in summary["delivered_files"]}
    assert set(in_summary) == set(accounted) == set(files)
    for name, (outcome, reason) in expected.items():
        for where in (in_summary[name], accounted[name].asDict()):
            assert where["outcome"] == outcome, (name, where)
            assert (where["reason"] is None) if reason is None else reason in where["reason"], (name, where)
    assert summary["delivered"] == {"ingested": 5, "quarantined": 2, "ignored": 4}
    # the rows column accounts for every manifest row: images per file (labels files carry none)
    assert sum(r["rows"] or 0 for r in accounted.values()) == len(manifest) == 60 + 2
    assert accounted["train-labels-idx1-ubyte.gz"]["rows"] == 0 and accounted["README.txt"]["rows"] is None
    # only the files that were read are kept in the raw zone
    assert listed(lake, raw_zone) == sorted(n for n, (o, _) in expected.items() if o != "ignored"
                                            and n != "empty.bin")


def test_truncated_gz_stops_raw_with_one_line_naming_the_file(spark, lake, capsys) -> None:  # type: ignore[no-untyped-def]
    files = generator.generate_files("mnist", 40, seed=32)
    files["train-images-idx3-ubyte.gz"] = files["train-images-idx3-ubyte.gz"][:300]
    deliver(lake, io.landing_dir(lake, "mnist"), files)
    manifest_table = lake.table_name(RAW_IMAGE_MANIFEST.identifier)
    accounting_table = lake.table_name(DELIVERED_FILES.identifier)
    before = (current_snapshot_id(spark, manifest_table), current_snapshot_id(spark, accounting_table))
    with pytest.raises(SystemExit) as exit_info:
        run_job(raw.main, app_name="vision-raw", settings=lake, spark=spark,
                argv=["--logical-date", TRUNCATED_DAY.isoformat(), "--run-id", "truncated",
                      "--option", "dataset=mnist"])
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "train-images-idx3-ubyte.gz: corrupt or truncated gzip data" in err[0], err[0]
    assert (current_snapshot_id(spark, manifest_table), current_snapshot_id(spark, accounting_table)) == before
    assert listed(lake, io.raw_zone_dir(lake, "mnist", TRUNCATED_DAY)) == [], "nothing landed"
