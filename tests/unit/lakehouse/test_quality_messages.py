"""Failed expectations in words: one wording per expectation type the suites use, on GX's real results."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest

from lakehouse.quality_messages import describe, described_types, expectation_id
from lakehouse.settings import PROJECT_ROOT

ROWS = 100  # a: 1, 2, null, 4, 4 (repeated); b: 1..5 (repeated)
CASES: list[tuple[dict[str, Any], str]] = [
    ({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a", "mostly": 0.9}},
     "20 % of rows (20 of 100) have no a (null); at most 10 % allowed"),
    ({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}},
     "20 rows (20 %) have no a (null); none allowed"),
    ({"type": "expect_column_values_to_be_unique", "kwargs": {"column": "a"}},
     "80 rows (80 %) share a duplicated a (e.g. 1, 2, 4); none allowed"),
    ({"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["a", "b"]}},
     "100 duplicate (a, b) rows (100 % of rows) (e.g. (1, 1), (2, 2), (null, 3)); none allowed"),
    ({"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 200, "max_value": 1000}},
     "row count 100 is outside [200, 1,000]"),
    ({"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 101}},
     "row count 100 is below the minimum 101"),
    ({"type": "expect_table_row_count_to_equal", "kwargs": {"value": 7},
      "meta": {"reconciliation": "raw 10 - quarantine 3"}},
     "row count 100 differs from the expected 7 (raw 10 - quarantine 3)"),
    ({"type": "expect_column_values_to_be_between", "kwargs": {"column": "b", "min_value": 0, "max_value": 3}},
     "40 rows (40 %) have b outside [0, 3] (e.g. 4, 5); none allowed"),
    ({"type": "expect_column_values_to_be_between", "kwargs": {"column": "b", "min_value": 1, "strict_min": True}},
     "20 rows (20 %) have b <= 1 (e.g. 1); none allowed"),
    ({"type": "expect_column_values_to_be_between", "kwargs": {"column": "b", "max_value": 4}},
     "20 rows (20 %) have b above 4 (e.g. 5); none allowed"),
    ({"type": "expect_column_mean_to_be_between", "kwargs": {"column": "b", "min_value": 0.03, "max_value": 0.97}},
     "mean of b is 3; [0.03, 0.97] allowed"),
    ({"type": "expect_column_sum_to_be_between", "kwargs": {"column": "b", "min_value": 5, "max_value": 5}},
     "sum of b is 300; exactly 5 expected"),
    ({"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "b", "value_set": [1, 2]}},
     "60 rows (60 %) have b not in {1, 2} (e.g. 3, 4, 5); none allowed"),
    ({"type": "expect_column_distinct_values_to_contain_set", "kwargs": {"column": "b", "value_set": [1, 9]}},
     "b lacks the value(s) {9} it must contain"),
    ({"type": "expect_column_pair_values_a_to_be_greater_than_b",
      "kwargs": {"column_A": "a", "column_B": "b", "or_equal": True}},
     "40 rows (40 %) have a < b (a >= b required) (e.g. (null, 3), (4, 5)); none allowed"),
    ({"type": "expect_column_pair_values_to_be_equal", "kwargs": {"column_A": "a", "column_B": "b"}},
     "40 rows (40 %) have a != b (e.g. (null, 3), (4, 5)); none allowed"),
    ({"type": "expect_column_values_to_match_regex", "kwargs": {"column": "s", "regex": "^[0-9a-f]{4}$"}},
     "20 rows (20 %) have s not matching /^[0-9a-f]{4}$/ (e.g. 'zz'); none allowed"),
    ({"type": "expect_column_values_to_not_match_regex", "kwargs": {"column": "s", "regex": "^z"}},
     "20 rows (20 %) have s matching /^z/ (e.g. 'zz'); none allowed"),
]


@pytest.fixture(scope="module")
def results() -> list[dict[str, Any]]:
    """GX's own SUMMARY results of CASES (all failing) on a small pandas frame."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    import pandas as pd
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batch_definition = (context.data_sources.add_pandas(name="p").add_dataframe_asset(name="rows")
                        .add_batch_definition_whole_dataframe("whole"))
    frame = pd.DataFrame({"a": [1, 2, None, 4, 4] * 20, "b": [1, 2, 3, 4, 5] * 20,
                          "s": ["abcd", "0123", "zz", "ffff", "9999"] * 20})
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    results = []
    for index, (config, _) in enumerate(CASES):  # one suite each: GX keeps one expectation per type and column
        suite = gx.ExpectationSuite(name=f"case_{index}")
        suite.add_expectation_configuration(ExpectationConfiguration(**config))
        results.append(batch.validate(suite).to_json_dict()["results"][0])
    assert not any(r["success"] for r in results)
    return results


@pytest.mark.parametrize("index", range(len(CASES)), ids=[f"{c['type']}-{i}" for i, (c, _) in enumerate(CASES)])
def test_each_expectation_type_is_described_in_words(results: list[dict[str, Any]], index: int) -> None:
    assert describe(results[index]) == CASES[index][1]


def test_every_expectation_type_of_the_suites_has_its_own_wording() -> None:
    used = set()
    for path in Path(PROJECT_ROOT, "expectations").glob("*.py"):
        used |= set(re.findall(r"\"(expect_[a-z_]+)\"", path.read_text()))
    assert used, "no expectation types found in expectations/*.py"
    assert used <= described_types(), f"no wording for {sorted(used - described_types())}"
    assert {c["type"] for c, _ in CASES} == described_types(), "every wording has a case here"


