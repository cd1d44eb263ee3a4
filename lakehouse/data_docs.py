"""Great Expectations Data Docs of every quality-gate run: one site at ``{artifacts}/data_docs/``.

The store is the gate reports themselves: ``{artifacts}/validations/<suite>/<date>/<run>.json``, each
holding GX's own serialisation of the run's ``ExpectationSuiteValidationResult`` (``gx_result``). After a
gate has stored its report, :func:`update` renders the site with GX's ``SiteBuilder`` (GX's renderers and
views; nothing here writes HTML) into a temporary local directory, from an ephemeral GX context whose
validation-results store holds every stored report, and copies what changed to ``{artifacts}/data_docs/``
through :mod:`lakehouse.storage` (local disk or S3, with the one S3 configuration of the settings).

Rendering is incremental: pages already on the site are handed to GX as empty placeholders (GX lists the
site's keys from its files), so only the new validation page, its suite's expectations page, any missing
page (a report stored before Data Docs existed) and ``index.html`` are rendered and uploaded; GX's static
assets are uploaded once. The index is GX's: one table of every suite and run, newest first, with links to
each validation page. A page whose report is gone (replaced by a retry of the same run) is dropped by GX's
own index builder and deleted from the site.

Offline: GX's pages load jQuery, Bootstrap, bootstrap-table, Font Awesome and Vega from public CDNs. When
they are provisioned (``lakehouse web-assets``: :mod:`lakehouse.web_assets`), every rendered page has those
CDN URLs rewritten to relative paths into the site, whose ``static/vendor/`` holds the locked copies
(uploaded once, like GX's own static files); the site then needs no network. Without them the pages keep
the CDN URLs (one warning) and work online only. GX's navbar logo, which its pages fetch from GX's S3
bucket, always points at GX's own copy in ``static/images/``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lakehouse import storage, web_assets
from lakehouse.errors import LakehouseError
from lakehouse.settings import LakehouseSettings

if TYPE_CHECKING:
    from great_expectations.data_context.types.resource_identifiers import ValidationResultIdentifier

log = logging.getLogger("lakehouse.data_docs")

SITE_DIR = "data_docs"
SITE_NAME = "lakehouse quality gates"
_IO_THREADS = 8
_PAGES = ("validations/", "expectations/")
# GX's logo in each page's navbar is fetched from GX's S3 bucket (with a tracking query); GX ships it too.
_GX_LOGO = re.compile(r"https://great-expectations-web-assets\.s3\.us-east-2\.amazonaws\.com/logo-long\.png[^\"'\s>]*")
_TAG = re.compile(r"<(?:script|link)\b[^>]*>", re.IGNORECASE)
_SRI_ATTRIBUTES = re.compile(r"\s+(?:integrity|crossorigin)(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s>]+))?", re.IGNORECASE)


@dataclass(frozen=True)
class DataDocsUpdate:
    """What one :func:`update` did."""

    index_uri: str
    page_uri: str
    rendered: int  # pages rendered (index not counted)
    listed: int  # validations listed in the index
    uploaded: int  # files copied to the site
    seconds: float


def data_docs_uri(settings: LakehouseSettings) -> str:
    """The site's root: ``{artifacts}/data_docs`` (a ``file://`` or ``s3://`` URI)."""
    return storage.join(storage.to_uri(settings.artifacts), SITE_DIR)


def data_docs_index_uri(settings: LakehouseSettings) -> str:
    """The one index page of every suite and run: ``{artifacts}/data_docs/index.html``."""
    return storage.join(data_docs_uri(settings), "index.html")


def validated_at(document: dict[str, Any]) -> dt.datetime:
    """When a stored report's validation ran (UTC); midnight of its logical date for reports stored
    before this was recorded."""
    stamp = document.get("validated_at")
    if stamp:
        moment = dt.datetime.fromisoformat(stamp)
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return dt.datetime.fromisoformat(document["logical_date"]).replace(tzinfo=dt.UTC)


def validation_key(document: dict[str, Any]) -> ValidationResultIdentifier:
    """GX's key of a stored report: suite, run (name: the run id as a path segment; time: when it was
    validated) and batch (the logical date)."""
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    return ValidationResultIdentifier(
        expectation_suite_identifier=ExpectationSuiteIdentifier(name=document["suite"]),
        run_id=RunIdentifier(run_name=storage.safe_segment(document["run_id"]), run_time=validated_at(document)),
        batch_identifier=document["logical_date"],
    )


def _page_name(key: Any) -> str:
    """Where GX's site store puts the page of a key, relative to the site root (its tuple as a path)."""
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier

    section = "expectations" if isinstance(key, ExpectationSuiteIdentifier) else "validations"
    return "/".join([section, *key.to_tuple()]) + ".html"


