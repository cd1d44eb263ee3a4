"""Suite guarding gold.image_training_set (vision).

Checks labels, class balance, split proportions, that no content hash sits in two splits, plausible
pixel statistics, and reconciliation with the published silver manifest. Class and split shares are
computed here and turned into value-set expectations: a class (or split) whose share is out of bounds
is left out of the allowed set, so its rows fail and the report names the column. A class with no rows at
all (missing from the delivery) has no row to fail, so the out-of-bounds classes must also be present.
"""

from __future__ import annotations

from typing import Any

from expectations._vision import count_by_dataset, run_datasets, share_ok
from lakehouse.quality import GateContext


def build(ctx: GateContext) -> list[dict[str, Any]]:
    """Expectations for the run's staged Gold rows."""
    from pyspark.sql import functions as F

    v = ctx.settings.vision
    staged = ctx.read("gold.image_training_set", staged=True).drop("pixels")
    silver = ctx.read("silver.image_manifest", staged=False)
    mine = run_datasets(staged, ctx.run_id)
    others = staged.where(~F.col("dataset").isin(mine)).count() if mine else staged.count()
    silver_counts = count_by_dataset(silver)
    expected_rows = others + sum(silver_counts.get(d, 0) for d in mine)

    own = staged.where(F.col("dataset").isin(mine)) if mine else staged
    allowed_labels = set(range(10))
    allowed_splits = {"train", "val", "test"}
    shares: dict[str, Any] = {}
    for dataset in mine:
        rows = own.where(F.col("dataset") == dataset)
        train = rows.where(F.col("split") == "train")
        n_train = train.count()
        counts = {int(r[0]): int(r[1]) for r in train.groupBy("label").count().collect()}
        k = 10
        for label in range(k):
            share = counts.get(label, 0) / max(n_train, 1)
            lo, hi = v.class_share_min / k, v.class_share_max / k
            if not (lo <= share <= hi or share_ok(share, 1 / k, n_train, 0.0)):
                allowed_labels.discard(label)
        n = rows.count()
        split_counts = {r[0]: int(r[1]) for r in rows.groupBy("split").count().collect()}
        source_test = rows.where(F.col("source_split") == "test").count() / max(n, 1)
        if v.keep_source_test_split:
            expected = {"test": source_test, "val": v.val_fraction * (1 - source_test)}
        else:
            expected = {"test": v.test_fraction, "val": v.val_fraction}
        expected["train"] = 1 - expected["test"] - expected["val"]
        for split, share in expected.items():
            observed = split_counts.get(split, 0) / max(n, 1)
            if not share_ok(observed, share, n, v.split_tolerance):
                allowed_splits.discard(split)
        shares[dataset] = {"train_class_counts": counts, "split_counts": split_counts, "expected_split": expected}
    return [
        {"type": "expect_table_row_count_to_equal", "kwargs": {"value": expected_rows},
         "meta": {"why": "Gold reconciles with the published silver manifest", "datasets": mine}},
        {"type": "expect_column_values_to_be_between", "kwargs": {"column": "label", "min_value": 0, "max_value": 9}},
        {"type": "expect_column_values_to_be_in_set",
         "kwargs": {"column": "label", "value_set": sorted(allowed_labels)},
         "meta": {"why": "class balance of the training split within bounds", "shares": shares}},
        {"type": "expect_column_distinct_values_to_contain_set",
         "kwargs": {"column": "label", "value_set": sorted(set(range(10)) - allowed_labels)},
         "meta": {"why": "a class whose share is out of bounds fails even when it has no rows (missing class)",
                  "shares": shares}},
        {"type": "expect_column_values_to_be_in_set",
         "kwargs": {"column": "split", "value_set": sorted(allowed_splits)},
         "meta": {"why": "split proportions within tolerance", "shares": shares}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "image_id"},
         "meta": {"why": "no content hash in two splits (or twice in one)"}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "norm_mean"}},
        {"type": "expect_column_values_to_be_between",
         "kwargs": {"column": "pixel_mean", "min_value": 0.0, "max_value": 1.0}},
        {"type": "expect_column_mean_to_be_between",
         "kwargs": {"column": "pixel_mean", "min_value": 0.03, "max_value": 0.97},
         "meta": {"why": "not all black / all white"}},
        {"type": "expect_column_mean_to_be_between",
         "kwargs": {"column": "pixel_std", "min_value": 0.02, "max_value": 0.5},
         "meta": {"why": "images have contrast"}},
        {"type": "expect_column_values_to_be_in_set",
         "kwargs": {"column": "channels", "value_set": [1, 3]}},
    ]