def test_the_numbers_are_read_as_a_person_reads_them() -> None:
    result = {"expectation_config": {"type": "expect_column_values_to_not_be_null",
                                     "kwargs": {"column": "global_active_power", "mostly": 0.8}},
              "result": {"element_count": 44640, "unexpected_count": 33351, "unexpected_percent": 74.7110215,
                         "partial_unexpected_list": [None] * 20}}
    assert describe(result) == ("74.7 % of rows (33,351 of 44,640) have no global_active_power (null); "
                                "at most 20 % allowed")
    duplicates = {"expectation_config": {"type": "expect_compound_columns_to_be_unique",
                                         "kwargs": {"column_list": ["symbol", "ts", "trade_id"]}},
                  "result": {"element_count": 5_000_000, "unexpected_count": 1204, "unexpected_percent": 0.02408,
                             "partial_unexpected_list": [{"symbol": "AAPL", "ts": "2024-01-02 14:30:00",
                                                          "trade_id": "x" * 100}]}}
    assert describe(duplicates) == (
        "1,204 duplicate (symbol, ts, trade_id) rows (0.0241 % of rows) (e.g. ('AAPL', '2024-01-02 14:30:00', "
        f"'{'x' * 57}...')); none allowed")
    tiny = {**duplicates, "result": {**duplicates["result"], "unexpected_count": 1, "unexpected_percent": 2e-5,
                                     "partial_unexpected_list": []}}
    assert describe(tiny) == "1 duplicate (symbol, ts, trade_id) row (< 0.01 % of rows); none allowed"


def test_mostly_is_a_share_of_the_non_null_rows() -> None:
    result = {"expectation_config": {"type": "expect_column_values_to_be_in_set",
                                     "kwargs": {"column": "status", "value_set": ["ok"], "mostly": 0.95}},
              "result": {"element_count": 100, "missing_count": 20, "unexpected_count": 8,
                         "unexpected_percent": 10.0, "partial_unexpected_list": ["bad"]}}
    assert describe(result) == ("10 % of non-null rows (8 of 80) have status not in {'ok'} (e.g. 'bad'); "
                                "at most 5 % allowed")


def test_a_result_without_details_still_reads_well() -> None:
    """BOOLEAN_ONLY results carry no numbers (gates re-validate failures with SUMMARY, but never crash)."""
    bare = {"success": False, "result": {}}
    assert describe({**bare, "expectation_config": {"type": "expect_column_values_to_not_be_null",
                                                    "kwargs": {"column": "ts"}}}) == \
        "some rows have no ts (null); none allowed"
    assert describe({**bare, "expectation_config": {"type": "expect_table_row_count_to_be_between",
                                                    "kwargs": {"min_value": 1}}}) == \
        "row count is outside the allowed >= 1"
    assert describe({**bare, "expectation_config": {"type": "expect_column_sum_to_be_between",
                                                    "kwargs": {"column": "n", "min_value": 3, "max_value": 3}}}) == \
        "sum of n is unknown; exactly 3 expected"


def test_an_expectation_that_raised_names_the_error() -> None:
    result = {"success": False, "result": {},
              "expectation_config": {"type": "expect_column_values_to_be_between", "kwargs": {"column": "nope"}},
              "exception_info": {"raised_exception": True,
                                 "exception_message": "Error: The column \"nope\" in BatchData does not exist.\n..."}}
    assert describe(result) == ("expect_column_values_to_be_between(nope) could not be evaluated: "
                                "Error: The column \"nope\" in BatchData does not exist.")


def test_other_expectation_types_get_a_generic_line() -> None:
    result = {"success": False, "expectation_config": {"type": "expect_column_median_to_be_between",
                                                       "kwargs": {"column": "x", "min_value": 1, "max_value": 2}},
              "result": {"observed_value": 7.5}}
    assert describe(result) == "expect_column_median_to_be_between(x) failed; observed 7.5; allowed: min_value=1, " \
        "max_value=2"
    odd = {"expectation_config": {"type": "expect_column_values_to_be_between", "kwargs": {}},
           "result": {"unexpected_count": 3, "unexpected_percent": 30.0}}
    assert describe(odd) == "expect_column_values_to_be_between failed; 3 rows (30 %) unexpected"


def test_expectation_ids_stay_machine_readable() -> None:
    assert expectation_id({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}}) == \
        "expect_column_values_to_not_be_null(a)"
    assert expectation_id({"type": "expect_table_row_count_to_equal", "kwargs": {"value": 3}}) == \
        "expect_table_row_count_to_equal"


def test_a_description_is_one_line() -> None:
    result = {"expectation_config": {"type": "expect_column_values_to_be_in_set",
                                     "kwargs": {"column": "c", "value_set": list(range(20))}},
              "result": {"element_count": 2, "unexpected_count": 1, "unexpected_percent": 50.0,
                         "partial_unexpected_list": ["two\nlines"]}}
    text = describe(result)
    assert "\n" not in text
    assert text == "1 row (50 %) has c not in {0, 1, 2, 3, 4, 5, 6, 7, ...} (e.g. 'two\\nlines'); none allowed"
