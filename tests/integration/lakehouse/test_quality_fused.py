"""The fused quality pre-check against GX itself: it may fail where GX passes, never pass where GX fails.

Every supported expectation type meets hostile small DataFrames (nulls, NaN, -0.0, all-null compound rows,
duplicates that differ only by null, values on a bound with and without strictness, decimals, timestamps,
an empty DataFrame, a row condition selecting nothing, ``mostly`` on its boundary). For each (expectation,
DataFrame) a fused pass must be a GX pass (GX's ``BOOLEAN_ONLY`` verdicts through quality's GX path), and on
the plain cases the two agree.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
import uuid
from typing import Any

import pytest

from lakehouse import storage
from lakehouse.quality import GateContext, _validate_with_gx, report_uri, run_gate, validate
from lakehouse.quality_fused import EVALUATED_BY, evaluate, precheck, repeated_hash_pairs

AGREE, CONSERVATIVE = "agree", "conservative"  # GX's verdict equals fused / fused fails where GX passes
NAN = float("nan")
D = decimal.Decimal
T0 = dt.datetime(2023, 1, 1)


def _e(type_: str, expect: str = AGREE, **kwargs: Any) -> tuple[dict[str, Any], str]:
    return {"type": type_, "kwargs": kwargs}, expect


def _between(column: str, expect: str = AGREE, **kwargs: Any) -> tuple[dict[str, Any], str]:
    return _e("expect_column_values_to_be_between", expect, column=column, **kwargs)


SPARK = {"condition_parser": "spark"}

# name: (schema, rows, [(expectation, expected relation to GX)])
CASES: dict[str, tuple[str, list[tuple[Any, ...]], list[tuple[dict[str, Any], str]]]] = {
    "bounds": (
        "i int, x double, d decimal(10,2), ts timestamp",
        [(0, 0.0, D("0.00"), T0), (5, 5.0, D("5.50"), T0 + dt.timedelta(hours=12)),
         (10, 10.0, D("10.00"), T0 + dt.timedelta(days=1)), (None, None, None, None)],
        [
            _between("x", min_value=0, max_value=10),
            _between("x", min_value=0, max_value=10, strict_min=True),
            _between("x", min_value=0, max_value=10, strict_max=True),
            _between("x", min_value=0.0, strict_min=True, mostly=2 / 3),
            _between("x", min_value=0.0, strict_min=True, mostly=0.666667),
            _between("i", min_value=0, max_value=10),
            _between("i", min_value=0, strict_min=True),
            _between("i", max_value=10, strict_max=True, mostly=0.66),
            _between("d", min_value=0, max_value=10),
            _between("d", min_value=0.0, max_value=10.0, strict_max=True),
            _between("d", min_value=5.5, max_value=5.5, mostly=1 / 3),
            _e("expect_column_values_to_be_in_set", column="d", value_set=[0, 5.5, 10]),
            _e("expect_column_values_to_be_in_set", column="d", value_set=[0, 5.5]),
            _e("expect_column_values_to_be_in_set", column="ts", value_set=[T0, T0 + dt.timedelta(days=1)],
               mostly=0.66),
            _e("expect_column_distinct_values_to_contain_set", column="d", value_set=[5.5, 10]),
            _e("expect_column_distinct_values_to_contain_set", column="i", value_set=[5, 10.0]),
            _e("expect_column_pair_values_a_to_be_greater_than_b", column_A="d", column_B="x", or_equal=True),
            _e("expect_column_pair_values_a_to_be_greater_than_b", column_A="d", column_B="i"),
            _between("ts", min_value=T0, max_value=T0 + dt.timedelta(days=1)),
            _between("ts", min_value=T0, strict_min=True),
            _between("ts", min_value="2023-01-01 00:00:00", max_value="2023-01-02 00:00:00"),
            _e("expect_column_values_to_not_be_null", column="x"),
            _e("expect_column_values_to_not_be_null", column="x", mostly=0.75),
            _e("expect_column_values_to_not_be_null", column="x", mostly=0.76),
            _e("expect_column_mean_to_be_between", column="x", min_value=0, max_value=10),
            _e("expect_column_mean_to_be_between", CONSERVATIVE, column="x", min_value=5, max_value=5),
            _e("expect_column_mean_to_be_between", column="x", min_value=5, max_value=10, strict_min=True),
            _e("expect_column_mean_to_be_between", column="d", min_value=5.16, max_value=5.17),
            _e("expect_column_mean_to_be_between", column="i", min_value=4, max_value=6),
            _e("expect_column_sum_to_be_between", column="i", min_value=15, max_value=15),
            _e("expect_column_sum_to_be_between", column="i", min_value=15, max_value=16, strict_min=True),
            _e("expect_column_sum_to_be_between", column="d", min_value=15.5, max_value=15.5),
            _e("expect_column_sum_to_be_between", CONSERVATIVE, column="x", min_value=15, max_value=15),
            _e("expect_column_sum_to_be_between", column="x", min_value=14, max_value=16),
            _e("expect_table_row_count_to_equal", value=4),
            _e("expect_table_row_count_to_equal", value=3),
            _e("expect_table_row_count_to_be_between", min_value=4, max_value=4),
            _e("expect_table_row_count_to_be_between", min_value=4, strict_min=True),
            _e("expect_table_row_count_to_be_between", max_value=5, strict_max=True),
        ],
    ),
    "nan": (
        "x double, y double",
        [(1.0, 0.0), (NAN, -0.0), (NAN, 1.0), (None, None)],
        [
            _between("x", min_value=0),  # NaN is larger than any number in Spark
            _between("x", max_value=10),
            _between("x", min_value=0, max_value=10, mostly=0.3),
            _e("expect_column_values_to_not_be_null", column="x", mostly=0.75),
            _e("expect_column_values_to_be_in_set", column="x", value_set=[1.0]),
            _e("expect_column_values_to_be_unique", column="x"),
            _e("expect_column_values_to_be_unique", column="y"),  # 0.0 and -0.0
            _e("expect_compound_columns_to_be_unique", column_list=["x", "y"]),
            _e("expect_column_mean_to_be_between", column="x", min_value=0, max_value=10),
            _e("expect_column_sum_to_be_between", column="y", min_value=0, max_value=2),
            _e("expect_column_pair_values_a_to_be_greater_than_b", column_A="x", column_B="y",
               ignore_row_if="either_value_is_missing"),
            _e("expect_column_pair_values_to_be_equal", column_A="x", column_B="x"),
            _e("expect_column_distinct_values_to_contain_set", column="y", value_set=[0.0, 1.0]),
        ],
    ),
    "compound_all_null": (
        "a string, b int",
        [("a", 1), ("a", None), (None, None), (None, None)],
        [
            _e("expect_compound_columns_to_be_unique", column_list=["a", "b"]),
            _e("expect_compound_columns_to_be_unique", column_list=["a", "b"], ignore_row_if="never"),
            _e("expect_compound_columns_to_be_unique", column_list=["a", "b"], ignore_row_if="any_value_is_missing"),
            _e("expect_compound_columns_to_be_unique", column_list=["a", "b"], ignore_row_if="never", mostly=0.5),
            _e("expect_compound_columns_to_be_unique", column_list=["a", "b"], ignore_row_if="never", mostly=0.51),
            _e("expect_column_values_to_be_unique", column="a"),
            _e("expect_column_values_to_be_unique", column="b"),
        ],
    ),
    "duplicates_differing_by_null": (
        "a string, b int, c int",
        [("a", None, 1), ("a", None, 1), ("a", 1, None), ("b", 1, 1)],
        [
            _e("expect_compound_columns_to_be_unique", column_list=["a", "b"]),
            _e("expect_compound_columns_to_be_unique", column_list=["a", "b", "c"]),
            _e("expect_compound_columns_to_be_unique", column_list=["a", "b"], ignore_row_if="any_value_is_missing"),
            _e("expect_compound_columns_to_be_unique", column_list=["a", "c"], ignore_row_if="any_value_is_missing"),
            _e("expect_compound_columns_to_be_unique", column_list=["b", "c"], mostly=0.5),
            _e("expect_column_values_to_be_unique", column="c", mostly=0.5),
        ],
    ),
    # xxhash64 skips nulls, so ("x", null) and (null, "x") share a key hash without being duplicates: the hash
    # count must hand such a key to the exact count, which passes it
    "hash_collisions": (
        "a string, b string, x double",
        [("x", None, 1.0), (None, "x", 2.0), ("y", "y", 3.0)],
        [
            _e("expect_compound_columns_to_be_unique", column_list=["a", "b"]),
            _e("expect_compound_columns_to_be_unique", column_list=["a", "b"], ignore_row_if="never"),
            _e("expect_compound_columns_to_be_unique", column_list=["b", "a", "x"]),
            _e("expect_column_values_to_be_unique", column="x"),
        ],
    ),
    "pairs": (
        "a int, b int, hi timestamp, lo timestamp",
        [(2, 1, T0, T0), (1, 1, T0 + dt.timedelta(seconds=1), T0), (None, 1, None, T0), (1, None, T0, None),
         (None, None, None, None)],
        [
            _e("expect_column_pair_values_a_to_be_greater_than_b", column_A="a", column_B="b"),
            _e("expect_column_pair_values_a_to_be_greater_than_b", CONSERVATIVE, column_A="a", column_B="b",
               or_equal=True),  # GX ignores the one-null rows (a null verdict); the fused check counts them
            _e("expect_column_pair_values_a_to_be_greater_than_b", column_A="a", column_B="b", or_equal=True,
               ignore_row_if="either_value_is_missing"),
            _e("expect_column_pair_values_a_to_be_greater_than_b", column_A="a", column_B="b",
               ignore_row_if="either_value_is_missing", mostly=0.5),
            _e("expect_column_pair_values_a_to_be_greater_than_b", column_A="hi", column_B="lo", or_equal=True,
               ignore_row_if="either_value_is_missing"),
            _e("expect_column_pair_values_a_to_be_greater_than_b", column_A="hi", column_B="lo",
               ignore_row_if="either_value_is_missing"),
            _e("expect_column_pair_values_to_be_equal", column_A="a", column_B="b"),
            _e("expect_column_pair_values_to_be_equal", column_A="a", column_B="a"),
            _e("expect_column_pair_values_to_be_equal", column_A="a", column_B="b", ignore_row_if="neither"),
            _e("expect_column_pair_values_to_be_equal", column_A="a", column_B="b", mostly=0.25),
        ],
    ),
    "sets_and_patterns": (
        "s string, label int, dataset string",
        [("a", 0, "x"), ("b", 1, "x"), (None, 2, "y"), ("ab", None, None), ("a\nb", 1, "y")],
        [
            _e("expect_column_values_to_be_in_set", column="s", value_set=["a", "b", "ab", "a\nb"]),
            _e("expect_column_values_to_be_in_set", column="s", value_set=["a", "b"]),
            _e("expect_column_values_to_be_in_set", column="s", value_set=["a", "b"], mostly=0.5),
            _e("expect_column_values_to_be_in_set", column="s", value_set=["a", "b"], mostly=0.51),
            _e("expect_column_values_to_be_in_set", CONSERVATIVE, column="s", value_set=["a", "b", "ab", None]),
            _e("expect_column_values_to_be_in_set", column="label", value_set=[0, 1],
               row_condition="dataset = 'x'", **SPARK),
            _e("expect_column_values_to_be_in_set", column="label", value_set=[0, 1],
               row_condition="dataset <> 'x'", **SPARK),  # null dataset: the row is not selected
            _e("expect_column_values_to_match_regex", column="s", regex="^a"),
            _e("expect_column_values_to_match_regex", column="s", regex="^(a|b|ab|a\nb)$"),
            _e("expect_column_values_to_match_regex", column="s", regex="b$"),
            _e("expect_column_values_to_not_match_regex", column="s", regex="z"),
            _e("expect_column_values_to_not_match_regex", column="s", regex="^a", mostly=0.25),
            _e("expect_column_values_to_not_match_regex", column="s", regex="\n"),
            _e("expect_column_distinct_values_to_contain_set", column="label", value_set=[0, 1]),
            _e("expect_column_distinct_values_to_contain_set", column="label", value_set=[0, 3]),
            _e("expect_column_distinct_values_to_contain_set", column="label", value_set=[]),
            _e("expect_column_distinct_values_to_contain_set", column="label", value_set=[1, 1]),
            _e("expect_column_distinct_values_to_contain_set", column="s", value_set=["a", "ab"]),
            _e("expect_column_distinct_values_to_contain_set", column="label", value_set=[0, 1],
               row_condition="dataset = 'y'", **SPARK),
            _e("expect_column_distinct_values_to_contain_set", column="label", value_set=[1, 2],
               row_condition="dataset = 'y'", **SPARK),
            _e("expect_table_row_count_to_equal", value=2, row_condition="dataset = 'x'", **SPARK),
        ],
    ),
    "selects_nothing": (
        "i int, x double, s string",
        [(1, 1.0, "a"), (2, None, "a"), (None, 3.0, None)],
        [
            _e("expect_column_values_to_not_be_null", column="x", row_condition="i > 100", **SPARK),
            _between("x", min_value=5, row_condition="i > 100", **SPARK),
            _e("expect_column_values_to_be_unique", column="s", row_condition="i > 100", **SPARK),
            _e("expect_compound_columns_to_be_unique", column_list=["s", "x"], row_condition="i > 100", **SPARK),
            _e("expect_column_mean_to_be_between", column="x", min_value=0, row_condition="i > 100", **SPARK),
            _e("expect_column_sum_to_be_between", column="i", min_value=0, row_condition="i > 100", **SPARK),
            _e("expect_table_row_count_to_equal", value=0, row_condition="i > 100", **SPARK),
            _e("expect_table_row_count_to_be_between", min_value=1, row_condition="i > 100", **SPARK),
            _e("expect_column_distinct_values_to_contain_set", column="s", value_set=["a"],
               row_condition="i > 100", **SPARK),
            _e("expect_column_pair_values_to_be_equal", column_A="i", column_B="x", row_condition="i > 100", **SPARK),
            # the row condition decides the rows, nulls drop them: only (1, 1.0) is left
            _e("expect_column_values_to_not_be_null", column="x", row_condition="x < 2 OR s = 'b'", **SPARK),
            _e("expect_compound_columns_to_be_unique", column_list=["s", "i"], row_condition="i IS NOT NULL", **SPARK),
            _e("expect_column_values_to_be_unique", column="s", row_condition="i = 1 OR i IS NULL", **SPARK),
        ],
    ),
    "empty": (
        "i int, x double, s string",
        [],
        [
            _e("expect_column_values_to_not_be_null", column="x"),
            _between("x", min_value=0, max_value=1),
            _e("expect_column_values_to_be_in_set", column="s", value_set=["a"]),
            _e("expect_column_values_to_match_regex", column="s", regex="^a$"),
            _e("expect_column_values_to_not_match_regex", column="s", regex="a"),
            _e("expect_column_values_to_be_unique", column="i"),
            _e("expect_compound_columns_to_be_unique", column_list=["i", "s"]),
            _e("expect_column_pair_values_a_to_be_greater_than_b", column_A="x", column_B="i"),
            _e("expect_column_pair_values_to_be_equal", column_A="x", column_B="i"),
            _e("expect_column_distinct_values_to_contain_set", column="s", value_set=["a"]),
            _e("expect_column_distinct_values_to_contain_set", column="s", value_set=[]),
            _e("expect_column_mean_to_be_between", column="x", min_value=0),
            _e("expect_column_sum_to_be_between", column="i", min_value=0),
            _e("expect_table_row_count_to_equal", value=0),
            _e("expect_table_row_count_to_be_between", min_value=1),
            _e("expect_table_row_count_to_be_between", min_value=0, max_value=0),
        ],
    ),
}


def _rounds(expectations: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The expectations in as few lists as possible with no two of the same type and domain in one list."""
    rounds: list[tuple[set[str], list[dict[str, Any]]]] = []
    for expectation in expectations:
        kwargs = expectation["kwargs"]
        key = json.dumps([expectation["type"], *(kwargs.get(k) for k in (
            "column", "column_A", "column_B", "column_list", "row_condition"))])
        for keys, members in rounds:
            if key not in keys:
                keys.add(key)
                members.append(expectation)
                break
        else:
            rounds.append(({key}, [expectation]))
    return [members for _, members in rounds]


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_fused_pass_is_a_gx_pass(spark, case: str) -> None:
    schema, rows, cases = CASES[case]
    df = spark.createDataFrame(rows, schema)
    expectations = [{**e, "meta": {"case": i}} for i, (e, _) in enumerate(cases)]
    fused = evaluate(df, expectations)
    gx_success: dict[int, bool] = {}
    for round_ in _rounds(expectations):  # a GX suite keeps one expectation per type and domain
        gx = _validate_with_gx(df, f"fused_{case}", round_, verdicts_only=True)
        gx_success.update({r["expectation_config"]["meta"]["case"]: r["success"] for r in gx["results"]})
    problems = []
    for i, ((expectation, relation), outcome) in enumerate(zip(cases, fused, strict=True)):
        label = f"{expectation['type']} {expectation['kwargs']}"
        if not outcome.supported:
            problems.append(f"{label}: not supported ({outcome.reason})")
        elif outcome.success and not gx_success[i]:
            problems.append(f"{label}: fused PASS but GX FAIL (observed {outcome.result['result']})")
        elif relation == AGREE and outcome.success != gx_success[i]:
            problems.append(f"{label}: fused {outcome.success} != GX {gx_success[i]}")
        elif relation == CONSERVATIVE and (outcome.success, gx_success[i]) != (False, True):
            problems.append(f"{label}: expected the conservative fail/pass, got {outcome.success}/{gx_success[i]}")
    assert problems == []


