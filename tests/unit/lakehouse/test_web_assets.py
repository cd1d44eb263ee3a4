"""Data Docs offline: the locked web assets, their provisioning from npm tarballs and the pages' URL rewriting."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from lakehouse import web_assets
from lakehouse.data_docs import rewrite_cdn_urls
from lakehouse.errors import LakehouseError
from lakehouse.settings import WebAssetSettings

# Every CDN URL of GX 1.24.1's Data Docs templates.
GX_CDN_URLS = [
    "https://cdn.jsdelivr.net/npm/@forevolve/bootstrap-dark@1.1.0/dist/css/bootstrap-prefers-dark.css",
    "https://cdn.jsdelivr.net/npm/vega-embed@6",
    "https://cdn.jsdelivr.net/npm/vega-lite@5",
    "https://cdn.jsdelivr.net/npm/vega@5",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/css/bootstrap-datepicker.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/bootstrap-datepicker/1.9.0/js/bootstrap-datepicker.min.js",
    "https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css",
    "https://cdnjs.cloudflare.com/ajax/libs/popper.js/1.12.9/umd/popper.min.js",
    "https://code.jquery.com/jquery-3.7.1.min.js",
    "https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css",
    "https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.css",
    "https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/bootstrap-table-filter-control.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.css",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/bootstrap-table.min.js",
    "https://unpkg.com/bootstrap-table@1.19.1/dist/extensions/filter-control/bootstrap-table-filter-control.min.js",
]
UNRELATED = ['<a href="https://greatexpectations.io/">GX</a>', '<script src="https://cdn.jsdelivr.net/npm/vega@5.1"></script>',
             '<link href="https://unpkg.com/bootstrap-table@1.19.1/dist/other.css">']


def _lock() -> web_assets.WebAssetLock:
    return web_assets.load_lock(WebAssetSettings().lock_file)


def test_the_lock_pins_every_cdn_url_of_gx_to_an_npm_tarball() -> None:
    lock = _lock()
    assert sorted(lock.urls) == sorted(GX_CDN_URLS)
    versions = {p.name: p.version for p in lock.packages}
    assert {k: versions[k] for k in ("jquery", "bootstrap", "bootstrap-table", "popper.js", "bootstrap-datepicker",
                                     "@fortawesome/fontawesome-free", "@forevolve/bootstrap-dark")} == {
        "jquery": "3.7.1", "bootstrap": "4.3.1", "bootstrap-table": "1.19.1", "popper.js": "1.12.9",
        "bootstrap-datepicker": "1.9.0", "@fortawesome/fontawesome-free": "6.6.0", "@forevolve/bootstrap-dark": "1.1.0"}
    assert [versions[k].split(".")[0] for k in ("vega", "vega-lite", "vega-embed")] == ["5", "5", "6"]
    for package in lock.packages:
        assert package.tarball.startswith(f"https://registry.npmjs.org/{package.name}/-/")
        assert package.integrity.startswith("sha512-") and package.files
    fonts = next(p for p in lock.packages if p.name == "@fortawesome/fontawesome-free").files
    assert "webfonts/fa-solid-900.woff2" in fonts
    assert lock.urls["https://cdn.jsdelivr.net/npm/vega@5"].endswith("/build/vega.min.js")
    assert lock.urls["https://unpkg.com/bootstrap-table@1.19.0/dist/extensions/filter-control/"
                     "bootstrap-table-filter-control.css"].startswith("bootstrap-table@1.19.1/")


@pytest.mark.parametrize(("page", "prefix"), [
    ("index.html", ""),
    ("expectations/smoke_events.html", "../"),
    ("expectations/smoke/events.html", "../../"),  # GX makes a directory of each dot of a suite name
    ("validations/smoke_events/run__1/20240301T000000.000000Z/2024-03-01.html", "../../../../"),
])
def test_every_cdn_url_points_into_the_site_at_the_page_s_depth(page: str, prefix: str) -> None:
    urls = {url: f"static/vendor/{rel}" for url, rel in _lock().urls.items()}
    tags = [f'<script src="{url}" integrity="sha384-x" crossorigin="anonymous"></script>' for url in GX_CDN_URLS]
    logo = "https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png?d=20240301T000000Z&amp;x=1"
    html = "\n".join([*tags, *UNRELATED, f'<img class="NO-CACHE" src="{logo}" alt="GX"/>'])
    out = rewrite_cdn_urls(html, page, urls)
    for url in GX_CDN_URLS:
        assert f'"{url}"' not in out
        assert f'<script src="{prefix}{urls[url]}"></script>' in out, url
    assert "integrity" not in out and "crossorigin" not in out
    for unrelated in UNRELATED:
        assert unrelated in out
    assert f'<img class="NO-CACHE" src="{prefix}static/images/logo-long.png" alt="GX"/>' in out
    assert rewrite_cdn_urls("\n".join(UNRELATED), page, urls) == "\n".join(UNRELATED)


def test_without_provisioned_assets_only_gx_s_own_logo_is_made_local() -> None:
    html = '<script src="https://code.jquery.com/jquery-3.7.1.min.js" integrity="sha384-x"></script>'
    assert rewrite_cdn_urls(html, "index.html", {}) == html


def _fake_package(tmp_path: Path, files: dict[str, bytes], *, name: str = "fake-lib",
                  integrity: str | None = None) -> Path:
    """A fake npm tarball (``package/...``) and a lock file for it; returns the lock file."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for path, content in {**files, "README.md": b"not needed"}.items():
            info = tarfile.TarInfo(f"package/{path}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    tarball = tmp_path / f"{name}-1.0.0.tgz"
    tarball.write_bytes(buffer.getvalue())
    digest = integrity or "sha512-" + base64.b64encode(hashlib.sha512(buffer.getvalue()).digest()).decode()
    lock = {"packages": [{"name": name, "version": "1.0.0", "tarball": tarball.as_uri(), "integrity": digest,
                          "files": {p: hashlib.sha256(c).hexdigest() for p, c in files.items()}}],
            "urls": {f"https://cdn.example/{name}.js": {"package": name, "version": "1.0.0", "file": "dist/lib.js"}}}
    lock_file = tmp_path / "web-assets.lock.json"
    lock_file.write_text(json.dumps(lock))
    return lock_file


def test_provisioning_extracts_only_the_locked_files_once(tmp_path: Path) -> None:
    files = {"dist/lib.js": b"console.log(1)", "fonts/a.woff2": b"\x00font"}
    lock_file = _fake_package(tmp_path, files)
    cache = tmp_path / "cache"
    paths = web_assets.provision(cache, lock_file)
    assert sorted(p.relative_to(cache).as_posix() for p in paths) == ["fake-lib@1.0.0/dist/lib.js",
                                                                       "fake-lib@1.0.0/fonts/a.woff2"]
    assert sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file()) == sorted(
        p.relative_to(cache).as_posix() for p in paths)
    (tmp_path / "fake-lib-1.0.0.tgz").unlink()  # idempotent: verified files are not downloaded again
    assert web_assets.provision(cache, lock_file) == paths
    (cache / "fake-lib@1.0.0" / "dist" / "lib.js").write_bytes(b"tampered")
    with pytest.raises(LakehouseError, match="could not download file://"):
        web_assets.provision(cache, lock_file)  # a damaged copy is fetched again
    with pytest.raises(LakehouseError, match=r"lib\.js is missing or differs from the lock"):
        web_assets.verified_files(cache, lock_file)


