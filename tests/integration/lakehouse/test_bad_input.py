"""Misconfiguration fails fast with one readable line and a non-zero exit (no Java traces)."""

from __future__ import annotations

import sqlite3

from lakehouse.settings import LakehouseSettings
from tests.conftest import make_s3_settings
from tests.support.cli import run_cli
from tests.support.servers import S3Endpoint, free_port


def _one_error_line(result) -> str:  # type: ignore[no-untyped-def]
    assert result.returncode == 1, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_unknown_profile(tmp_path) -> None:
    line = _one_error_line(run_cli(["tables"], env={"LAKEHOUSE_PROFILE": "prod", "LAKEHOUSE_HOME": str(tmp_path)}))
    assert "unknown profile 'prod'" in line


def test_unreachable_s3_endpoint(tmp_path, s3: S3Endpoint) -> None:
    dead = S3Endpoint(f"http://127.0.0.1:{free_port()}", s3.access_key, s3.secret_key, s3.bucket)
    line = _one_error_line(run_cli(["init"], make_s3_settings(tmp_path, dead), timeout=60))
    assert "unreachable" in line and "127.0.0.1" in line


def test_missing_bucket(tmp_path, s3: S3Endpoint) -> None:
    settings = make_s3_settings(tmp_path, s3, warehouse="s3://no-such-bucket/warehouse")
    line = _one_error_line(run_cli(["init"], settings))
    assert "bucket 'no-such-bucket' does not exist" in line


def test_locked_catalog(tmp_path) -> None:
    settings = LakehouseSettings(home=tmp_path, catalog={"busy_timeout_ms": 300})
    (tmp_path / "catalog.db").touch()
    holder = sqlite3.connect(tmp_path / "catalog.db")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        line = _one_error_line(run_cli(["tables"], settings))
    finally:
        holder.rollback()
        holder.close()
    assert "is locked by another process" in line


def test_missing_jar(tmp_path) -> None:
    settings = LakehouseSettings(home=tmp_path, jars={"cache_dir": tmp_path / "empty-cache"})
    line = _one_error_line(run_cli(["sql", "SELECT 1"], settings))
    assert "iceberg-spark-runtime-3.5_2.12-1.10.2.jar is missing" in line and "make jars" in line