def test_unsupported_expectations_leave_the_suite_to_gx_without_reading(spark) -> None:
    df = spark.createDataFrame([(1, "a")], "i int, s string")
    supported = {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}}
    for unsupported in (
        {"type": "expect_column_max_to_be_between", "kwargs": {"column": "i", "max_value": 1}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "i", "result_format": "COMPLETE"}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "i", "min_value": {"$PARAMETER": "lo"}}},
        {"type": "expect_column_values_to_be_in_set",
         "kwargs": {"column": "s", "value_set": ["a"], "row_condition": 'col("i")>0',
                    "condition_parser": "great_expectations"}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "missing"}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "s", "min_value": "a"}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "i", "min_value": 2, "max_value": 1}},
    ):
        group = _job_group(spark)
        check = precheck(df, "fused_unsupported", [supported, unsupported])
        assert not check.applicable and not check.success and check.gx_result is None, unsupported
        assert _jobs(spark, group) == 0, "nothing is read when the check cannot decide the suite"
        assert check.outcomes[0].supported and not check.outcomes[1].supported


def _ticks(spark, n: int = 2000):  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    return (spark.range(n).select(
        F.when(F.col("id") % 3 == 0, "AAPL").when(F.col("id") % 3 == 1, "MSFT").otherwise("GOOG").alias("symbol"),
        F.lit("XNAS").alias("exchange"),
        (F.lit(T0).cast("timestamp") + F.make_interval(secs=F.col("id").cast("int"))).alias("ts"),
        (F.col("id") % 97 + 1.5).alias("price"), (F.col("id") % 13 + 1).cast("long").alias("size"),
        F.concat(F.lit("t"), F.col("id").cast("string")).alias("trade_id"),
        F.concat(F.lit("f"), (F.col("id") % 4).cast("string"), F.lit(".csv")).alias("source_file"),
        F.col("id").alias("record_id")))


