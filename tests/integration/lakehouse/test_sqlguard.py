"""The ad-hoc SQL guard decides with Spark's own lexer, parser and analyser (shared test session).

Every hostile statement is refused with one line and leaves the tables at their snapshot; ordinary
analytic SQL (CTEs, windows, subqueries, time travel, SHOW/DESCRIBE/EXPLAIN, metadata tables) runs.
"""

from __future__ import annotations

import datetime as dt

import pytest

from lakehouse.sqlguard import RefusedStatement, SqlGuard
from lakehouse.write import current_snapshot_id, write_for_date
from schemas.core import SMOKE_EVENTS
from spark_jobs.smoke.transforms import sensor_events

DAY = dt.date(2023, 9, 12)
T = "raw.smoke_events"


@pytest.fixture(scope="module")
def smoke(spark, local_settings):  # type: ignore[no-untyped-def]
    result = write_for_date(spark, local_settings, SMOKE_EVENTS, sensor_events(spark, DAY, "guard-run"),
                            logical_date=DAY, run_id="guard-run")
    table = local_settings.table_name(T)
    spark.sql(f"ALTER TABLE {table} CREATE OR REPLACE TAG guard_tag")
    return result


@pytest.fixture()
def guard(spark, local_settings):  # type: ignore[no-untyped-def]
    spark.catalog.setCurrentCatalog(local_settings.catalog.name)
    return SqlGuard(spark, catalogs=(local_settings.catalog.name,))


@pytest.fixture()
def write_guard(spark, local_settings):  # type: ignore[no-untyped-def]
    spark.catalog.setCurrentCatalog(local_settings.catalog.name)
    return SqlGuard(spark, allow_writes=True, catalogs=(local_settings.catalog.name,))


READ_ONLY_REFUSED = [
    "/* /* */ SELECT */ DELETE FROM raw.smoke_events",
    "WITH x AS (SELECT r'\\' AS a) INSERT INTO raw.smoke_events SELECT * FROM raw.smoke_events --'",
    "WITH x AS (SELECT 1 AS a) -- \\\n'\nINSERT INTO raw.smoke_events SELECT * FROM raw.smoke_events -- '",
    "INSERT INTO raw.smoke_events SELECT * FROM raw.smoke_events",
    "MERGE INTO raw.smoke_events t USING raw.smoke_events s ON t.event_id = s.event_id WHEN MATCHED THEN DELETE",
    "UPDATE raw.smoke_events SET value = 0",
    "DELETE FROM raw.smoke_events WHERE true",
    "TRUNCATE TABLE raw.smoke_events",
    "DROP TABLE raw.smoke_events",
    "CREATE TABLE raw.x (a INT)",
    "CREATE TEMPORARY VIEW v AS SELECT 1",
    "ALTER TABLE raw.smoke_events ADD COLUMN y INT",
    "ALTER TABLE raw.smoke_events CREATE BRANCH b1",
    "CALL lakehouse.system.expire_snapshots('raw.smoke_events')",
    "FROM raw.smoke_events INSERT INTO raw.smoke_events SELECT *",
    "CACHE TABLE c AS SELECT * FROM raw.smoke_events",
    "CACHE LAZY TABLE raw.smoke_events",
    "UNCACHE TABLE raw.smoke_events",
    "CLEAR CACHE",
    "REFRESH TABLE raw.smoke_events",
    "SET spark.sql.shuffle.partitions=1",
    "SET",
    "MSCK REPAIR TABLE raw.smoke_events",
    "ANALYZE TABLE raw.smoke_events COMPUTE STATISTICS",
    "EXPLAIN DELETE FROM raw.smoke_events",
    "DESCRIBE QUERY SELECT * FROM raw.smoke_events WHERE event_id IN (SELECT reflect('java.util.UUID', 'randomUUID'))",
]

ALWAYS_REFUSED = [
    "SELECT reflect('java.lang.System', 'getenv', 'AWS_SECRET_ACCESS_KEY')",
    "SELECT JAVA_METHOD('java.lang.System', 'getProperty', 'user.home')",
    "SELECT `reflect`('java.lang.System', 'lineSeparator')",
    "SELECT IDENTIFIER('java_method')('java.lang.System', 'lineSeparator')",
    "SELECT * FROM raw.smoke_events WHERE sensor = (SELECT max(reflect('java.lang.System', 'lineSeparator')))",
    "WITH x AS (SELECT reflect('java.lang.System', 'lineSeparator') AS r) SELECT * FROM x",
    "SELECT * FROM text.`file:///etc/passwd`",
    "SELECT * FROM parquet.`/tmp`",
    "SELECT * FROM `csv`.`s3://bucket/key.csv`",
    "SELECT TRANSFORM(1) USING 'id' AS (a)",
    "INSERT OVERWRITE DIRECTORY '/tmp/guard-dir' USING csv SELECT 1",
    "ADD JAR /tmp/x.jar",
    "ADD FILE /etc/passwd",
    "CREATE FUNCTION f AS 'java.lang.String'",
    "RESET",
    "SET spark.sql.variable.substitute=true",
    "SET spark.sql.runSQLOnFiles=true",
    "SET spark.sql.catalog.lakehouse.jdbc.password",
]


def _snapshot(spark, settings) -> int | None:  # type: ignore[no-untyped-def]
    return current_snapshot_id(spark, settings.table_name(T))


