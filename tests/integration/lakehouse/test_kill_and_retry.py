"""`kill -9` at every step of write-audit-publish, then a plain retry: main is never left with
unvalidated or duplicated rows, and the retry converges to exactly one published copy.

The finance silver gate publishes two tables together (silver.ticks + quarantine.ticks, which must add
up to raw.ticks). Raw and the staging job run in the shared test session; the step that is killed runs
in a process of its own (``lakehouse.faults``: SIGKILL at a named point), as Airflow would run it, and
its retry is a new process.
"""

from __future__ import annotations

import datetime as dt

import pytest

from lakehouse.jobs import run_job
from lakehouse.publish import audit_branch, branch_exists
from lakehouse.write import current_snapshot_id
from spark_jobs.finance import generator
from spark_jobs.finance import raw as raw_job
from spark_jobs.finance import silver as silver_job
from tests.support.processes import run_job_process

TABLES = ("silver.ticks", "quarantine.ticks")
GATE = ("table=silver.ticks", "suite=silver_ticks", "publish=silver.ticks,quarantine.ticks")


def _job(module, settings, spark, day: dt.date, run_id: str) -> dict:  # type: ignore[no-untyped-def]
    return run_job(module.main, app_name=module.__name__, settings=settings, spark=spark,
                   argv=["--logical-date", day.isoformat(), "--run-id", run_id])


def _count(spark, settings, table: str, day: dt.date) -> int:  # type: ignore[no-untyped-def]
    return spark.table(settings.table_name(table)).where(f"trade_date = DATE'{day}'").count()


def _main(spark, settings) -> dict[str, int | None]:  # type: ignore[no-untyped-def]
    return {t: current_snapshot_id(spark, settings.table_name(t)) for t in TABLES}


def _staged_heads(spark, settings, run_id: str) -> dict[str, int | None]:  # type: ignore[no-untyped-def]
    return {t: current_snapshot_id(spark, settings.table_name(t), ref=audit_branch(run_id)) for t in TABLES}


def _assert_published_once(spark, settings, day: dt.date, run_id: str, raw_rows: int) -> None:  # type: ignore[no-untyped-def]
    assert _count(spark, settings, "silver.ticks", day) + _count(spark, settings, "quarantine.ticks", day) == raw_rows
    for table in TABLES:
        assert not branch_exists(spark, settings.table_name(table), audit_branch(run_id))


@pytest.mark.parametrize("kill_at", ["publish.after_fast_forward", "publish.before_drop"])
def test_gate_killed_while_publishing_is_repaired_by_its_retry(spark, local_settings, kill_at: str) -> None:
    day = {"publish.after_fast_forward": dt.date(2023, 11, 6), "publish.before_drop": dt.date(2023, 11, 7)}[kill_at]
    run_id = f"kill__{kill_at}"
    generator.generate_landing(local_settings, day, symbols=2, ticks=300, seed=8)
    raw_rows = _job(raw_job, local_settings, spark, day, run_id)["rows"]
    _job(silver_job, local_settings, spark, day, run_id)
    before, staged = _main(spark, local_settings), _staged_heads(spark, local_settings, run_id)

    killed = run_job_process("spark_jobs.gate", local_settings, day.isoformat(), run_id, GATE, kill_at=kill_at)
    assert killed.returncode == -9, killed.stderr
    after_kill = _main(spark, local_settings)
    # Every table is at its previous snapshot or at exactly the run's validated snapshot: nothing else.
    assert all(after_kill[t] in (before[t], staged[t]) for t in TABLES), (before, staged, after_kill)
    assert after_kill["silver.ticks"] == staged["silver.ticks"]  # the kill came after the first publish

    retry = run_job_process("spark_jobs.gate", local_settings, day.isoformat(), run_id, GATE)
    assert retry.returncode == 0, retry.stderr
    assert _main(spark, local_settings) == staged  # each table published once, at the staged snapshot
    _assert_published_once(spark, local_settings, day, run_id, raw_rows)


def test_build_killed_after_its_first_commit_leaves_main_alone_and_reruns(spark, local_settings) -> None:
    day, run_id = dt.date(2023, 11, 8), "kill__stage"
    generator.generate_landing(local_settings, day, symbols=2, ticks=300, seed=9)
    raw_rows = _job(raw_job, local_settings, spark, day, run_id)["rows"]
    before = _main(spark, local_settings)
    killed = run_job_process("spark_jobs.finance.silver", local_settings, day.isoformat(), run_id,
                             kill_at="write.after_commit")
    assert killed.returncode == -9, killed.stderr
    assert _main(spark, local_settings) == before  # staged rows live on the branch only
    assert run_job_process("spark_jobs.finance.silver", local_settings, day.isoformat(), run_id).returncode == 0
    gate = run_job_process("spark_jobs.gate", local_settings, day.isoformat(), run_id, GATE)
    assert gate.returncode == 0, gate.stderr
    _assert_published_once(spark, local_settings, day, run_id, raw_rows)


def test_raw_killed_after_commit_reruns_without_duplicates(spark, local_settings) -> None:
    day, run_id = dt.date(2023, 11, 9), "kill__raw"
    generator.generate_landing(local_settings, day, symbols=2, ticks=200, seed=10)
    killed = run_job_process("spark_jobs.finance.raw", local_settings, day.isoformat(), run_id,
                             kill_at="write.after_commit")
    assert killed.returncode == -9
    first = spark.table(local_settings.table_name("raw.ticks")).where(f"trade_date = DATE'{day}'").count()
    rerun = run_job_process("spark_jobs.finance.raw", local_settings, day.isoformat(), run_id)
    assert rerun.returncode == 0, rerun.stderr
    rows = spark.table(local_settings.table_name("raw.ticks")).where(f"trade_date = DATE'{day}'")
    assert rows.count() == first > 0
    assert rows.select("source_file", "record_id").distinct().count() == first