def _silver_ticks_like(rows: int) -> list[dict[str, Any]]:
    key = ["symbol", "exchange", "ts", "price", "size", "trade_id"]
    return [
        *({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": c}}
          for c in ("symbol", "ts", "price", "size", "source_file", "record_id")),
        *({"type": "expect_column_values_to_be_between", "kwargs": {"column": c, "min_value": 0, "strict_min": True}}
          for c in ("price", "size")),
        {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": key}},
        {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["source_file", "record_id"]}},
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
        {"type": "expect_table_row_count_to_equal", "kwargs": {"value": rows}, "meta": {"reconciliation": "test"}},
    ]


def _job_group(spark) -> str:  # type: ignore[no-untyped-def]
    group = f"fused-{uuid.uuid4().hex}"
    spark.sparkContext.setJobGroup(group, "fused quality check test")
    return group


def _jobs(spark, group: str) -> int:  # type: ignore[no-untyped-def]
    jobs = len(spark.sparkContext.statusTracker().getJobIdsForGroup(group))
    spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
    return jobs


def test_a_passing_gate_reads_the_rows_about_once(spark) -> None:
    df = _ticks(spark)
    suite = _silver_ticks_like(2000)
    group = _job_group(spark)
    result = validate(df, "fused_ticks", suite)
    fused_jobs = _jobs(spark, group)
    assert result["success"] and result["meta"]["evaluated_by"] == EVALUATED_BY
    group = _job_group(spark)
    gx = validate(df, "fused_ticks", suite, fused=False)
    gx_jobs = _jobs(spark, group)
    assert gx["success"]
    print(f"silver-ticks-like passing gate: fused {fused_jobs} Spark jobs, GX {gx_jobs} Spark jobs")
    # One agg plus one grouped count of key hashes for both uniqueness keys, each reading the rows once (no
    # key repeats a hash here, so none is counted exactly). Adaptive execution submits every shuffle map stage
    # as a job of its own: the agg is 2 jobs (the read, the final merge), the hash count 3 (the read, the
    # keys with a repeated hash, the result).
    assert fused_jobs <= 2 + 3, (fused_jobs, gx_jobs)
    assert fused_jobs < gx_jobs


def test_a_failing_fused_check_goes_straight_to_gx_summary(spark) -> None:
    from pyspark.sql import functions as F

    df = _ticks(spark, 200).withColumn("price", F.when(F.col("record_id") == 7, F.lit(-1.0)).otherwise(F.col("price")))
    result = validate(df, "fused_ticks_bad", _silver_ticks_like(200))
    assert not result["success"] and "evaluated_by" not in result["meta"]
    failing = [r for r in result["results"] if not r["success"]]
    assert [r["expectation_config"]["kwargs"]["column"] for r in failing] == ["price"]
    assert failing[0]["result"]["partial_unexpected_list"] == [-1.0]


def test_a_passing_gate_still_writes_its_report_and_data_docs(spark, local_settings) -> None:
    day, run_id = dt.date(2023, 6, 1), "manual__fused"
    ctx = GateContext(spark, local_settings, day, run_id)
    gate = run_gate(_ticks(spark, 500), ctx, "fused_ticks_gate", _silver_ticks_like(500))
    assert gate.success and gate.evaluated == 12 and gate.failed == []
    report = json.loads(storage.read_bytes(local_settings, report_uri(local_settings, "fused_ticks_gate", day,
                                                                      run_id)))
    gx_result = report["gx_result"]
    assert report["success"] is True and gx_result["success"] is True
    assert gx_result["meta"]["evaluated_by"] == EVALUATED_BY
    assert gx_result["statistics"] == {"evaluated_expectations": 12, "successful_expectations": 12,
                                       "unsuccessful_expectations": 0, "success_percent": 100.0}
    by_type = {r["expectation_config"]["type"]: r["result"] for r in gx_result["results"]}
    assert by_type["expect_table_row_count_to_equal"] == {"observed_value": 500}
    assert by_type["expect_column_values_to_not_be_null"]["element_count"] == 500
    assert by_type["expect_compound_columns_to_be_unique"]["unexpected_count"] == 0
    html = storage.read_bytes(local_settings, report["data_docs"]).decode()
    text = " ".join(re.sub(r"<[^>]+>", " ", re.sub(r"<(style|script)\b.*?</\1>", " ", html, flags=re.S)).split())
    assert "Status: Succeeded" in text and "fused_ticks_gate" in text


def test_a_row_condition_spark_cannot_analyse_is_left_to_gx(spark) -> None:
    df = spark.createDataFrame([(1,)], "i int")
    expectation = {"type": "expect_column_values_to_not_be_null",
                   "kwargs": {"column": "i", "row_condition": "no_such_column > 0", "condition_parser": "spark"}}
    result = validate(df, "fused_bad_condition", [expectation])
    assert result["success"] is False and "evaluated_by" not in result["meta"]
    assert "no_such_column" in json.dumps(result["results"][0]["exception_info"])


@pytest.mark.parametrize("rows, partitions", [(2000, None), (20_000_000, 80)])
def test_key_hashes_are_spread_before_they_are_counted(spark, rows: int, partitions: int | None) -> None:
    """Nearly every key hash is unique, so a count before the shuffle reduces nothing and holds a whole
    input split's pairs in one hash map (it spilled and took 3x as long on 20M ticks): the pairs are
    hash-partitioned first, into more partitions as the table grows, and only counted after that."""
    df = _ticks(spark)
    keys = [(("symbol", "exchange", "ts", "price", "size", "trade_id"), None, "never"),
            (("source_file", "record_id"), None, "never")]
    pairs = repeated_hash_pairs(df, keys, rows=rows)
    plan = pairs._jdf.queryExecution().executedPlan().toString()
    below_exchange = plan.split("Exchange hashpartitioning(hash#", 1)
    assert len(below_exchange) == 2, plan
    expected = partitions or int(spark.conf.get("spark.sql.shuffle.partitions"))
    assert below_exchange[1].split(")", 1)[0].endswith(f", {expected}"), plan
    assert "HashAggregate" not in below_exchange[1], plan
    assert pairs.count() == 0  # every generated key is unique
    duplicated = df.unionByName(df.limit(3))
    found = repeated_hash_pairs(duplicated, keys, rows=rows).groupBy("key").count().collect()
    assert {row["key"]: row["count"] for row in found} == {0: 3, 1: 3}


@pytest.mark.parametrize("repeating", [0, 2, 4])
def test_the_key_of_a_repeated_hash_is_read_back_from_its_tag(spark, repeating: int) -> None:
    """Each key's hashes carry its index in their low bits: with one to five keys, exactly the key whose
    values repeat is found, with its count, and no other."""
    from pyspark.sql import functions as F

    df = _ticks(spark, 300)
    unique = [(("trade_id",), None, "never"), (("source_file", "record_id"), None, "never"),
              (("ts",), None, "never"), (("record_id",), None, "never")]
    keys = [*unique[:repeating], (("symbol",), None, "never"), *unique[repeating:]][:repeating + 1]
    found = repeated_hash_pairs(df, keys, rows=300).groupBy("key").agg(F.sum("count").alias("rows")).collect()
    assert {row["key"]: row["rows"] for row in found} == {repeating: 300}
