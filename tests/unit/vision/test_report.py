"""The vision run report's plotting on small in-memory data (no lake, no Spark, no torch model)."""

from __future__ import annotations

import datetime as dt

import numpy as np

from lakehouse import reports
from schemas.vision import DATASETS
from spark_jobs.vision import report
from tests.support.reports import assert_charts

INFO = reports.RunInfo("vision_cnn_classifier", dt.date(2022, 3, 1), "manual__2022-03-01")
HISTORY = [{"epoch": 1, "loss": 2.1, "val_accuracy": 0.4, "seconds": 1.0},
           {"epoch": 2, "loss": 1.2, "val_accuracy": 0.7, "seconds": 1.0}]


def model(dataset: str = "mnist") -> dict:
    names = DATASETS[dataset].class_names
    confusion = (np.eye(10, dtype=int) * 5 + 1).tolist()
    return {"model_name": f"vision_{dataset}_cnn", "model_version": "v1",
            "params": {"fit_report": {"history": HISTORY}},
            "metrics": {"test_accuracy": 0.8, "val_accuracy": 0.7, "baseline_majority_class_accuracy": 0.12,
                        "test_per_class_accuracy": {n: 0.5 + k / 20 for k, n in enumerate(names)} | {names[3]: None},
                        "test_confusion_matrix": confusion, "test_n": 150, "device": "cpu"}}


def samples(channels: int, size: int, quarantined: bool) -> list[report.Sample]:
    rng = np.random.default_rng(0)
    tiles = [report.Sample(label, rng.integers(0, 255, (channels, size, size), dtype=np.uint8), image_id=f"id{label}")
             for label in range(10) for _ in range(2)]
    if quarantined:
        tiles += [report.Sample(4, rng.integers(0, 255, (channels, size, size), dtype=np.uint8),
                                "duplicate of image abc kept from raw/x", "q1"),
                  report.Sample(12, None, "label 12 out of range 0..9", "q2", note="label out of range"),
                  report.Sample(7, None, "not decodable: truncated PNG", "q3", note="truncated PNG")]
    return tiles


def test_full_report_has_curves_per_class_confusion_and_samples() -> None:
    quarantined = [{"image_id": "q1", "label": 4, "reason": "duplicate of image abc kept from raw/x"},
                   {"image_id": "q2", "label": 12, "reason": "label 12 out of range 0..9"},
                   {"image_id": "q3", "label": 7, "reason": "not decodable: truncated PNG"}]
    data = report.VisionReportData("mnist", DATASETS["mnist"].class_names, samples(1, 28, True), quarantined, 20,
                                   model())
    document, charts = report.render(INFO, data)
    assert charts == 4
    assert_charts(document, 4)
    for text in ("Model vision_mnist_cnn (version v1)", "loss and validation accuracy per epoch",
                 "accuracy of each class on the test split", "actual class (rows)", "3 quarantined image(s)",
                 "label 12 out of range 0..9", "not decodable", "<td>duplicate of image abc kept from raw/x</td>"):
        assert text in document, text


def test_report_without_quarantined_images_still_renders() -> None:
    data = report.VisionReportData("cifar10", DATASETS["cifar10"].class_names, samples(3, 32, False), [], 20,
                                   model("cifar10"))
    document, charts = report.render(INFO, data)
    assert charts == 4
    assert_charts(document, 4)
    assert "No quarantined images for this date and dataset." in document


def test_report_without_model_or_rows_still_renders() -> None:
    document, charts = report.render(INFO, report.VisionReportData("mnist", DATASETS["mnist"].class_names))
    assert charts == 0
    assert "No model was registered by this run." in document and "No manifest rows" in document


def test_each_figure_has_its_titles_and_labels() -> None:
    loss, accuracy = report.learning_curves_figure(HISTORY).axes
    assert loss.get_title() == "Training loss per epoch" and accuracy.get_title() == "Accuracy per epoch"
    assert list(accuracy.get_lines()[0].get_ydata()) == [0.4, 0.7]
    (ax,) = report.per_class_figure(model()["metrics"]["test_per_class_accuracy"], 0.12).axes
    assert [t.get_text() for t in ax.get_xticklabels()] == [str(d) for d in range(10)]
    assert "n/a" in [t.get_text() for t in ax.texts]
    ax = report.confusion_figure(model()["metrics"]["test_confusion_matrix"], DATASETS["cifar10"].class_names).axes[0]
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "actual" and ax.get_title() == "Test confusion matrix"
    grid = report.samples_figure(samples(1, 28, True), DATASETS["mnist"].class_names)
    rows = [ax.get_ylabel() for ax in grid.axes if ax.get_ylabel()]
    assert rows == [f"{d}: {d}" for d in range(10)] + ["label 12"]
    titles = [ax.get_title() for ax in grid.axes if ax.get_title()]
    assert len(titles) == 3 and titles[0].startswith("duplicate of")


def test_reason_code_is_the_text_before_the_details() -> None:
    assert report.reason_code("not decodable: truncated PNG") == "not decodable"
    assert report.reason_code("duplicate") == "duplicate"
