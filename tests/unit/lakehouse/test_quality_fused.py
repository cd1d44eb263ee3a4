"""The fused pre-check's pure parts against GX's own rules (no JVM): mostly, vacuous truth, result shapes,
rounding margins, what makes a suite unsupported, and which expectations a GX suite keeps."""

from __future__ import annotations

import math
from typing import Any

import pytest
from great_expectations.expectations.expectation import _format_map_output, _mostly_success
from great_expectations.expectations.expectation_configuration import parse_result_format

from lakehouse import quality_fused as qf


class _Untouchable:
    """A DataFrame stand-in that fails the test if the check reads anything from it."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the DataFrame was used ({name})")


@pytest.mark.parametrize(("considered", "unexpected", "mostly"), [
    (3, 1, 2 / 3), (3, 1, 0.666667), (4, 1, 0.75), (4, 1, 0.7500001), (10, 0, 1.0), (10, 1, 1.0), (7, 7, 0.0),
    (1_000_003, 200_001, 0.8), (49, 7, 6 / 7),
])
def test_mostly_is_gx_arithmetic(considered: int, unexpected: int, mostly: float) -> None:
    success, _ = qf._map_verdict(considered, considered, unexpected, mostly)
    assert success == _mostly_success(considered, unexpected, mostly)


def test_no_rows_or_no_considered_rows_pass_vacuously() -> None:
    assert qf._map_verdict(0, 0, 0, 1.0)[0] is True
    assert qf._map_verdict(5, 0, 0, 1.0)[0] is True  # every value null: GX passes a column map expectation


@pytest.mark.parametrize(("element_count", "nonnull_count", "unexpected_count"),
                         [(10, 8, 0), (10, None, 0), (0, 0, 0), (0, None, 0), (5, 0, 0), (10, 10, 2)])
def test_map_results_have_gx_summary_shape(element_count: int, nonnull_count: int | None,
                                           unexpected_count: int) -> None:
    gx = _format_map_output(parse_result_format("SUMMARY"), True, element_count=element_count,
                            nonnull_count=nonnull_count, unexpected_count=unexpected_count, unexpected_list=[])
    assert qf._map_result(element_count, nonnull_count, unexpected_count) == gx["result"]


def test_floating_point_bounds_need_a_margin() -> None:
    assert qf._between(5.0, 5, 5, False, False)
    assert not qf._between(5.0, 5, 5, False, False, margin=1e-12)
    assert qf._between(5.5, 5, 6, True, True, margin=1e-12)
    assert not qf._between(5.0, 5, 6, True, False)
    assert not qf._between(None, 0, 1, False, False)


@pytest.mark.parametrize("expectation", [
    {"type": "expect_column_max_to_be_between", "kwargs": {"column": "x", "max_value": 1}},
    {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x", "result_format": "COMPLETE"}},
    {"type": "expect_column_values_to_be_between", "kwargs": {"column": "x", "min_value": {"$PARAMETER": "lo"}}},
    {"type": "expect_column_values_to_be_in_set",
     "kwargs": {"column": "x", "value_set": [1], "row_condition": 'col("x")>0',
                "condition_parser": "great_expectations"}},
    {"type": "expect_column_values_to_be_in_set",
     "kwargs": {"column": "x", "value_set": [1], "row_condition": "x > 0"}},
])
def test_an_unsupported_expectation_leaves_the_suite_to_gx_unread(expectation: dict[str, Any]) -> None:
    check = qf.precheck(_Untouchable(), "suite", [expectation])  # type: ignore[arg-type]
    assert not check.applicable and not check.success and check.gx_result is None and check.reason


def test_a_gx_suite_keeps_the_last_expectation_of_a_type_and_domain() -> None:
    first = {"type": "expect_column_values_to_be_between", "kwargs": {"column": "x", "min_value": 0}}
    other_column = {"type": "expect_column_values_to_be_between", "kwargs": {"column": "y", "min_value": 0}}
    last = {"type": "expect_column_values_to_be_between", "kwargs": {"column": "x", "max_value": 9}}
    conditioned = {"type": "expect_column_values_to_be_between",
                   "kwargs": {"column": "x", "max_value": 9, "row_condition": "y > 0", "condition_parser": "spark"}}
    assert qf._as_in_a_gx_suite([first, other_column, last, conditioned]) == [other_column, last, conditioned]


def test_a_passing_result_is_a_gx_suite_validation_result() -> None:
    config, _ = qf._gx_model("expect_column_values_to_not_be_null", {"column": "x"}, {"why": "ids"})
    row_count, _ = qf._gx_model("expect_table_row_count_to_equal", {"value": 3}, None)
    outcomes = [qf.Outcome(True, True, {"config": config, "result": qf._map_result(3, None, 0)}),
                qf.Outcome(True, True, {"config": row_count, "result": {"observed_value": 3}})]
    result = qf._suite_result("suite", outcomes)
    assert set(result) == {"success", "results", "suite_name", "suite_parameters", "statistics", "meta", "id"}
    assert result["success"] is True and result["suite_name"] == "suite"
    assert result["statistics"] == {"evaluated_expectations": 2, "successful_expectations": 2,
                                    "unsuccessful_expectations": 0, "success_percent": 100.0}
    assert result["meta"]["evaluated_by"] == qf.EVALUATED_BY
    first = result["results"][0]
    assert set(first) == {"success", "expectation_config", "result", "meta", "exception_info"}
    assert first["expectation_config"]["kwargs"] == {"batch_id": "lakehouse-suite", "column": "x"}
    assert first["expectation_config"]["meta"] == {"why": "ids"}
    assert result["results"][1]["result"] == {"observed_value": 3}
    assert not math.isnan(first["result"]["unexpected_percent"])
