"""`lakehouse model reproduce`: a registered model is rebuilt from its record (same rows, same checksum,
same metrics), and a tampered training set or a lost pin fails with one readable line."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from lakehouse import registry
from lakehouse.catalog import load_catalog
from lakehouse.maintenance import expire_snapshots
from lakehouse.settings import LakehouseSettings
from lakehouse.training import train
from lakehouse.write import write_for_date
from ml import finance
from ml.reproduce import reproduce
from schemas.energy import GOLD_FEATURES
from schemas.finance import GOLD_OHLCV_1M
from schemas.vision import GOLD_IMAGE_TRAINING_SET
from tests.support.cli import run_cli

FIN_DAY = dt.date(2021, 3, 2)  # nothing else in the suite writes gold.ohlcv_1m within its 30-day lookback
ENERGY_DAY = dt.date(2018, 3, 1)  # meter-read date of February 2018; training reads every date up to it
VISION_DAY = dt.date(2018, 5, 4)


def gold_bars(day: dt.date, seed: int, minutes: int = 240, symbols: tuple[str, ...] = ("AAA", "BBB")) -> pd.DataFrame:
    """gold.ohlcv_1m rows of one trade date with the tick generator's kind of order-flow structure: after a
    high-volume bar the next one continues its move, after a low-volume bar it reverts, so the direction is
    learnable by LightGBM but not by the logistic baseline, and the default policy registers the model."""
    rng = np.random.default_rng(seed)
    frames = []
    for symbol in symbols:
        flow = rng.random(minutes) < 0.5
        r = np.zeros(minutes)
        for t in range(1, minutes):
            r[t] = 0.9 * (1.0 if flow[t - 1] else -1.0) * r[t - 1] + rng.normal(0, 0.001)
        close = 100 * np.exp(np.cumsum(r))
        df = pd.DataFrame({
            "trade_date": day, "symbol": symbol,
            "minute_ts": pd.date_range(f"{day} 14:30", periods=minutes, freq="min", tz="UTC"),
            "open": close, "high": close * 1.001, "low": close * 0.999, "close": close,
            "volume": np.where(flow, 400.0, 50.0), "vwap": close, "trade_count": 5, "filled": False,
        })
        c = df["close"]
        df["sma_5"], df["sma_20"], df["sma_60"] = (c.rolling(n).mean() for n in (5, 20, 60))
        df["ema_12"] = c.ewm(span=12).mean()
        df["log_return"] = np.log(c / c.shift())
        df["realized_vol_30"] = np.sqrt((df["log_return"] ** 2).rolling(30).sum())
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def write_gold(spark: Any, settings: LakehouseSettings, spec: Any, frame: pd.DataFrame, day: dt.date,
               run_id: str) -> int:
    result = write_for_date(spark, settings, spec, spark.createDataFrame(frame), logical_date=day, run_id=run_id)
    assert result.snapshot_id is not None
    return result.snapshot_id


def move_tag(settings: LakehouseSettings, identifier: str, tag: str, snapshot_id: int | None) -> None:
    """Point ``tag`` at ``snapshot_id`` (None: remove it), as someone with write access could."""
    table = load_catalog(settings).load_table(identifier)
    if tag in table.metadata.refs:
        table.manage_snapshots().remove_tag(tag).commit()
    if snapshot_id is not None:
        table.manage_snapshots().create_tag(snapshot_id=snapshot_id, tag_name=tag).commit()


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_finance_model_reproduces_and_tampering_is_caught(spark, lake) -> None:  # type: ignore[no-untyped-def]
    version = f"repro-{lake.profile}-v1"
    first = write_gold(spark, lake, GOLD_OHLCV_1M, gold_bars(FIN_DAY, seed=1), FIN_DAY, "repro-gold-1")
    trained = train(lake, "ml.finance:TRAINER", FIN_DAY, version)["fit"]
    record = registry.get_model(lake, finance.MODEL_NAME, version)
    assert record["trainer"] == "ml.finance:TRAINER"
    assert record["training_snapshots"] == {GOLD_OHLCV_1M.identifier: first}
    assert record["training_rows"] == 480 and record["training_checksum"] == trained["training_checksum"]
    assert record["training_checksum"].startswith("sha256:") and len(record["training_checksum"]) == 7 + 64

    started = time.perf_counter()
    result = reproduce(lake, finance.MODEL_NAME, version)
    seconds = time.perf_counter() - started
    assert result.passed, result.failure()
    assert (result.rebuilt.rows, result.rebuilt.checksum) == (480, record["training_checksum"])
    compared = {m.name: m for m in result.metrics}
    assert {"model_accuracy", "model_auc", "model_log_loss", "baseline_accuracy", "train_rows"} <= set(compared)
    assert compared["model_log_loss"].reproduced == pytest.approx(record["metrics"]["model_log_loss"], abs=1e-9)
    print(f"reproduce finance ({lake.profile}): {seconds:.2f} s in-process")  # shown with -s: README numbers

    # The table moves on (a later run rewrites the date): the tag still pins the training rows.
    second = write_gold(spark, lake, GOLD_OHLCV_1M, gold_bars(FIN_DAY, seed=2), FIN_DAY, "repro-gold-2")
    assert second != first
    cli = run_cli(["model", "reproduce", finance.MODEL_NAME, version], lake)
    assert cli.returncode == 0, cli.stderr
    assert "PASS" in cli.stdout and "tag at the recorded snapshot" in cli.stdout
    assert record["training_checksum"] in cli.stdout
    listed = run_cli(["model", "list", finance.MODEL_NAME, "--format", "json"], lake)
    assert listed.returncode == 0, listed.stderr
    (mine,) = [r for r in map(json.loads, listed.stdout.splitlines()) if r["model_version"] == version]
    assert (mine["training_rows"], mine["training_checksum"]) == (480, record["training_checksum"])
    assert mine["training_snapshots"] == f"{GOLD_OHLCV_1M.identifier}@{first}"

    # Tamper: the tag now points at the rewritten date. Same row count, other rows: caught by the checksum.
    tag = registry.training_tag(finance.MODEL_NAME, version)
    move_tag(lake, GOLD_OHLCV_1M.identifier, tag, second)
    tampered = reproduce(lake, finance.MODEL_NAME, version)
    assert not tampered.passed and tampered.rows_match and not tampered.checksum_match
    assert tampered.metrics == [], "no retraining on a different training set"
    cli = run_cli(["model", "reproduce", finance.MODEL_NAME, version], lake)
    assert cli.returncode == 1
    (line,) = error_lines(cli.stderr)
    assert line.startswith(f"error: training set of {finance.MODEL_NAME} version {version} differs")
    assert f"tag moved: now at {second}, recorded {first}" in line and "Traceback" not in cli.stderr
    assert "FAIL" in cli.stdout and "DIFFERS" in cli.stdout

    # Lost pin: without the tag, expiry removes the training snapshot; reproduce says so in one line.
    move_tag(lake, GOLD_OHLCV_1M.identifier, tag, None)
    missing_tag = reproduce(lake, finance.MODEL_NAME, version)
    assert not missing_tag.passed and missing_tag.checksum_match  # rows still there, but nothing protects them
    assert f"tag {tag} on {GOLD_OHLCV_1M.identifier} is missing" in missing_tag.failure()
    expire_snapshots(spark, lake, GOLD_OHLCV_1M.identifier, older_than=dt.datetime.now(dt.UTC), retain_last=1)
    cli = run_cli(["model", "reproduce", finance.MODEL_NAME, version], lake)
    assert cli.returncode == 1
    (line,) = error_lines(cli.stderr)
    assert f"training snapshot {first} of {GOLD_OHLCV_1M.identifier} no longer exists" in line


def test_metrics_outside_the_tolerance_fail_with_one_line(spark, local_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Same rows, different metrics (the record was tampered with): the comparison names the metric."""
    version = "repro-metrics-v1"
    day = FIN_DAY + dt.timedelta(days=1)
    write_gold(spark, local_settings, GOLD_OHLCV_1M, gold_bars(day, seed=3), day, "repro-metrics")
    train(local_settings, "ml.finance:TRAINER", day, version)
    record = registry.get_model(local_settings, finance.MODEL_NAME, version)
    metrics = {**record["metrics"], "model_accuracy": record["metrics"]["model_accuracy"] + 0.01}
    artifact = registry.download_artifact(local_settings, record["artifact_uri"], tmp_path / "model.txt")
    registry.register_model(
        local_settings, model_name=finance.MODEL_NAME, model_version=version, logical_date=day,
        framework=record["framework"], artifact_path=artifact, metrics=metrics, params=record["params"],
        training_snapshots=record["training_snapshots"],
        training_set=registry.TrainingSet(record["training_rows"], record["training_checksum"]),
        trainer=record["trainer"])
    result = reproduce(local_settings, finance.MODEL_NAME, version)
    assert result.rows_match and result.checksum_match and not result.metrics_match
    assert [m.name for m in result.metrics if not m.ok] == ["model_accuracy"]
    assert "1 metric(s) are outside the tolerance 1e-06: model_accuracy" in result.failure()
    assert reproduce(local_settings, finance.MODEL_NAME, version, tolerance=0.02).passed


