"""Helpers shared by the vision suites: which datasets this run wrote, share bounds with sampling slack, and
the per-dataset label rules (no unseen label, every declared class present) as GX expectations.

The label rules are evaluated per dataset (and split) with Spark row conditions, so rows of another dataset
that ride along on the audit branch never hide or cause a failure, and each failure says in words which
dataset and split lacks which class.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

SPLITS = ("train", "val", "test")


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


def rows_of(dataset: str, split: str | None = None) -> dict[str, str]:
    """GX row-condition kwargs selecting one dataset's rows (of one split): a Spark SQL filter."""
    for value in (dataset, split or ""):
        if not re.fullmatch(r"[a-z0-9_]*", value):
            raise ValueError(f"unexpected dataset or split name {value!r}")
    condition = f"dataset = '{dataset}'" + (f" AND split = '{split}'" if split else "")
    return {"row_condition": condition, "condition_parser": "spark"}


def unseen_label_expectation(dataset: str, num_classes: int) -> dict[str, Any]:
    """Every label of ``dataset``'s rows is one of its declared classes ``0..num_classes-1``."""
    return {"type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "label", "value_set": list(range(num_classes)), **rows_of(dataset)},
            "meta": {"why": f"{dataset} declares classes 0-{num_classes - 1}: any other label is an unseen class "
                            "(wrong or corrupt label file)", "dataset": dataset}}


def required_class_splits(split_sizes: Mapping[str, int], num_classes: int, min_images_per_class: int) -> list[str]:
    """The splits that must hold every declared class: train always (the model cannot learn a class it never
    sees, whatever the set size); val and test once they have ``min_images_per_class`` images per class (a
    smaller split drawn by hash can miss a class by chance, and the model is still evaluated on what is there)."""
    needed = num_classes * min_images_per_class
    return [s for s in SPLITS if s == "train" or split_sizes.get(s, 0) >= needed]


def class_presence_expectations(dataset: str, num_classes: int, split_sizes: Mapping[str, int],
                                min_images_per_class: int) -> list[dict[str, Any]]:
    """One expectation per split of :func:`required_class_splits`: its distinct labels contain every class."""
    out = []
    for split in required_class_splits(split_sizes, num_classes, min_images_per_class):
        purpose = "learned" if split == "train" else "evaluated"
        out.append({"type": "expect_column_distinct_values_to_contain_set",
                    "kwargs": {"column": "label", "value_set": list(range(num_classes)), **rows_of(dataset, split)},
                    "meta": {"why": f"every {dataset} class must be in the {split} split: a missing class cannot "
                                    f"be {purpose}", "dataset": dataset, "split": split,
                             "split_images": split_sizes.get(split, 0)}})
    return out


def out_of_bounds_classes(counts: Mapping[int, int], num_classes: int, share_min: float, share_max: float) -> list[int]:
    """Classes whose share of the training split is outside ``[share_min, share_max]`` x the uniform share, unless
    within 3 binomial standard errors of it (small sets). Presence is checked separately, without slack."""
    n = sum(counts.values())
    lo, hi = share_min / num_classes, share_max / num_classes
    out = []
    for label in range(num_classes):
        share = counts.get(label, 0) / max(n, 1)
        if not (lo <= share <= hi or share_ok(share, 1 / num_classes, n, 0.0)):
            out.append(label)
    return out
