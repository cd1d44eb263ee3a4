"""Two real processes write the same table and logical date at the same moment (SQLite and PostgreSQL
catalogs): no row is lost or duplicated silently. Both effects land, or one fails with a readable line
and its retry succeeds.

Each pair is held at the fault point right before the commit (``lakehouse.faults``) until both have
read what they read and written their data files, then released together, so the race happens every
time rather than by luck.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from lakehouse.catalog import create_tables
from lakehouse.settings import LakehouseSettings
from spark_jobs.vision import generator
from tests.conftest import make_local_settings
from tests.support.postgres import postgres_server
from tests.support.processes import race, run_job_process

DAY = "2023-10-03"
IMAGES = {"mnist": 120, "cifar10": 90}


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def catalog_lake(request, tmp_path_factory) -> Iterator[LakehouseSettings]:  # type: ignore[no-untyped-def]
    home = tmp_path_factory.mktemp(f"race-{request.param}")
    if request.param == "sqlite":
        settings = make_local_settings(home)
        create_tables(settings)
        yield settings
        return
    with postgres_server(password="race-password") as address, pytest.MonkeyPatch.context() as patch:
        patch.setenv("LAKEHOUSE_CATALOG__PASSWORD", "race-password")
        settings = LakehouseSettings(
            profile="cluster", home=home, warehouse=f"{home}/warehouse", landing=f"{home}/landing",
            artifacts=f"{home}/artifacts",
            catalog={"name": "lakehouse", "uri": f"postgresql+psycopg2://{address}/lakehouse", "user": "lakehouse"},
            spark={"master": "local[2]", "shuffle_partitions": 2},
        )
        create_tables(settings)
        yield settings


def _rows(settings: LakehouseSettings, table: str, where: str) -> list[dict]:
    from lakehouse.catalog import load_catalog

    return load_catalog(settings).load_table(table).scan(row_filter=where).to_arrow().to_pylist()


def test_two_datasets_of_one_date_both_land(catalog_lake, tmp_path) -> None:
    for dataset, n in IMAGES.items():
        generator.generate_to_landing(catalog_lake, dataset, n, seed=3)
    jobs = [("spark_jobs.vision.raw", catalog_lake, DAY, f"race-{d}", [f"dataset={d}"]) for d in IMAGES]
    results = race(jobs, "write.before_commit", tmp_path / "barrier")
    rows = _rows(catalog_lake, "raw.image_manifest", f"ingest_date = '{DAY}'")
    by_dataset = {d: sum(r["dataset"] == d for r in rows) for d in IMAGES}
    for (_, _, _, run_id, options), result in zip(jobs, results, strict=True):
        dataset = options[0].split("=", 1)[1]
        if result.returncode != 0:  # allowed: a readable conflict, and its retry lands the rows
            assert "conflict" in result.stderr.lower() and "Traceback" not in result.stderr, result.stderr
            retry = run_job_process("spark_jobs.vision.raw", catalog_lake, DAY, run_id, options)
            assert retry.returncode == 0, retry.stderr
            rows = _rows(catalog_lake, "raw.image_manifest", f"ingest_date = '{DAY}'")
            by_dataset = {d: sum(r["dataset"] == d for r in rows) for d in IMAGES}
        assert by_dataset[dataset] == IMAGES[dataset], (by_dataset, [r.stderr for r in results])
    assert by_dataset == IMAGES


def test_two_writers_of_the_same_rows_one_fails_readably_and_its_retry_succeeds(catalog_lake, tmp_path) -> None:
    day = "2023-10-04"
    jobs = [("spark_jobs.smoke.job", catalog_lake, day, f"writer-{i}", []) for i in (1, 2)]
    results = race(jobs, "write.before_commit", tmp_path / "barrier")
    outcomes = sorted(r.returncode for r in results)
    assert outcomes == [0, 1], [r.stderr for r in results]
    loser = jobs[[r.returncode for r in results].index(1)]
    lines = next(r for r in results if r.returncode == 1).stderr.strip().splitlines()
    assert len(lines) == 1 and "conflict" in lines[0].lower() and "retry" in lines[0].lower(), lines
    winner_rows = _rows(catalog_lake, "raw.smoke_events", f"event_date = '{day}'")
    assert len(winner_rows) == 100 and {r["run_id"] for r in winner_rows} != {loser[3]}
    retry = run_job_process("spark_jobs.smoke.job", catalog_lake, day, loser[3])
    assert retry.returncode == 0, retry.stderr
    rows = _rows(catalog_lake, "raw.smoke_events", f"event_date = '{day}'")
    assert len(rows) == 100 and {r["run_id"] for r in rows} == {loser[3]}


def test_a_date_is_never_written_by_another_dates_writer(catalog_lake, tmp_path) -> None:
    """Writers of different dates never conflict: both land, in parallel."""
    days = ["2023-10-05", "2023-10-06"]
    jobs = [("spark_jobs.smoke.job", catalog_lake, d, f"date-{d}", []) for d in days]
    results = race(jobs, "write.before_commit", tmp_path / "barrier")
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    for d in days:
        assert len(_rows(catalog_lake, "raw.smoke_events", f"event_date = '{d}'")) == 100


def test_two_dag_runs_of_one_date_publish_concurrently(spark, local_settings, tmp_path) -> None:
    """The vision DAG run twice at once for the same date with different `dataset` params: both gates
    validated their own staged rows, then publish at the same moment. The later one finds main moved,
    replays its rows on top (another dataset: no conflict) and both datasets end up published."""
    from lakehouse.jobs import JobContext
    from spark_jobs.vision import raw, silver

    day = dt.date(2023, 10, 9)
    settings = local_settings.model_copy(update={"landing": str(tmp_path / "landing")})
    counts = {}
    for dataset, n in IMAGES.items():
        generator.generate_to_landing(settings, dataset, n, seed=4)
        for main in (raw.main, silver.main):
            main(JobContext(settings, spark, day, f"dag-{dataset}", {"dataset": dataset}))
        counts[dataset] = n
    options = ["table=silver.image_manifest", "suite=silver_image_manifest",
               "publish=silver.image_manifest,quarantine.image_manifest"]
    jobs = [("spark_jobs.gate", settings, day.isoformat(), f"dag-{d}", options) for d in IMAGES]
    results = race(jobs, "publish.before_fast_forward", tmp_path / "barrier")
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    for dataset, n in counts.items():
        published = sum(spark.table(settings.table_name(t)).where(
            f"ingest_date = DATE'{day}' AND dataset = '{dataset}'").count()
            for t in ("silver.image_manifest", "quarantine.image_manifest"))
        assert published == n, dataset
