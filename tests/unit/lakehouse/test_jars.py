"""Jar verification against the SHA-256 lock, and refusal of wrong downloads."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from lakehouse import jars
from lakehouse.errors import LakehouseError
from lakehouse.settings import LakehouseSettings


def _settings_with_lock(tmp_path: Path, content: bytes) -> LakehouseSettings:
    lock = tmp_path / "jars.lock.json"
    lock.write_text(json.dumps({"jars": [{
        "file": "demo.jar", "sha256": hashlib.sha256(content).hexdigest(), "maven": "org.demo:demo:1.0",
        "source": {"kind": "debian", "package": "demo", "path": str(tmp_path / "system" / "demo.jar")},
    }]}))
    return LakehouseSettings(home=tmp_path, jars={"cache_dir": tmp_path / "cache", "lock_file": lock})


def test_good_jar_verifies_and_is_not_rehashed(tmp_path: Path, monkeypatch) -> None:
    settings = _settings_with_lock(tmp_path, b"jar-bytes")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "demo.jar").write_bytes(b"jar-bytes")
    assert jars.verified_jars(settings) == [tmp_path / "cache" / "demo.jar"]
    calls = []
    monkeypatch.setattr(jars, "sha256_of", lambda p: calls.append(p) or "x")
    jars.verified_jars(settings)
    assert calls == [], "an unchanged, already verified jar is not hashed again"


def test_corrupt_jar_is_refused_naming_the_file(tmp_path: Path) -> None:
    settings = _settings_with_lock(tmp_path, b"jar-bytes")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "demo.jar").write_bytes(b"jar-bytes")
    jars.verified_jars(settings)
    (tmp_path / "cache" / "demo.jar").write_bytes(b"tampered!")
    with pytest.raises(LakehouseError, match=r"jar .*demo\.jar failed verification"):
        jars.verified_jars(settings)


def test_missing_jar_says_how_to_fix(tmp_path: Path) -> None:
    settings = _settings_with_lock(tmp_path, b"jar-bytes")
    with pytest.raises(LakehouseError, match=r"jar demo\.jar is missing .*make jars"):
        jars.verified_jars(settings)


def test_provision_copies_from_the_source_and_verifies(tmp_path: Path) -> None:
    settings = _settings_with_lock(tmp_path, b"jar-bytes")
    (tmp_path / "system").mkdir()
    (tmp_path / "system" / "demo.jar").write_bytes(b"jar-bytes")
    assert jars.provision(settings) == [tmp_path / "cache" / "demo.jar"]
    assert (tmp_path / "cache" / "demo.jar").read_bytes() == b"jar-bytes"


def test_provision_refuses_a_source_with_the_wrong_hash(tmp_path: Path) -> None:
    settings = _settings_with_lock(tmp_path, b"jar-bytes")
    (tmp_path / "system").mkdir()
    (tmp_path / "system" / "demo.jar").write_bytes(b"something else")
    with pytest.raises(LakehouseError, match=r"jar demo\.jar from .* refusing it"):
        jars.provision(settings)
    assert not (tmp_path / "cache" / "demo.jar").exists()


def test_maven_mode_uses_coordinates(tmp_path: Path) -> None:
    from lakehouse.spark import jar_conf

    settings = _settings_with_lock(tmp_path, b"jar-bytes")
    settings.jars.source = "maven"
    assert jar_conf(settings) == {"spark.jars.packages": "org.demo:demo:1.0"}


def test_committed_lock_matches_design_hashes() -> None:
    specs = {s.file: s for s in jars.load_lock(LakehouseSettings().jars.lock_file)}
    assert specs["iceberg-spark-runtime-3.5_2.12-1.10.2.jar"].sha256.startswith("c562d482dcd1")
    assert specs["hadoop-aws-3.3.1.jar"].sha256.startswith("6be50ad8a8b4")
    assert specs["aws-java-sdk-bundle-1.11.901.jar"].sha256.startswith("b87175b32a16")