def page_uri(settings: LakehouseSettings, document: dict[str, Any]) -> str:
    """The Data Docs page of one stored report (it exists once :func:`update` has run for it)."""
    return storage.join(data_docs_uri(settings), _page_name(validation_key(document)))


def _result(document: dict[str, Any], key: ValidationResultIdentifier, *, details: bool) -> dict[str, Any]:
    """The report's GX result (GX's JSON form), its meta naming the run (shown on its page); without
    ``details`` only what the index shows (verdict, statistics, meta)."""
    gx_result = dict(document["gx_result"])
    gx_result["meta"] = {**(gx_result.get("meta") or {}), "run_id": key.run_id.to_json_dict()}
    if not details:
        gx_result["results"] = []
    gx_result.setdefault("suite_name", document["suite"])
    return gx_result


def _keep(store: Any, key: ValidationResultIdentifier, gx_result: dict[str, Any]) -> None:
    """Put a result into the ephemeral validation-results store in GX's own serialised form (the JSON that
    ``ValidationResultsStore.serialize`` writes and its ``get`` loads), without a round trip through
    GX objects: the index of many runs reads each back once."""
    store.store_backend.set(store.key_to_tuple(key), json.dumps(gx_result, default=str))


def _context() -> Any:
    """An ephemeral GX context (in-memory stores) with analytics and progress bars off."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return context


def _scratch() -> str | None:
    """Where the site is rendered: memory-backed /dev/shm when there is one (a placeholder per page on the
    site makes thousands of small files and directories), else the default temporary directory."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def relative_prefix(page_name: str) -> str:
    """The way from a page (its path relative to the site root, e.g. ``validations/s/r/t/b.html``) back up to
    the site root: ``""`` for ``index.html``, one ``../`` per directory otherwise."""
    return "../" * page_name.count("/")


def rewrite_cdn_urls(html: str, page_name: str, urls: dict[str, str]) -> str:
    """``html`` of the page at ``page_name`` with every CDN URL of ``urls`` (CDN URL -> site-relative path of
    its vendored copy) and GX's remote logo pointing into the site by relative paths. A ``<script>`` or
    ``<link>`` whose URL is rewritten loses its ``integrity`` and ``crossorigin`` attributes: browsers refuse
    Subresource Integrity on ``file://`` (the copies are verified against the lock instead). Anything else
    is left as it is."""
    prefix = relative_prefix(page_name)
    pattern = re.compile("|".join(re.escape(url) for url in sorted(urls, key=len, reverse=True))
                         + r"(?=[\"'\s>]|$)") if urls else None

    def local(text: str) -> str:
        return pattern.sub(lambda m: prefix + urls[m.group(0)], text) if pattern else text

    def tag(match: re.Match[str]) -> str:
        original = match.group(0)
        rewritten = local(original)
        return _SRI_ATTRIBUTES.sub("", rewritten) if rewritten != original else original

    html = local(_TAG.sub(tag, html))  # tags first (dropping SRI), then any other quoted occurrence
    return _GX_LOGO.sub(prefix + "static/images/logo-long.png", html)


def _vendored(settings: LakehouseSettings, on_site: set[str]) -> web_assets.Vendored | None:
    """The provisioned web assets, checked before any of them is first copied to the site; None (and one
    warning: the pages keep their CDN URLs) when they are not provisioned or a cached copy is damaged."""
    assets = web_assets.vendored(settings)
    if assets is None:
        log.warning("data docs: web assets not provisioned in %s: pages load jQuery, Bootstrap, ... from CDNs "
                    "and need internet (run `lakehouse web-assets`)", settings.web_assets.cache_dir)
        return None
    try:
        web_assets.verify(assets, [name for name in assets.files if name not in on_site])
    except LakehouseError as exc:
        log.warning("data docs: pages load their scripts from CDNs: %s", exc)
        return None
    return assets


