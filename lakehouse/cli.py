"""`lakehouse` command-line tool: set-up, catalog inspection and ad-hoc Spark SQL."""

from __future__ import annotations

import datetime as dt
import json
import sys
from typing import Annotated, Any

import typer

from lakehouse.errors import LakehouseError, explain, friendly
from lakehouse.output import OutputFormat, print_rows
from lakehouse.settings import get_settings

app = typer.Typer(
    help="Iceberg lakehouse for ML pipelines: catalog, tables, ad-hoc SQL and jobs.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

generate_app = typer.Typer(help="Generate deterministic landing files in the official formats (same arguments, "
                                 "same bytes); each command's --help says what it writes.", no_args_is_help=True)
app.add_typer(generate_app, name="generate")


FormatOption = Annotated[str, typer.Option("--format", "-f", help="table, csv or json")]


def _check_format(fmt: str) -> OutputFormat:
    if fmt not in ("table", "csv", "json"):
        raise LakehouseError(f"unknown format {fmt!r}: use table, csv or json")
    return fmt  # type: ignore[return-value]


@app.command()
@friendly
def config() -> None:
    """Print the resolved settings for the active profile (secrets masked)."""
    typer.echo(json.dumps(get_settings().describe(), indent=2, default=str))


@app.command()
@friendly
def jars(verify_only: Annotated[bool, typer.Option("--verify-only", help="do not fetch")] = False) -> None:
    """Fetch the JVM jars into the cache and verify them against infra/jars.lock.json."""
    from lakehouse import jars as jar_cache

    settings = get_settings()
    paths = jar_cache.verified_jars(settings) if verify_only else jar_cache.provision(settings)
    for path in paths:
        typer.echo(f"ok  {path}")


@app.command("jvm-archive")
@friendly
def jvm_archive(force: Annotated[bool, typer.Option("--force", help="rebuild even if it exists")] = False) -> None:
    """Build the JVM class-data sharing archive that Spark drivers map at start (faster task start-up;
    `spark.class_data_sharing` turns it off). Runs a short Spark workload in a throw-away lake."""
    from lakehouse import jvm

    typer.echo(f"ok  {jvm.build_archive(get_settings(), force=force)}")


@app.command("web-assets")
@friendly
def web_assets(verify_only: Annotated[bool, typer.Option("--verify-only", help="do not fetch")] = False) -> None:
    """Fetch the Data Docs pages' scripts, styles and fonts (jQuery, Bootstrap, ...) from the npm registry
    into the cache and verify them against infra/web-assets.lock.json (the site then works offline)."""
    from lakehouse import web_assets as assets

    settings = get_settings()
    paths = assets.verified_files(settings) if verify_only else assets.provision(settings)
    typer.echo(f"ok  {len(paths)} web assets in {settings.web_assets.cache_dir}")


@app.command()
@friendly
def init() -> None:
    """Create the namespaces and every declared table (idempotent)."""
    from lakehouse.catalog import create_tables

    for identifier, created in create_tables(get_settings()):
        typer.echo(f"{'created' if created else 'exists '}  {identifier}")


@app.command()
@friendly
def tables(fmt: FormatOption = "table") -> None:
    """List tables with current snapshot id, snapshot count, row count and location."""
    from lakehouse.catalog import list_tables

    summaries = list_tables(get_settings())
    columns = ["table", "snapshot_id", "snapshots", "rows", "location"]
    rows = [[s.identifier, s.snapshot_id, s.snapshot_count, s.row_count, s.location] for s in summaries]
    print_rows(columns, rows, _check_format(fmt))


@app.command()
@friendly
def snapshots(table: Annotated[str, typer.Argument(help="namespace.table")], fmt: FormatOption = "table") -> None:
    """Show a table's snapshots (oldest first) with run id and logical date; query one with
    `lakehouse sql "SELECT ... FROM t VERSION AS OF <snapshot_id>"`."""
    from lakehouse.catalog import snapshot_history

    history = snapshot_history(get_settings(), table)
    columns = list(history[0]) if history else ["snapshot_id"]
    print_rows(columns, [list(h.values()) for h in history], _check_format(fmt))


@app.command()
@friendly
def reports(
    dag: Annotated[str | None, typer.Option("--dag", help="only this DAG's reports")] = None,
    date: Annotated[str | None, typer.Option("--date", help="only this logical date YYYY-MM-DD")] = None,
    fmt: FormatOption = "table",
) -> None:
    """List the run reports (one HTML page per DAG run under {artifacts}/reports): DAG, date, run, URI."""
    from lakehouse.reports import list_reports

    try:
        day = dt.date.fromisoformat(date) if date else None
    except ValueError:
        raise LakehouseError(f"--date {date!r} is not a date YYYY-MM-DD") from None
    entries = list_reports(get_settings(), dag, day)
    print_rows(["dag", "date", "run", "uri"], [[e.dag_id, e.logical_date, e.run, e.uri] for e in entries],
               _check_format(fmt))


@app.command()
@friendly
def sql(
    query: Annotated[str | None, typer.Argument(help="SQL; omit for an interactive prompt")] = None,
    write: Annotated[bool, typer.Option("--write", help="allow DDL/DML (INSERT, MERGE, CREATE, CALL, ...)")] = False,
    fmt: FormatOption = "table",
    limit: Annotated[int, typer.Option(help="at most this many rows are printed")] = 1000,
) -> None:
    """Run Spark SQL on the catalog (read-only unless --write). Time travel: VERSION AS OF <id>.

    Statements are split, parsed and analysed by Spark itself (lakehouse.sqlguard): without --write only
    queries, SHOW, DESCRIBE and EXPLAIN run; reflection, scripts and path-based sources never do."""
    from lakehouse.spark import get_spark
    from lakehouse.sqlguard import SqlGuard

    out_fmt = _check_format(fmt)
    settings = get_settings()
    spark = get_spark(settings, app_name="lakehouse-sql")
    guard = SqlGuard(spark, allow_writes=write, catalogs=(settings.catalog.name,))
    if query is None:
        _interactive(guard, write, out_fmt, limit)
        return
    _run_batch(guard, query, out_fmt, limit)


def _run_batch(guard: Any, text: str, fmt: OutputFormat, limit: int) -> None:
    """Vet every statement of ``text`` before the first one runs, then run them in order."""
    statements = guard.split(text)
    for statement in statements:
        guard.check(statement, analyze=False)
    for statement in statements:
        df = guard.run(statement)
        rows = df.limit(limit + 1).collect()
        if len(rows) > limit:
            typer.echo(f"(showing the first {limit} rows; use --limit)", err=True)
            rows = rows[:limit]
        print_rows(df.columns, [list(r) for r in rows], fmt)


def _interactive(guard: Any, write: bool, fmt: OutputFormat, limit: int) -> None:
    typer.echo("lakehouse SQL (end statements with ';', 'exit' to quit)" + ("" if write else " [read-only]"))
    buffer: list[str] = []
    while True:
        try:
            line = input("lakehouse> " if not buffer else "       ...> ")
        except EOFError:
            typer.echo("")
            return
        if not buffer and line.strip().lower() in ("exit", "quit", r"\q"):
            return
        buffer.append(line)
        text = "\n".join(buffer)
        if not guard.is_complete(text):
            continue
        buffer.clear()
        try:
            _run_batch(guard, text, fmt, limit)
        except Exception as exc:  # keep the prompt alive after a bad query
            typer.echo(f"error: {explain(exc)}", err=True)


@app.command()
@friendly
def maintain(
    table: Annotated[list[str] | None, typer.Argument(help="namespace.table (default: every table)")] = None,
    steps: Annotated[str, typer.Option(help="comma-separated: compact, expire, manifests, orphans")] =
        "compact,expire,manifests,orphans",
) -> None:
    """What the lakehouse_maintenance DAG runs: compaction, snapshot expiry (tagged training snapshots and
    audit branches are kept), manifest rewrite, orphan removal past the safe age. Retention comes from
    settings (LAKEHOUSE_MAINTENANCE__*)."""
    from lakehouse.maintenance import run_maintenance
    from lakehouse.spark import get_spark

    settings = get_settings()
    spark = get_spark(settings, app_name="lakehouse-maintain")
    result = run_maintenance(spark, settings, tables=table or None,
                             steps=[s.strip() for s in steps.split(",") if s.strip()])
    typer.echo(json.dumps(result, default=str))


@app.command()
@friendly
def pipelines() -> None:
    """List the declared pipelines (DAG id, domain, schedule, steps) discovered from the domain packages."""
    from lakehouse.pipeline import find_pipelines

    settings = get_settings()
    rows = []
    for dag_id, pipeline in find_pipelines(settings).items():
        schedule = pipeline.schedule(settings)
        when = f"{schedule.cron} ({schedule.timezone})" if schedule.cron else "manual"
        rows.append([dag_id, pipeline.domain, when, " > ".join(step.task_id for step in pipeline.steps)])
    print_rows(["pipeline", "domain", "schedule", "steps"], rows)


@app.command()
@friendly
def run(
    pipeline: Annotated[str, typer.Argument(help="a declared pipeline (`lakehouse pipelines` lists them)")],
    date: Annotated[str, typer.Option("--date", help="logical date YYYY-MM-DD")],
    param: Annotated[list[str] | None, typer.Option("--param", help="run parameter KEY=VALUE, repeatable")] = None,
    run_id: Annotated[str | None, typer.Option(help="run id (default: run__<date>)")] = None,
) -> None:
    """Run a pipeline's steps in order in this process, without Airflow, through the same job code
    (notebooks, debugging, ad-hoc backfills); ends with a summary of every step."""
    from lakehouse.pipeline import get_pipeline
    from lakehouse.run_report import run_with_progress
    from lakehouse.runner import resolve_params

    settings = get_settings()
    params = {}
    for pair in param or []:
        key, sep, value = pair.partition("=")
        if not sep:
            raise LakehouseError(f"--param {pair!r} is not KEY=VALUE")
        params[key] = value
    declared = get_pipeline(settings, pipeline)
    resolve_params(declared, settings, params)  # refuse unknown or out-of-range params before anything runs
    outcome = run_with_progress(declared, settings, dt.date.fromisoformat(date), params=params, run_id=run_id)
    if not outcome.succeeded:
        failed = next(s for s in outcome.steps if s.state == "failed")
        raise LakehouseError(f"{pipeline} failed at {failed.task_id} for {date}: {failed.error}")


def _register_domain_commands() -> None:
    """Commands of the discovered packages: each ``cli`` module next to a ``pipeline`` module (and under
    the configured packages) exposes ``register(app, generate_app)``."""
    import importlib

    from lakehouse.pipeline import declaration_modules
    from lakehouse.settings import PipelineSettings

    try:
        packages = get_settings().pipelines.packages
    except LakehouseError:  # broken settings: the command reports them; keep the default commands
        packages = PipelineSettings().packages
    for module_name in declaration_modules(packages, "cli"):
        importlib.import_module(module_name).register(app, generate_app)


_register_domain_commands()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except LakehouseError as exc:  # settings errors raised before a command starts
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