def test_a_tarball_with_another_checksum_is_refused(tmp_path: Path) -> None:
    wrong = "sha512-" + base64.b64encode(hashlib.sha512(b"something else").digest()).decode()
    lock_file = _fake_package(tmp_path, {"dist/lib.js": b"evil()"}, integrity=wrong)
    cache = tmp_path / "cache"
    with pytest.raises(LakehouseError) as refused:
        web_assets.provision(cache, lock_file)
    message = str(refused.value)
    assert "fake-lib@1.0.0 tarball from file://" in message and "refusing it" in message and "\n" not in message
    assert not (cache / "fake-lib@1.0.0").exists()


def test_an_unreachable_registry_is_one_line(tmp_path: Path) -> None:
    lock_file = _fake_package(tmp_path, {"dist/lib.js": b"x"})
    lock = json.loads(lock_file.read_text())
    lock["packages"][0]["tarball"] = "http://127.0.0.1:9/fake-lib/-/fake-lib-1.0.0.tgz"
    lock_file.write_text(json.dumps(lock))
    with pytest.raises(LakehouseError) as failed:
        web_assets.provision(tmp_path / "cache", lock_file)
    assert str(failed.value).startswith("could not download http://127.0.0.1:9/fake-lib/-/fake-lib-1.0.0.tgz (")
    assert "npm registry reachable" in str(failed.value) and "\n" not in str(failed.value)
