"""Third-party web assets of the Data Docs pages, provisioned from the npm registry into a verified cache.

Great Expectations' Data Docs pages load jQuery, Bootstrap, bootstrap-table, Font Awesome, Vega, ... from
public CDNs, which many machines cannot reach (only package registries are). The lock
(``infra/web-assets.lock.json``, written by ``infra/scripts/web_assets_lock.py``) pins each npm package to an
exact version, its registry tarball and that tarball's sha512 ``integrity``, names the files the pages need
(with their SHA-256) and maps every CDN URL of GX's templates to one of them.

:func:`provision` (``lakehouse web-assets``, run by ``make``) downloads each tarball whose files are not all
in the cache yet with ``urllib`` (no ``npm`` needed), refuses it unless its sha512 is the locked one, and
extracts only the listed files into ``{cache_dir}/<package>@<version>/``. :mod:`lakehouse.data_docs` copies
them into the site under ``static/vendor/<package>@<version>/`` and points the pages there.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import tarfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from lakehouse.errors import LakehouseError
from lakehouse.jars import sha256_of
from lakehouse.settings import LakehouseSettings, WebAssetSettings

log = logging.getLogger(__name__)

VENDOR_DIR = "static/vendor"
_TIMEOUT_S = 60


@dataclass(frozen=True)
class WebPackage:
    """One locked npm package: its tarball, the tarball's sha512 integrity and the files taken from it."""

    name: str
    version: str
    tarball: str
    integrity: str
    files: dict[str, str]  # path inside the package -> SHA-256 hex

    @property
    def directory(self) -> str:
        """``<name>@<version>``: the package's directory in the cache and under ``static/vendor/``."""
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class WebAssetLock:
    """The whole lock: packages, and each CDN URL's file as a path relative to the cache root."""

    packages: tuple[WebPackage, ...]
    urls: dict[str, str]  # CDN URL -> "<name>@<version>/<file>"


def load_lock(lock_file: Path) -> WebAssetLock:
    """Read and check the web-asset lock file (every URL maps to a locked file; no path leaves its package)."""
    try:
        data = json.loads(lock_file.read_text())
    except FileNotFoundError as exc:
        raise LakehouseError(f"web-asset lock file {lock_file} not found") from exc
    packages = tuple(WebPackage(p["name"], p["version"], p["tarball"], p["integrity"], dict(p["files"]))
                     for p in data["packages"])
    by_key = {(p.name, p.version): p for p in packages}
    for package in packages:
        for file in package.files:
            parts = PurePosixPath(file).parts
            if not parts or file.startswith("/") or ".." in parts:
                raise LakehouseError(f"web-asset lock file {lock_file}: bad path {file!r} in {package.directory}")
    urls = {}
    for url, target in data["urls"].items():
        package = by_key.get((target["package"], target["version"]))
        if package is None or target["file"] not in package.files:
            raise LakehouseError(f"web-asset lock file {lock_file}: {url} maps to a file it does not lock")
        urls[url] = f"{package.directory}/{target['file']}"
    return WebAssetLock(packages, urls)


def _config(target: LakehouseSettings | WebAssetSettings | Path, lock_file: Path | None) -> tuple[Path, Path]:
    if isinstance(target, LakehouseSettings):
        target = target.web_assets
    if isinstance(target, WebAssetSettings):
        return target.cache_dir, lock_file or target.lock_file
    return Path(target), lock_file or WebAssetSettings().lock_file


def _sha256(path: Path) -> str | None:
    return sha256_of(path) if path.is_file() else None


def _complete(package: WebPackage, cache_dir: Path) -> bool:
    """Whether every locked file of ``package`` is in the cache with its locked SHA-256."""
    return all(_sha256(cache_dir / package.directory / f) == digest for f, digest in package.files.items())