def energy_features() -> pd.DataFrame:
    """gold.energy_features rows (hourly and 15-minute) of one generated household-month."""
    from spark_jobs.energy import generator, uci
    from spark_jobs.energy import transforms as T

    tz, month = "Europe/Paris", dt.date(2018, 2, 1)
    text = generator.household_month("hh_repro", month, month, ENERGY_DAY, seed=5, tz=tz, country="FR")
    out = T.silver_household(uci.split_lines(text, "f.txt", "hh_repro"), month_start=month, tz=tz,
                             voltage_band=(200, 260), max_interpolate_minutes=60)
    silver = out[out["kind"] == "silver"]
    frames = [T.build_features(T.resample(silver, freq, tz), freq_minutes=freq, tz=tz, country="FR")
              for freq in (60, 15)]
    features = pd.concat(frames, ignore_index=True)
    features["meter_read_date"] = ENERGY_DAY
    features["run_id"] = "repro-energy"
    return features[[c.name for c in GOLD_FEATURES.columns]]


def test_energy_model_reproduces_and_a_rewritten_month_is_caught(spark, local_settings) -> None:  # type: ignore[no-untyped-def]

    # Its own model name: the energy DAG tests share this lake and expect no energy_demand model at first.
    settings = local_settings.model_copy(update={"energy": local_settings.energy.model_copy(update={
        "model_name": "energy_demand_repro", "holdout_days": 3, "cv_folds": 2, "num_boost_round": 80,
        "early_stopping_rounds": 10})})
    features = energy_features()
    first = write_gold(spark, settings, GOLD_FEATURES, features, ENERGY_DAY, "repro-energy")
    train(settings, "ml.energy:TRAINER", ENERGY_DAY, "repro-energy-v1")
    record = registry.get_model(settings, settings.energy.model_name, "repro-energy-v1")
    assert record["trainer"] == "ml.energy:TRAINER" and record["training_rows"] == len(features)
    assert record["params"]["training"]["num_boost_round"] == 80

    # Reproduced with the recorded knobs, not today's settings.
    result = reproduce(local_settings, settings.energy.model_name, "repro-energy-v1")
    assert result.passed, result.failure()
    assert any(m.name == "holdout.60.model.rmse" for m in result.metrics)

    # Tamper: one reading rewritten in place and the tag moved to it.
    changed = features.copy()
    changed.loc[changed.index[-1], "target_kw"] = float(changed["target_kw"].iloc[-1] or 0.0) + 0.5
    second = write_gold(spark, settings, GOLD_FEATURES, changed, ENERGY_DAY, "repro-energy-tampered")
    move_tag(settings, GOLD_FEATURES.identifier, registry.training_tag(settings.energy.model_name,
                                                                      "repro-energy-v1"), second)
    tampered = reproduce(local_settings, settings.energy.model_name, "repro-energy-v1")
    assert tampered.rows_match and not tampered.checksum_match and not tampered.passed
    assert f"tag moved: now at {second}, recorded {first}" in tampered.failure()


