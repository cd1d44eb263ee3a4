"""Suite guarding silver.image_manifest (vision): ids, labels, shapes, confined URIs, reconciliation.

Labels: every label of a dataset this run validated must be one of the dataset's declared classes. Silver
validation does not quarantine an unseen label (another dataset's or a corrupt label file is a delivery
problem, not an item problem), so one such row fails the gate and nothing of the delivery is published.

Reconciliation: for every dataset this run validated, silver rows + quarantined rows = raw rows of
the date; rows of other datasets on the branch are carried over from main unchanged.
"""

from __future__ import annotations

import re
from typing import Any

from expectations._vision import count_by_dataset, run_datasets, unseen_label_expectation
from lakehouse import storage
from lakehouse.quality import GateContext
from spark_jobs.vision.formats import dataset_spec


def build(ctx: GateContext) -> list[dict[str, Any]]:
    """Expectations for the run's staged silver manifest."""
    from pyspark.sql import functions as F

    staged = ctx.read("silver.image_manifest", staged=True)
    quarantine = ctx.read("quarantine.image_manifest", staged=True)
    raw = ctx.read("raw.image_manifest", staged=False)
    mine = sorted(set(run_datasets(staged, ctx.run_id)) | set(run_datasets(quarantine, ctx.run_id)))
    raw_counts = count_by_dataset(raw)
    quarantined = count_by_dataset(quarantine.where(F.col("dataset").isin(mine))) if mine else {}
    others = staged.where(~F.col("dataset").isin(mine)).count() if mine else staged.count()
    expected_rows = others + sum(raw_counts.get(d, 0) - quarantined.get(d, 0) for d in mine)
    warehouse = re.escape(storage.to_uri(ctx.settings.warehouse).rstrip("/"))
    return [
        {"type": "expect_table_row_count_to_equal", "kwargs": {"value": expected_rows},
         "meta": {"why": "silver + quarantine reconcile with raw", "datasets": mine}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "image_id"}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "image_id"}},
        {"type": "expect_column_values_to_match_regex", "kwargs": {"column": "sha256", "regex": "^[0-9a-f]{64}$"}},
        {"type": "expect_column_pair_values_to_be_equal", "kwargs": {"column_A": "image_id", "column_B": "sha256"}},
        *(unseen_label_expectation(d, dataset_spec(d).num_classes) for d in mine),
        {"type": "expect_column_values_to_be_in_set",
         "kwargs": {"column": "dataset", "value_set": ["mnist", "cifar10"]}},
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "width", "value_set": [28, 32]}},
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "height", "value_set": [28, 32]}},
        {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "channels", "value_set": [1, 3]}},
        {"type": "expect_column_values_to_be_in_set",
         "kwargs": {"column": "source_split", "value_set": ["train", "test"]}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "record_index", "min_value": 0}},
        {"type": "expect_column_values_to_match_regex",
         "kwargs": {"column": "source_uri", "regex": f"^{warehouse}/[^\\\\]+$"}},
        {"type": "expect_column_values_to_not_match_regex",
         "kwargs": {"column": "source_uri", "regex": "(^|/)\\.\\.?(/|$)"}},
    ]
