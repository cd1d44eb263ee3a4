"""The `lakehouse` CLI from a new process: tables, snapshots, ad-hoc SQL, read-only guard."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest

from lakehouse.write import write_for_date
from schemas.core import SMOKE_EVENTS
from spark_jobs.smoke.transforms import sensor_events
from tests.support.cli import run_cli

DAY = dt.date(2023, 8, 15)


@pytest.fixture(scope="module")
def written(spark, local_settings):
    return write_for_date(spark, local_settings, SMOKE_EVENTS, sensor_events(spark, DAY, "cli-run"),
                          logical_date=DAY, run_id="cli-run")


def test_tables_lists_snapshot_and_row_counts(written, local_settings) -> None:
    result = run_cli(["tables", "--format", "json"], local_settings)
    assert result.returncode == 0, result.stderr
    rows = {r["table"]: r for r in map(json.loads, result.stdout.splitlines())}
    smoke = rows["raw.smoke_events"]
    assert smoke["snapshot_id"] is not None and smoke["snapshots"] >= 1 and smoke["rows"] >= 100
    assert smoke["location"].startswith("file://")
    assert "ml.model_registry" in rows

    table = run_cli(["tables"], local_settings)
    assert table.returncode == 0 and "raw.smoke_events" in table.stdout and "snapshot_id" in table.stdout


def test_snapshots_show_run_ids(written, local_settings) -> None:
    result = run_cli(["snapshots", "raw.smoke_events", "--format", "csv"], local_settings)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    mine = [r for r in rows if r["snapshot_id"] == str(written.snapshot_id)]
    assert mine and mine[0]["run_id"] == "cli-run" and mine[0]["logical_date"] == DAY.isoformat()


def test_sql_query_with_time_travel_in_csv(written, local_settings) -> None:
    query = (f"SELECT count(*) AS n FROM raw.smoke_events VERSION AS OF {written.snapshot_id} "
             f"WHERE event_date = DATE'{DAY}'")
    result = run_cli(["sql", query, "--format", "csv"], local_settings)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["n", "100"]


def test_interactive_prompt_survives_a_bad_query(written, local_settings) -> None:
    session = "\n".join([
        "SELECT sensor, count(*) AS n FROM raw.smoke_events",
        " WHERE event_date = DATE'2023-08-15' GROUP BY sensor ORDER BY sensor;",
        "SELECT * FROM raw.missing_table;",
        "DROP TABLE raw.smoke_events;",
        "exit",
    ]) + "\n"
    result = run_cli(["sql"], local_settings, stdin=session)
    assert result.returncode == 0, result.stderr
    assert "east" in result.stdout and "(4 rows)" in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 2
    assert "missing_table" in errors[0] and "--write" in errors[1]


def test_writes_are_refused_without_write_flag(local_settings) -> None:
    result = run_cli(["sql", "DELETE FROM raw.smoke_events"], local_settings)
    assert result.returncode == 1
    assert result.stderr.strip() == ("error: DELETE FROM TABLE is not a read-only query: ad-hoc SQL runs only "
                                     "queries, SHOW, DESCRIBE and EXPLAIN; add --write to change data or metadata")


def test_maintain_runs_the_dags_steps_and_refuses_unknown_ones(written, local_settings) -> None:
    result = run_cli(["maintain", "raw.smoke_events", "--steps", "expire,manifests"], local_settings)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["steps"] == ["expire", "manifests"] and "raw.smoke_events" in summary["tables"]
    bad = run_cli(["maintain", "raw.smoke_events", "--steps", "vacuum"], local_settings)
    assert bad.returncode == 1 and bad.stderr.strip() == (
        "error: unknown maintenance step(s) vacuum: use compact, expire, manifests, orphans")
