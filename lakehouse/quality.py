"""Data-quality gates with Great Expectations (1.x) on Spark DataFrames.

A suite lives in ``expectations/<suite_name>.py`` and exposes ``build(ctx: GateContext) -> list[dict]``
returning expectation configurations (``{"type": "expect_...", "kwargs": {...}}``). Suites are
functions of the run so reconciliation counts can be computed from other tables.

Every gate stores its result as JSON (:func:`report_uri`; GX's own ``ExpectationSuiteValidationResult``
under ``gx_result``) and adds it to Great Expectations' Data Docs site at ``{artifacts}/data_docs/``
(:func:`data_docs_index_uri`; see :mod:`lakehouse.data_docs`). A failing gate raises one line that says in
words what each failed expectation found against what it allows (:mod:`lakehouse.quality_messages`).

A gate first runs a fused, conservative pre-check (:mod:`lakehouse.quality_fused`): every expectation of the
suite in one Spark aggregation plus one grouped aggregation per uniqueness key, so a passing gate costs about
one read of the staged rows instead of one Spark job per GX metric. Only a suite it cannot pass (a failure,
or an expectation it does not support) is validated by GX, whose verdict and report are authoritative.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import logging
import os
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lakehouse import data_docs, storage
from lakehouse.errors import DataQualityError, LakehouseError
from lakehouse.quality_messages import describe, expectation_id
from lakehouse.settings import LakehouseSettings

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger("lakehouse.quality")
_SHOWN_PROBLEMS = 5  # failures named in the one-line message (all are in the report)


@dataclass
class GateContext:
    """What a suite may look at: the run's staged rows and any published table."""

    spark: SparkSession
    settings: LakehouseSettings
    logical_date: dt.date
    run_id: str

    def read(self, identifier: str, staged: bool = True) -> DataFrame:
        """The logical date's rows of ``identifier``: staged on this run's audit branch, or on main."""
        from lakehouse.pipeline import table_spec
        from lakehouse.publish import read_staged
        from lakehouse.read import read_for_date

        spec = table_spec(self.settings, identifier)
        if staged:
            return read_staged(self.spark, self.settings, spec, self.run_id, self.logical_date)
        return read_for_date(self.spark, self.settings, spec, self.logical_date if spec.logical_date_column else None)


@dataclass(frozen=True)
class GateResult:
    """Outcome of one gate."""

    suite: str
    success: bool
    evaluated: int
    failed: list[str]  # expectation ids, e.g. expect_column_values_to_not_be_null(global_active_power)
    report_uri: str  # the result JSON
    problems: list[str] = field(default_factory=list)  # each failure in words (lakehouse.quality_messages)
    data_docs_uri: str | None = None  # the Data Docs page of this validation


def load_suite(suite_name: str) -> Any:
    """Import the suite ``expectations/<suite_name>.py``, or a domain package's module when the name is
    dotted (``my_domain.suites.orders``)."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*", suite_name):
        raise LakehouseError(f"invalid suite name {suite_name!r}")
    module = suite_name if "." in suite_name else f"expectations.{suite_name}"
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise LakehouseError(f"no expectation suite {module} ({module.replace('.', '/')}.py)") from exc


def validate(df: DataFrame, suite_name: str, expectations: list[dict[str, Any]], *,
             fused: bool = True) -> dict[str, Any]:
    """Validate the expectations on ``df``; return a GX ``ExpectationSuiteValidationResult`` as a dict.

    First the fused pre-check (:func:`lakehouse.quality_fused.precheck`, unless ``fused`` is False): if it
    supports every expectation and all pass, its GX-shaped result is returned (``meta.evaluated_by`` names
    it) and GX never runs; it is conservative, so it never passes what GX would fail.

    Otherwise GX validates with an ephemeral context. When the fused check ran and found a failure, GX's
    default ``SUMMARY`` validation runs at once (the authoritative verdict and the report). When it could not
    run (an unsupported expectation), two passes, the second only on failure: the verdicts alone
    (``BOOLEAN_ONLY``) skip the metrics that only describe a result (unexpected-value samples, which cost
    each uniqueness check a second full shuffle: 2.6x faster on 5M silver ticks), and a failing suite is
    validated again with ``SUMMARY``, so a failure's report has observed values and unexpected samples.
    """
    refuse_shared_domains(suite_name, expectations)
    fused_failed = False
    if fused:
        from lakehouse.quality_fused import precheck

        started = time.perf_counter()
        try:
            check = precheck(df, suite_name, expectations)
        except Exception as exc:  # e.g. a row condition Spark cannot analyse: GX reports it
            log.info("fused check of %s not used (%s: %s)", suite_name, type(exc).__name__,
                     str(exc).splitlines()[0] if str(exc) else "")
        else:
            if check.applicable and check.success and check.gx_result is not None:
                log.info("quality gate %s passed the fused check in %.2f s", suite_name, time.perf_counter() - started)
                return check.gx_result
            fused_failed = check.applicable
            log.info("fused check of %s: %s; validating with GX", suite_name,
                     "a failure" if fused_failed else f"not applicable ({check.reason})")
    return _validate_with_gx(df, suite_name, expectations, boolean_first=not fused_failed)


def refuse_shared_domains(suite_name: str, expectations: list[dict[str, Any]]) -> None:
    """Refuse a suite that declares two expectations of one type on one domain (same column(s), row condition
    and condition parser, as GX decides with ``isEquivalentTo(match_type="domain")``).

    A GX suite holds one expectation per type and domain: adding a second replaces the first, so one of the
    two declared checks would silently never run. The suite must merge them or give each its own row
    condition; the error names both (their positions in the suite, 1-based)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    seen: list[ExpectationConfiguration] = []
    for position, declared in enumerate(expectations, start=1):
        config = ExpectationConfiguration(type=declared["type"], kwargs=declared.get("kwargs") or {})
        for earlier, other in enumerate(seen, start=1):
            if other.isEquivalentTo(config, match_type="domain"):
                domain = {k: v for k, v in config.get_domain_kwargs().items() if v is not None}
                raise LakehouseError(
                    f"suite {suite_name}: expectations {earlier} and {position} are both {config.type} on "
                    f"{domain or 'the table'}; Great Expectations keeps one per domain, so one would never run: "
                    "merge them or give each its own row_condition")
        seen.append(config)