def _download(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response:
            return response.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise LakehouseError(f"could not download {url} ({reason}): is the npm registry reachable? "
                             "(run `lakehouse web-assets` where it is, or Data Docs pages use the CDNs)") from None


def _check_integrity(package: WebPackage, data: bytes) -> None:
    algorithm, _, expected = package.integrity.partition("-")
    if algorithm != "sha512":
        raise LakehouseError(f"{package.directory}: unsupported integrity {package.integrity[:16]}... in the lock")
    actual = base64.b64encode(hashlib.sha512(data).digest()).decode()
    if actual != expected:
        raise LakehouseError(f"{package.directory} tarball from {package.tarball} has sha512 {actual[:16]}..., "
                             f"expected {expected[:16]}...: refusing it")


def _extract(package: WebPackage, data: bytes, cache_dir: Path) -> None:
    """Write the locked files of a verified tarball into the cache (each checked, each replaced atomically)."""
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            inner = member.name.split("/", 1)[1] if "/" in member.name else ""
            if member.isfile() and inner in package.files:
                handle = tar.extractfile(member)
                if handle is not None:
                    found[inner] = handle.read()
    for file, digest in package.files.items():
        content = found.get(file)
        if content is None:
            raise LakehouseError(f"{package.directory} tarball has no {file}: the lock file is wrong")
        if hashlib.sha256(content).hexdigest() != digest:
            raise LakehouseError(f"{package.directory}/{file} differs from its locked sha256: refusing it")
    for file, content in found.items():
        target = cache_dir / package.directory / file
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        part.write_bytes(content)
        part.replace(target)


def provision(target: LakehouseSettings | WebAssetSettings | Path, lock_file: Path | None = None) -> list[Path]:
    """Fetch every locked package whose files are missing or changed in the cache, verify and extract it;
    return the cached paths of all locked files. ``target`` is the settings or the cache directory itself.
    Raises :class:`LakehouseError` (one line) when the registry is unreachable or a checksum differs."""
    cache_dir, lock_path = _config(target, lock_file)
    lock = load_lock(lock_path)
    for package in lock.packages:
        if _complete(package, cache_dir):
            continue
        log.info("fetching %s from %s", package.directory, package.tarball)
        data = _download(package.tarball)
        _check_integrity(package, data)
        _extract(package, data, cache_dir)
    return verified_files(cache_dir, lock_path)


def verified_files(target: LakehouseSettings | WebAssetSettings | Path, lock_file: Path | None = None) -> list[Path]:
    """Cached paths of every locked file, each checked against its SHA-256; raises naming the first bad one."""
    cache_dir, lock_path = _config(target, lock_file)
    paths = []
    for package in load_lock(lock_path).packages:
        for file, digest in package.files.items():
            path = cache_dir / package.directory / file
            if _sha256(path) != digest:
                raise LakehouseError(f"web asset {path} is missing or differs from the lock: run `make web-assets`")
            paths.append(path)
    return paths


@dataclass(frozen=True)
class Vendored:
    """What a Data Docs site needs to serve the locked assets itself."""

    urls: dict[str, str]  # CDN URL -> site-relative path (static/vendor/<name>@<version>/<file>)
    files: dict[str, Path]  # site-relative path -> cached file
    sha256: dict[str, str]  # site-relative path -> locked SHA-256


def vendored(settings: LakehouseSettings) -> Vendored | None:
    """The site paths of the provisioned assets, or None when the lock or any cached file is missing (only
    presence is checked here; a file's content is checked before it is copied to a site: :func:`verify`)."""
    cache_dir, lock_path = _config(settings, None)
    try:
        lock = load_lock(lock_path)
    except (LakehouseError, OSError, ValueError, KeyError):
        return None
    files, digests = {}, {}
    for package in lock.packages:
        for file, digest in package.files.items():
            path = cache_dir / package.directory / file
            if not path.is_file():
                return None
            name = f"{VENDOR_DIR}/{package.directory}/{file}"
            files[name], digests[name] = path, digest
    return Vendored({url: f"{VENDOR_DIR}/{rel}" for url, rel in lock.urls.items()}, files, digests)


def verify(assets: Vendored, names: list[str]) -> None:
    """Check the cached files of ``names`` (site-relative) against the lock; raise naming the first bad one."""
    for name in names:
        if _sha256(assets.files[name]) != assets.sha256[name]:
            raise LakehouseError(f"web asset {assets.files[name]} differs from the lock: run `make web-assets`")
