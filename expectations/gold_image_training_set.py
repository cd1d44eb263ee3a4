"""Suite guarding gold.image_training_set (vision).

Per dataset written by this run (rows of another dataset on the branch are checked by its own run):

- no unseen label: every label is one of the dataset's declared classes;
- every declared class is present in the train split, on any set size (a class the model never sees
  cannot be learned), and in val and test once they hold ``vision.eval_class_min_images`` images per class
  (a smaller split drawn by hash can miss a class by chance);
- class balance of the train split: each class's share within [``class_share_min``, ``class_share_max``]
  x the uniform share (or within 3 binomial standard errors of it on small sets); an out-of-bounds class
  is left out of the allowed set, so its training rows fail and the report names the column;
- split shares as the split rule aims (``transforms.expected_split_shares``: delivered test files as-is,
  or test drawn by hash), within ``split_tolerance`` or the sampling slack.

And for the whole date: no content hash twice (so none in two splits), plausible pixel statistics, and
reconciliation with the published silver manifest.
"""

from __future__ import annotations

from typing import Any

from expectations._vision import (
    class_presence_expectations,
    count_by_dataset,
    out_of_bounds_classes,
    rows_of,
    run_datasets,
    share_ok,
    unseen_label_expectation,
)
from lakehouse.quality import GateContext
from spark_jobs.vision.formats import dataset_spec
from spark_jobs.vision.gold import split_config_of
from spark_jobs.vision.transforms import expected_split_shares


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

    per_dataset: list[dict[str, Any]] = []
    for dataset in mine:
        spec = dataset_spec(dataset)
        k = spec.num_classes
        rows = staged.where(F.col("dataset") == dataset)
        by_split_label = rows.groupBy("split", "label").count().collect()
        split_counts: dict[str, int] = {}
        train_counts: dict[int, int] = {}
        for r in by_split_label:
            split_counts[r["split"]] = split_counts.get(r["split"], 0) + int(r["count"])
            if r["split"] == "train":
                train_counts[int(r["label"])] = int(r["count"])
        n = sum(split_counts.values())
        source_test = rows.where(F.col("source_split") == "test").count() / max(n, 1)
        expected = expected_split_shares(source_test, split_config_of(v))
        allowed_splits = [s for s, share in expected.items()
                          if share_ok(split_counts.get(s, 0) / max(n, 1), share, n, v.split_tolerance)]
        unbalanced = out_of_bounds_classes(train_counts, k, v.class_share_min, v.class_share_max)
        shares = {"train_class_counts": train_counts, "split_counts": split_counts, "expected_split": expected}
        per_dataset += [
            unseen_label_expectation(dataset, k),
            *class_presence_expectations(dataset, k, split_counts, v.eval_class_min_images),
            {"type": "expect_column_values_to_be_in_set",
             "kwargs": {"column": "label", "value_set": [c for c in range(k) if c not in unbalanced],
                        **rows_of(dataset, "train")},
             "meta": {"why": f"class balance of the {dataset} train split within bounds", "shares": shares}},
            {"type": "expect_column_values_to_be_in_set",
             "kwargs": {"column": "split", "value_set": sorted(allowed_splits), **rows_of(dataset)},
             "meta": {"why": f"{dataset} split proportions within tolerance", "shares": shares}},
        ]
    return [
        {"type": "expect_table_row_count_to_equal", "kwargs": {"value": expected_rows},
         "meta": {"why": "Gold reconciles with the published silver manifest", "datasets": mine}},
        *per_dataset,
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
