"""Every lakehouse table, declared once. ``ALL_TABLES`` maps identifier -> TableSpec."""

from schemas import core, deliveries, energy, finance, vision
from schemas.base import NAMESPACES, Column, TableSpec

ALL_TABLES: dict[str, TableSpec] = {
    spec.identifier: spec
    for spec in (
        *core.TABLES,
        *finance.TABLES,
        *vision.TABLES,
        *energy.TABLES,
        *deliveries.TABLES,
    )
}


def get_table_spec(identifier: str) -> TableSpec:
    """Look up a declared table by ``namespace.name``."""
    try:
        return ALL_TABLES[identifier]
    except KeyError:
        known = ", ".join(sorted(ALL_TABLES))
        raise KeyError(f"unknown table {identifier!r}; declared tables: {known}") from None


__all__ = ["ALL_TABLES", "NAMESPACES", "Column", "TableSpec", "get_table_spec"]