def vision_gold(day: dt.date, n: int = 300, seed: int = 0) -> pd.DataFrame:
    """gold.image_training_set rows: n generated seven-segment digits split 70/15/15."""
    from spark_jobs.vision.generator import mnist_like

    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % 10)
    images = mnist_like(labels, rng)
    splits = np.array(["train"] * int(n * 0.7) + ["val"] * int(n * 0.15) + ["test"] * (n - int(n * 0.7)
                                                                                      - int(n * 0.15)))
    scaled = images.astype(np.float64) / 255.0
    train = scaled[splits == "train"]
    mean, std = [float(train.mean())], [float(train.std())]
    return pd.DataFrame({
        "ingest_date": day, "dataset": "mnist",
        "image_id": [hashlib.sha256(img.tobytes()).hexdigest() for img in images],
        "label": labels.astype(np.int32), "split": splits, "source_split": splits,
        "width": 28, "height": 28, "channels": 1,
        "pixels": [img.tobytes() for img in images],
        "pixel_mean": scaled.mean(axis=(1, 2)), "pixel_std": scaled.std(axis=(1, 2)),
        "norm_mean": [mean] * n, "norm_std": [std] * n, "run_id": "repro-vision",
    })


def test_vision_model_reproduces_on_cpu(spark, local_settings) -> None:  # type: ignore[no-untyped-def]
    from ml import vision

    snapshot = write_gold(spark, local_settings, GOLD_IMAGE_TRAINING_SET, vision_gold(VISION_DAY), VISION_DAY,
                          "repro-vision")
    settings = local_settings.model_copy(update={"vision": local_settings.vision.model_copy(update={
        "epochs": {"mnist": 2}, "batch_size": 32, "width": 4, "device": "cpu"})})
    train(settings, "ml.vision:TRAINER", VISION_DAY, "repro-vision-v1",
          {"dataset": "mnist", "snapshots": {GOLD_IMAGE_TRAINING_SET.identifier: snapshot}})
    record = registry.get_model(local_settings, vision.model_name("mnist"), "repro-vision-v1")
    assert record["trainer"] == "ml.vision:TRAINER" and record["training_rows"] == 300
    cli = run_cli(["model", "reproduce", vision.model_name("mnist"), "repro-vision-v1", "--format", "json"],
                  local_settings)
    assert cli.returncode == 0, cli.stderr
    report = json.loads(cli.stdout.strip().splitlines()[-1])
    assert report["passed"] and report["rebuilt"] == {"rows": 300, "checksum": record["training_checksum"]}
    names = {m["name"] for m in report["metrics"]}
    assert {"test_accuracy", "val_accuracy", "test_confusion_matrix[0][0]"} <= names
    assert "train_seconds" not in names  # machine timings are not part of the comparison


