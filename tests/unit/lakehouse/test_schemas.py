"""Every declared table is consistent: partition, sort and logical-date columns exist."""

import pytest

from schemas import ALL_TABLES, NAMESPACES, get_table_spec


@pytest.mark.parametrize("identifier", sorted(ALL_TABLES))
def test_table_declaration_is_consistent(identifier: str) -> None:
    spec = ALL_TABLES[identifier]
    assert spec.namespace in NAMESPACES
    names = spec.column_names
    assert len(names) == len(set(names)), "duplicate column names"
    for column, _ in spec.partition_by:
        assert column in names
    for column in spec.sort_by:
        assert column in names
    if spec.logical_date_column:
        assert spec.logical_date_column in names
    assert spec.description
    schema = spec.schema()
    assert [f.name for f in schema.fields] == names
    spec.partition_spec()
    spec.sort_order()


def test_unknown_table_lists_the_declared_ones() -> None:
    with pytest.raises(KeyError, match=r"declared tables: .*raw\.smoke_events"):
        get_table_spec("raw.nope")
