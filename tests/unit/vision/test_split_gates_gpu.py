"""Issue 14 (vision): the test split drawn by hash when no test files are delivered, the label rules of the
gates (no unseen label, every class present), and GPU isolation of `train` by profile (pool, queue)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from expectations._vision import (
    class_presence_expectations,
    out_of_bounds_classes,
    required_class_splits,
    rows_of,
    unseen_label_expectation,
)
from lakehouse.settings import PROJECT_ROOT, LakehouseSettings, VisionSettings
from spark_jobs.vision import transforms
from spark_jobs.vision.transforms import SplitConfig, assign_splits, expected_split_shares, uses_delivered_test

IDS = [transforms.content_hash(np.frombuffer(i.to_bytes(2, "big"), dtype=np.uint8).reshape(1, 1, 2))
       for i in range(2000)]  # 2,000 distinct image ids (content hashes)


# ---- split ------------------------------------------------------------------------------------------------------
def test_without_test_files_the_test_split_is_drawn_by_hash() -> None:
    config = SplitConfig(val_fraction=0.1, test_fraction=0.15)
    splits = assign_splits(IDS, ["train"] * len(IDS), config)  # e.g. only MNIST's train-*-ubyte files
    shares = {s: float(np.mean(splits == s)) for s in ("train", "val", "test")}
    assert abs(shares["test"] - 0.15) < 0.03 and abs(shares["val"] - 0.1) < 0.03, shares
    assert expected_split_shares(0.0, config) == pytest.approx({"train": 0.75, "val": 0.1, "test": 0.15})


def test_delivered_test_files_are_the_test_split_as_is() -> None:
    config = SplitConfig(val_fraction=0.1, test_fraction=0.15)
    sources = ["test" if i % 5 == 0 else "train" for i in range(len(IDS))]
    splits = assign_splits(IDS, sources, config)
    assert [s for s, src in zip(splits, sources, strict=True) if src == "test"] == ["test"] * (len(IDS) // 5)
    assert not any(s == "test" for s, src in zip(splits, sources, strict=True) if src == "train")
    assert expected_split_shares(0.2, config) == pytest.approx({"train": 0.72, "val": 0.08, "test": 0.2})
    # keep_source_test_split off: the delivered test files are pooled and the test split drawn by hash
    pooled = SplitConfig(val_fraction=0.1, test_fraction=0.15, keep_source_test_split=False)
    assert not uses_delivered_test(sources, pooled)
    assert abs(float(np.mean(assign_splits(IDS, sources, pooled) == "test")) - 0.15) < 0.03


def test_split_is_stable_across_reruns_and_independent_of_delivery_order() -> None:
    config = SplitConfig()
    first = dict(zip(IDS, assign_splits(IDS, ["train"] * len(IDS), config), strict=True))
    shuffled = IDS[:]
    random.Random(7).shuffle(shuffled)
    again = dict(zip(shuffled, assign_splits(shuffled, ["train"] * len(shuffled), SplitConfig()), strict=True))
    assert first == again
    # an image's val membership does not depend on whether test files came with it
    with_test = assign_splits(IDS, ["train"] * (len(IDS) - 1) + ["test"], config)
    assert [i for i, s in zip(IDS, with_test, strict=True) if s == "val"] == [i for i in IDS if first[i] == "val"]


# ---- gate label rules ----------------------------------------------------------------------------------------------
def test_train_must_hold_every_class_on_any_size_val_and_test_once_large_enough() -> None:
    assert required_class_splits({"train": 5, "val": 1, "test": 2}, 10, 10) == ["train"]
    assert required_class_splits({"train": 0}, 10, 10) == ["train"]
    assert required_class_splits({"train": 8000, "val": 100, "test": 99}, 10, 10) == ["train", "val"]
    (train,) = class_presence_expectations("mnist", 10, {"train": 40, "val": 4, "test": 10}, 10)
    assert train["type"] == "expect_column_distinct_values_to_contain_set"
    assert train["kwargs"]["value_set"] == list(range(10)) and train["kwargs"]["column"] == "label"
    assert train["kwargs"]["row_condition"] == "dataset = 'mnist' AND split = 'train'"
    assert train["kwargs"]["condition_parser"] == "spark"
    assert "every mnist class must be in the train split" in train["meta"]["why"]
    assert len(train["meta"]["why"]) <= 120  # the failure message quotes it whole


def test_a_missing_class_is_within_the_share_slack_on_small_sets_so_presence_is_its_own_rule() -> None:
    counts = {label: 4 for label in range(10) if label != 3}  # 36 training images, class 3 missing
    assert 3 not in out_of_bounds_classes(counts, 10, 0.5, 1.5), "the share check alone lets it through"
    big = {label: 400 for label in range(10) if label != 3}
    assert out_of_bounds_classes(big, 10, 0.5, 1.5) == [3]
    assert out_of_bounds_classes({**{label: 100 for label in range(10)}, 7: 1000}, 10, 0.5, 1.5)[-1] == 7


def test_unseen_label_rule_is_per_dataset_and_readable() -> None:
    rule = unseen_label_expectation("cifar10", 10)
    assert rule["kwargs"]["value_set"] == list(range(10))
    assert rule["kwargs"]["row_condition"] == "dataset = 'cifar10'"
    assert "unseen class" in rule["meta"]["why"] and len(rule["meta"]["why"]) <= 120
    with pytest.raises(ValueError, match="unexpected dataset"):
        rows_of("mnist' OR '1'='1")


def test_gate_messages_name_the_missing_class_and_split() -> None:
    from lakehouse.quality_messages import describe

    (train,) = class_presence_expectations("mnist", 10, {"train": 40}, 10)
    found = [0, 1, 2, 4, 5, 6, 7, 8, 9]
    line = describe({"expectation_config": train, "result": {"observed_value": found}, "success": False})
    assert line.startswith("label lacks the value(s) {3} it must contain")
    assert "every mnist class must be in the train split: a missing class cannot be learned" in line


# ---- GPU isolation -------------------------------------------------------------------------------------------------
def test_training_goes_to_kubernetes_by_profile() -> None:
    assert VisionSettings().trains_on_kubernetes("cluster")
    assert not VisionSettings().trains_on_kubernetes("local") and not VisionSettings().trains_on_kubernetes("s3")
    assert not VisionSettings(train_on_kubernetes=False).trains_on_kubernetes("cluster")
    assert VisionSettings(train_on_kubernetes=True).trains_on_kubernetes("local")
    assert "LAKEHOUSE_VISION__TRAIN_ON_KUBERNETES" not in LakehouseSettings(profile="local").to_env()


_DESCRIBE_TRAIN = """
import json
from lakehouse.orchestration import build_dag
from lakehouse.pipeline import call_target, get_pipeline
from lakehouse.settings import LakehouseSettings

