"""Ad-hoc SQL stays read-only unless --write is given."""

import pytest

from lakehouse.sqlguard import first_keyword, is_read_only, split_statements


@pytest.mark.parametrize("sql", [
    "SELECT * FROM raw.t",
    "  select count(*) from t VERSION AS OF 123",
    "WITH x AS (SELECT 1) SELECT * FROM x",
    "SHOW TABLES IN raw",
    "DESCRIBE TABLE raw.t",
    "EXPLAIN SELECT 1",
    "(SELECT 1) UNION (SELECT 2)",
    "SELECT 'insert into x' AS s",
    "-- a comment\nSELECT 1",
])
def test_reads_are_allowed(sql: str) -> None:
    assert is_read_only(sql)


@pytest.mark.parametrize("sql", [
    "INSERT INTO t VALUES (1)",
    "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
    "DELETE FROM t WHERE 1=1",
    "UPDATE t SET a = 1",
    "DROP TABLE t",
    "CREATE TABLE t (a INT)",
    "ALTER TABLE t CREATE BRANCH b",
    "CALL lakehouse.system.expire_snapshots('raw.t')",
    "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x",
    "FROM s INSERT INTO t SELECT *",
    "/* select */ TRUNCATE TABLE t",
])
def test_writes_are_refused(sql: str) -> None:
    assert not is_read_only(sql)


def test_statements_split_outside_quotes_and_comments() -> None:
    parts = split_statements("SELECT ';' AS a; -- x; y\nSELECT 2;;  ")
    assert parts == ["SELECT ';' AS a", "-- x; y\nSELECT 2"]
    assert first_keyword(parts[1]) == "SELECT"
