"""Regenerate ``infra/web-assets.lock.json``: the CDN files of GX Data Docs, pinned to npm tarballs.

Run by hand when Great Expectations changes its CDN URLs (``python infra/scripts/web_assets_lock.py``); never
at test time. For each package it reads ``https://registry.npmjs.org/<pkg>/<version>`` (tarball URL and
sha512 ``integrity``), downloads the tarball, checks it and records the SHA-256 of every file the site needs.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import re
import sys
import tarfile
import urllib.request
from pathlib import Path

REGISTRY = "https://registry.npmjs.org"
LOCK = Path(__file__).resolve().parents[1] / "web-assets.lock.json"
log = logging.getLogger("web_assets_lock")

# package -> exact version, or a major version ("5.x") resolved to its newest release now.
PACKAGES = {
    "jquery": "3.7.1",
    "bootstrap": "4.3.1",
    "bootstrap-table": "1.19.1",
    "popper.js": "1.12.9",
    "bootstrap-datepicker": "1.9.0",
    "@fortawesome/fontawesome-free": "6.6.0",
    "@forevolve/bootstrap-dark": "1.1.0",
    "vega": "5.x",
    "vega-lite": "5.x",
    "vega-embed": "6.x",
}
# CDN URL used by GX 1.24.1's templates -> (package, file in the tarball; None: package.json's jsdelivr field).
URLS: dict[str, tuple[str, str | None]] = {
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css":
        ("@forevolve/bootstrap-dark", "dist/css/bootstrap-prefers-dark.css"),
    "https://cdn.jsdelivr.net/npm/vega-embed@6": ("vega-embed", None),
    "https://cdn.jsdelivr.net/npm/vega-lite@5": ("vega-lite", None),
    "https://cdn.jsdelivr.net/npm/vega@5": ("vega", None),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css":
        ("bootstrap-datepicker", "dist/css/bootstrap-datepicker.min.css"),
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js":
        ("bootstrap-datepicker", "dist/js/bootstrap-datepicker.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css":
        ("@fortawesome/fontawesome-free", "css/all.min.css"),
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js":
        ("popper.js", "dist/umd/popper.min.js"),
    "https://code.jquery.com/jquery-3.7.1.min.js": ("jquery", "dist/jquery.min.js"),
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css":
        ("bootstrap", "dist/css/bootstrap.min.css"),
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js": ("bootstrap", "dist/js/bootstrap.min.js"),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css":
        ("bootstrap-table", "dist/extensions/filter-control/bootstrap-table-filter-control.css"),
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css":
        ("bootstrap-table", "dist/extensions/filter-control/bootstrap-table-filter-control.min.css"),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css":
        ("bootstrap-table", "dist/bootstrap-table.min.css"),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js":
        ("bootstrap-table", "dist/bootstrap-table.min.js"),
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js":
        ("bootstrap-table", "dist/extensions/filter-control/bootstrap-table-filter-control.min.js"),
}
# Further files a locked file loads by a relative URL (font-awesome's CSS: its webfonts).
EXTRA_PREFIXES = {"@fortawesome/fontawesome-free": ("webfonts/",)}
# GX pins these two with Subresource Integrity: the vendored copies must be the very same bytes.
GX_SRI = {
    ("popper.js", "dist/umd/popper.min.js"): "sha384-ApNbgh9B+Y1QKtv3Rn7W3mgPxhU9K/ScQsAP7hUibX39j7fakFPskvXusvfa0b4Q",
    ("bootstrap", "dist/js/bootstrap.min.js"):
        "sha384-JjSmVgyd0p3pXB1rRibZUAYoIIy6OrQ6VrjIEaFf/nJGzIxFDsf4x0xIM+B07jRM",
}


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=60) as response:
        return response.read()


def _resolve(name: str, wanted: str) -> dict:
    if not wanted.endswith(".x"):
        return json.loads(_get(f"{REGISTRY}/{name}/{wanted}"))
    major = wanted[:-2]
    versions = json.loads(_get(f"{REGISTRY}/{name}"))["versions"]
    newest = max((v for v in versions if re.fullmatch(rf"{major}\.\d+\.\d+", v)),
                 key=lambda v: tuple(int(p) for p in v.split(".")))
    return versions[newest]


def _members(data: bytes) -> dict[str, bytes]:
    """Regular files of an npm tarball, keyed by their path below the top directory (``package/``)."""
    out = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            if member.isfile() and "/" in member.name:
                handle = tar.extractfile(member)
                assert handle is not None
                out[member.name.split("/", 1)[1]] = handle.read()
    return out


def main() -> None:
    """Write the lock file."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    packages = {}
    for name, wanted in PACKAGES.items():
        meta = _resolve(name, wanted)
        integrity = meta["dist"]["integrity"]
        data = _get(meta["dist"]["tarball"])
        algo, _, digest = integrity.partition("-")
        assert algo == "sha512" and base64.b64encode(hashlib.sha512(data).digest()).decode() == digest, name
        packages[name] = {"name": name, "version": meta["version"], "tarball": meta["dist"]["tarball"],
                          "integrity": integrity, "bare": meta.get("jsdelivr") or meta.get("unpkg"),
                          "members": _members(data)}
        log.info("%s@%s: %s", name, meta["version"], integrity[:24])
    needed: dict[str, set[str]] = {name: set() for name in packages}
    urls = {}
    for url, (name, file) in URLS.items():
        package = packages[name]
        file = file or str(package["bare"]).removeprefix("./")
        assert file in package["members"], (url, file)
        needed[name].add(file)
        urls[url] = {"package": name, "version": package["version"], "file": file}
    for name, prefixes in EXTRA_PREFIXES.items():
        needed[name] |= {m for m in packages[name]["members"] if m.startswith(prefixes)}
    for (name, file), sri in GX_SRI.items():
        actual = "sha384-" + base64.b64encode(hashlib.sha384(packages[name]["members"][file]).digest()).decode()
        assert actual == sri, f"{name}/{file} is not the file GX pins ({actual})"
    lock = {
        "_comment": ("Third-party files of Great Expectations Data Docs pages (CDN URLs of GX 1.24.1), vendored "
                     "from npm registry tarballs verified by their sha512 integrity. Generated by "
                     "infra/scripts/web_assets_lock.py; provisioned by `lakehouse web-assets`."),
        "packages": [{"name": name, "version": p["version"], "tarball": p["tarball"], "integrity": p["integrity"],
                      "files": {f: hashlib.sha256(p["members"][f]).hexdigest() for f in sorted(needed[name])}}
                     for name, p in packages.items()],
        "urls": dict(sorted(urls.items())),
    }
    LOCK.write_text(json.dumps(lock, indent=1) + "\n")
    log.info("wrote %s (%d packages, %d URLs)", LOCK, len(packages), len(urls))


if __name__ == "__main__":
    sys.exit(main())
