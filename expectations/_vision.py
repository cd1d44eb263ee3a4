"""Helpers shared by the vision suites: which datasets this run wrote, share bounds with sampling slack."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


def run_datasets(staged: DataFrame, run_id: str) -> list[str]:
    """Datasets whose rows on the audit branch were written by this run (other datasets ride along)."""
    from pyspark.sql import functions as F

    return sorted(r[0] for r in staged.where(F.col("run_id") == F.lit(run_id)).select("dataset").distinct().collect())


def count_by_dataset(df: DataFrame) -> dict[str, int]:
    """Rows per dataset."""
    return {r[0]: int(r[1]) for r in df.groupBy("dataset").count().collect()}


def share_ok(observed: float, expected: float, n: int, tolerance: float) -> bool:
    """Whether an observed share is within ``tolerance`` (or 3 binomial standard errors) of the expected."""
    slack = 3 * math.sqrt(max(expected * (1 - expected), 1e-12) / max(n, 1))
    return abs(observed - expected) <= max(tolerance, slack)