def test_a_registry_created_before_checksums_gains_the_columns(tmp_path: Path) -> None:
    """Existing lakes: the first registration after the upgrade adds the columns; old records read as null
    and `reproduce` says why it cannot check them."""
    import dataclasses

    from lakehouse.catalog import create_tables
    from schemas.core import MODEL_REGISTRY
    from tests.conftest import make_local_settings

    settings = make_local_settings(tmp_path / "old-lake")
    old_spec = dataclasses.replace(MODEL_REGISTRY, columns=MODEL_REGISTRY.columns[:9])
    create_tables(settings, [old_spec])
    artifact = tmp_path / "m.txt"
    artifact.write_text("m")
    old_table = load_catalog(settings).load_table(MODEL_REGISTRY.identifier)
    old_table.append(pa_rows(old_table, model_name="old_model", model_version="v0"))
    registry.register_model(settings, model_name="new_model", model_version="v1", logical_date=FIN_DAY,
                            framework="none", artifact_path=artifact, metrics={"a": 1}, params={},
                            training_snapshots={}, training_set=registry.TrainingSet(3, "sha256:" + "0" * 64),
                            trainer="ml.finance")
    columns = load_catalog(settings).load_table(MODEL_REGISTRY.identifier).schema().column_names
    assert columns == [c.name for c in MODEL_REGISTRY.columns]
    new = registry.get_model(settings, "new_model")
    assert (new["training_rows"], new["training_checksum"], new["trainer"]) == (3, "sha256:" + "0" * 64,
                                                                               "ml.finance")
    old = registry.get_model(settings, "old_model")
    assert (old["training_rows"], old["training_checksum"], old["trainer"]) == (None, None, None)
    result = reproduce(settings, "old_model")
    assert not result.passed and "no training checksum was recorded" in result.failure()


def pa_rows(table: Any, **values: str) -> Any:
    import pyarrow as pa

    row = {"logical_date": FIN_DAY, "framework": "none", "artifact_uri": "file:///nowhere", "metrics_json": "{}",
           "params_json": "{}", "training_snapshots_json": "{}",
           "registered_at": dt.datetime(2024, 1, 1, tzinfo=dt.UTC), **values}
    return pa.Table.from_pylist([row], schema=table.schema().as_arrow())
