"""A suite never loses a declared expectation: two of one type on one domain are refused before validation."""

from __future__ import annotations

from typing import Any

import pytest

from lakehouse.errors import LakehouseError
from lakehouse.quality import refuse_shared_domains, validate


def _between(column: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": "expect_column_values_to_be_between", "kwargs": {"column": column, **kwargs}}


def test_great_expectations_keeps_one_expectation_per_type_and_domain() -> None:
    """Why the refusal exists: GX's suite replaces an expectation of the same type and domain."""
    import great_expectations as gx
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    suite = gx.ExpectationSuite(name="shared_domain")
    suite.add_expectation_configurations([
        ExpectationConfiguration(type=e["type"], kwargs=e["kwargs"])
        for e in (_between("price", min_value=0), _between("price", max_value=10))])
    assert len(suite.expectations) == 1


@pytest.mark.parametrize("suite", [
    [_between("price", min_value=0), _between("size", min_value=0), _between("price", max_value=10, mostly=0.9)],
    [{"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
     {"type": "expect_table_row_count_to_be_between", "kwargs": {"max_value": 10}}],
    [{"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["a", "b"]}},
     {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["a", "b"], "mostly": 0.5}}],
    [_between("price", min_value=0, row_condition="symbol = 'A'", condition_parser="spark"),
     _between("price", max_value=9, row_condition="symbol = 'A'", condition_parser="spark")],
], ids=["same_column", "table_level", "same_column_list", "same_row_condition"])
def test_two_expectations_on_one_domain_are_refused_naming_both(suite: list[dict[str, Any]]) -> None:
    with pytest.raises(LakehouseError) as refused:
        refuse_shared_domains("s", suite)
    message = str(refused.value)
    assert f"expectations 1 and {len(suite)} are both {suite[0]['type']}" in message
    assert "\n" not in message
    with pytest.raises(LakehouseError):  # before the batch is looked at
        validate(None, "s", suite)  # type: ignore[arg-type]


def test_distinct_domains_are_kept() -> None:
    refuse_shared_domains("s", [
        _between("price", min_value=0),
        _between("price", max_value=10, row_condition="symbol = 'A'", condition_parser="spark"),
        _between("price", max_value=12, row_condition="symbol = 'B'", condition_parser="spark"),
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "price", "value_set": [1]}},
        {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["a", "b"]}},
        {"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["b", "a"]}},
    ])
