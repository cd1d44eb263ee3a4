"""Printing rows for people (aligned table) and for programs (CSV, JSON lines)."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from typing import Any, Literal, TextIO

from tabulate import tabulate

OutputFormat = Literal["table", "csv", "json"]


def print_rows(
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    fmt: OutputFormat = "table",
    out: TextIO | None = None,
) -> None:
    """Write rows in the requested format."""
    out = out or sys.stdout
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_plain(v) for v in row] for row in rows])
    elif fmt == "json":
        for row in rows:
            out.write(json.dumps(dict(zip(columns, row, strict=True)), default=str) + "\n")
    else:
        out.write(tabulate([[_plain(v) for v in row] for row in rows], headers=list(columns),
                           tablefmt="simple", disable_numparse=True, missingval="NULL") + "\n")
        out.write(f"({len(rows)} row{'s' if len(rows) != 1 else ''})\n")


def _plain(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return f"<{len(value)} bytes>"
    return value