out = {}
profiles = {"cluster": LakehouseSettings(profile="cluster", vision={"gpu_queue": "gpu"}),
            "local": LakehouseSettings(profile="local"),
            "cluster_off": LakehouseSettings(profile="cluster", vision={"train_on_kubernetes": False})}
for name, settings in profiles.items():
    task = build_dag(get_pipeline(settings, "vision_cnn_classifier"), settings).get_task("train")
    found = {"operator": [c.__name__ for c in type(task).__mro__], "pool": task.pool, "queue": task.queue,
             "upstream": sorted(task.upstream_task_ids)}
    if getattr(task, "pod_spec", None):
        spec = call_target(task.pod_spec)(settings, params={"dataset": "cifar10"}, logical_date="2024-05-06",
                                          run_id="manual__2024-05-06")
        found["resources"] = spec["spec"]["containers"][0]["resources"]
        found["namespace"] = task.namespace
    out[name] = found
print(json.dumps(out))
"""


def test_cluster_dag_trains_in_a_gpu_pod_in_the_gpu_pool_and_local_in_process(tmp_path: Path) -> None:
    """The DAG built under each profile (no cluster needed): on `cluster` the `train` task is a
    KubernetesPodOperator whose pod requests one `nvidia.com/gpu`, in the `gpu` pool and the configured queue;
    on `local` (or with the setting off) it is the in-process PythonOperator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKEHOUSE_", "AIRFLOW"))}
    env.update({"AIRFLOW_HOME": str(tmp_path), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "LAKEHOUSE_HOME": str(tmp_path / "lake")})
    result = subprocess.run([sys.executable, "-c", _DESCRIBE_TRAIN], env=env, cwd=PROJECT_ROOT, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    built = json.loads(result.stdout.strip().splitlines()[-1])
    cluster = built["cluster"]
    assert "KubernetesPodOperator" in cluster["operator"] and cluster["upstream"] == ["gate_gold"]
    assert cluster["pool"] == "gpu" and cluster["queue"] == "gpu"
    assert cluster["resources"]["requests"]["nvidia.com/gpu"] == 1
    assert cluster["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert cluster["namespace"] == "lakehouse"
    for name in ("local", "cluster_off"):
        local = built[name]
        assert "PythonOperator" in local["operator"] and "KubernetesPodOperator" not in local["operator"], name
        assert local["pool"] != "gpu" and "resources" not in local, name