def update(settings: LakehouseSettings, reports_root: str, document: dict[str, Any],
           expectations: list[dict[str, Any]], *, rebuilds_left: int = 3) -> DataDocsUpdate:
    """Add the validation of ``document`` (a report just stored under ``reports_root``) to the site and
    rebuild its index from every report stored there; return where the index and the page are.

    Gates of concurrent runs update the one site at once. The index is written from the reports listed at
    the start, so after writing it the reports are listed again: if another gate stored one meanwhile (its
    own index may already have been overwritten by this one), the index is rebuilt (``rebuilds_left`` times
    at most). Whichever index is written last was then built from every report stored before it was.
    """
    from great_expectations import ExpectationSuite
    from great_expectations.data_context.types.resource_identifiers import ExpectationSuiteIdentifier
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration
    from great_expectations.render.renderer.site_builder import SiteBuilder

    started = time.perf_counter()
    site = data_docs_uri(settings)
    on_site = {f.name for f in storage.list_files(settings, site)}
    new_key = validation_key(document)
    stored = [f for f in storage.list_files(settings, reports_root) if f.name.endswith(".json")]
    new_report = (document["suite"], document["logical_date"], storage.safe_segment(document["run_id"]))

    context = _context()
    results = context.validation_results_store
    _keep(results, new_key, _result(document, new_key, details=True))
    to_render: list[Any] = [new_key, ExpectationSuiteIdentifier(name=document["suite"])]

    def load(report: storage.StoredFile) -> tuple[Any, Any, bool] | None:
        try:
            other = json.loads(storage.read_bytes(settings, report.uri))
            if (other["suite"], other["logical_date"], storage.safe_segment(other["run_id"])) == new_report:
                return None  # this run's own report (possibly an earlier attempt's, about to be replaced)
            key = validation_key(other)
            missing = _page_name(key) not in on_site
            return key, _result(other, key, details=missing), missing
        except (KeyError, TypeError, ValueError) as exc:
            log.warning("data docs: skipping unreadable report %s (%s)", report.uri, exc)
            return None

    with ThreadPoolExecutor(max_workers=_IO_THREADS) as pool:
        loaded = [item for item in pool.map(load, stored) if item is not None]
    suites = {document["suite"]} | {key.expectation_suite_identifier.name for key, _, _ in loaded}
    for key, result, missing in loaded:
        _keep(results, key, result)
        if missing:
            to_render.append(key)

    suite = ExpectationSuite(name=document["suite"])
    suite.add_expectation_configurations(
        [ExpectationConfiguration(type=e["type"], kwargs=e["kwargs"], meta=e.get("meta")) for e in expectations])
    context.suites.add(suite)
    placeholders = {name for name in on_site if name.startswith(_PAGES) and name.endswith(".html")}
    # Suites with a page on the site stay listed (GX drops site pages whose suite its store lacks).
    suites |= {name[len("expectations/"):-len(".html")].replace("/", ".")
               for name in placeholders if name.startswith("expectations/")}
    for name in sorted(suites - {document["suite"]}):
        context.suites.add(ExpectationSuite(name=name))

    with tempfile.TemporaryDirectory(prefix="lakehouse-data-docs-", dir=_scratch()) as tmp:
        root = Path(tmp)
        for name in placeholders:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).touch()
        builder = SiteBuilder(
            data_context=context,
            store_backend={"class_name": "TupleFilesystemStoreBackend", "base_directory": tmp},
            site_name=SITE_NAME,
            show_how_to_buttons=False,
            site_section_builders={
                "profiling": "None",
                # GX's default filter hides runs whose name contains "profiling": list every run.
                "validations": {"run_name_filter": {"matches_regex": "^"}},
            },
        )
        builder.build(resource_identifiers=to_render)

        written = {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file()}
        upload = [name for name, path in written.items()
                  if not (name in placeholders and path.stat().st_size == 0)
                  and not (name.startswith("static/") and name in on_site)]
        dropped = sorted(placeholders - set(written))
        assets = _vendored(settings, on_site)
        for name in upload:
            if name.endswith(".html"):
                path = written[name]
                path.write_text(rewrite_cdn_urls(path.read_text(encoding="utf-8"), name,
                                                 assets.urls if assets else {}), encoding="utf-8")
        if assets is not None:
            vendor = [name for name in assets.files if name not in on_site]
            written.update({name: assets.files[name] for name in vendor})
            upload = vendor + upload  # before the pages that use them

        def put(name: str) -> None:
            storage.write_bytes(settings, storage.join(site, name), written[name].read_bytes())

        with ThreadPoolExecutor(max_workers=_IO_THREADS) as pool:
            list(pool.map(put, [name for name in upload if name != "index.html"]))
            if "index.html" in upload:
                put("index.html")  # last: the index never links to a page not yet on the site
            list(pool.map(lambda name: storage.delete(settings, storage.join(site, name)), dropped))

    listed = {report.uri for report in stored}
    stored_since = [f for f in storage.list_files(settings, reports_root)
                    if f.name.endswith(".json") and f.uri not in listed]
    if stored_since and rebuilds_left > 0:
        log.info("data docs: %d report(s) stored by other gates while the index was built; rebuilding it",
                 len(stored_since))
        return update(settings, reports_root, document, expectations, rebuilds_left=rebuilds_left - 1)
    seconds = time.perf_counter() - started
    rendered = sum(1 for name in upload if name.startswith(_PAGES))
    log.info("data docs: %d page(s) rendered, %d validations listed, %d file(s) uploaded in %.2f s: %s",
             rendered, len(loaded) + 1, len(upload), seconds, data_docs_index_uri(settings))
    return DataDocsUpdate(data_docs_index_uri(settings), storage.join(site, _page_name(new_key)), rendered,
                          len(loaded) + 1, len(upload), seconds)