def _validate_with_gx(df: DataFrame, suite_name: str, expectations: list[dict[str, Any]], *,
                      boolean_first: bool = True, verdicts_only: bool = False) -> dict[str, Any]:
    """GX's validation with an ephemeral context: ``BOOLEAN_ONLY`` first (``boolean_first``), then ``SUMMARY``
    only on failure; or ``SUMMARY`` alone; or (``verdicts_only``) the ``BOOLEAN_ONLY`` verdicts alone."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    context = gx.get_context(mode="ephemeral")
    # Progress bars go to stderr and would break the one-line failure contract of jobs.
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_spark(name="lakehouse")
    asset = source.add_dataframe_asset(name=suite_name)
    batch_definition = asset.add_batch_definition_whole_dataframe("whole")
    suite = gx.ExpectationSuite(name=suite_name)
    suite.add_expectation_configurations(
        [ExpectationConfiguration(type=e["type"], kwargs=e["kwargs"], meta=e.get("meta")) for e in expectations]
    )
    batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
    if boolean_first or verdicts_only:
        verdicts = batch.validate(suite, result_format="BOOLEAN_ONLY")
        if verdicts.success or verdicts_only:
            return verdicts.to_json_dict()
    return batch.validate(suite).to_json_dict()


def report_uri(settings: LakehouseSettings, suite_name: str, logical_date: dt.date, run_id: str) -> str:
    """Where a validation result is kept: {artifacts}/validations/<suite>/<date>/<run>.json."""
    safe_run = storage.safe_segment(run_id)
    return storage.join(reports_root(settings), suite_name, logical_date.isoformat(), f"{safe_run}.json")


def reports_root(settings: LakehouseSettings) -> str:
    """The store of every gate's result JSON: {artifacts}/validations (also the source of Data Docs)."""
    return storage.join(storage.to_uri(settings.artifacts), "validations")


def data_docs_index_uri(settings: LakehouseSettings) -> str:
    """The Great Expectations Data Docs index of every suite and run: {artifacts}/data_docs/index.html."""
    return data_docs.data_docs_index_uri(settings)


def run_gate(df: DataFrame, ctx: GateContext, suite_name: str, expectations: list[dict[str, Any]]) -> GateResult:
    """Validate ``df``, store the result JSON, add it to the Data Docs site, and raise DataQualityError
    (one line naming each failure in words, the observed value against what was allowed) if any
    expectation failed.

    The JSON at :func:`report_uri` has ``suite``, ``logical_date``, ``run_id``, ``success``, ``failed``
    (expectation ids), ``problems`` (the same failures in words), ``validated_at``, ``data_docs`` (the
    validation's Data Docs page) and ``gx_result`` (GX's ``ExpectationSuiteValidationResult``, the
    store Data Docs are rendered from).
    """
    validated = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    result = validate(df, suite_name, expectations)
    validation_s = time.perf_counter() - started
    failures = [r for r in result.get("results", []) if not r.get("success", False)]
    failed = [expectation_id(r.get("expectation_config", {})) for r in failures]
    problems = [describe(r) for r in failures]
    uri = report_uri(ctx.settings, suite_name, ctx.logical_date, ctx.run_id)
    document = {"suite": suite_name, "logical_date": ctx.logical_date.isoformat(), "run_id": ctx.run_id,
                "success": bool(result.get("success")), "failed": failed, "problems": problems,
                "validated_at": validated.isoformat(), "gx_result": result}
    page = data_docs.page_uri(ctx.settings, document)
    document["data_docs"] = page
    storage.write_bytes(ctx.settings, uri, json.dumps(document, indent=2, default=str).encode())
    started = time.perf_counter()
    try:
        data_docs.update(ctx.settings, reports_root(ctx.settings), document, expectations)
    except Exception as exc:  # the verdict and its JSON stand; the pages follow with the next gate
        log.warning("data docs not updated for %s (%s: %s); the report is %s", suite_name,
                    type(exc).__name__, str(exc).splitlines()[0] if str(exc) else "", uri)
    log.info("quality gate %s for %s: %s; validation %.2f s, report and data docs %.2f s", suite_name,
             ctx.logical_date, f"{len(failures)} failed" if failures else "passed", validation_s,
             time.perf_counter() - started)
    gate = GateResult(suite_name, not failed, len(result.get("results", [])), failed, uri, problems, page)
    if failed:
        shown = " | ".join(problems[:_SHOWN_PROBLEMS])
        more = f" | and {len(problems) - _SHOWN_PROBLEMS} more" if len(problems) > _SHOWN_PROBLEMS else ""
        raise DataQualityError(
            f"quality gate {suite_name} failed for {ctx.logical_date}: {len(failed)} of {gate.evaluated} "
            f"expectations failed: {shown}{more}; nothing published; report: {page} (JSON: {uri})"
        )
    return gate