@pytest.mark.parametrize("sql", READ_ONLY_REFUSED + ALWAYS_REFUSED)
def test_read_only_refuses_with_one_line(smoke, guard, spark, local_settings, sql: str) -> None:
    before = _snapshot(spark, local_settings)
    with pytest.raises(RefusedStatement) as refused:
        guard.run(sql)
    message = str(refused.value)
    assert "\n" not in message and "Exception" not in message and message
    assert _snapshot(spark, local_settings) == before


@pytest.mark.parametrize("sql", ALWAYS_REFUSED)
def test_write_mode_still_refuses_escapes(smoke, write_guard, spark, local_settings, sql: str) -> None:
    before = _snapshot(spark, local_settings)
    with pytest.raises(RefusedStatement):
        write_guard.run(sql)
    assert _snapshot(spark, local_settings) == before


def test_reflection_inside_a_write_is_refused(smoke, write_guard, spark, local_settings) -> None:
    before = _snapshot(spark, local_settings)
    with pytest.raises(RefusedStatement):
        write_guard.run("INSERT INTO raw.smoke_events SELECT event_date, event_id, "
                        "reflect('java.lang.System', 'getenv', 'HOME'), value, run_id FROM raw.smoke_events")
    assert _snapshot(spark, local_settings) == before


READS = {
    "cte + aggregate": "WITH s AS (SELECT sensor, value FROM raw.smoke_events) "
                       "SELECT sensor, count(*) AS n, avg(value) FROM s GROUP BY sensor HAVING n > 0 ORDER BY sensor",
    "window": "SELECT sensor, value, avg(value) OVER (PARTITION BY sensor ORDER BY event_id "
              "ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS m, lag(value) OVER w AS prev "
              "FROM raw.smoke_events WINDOW w AS (PARTITION BY sensor ORDER BY event_id)",
    "subqueries": "SELECT * FROM raw.smoke_events WHERE sensor IN (SELECT sensor FROM raw.smoke_events) "
                  "AND EXISTS (SELECT 1) AND value <= (SELECT max(value) FROM raw.smoke_events)",
    "time travel by tag": "SELECT count(*) FROM raw.smoke_events VERSION AS OF 'guard_tag'",
    "time travel by branch": "SELECT count(*) FROM raw.smoke_events VERSION AS OF 'main'",
    "metadata: snapshots": "SELECT snapshot_id, operation FROM raw.smoke_events.snapshots",
    "metadata: refs": "SELECT name, type FROM raw.smoke_events.refs",
    "metadata: files": "SELECT file_path FROM raw.smoke_events.files",
    "metadata: history": "SELECT * FROM raw.smoke_events.history",
    "set operations": "SELECT 1 AS a UNION ALL SELECT 2 INTERSECT SELECT 2 EXCEPT SELECT 3",
    "values + table function": "SELECT * FROM VALUES (1, 'a') AS t(x, y) CROSS JOIN range(3)",
    "pivot": "SELECT * FROM (SELECT sensor, value FROM raw.smoke_events) "
             "PIVOT (sum(value) FOR sensor IN ('north', 'south'))",
    "lateral view": "SELECT event_id, x FROM raw.smoke_events LATERAL VIEW explode(array(1, 2)) t AS x LIMIT 3",
    "literal with ${...} stays text": "SELECT '${env:HOME}' AS s",
    "show tables": "SHOW TABLES IN raw",
    "show namespaces": "SHOW NAMESPACES",
    "describe": "DESCRIBE TABLE raw.smoke_events",
    "describe extended": "DESCRIBE TABLE EXTENDED raw.smoke_events",
    "show create": "SHOW CREATE TABLE raw.smoke_events",
    "show tblproperties": "SHOW TBLPROPERTIES raw.smoke_events",
    "explain": "EXPLAIN SELECT count(*) FROM raw.smoke_events",
    "describe query": "DESCRIBE QUERY SELECT sensor FROM raw.smoke_events",
    "use namespace": "USE raw",
}


@pytest.mark.parametrize("sql", list(READS.values()), ids=list(READS))
def test_ordinary_reads_run(smoke, guard, sql: str) -> None:
    guard.run(sql).collect()


def test_time_travel_by_snapshot_id_and_literal_text(smoke, guard) -> None:
    rows = guard.run(f"SELECT count(*) FROM raw.smoke_events VERSION AS OF {smoke.snapshot_id} "
                     f"WHERE event_date = DATE'{DAY}'").collect()
    assert rows[0][0] == 100
    assert guard.run("SELECT '${env:HOME}' AS s").collect()[0][0] == "${env:HOME}"


def test_write_mode_runs_writes(smoke, write_guard, guard) -> None:
    write_guard.run("ALTER TABLE raw.smoke_events CREATE OR REPLACE TAG guard_write_tag")
    write_guard.run("SET spark.sql.shuffle.partitions=4")
    tags = {r[0] for r in guard.run("SELECT name FROM raw.smoke_events.refs WHERE type = 'TAG'").collect()}
    assert "guard_write_tag" in tags


def test_split_follows_sparks_lexer(spark) -> None:
    guard = SqlGuard(spark)
    text = ("SELECT ';' AS a; /* a; /* nested; */ still comment; */ SELECT 2;;  "
            "SELECT r'\\' AS b; -- comment; \\\n continued; \nSELECT 3")
    parts = guard.split(text)
    assert parts == ["SELECT ';' AS a", "/* a; /* nested; */ still comment; */ SELECT 2",
                     "SELECT r'\\' AS b", "-- comment; \\\n continued; \nSELECT 3"]
    assert not guard.is_complete("SELECT 1 -- ;")
    assert not guard.is_complete("SELECT 1 /* ; */")
    assert guard.is_complete("SELECT 1 /* ; */ ;")
    assert not guard.is_complete("SELECT ';'")
