"""The vision run report (last step of ``vision_cnn_classifier``): learning curves, per-class test accuracy
and the confusion matrix of the run's model (registry record: metrics and the fit's per-epoch history),
and a grid of sample images per class, quarantined ones included with their reasons. Manifest rows are the
logical date's rows of the run's dataset (PyIceberg); their images are read only through
:func:`spark_jobs.vision.io.read_manifest_object` (via ``io.ObjectCache``), so every URI is confined to
the warehouse. Pages are assembled and stored by :mod:`lakehouse.reports`."""

from __future__ import annotations

import logging
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from lakehouse import reports

if TYPE_CHECKING:
    import numpy as np
    from matplotlib.figure import Figure

    from lakehouse.pipeline import RunContext

log = logging.getLogger(__name__)

TITLE = "Vision CNN run report"
SAMPLES_PER_CLASS = 6
QUARANTINED_PER_CLASS = 3
QUARANTINED_SHOWN = 30
QUARANTINE_LISTED = 50


@dataclass(frozen=True)
class Sample:
    """One tile of the sample grid: pixels (``C x H x W`` uint8) or None when they cannot be shown, and
    the quarantine reason for a refused row (None for a validated one)."""

    label: int | None
    image: np.ndarray | None
    reason: str | None = None
    image_id: str | None = None
    note: str | None = None  # why the pixels are missing


@dataclass
class VisionReportData:
    """What the page shows."""

    dataset: str
    class_names: Sequence[str]
    samples: Sequence[Sample] = ()
    quarantined: Sequence[Mapping[str, Any]] = ()  # image_id, label, reason of every quarantined row
    silver_rows: int = 0
    model: Mapping[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def reason_code(reason: str) -> str:
    """A quarantine reason without its details (the text before the first ':')."""
    return reason.split(":", 1)[0].strip()


def learning_curves_figure(history: Sequence[Mapping[str, Any]]) -> Figure:
    """Training loss and validation accuracy per epoch."""
    epochs = [int(h.get("epoch", i + 1)) for i, h in enumerate(history)]
    fig = reports.new_figure(10, 3.6)
    loss_ax, acc_ax = fig.subplots(1, 2)
    loss_ax.plot(epochs, [float(h.get("loss", float("nan"))) for h in history], "o-", color="#c62828")
    loss_ax.set_title("Training loss per epoch")
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("cross-entropy (label smoothing 0.05)")
    acc_ax.plot(epochs, [_num(h.get("val_accuracy")) for h in history], "o-", color="#1565c0",
                label="validation")
    if any("train_accuracy" in h for h in history):
        acc_ax.plot(epochs, [_num(h.get("train_accuracy")) for h in history], "o--", color="#9e9e9e", label="train")
    acc_ax.set_title("Accuracy per epoch")
    acc_ax.set_xlabel("epoch")
    acc_ax.set_ylabel("accuracy")
    acc_ax.set_ylim(0, 1.02)
    acc_ax.legend(fontsize=8)
    for ax in (loss_ax, acc_ax):
        ax.set_xticks(epochs)
        ax.grid(alpha=0.3)
    return fig


def _num(value: Any) -> float:
    return float("nan") if value is None else float(value)


def per_class_figure(per_class: Mapping[str, Any], baseline: float | None = None) -> Figure:
    """Test accuracy per class (bars), with the overall majority-class baseline as a line."""
    names = list(per_class)
    values = [_num(per_class[n]) for n in names]
    fig = reports.new_figure(10, 3.6)
    ax = fig.subplots()
    bars = ax.bar(names, values, color="#1565c0")
    ax.bar_label(bars, labels=["" if v != v else f"{v:.2f}" for v in values], fontsize=8)
    for position, value in enumerate(values):
        if value != value:  # no test image of this class
            ax.text(position, 0.02, "n/a", ha="center", va="bottom", fontsize=8, color="#666666")
    if baseline is not None and baseline == baseline:
        ax.axhline(baseline, color="#ef6c00", linestyle="--", label=f"majority-class baseline {baseline:.2f}")
        ax.legend(fontsize=8, loc="lower right")
    ax.set_ylim(0, 1.1)
    ax.set_title("Test accuracy per class")
    ax.set_ylabel("accuracy (recall)")
    ax.tick_params(axis="x", labelrotation=30 if max((len(n) for n in names), default=0) > 3 else 0)
    ax.grid(axis="y", alpha=0.3)
    return fig


def confusion_figure(matrix: Sequence[Sequence[int]], class_names: Sequence[str]) -> Figure:
    """The test confusion matrix (rows: actual, columns: predicted) with counts in the cells."""
    import numpy as np

    counts = np.asarray(matrix, dtype=float)
    fig = reports.new_figure(7, 6)
    ax = fig.subplots()
    image = ax.imshow(counts, cmap="Blues")
    fig.colorbar(image, ax=ax, shrink=0.8)
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45 if max(map(len, class_names)) > 3 else 0, ha="right")
    ax.set_yticks(ticks, class_names)
    threshold = counts.max() / 2 if counts.size else 0
    for (i, j), value in np.ndenumerate(counts):
        if value:
            ax.text(j, i, f"{int(value)}", ha="center", va="center", fontsize=7,
                    color="white" if value > threshold else "black")
    ax.set_title("Test confusion matrix")
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    return fig


def samples_figure(samples: Sequence[Sample], class_names: Sequence[str]) -> Figure:
    """One row per class: validated samples, then quarantined ones framed in red with their reason; rows
    whose label is not a class index go to a last row."""
    import numpy as np

    rows: dict[str, list[Sample]] = {}
    for sample in samples:
        known = sample.label is not None and 0 <= sample.label < len(class_names)
        rows.setdefault(f"{sample.label}: {class_names[sample.label]}" if known and sample.label is not None
                        else f"label {sample.label}", []).append(sample)
    order = [f"{i}: {n}" for i, n in enumerate(class_names) if f"{i}: {n}" in rows]
    order += sorted(k for k in rows if k not in order)
    columns = max((len(rows[k]) for k in order), default=1)
    fig = reports.new_figure(max(6.5, 1.0 + 1.15 * columns), 0.4 + 1.35 * max(len(order), 1))
    axes = np.atleast_2d(fig.subplots(max(len(order), 1), columns, squeeze=False))
    for r, key in enumerate(order):
        for c in range(columns):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(key, fontsize=7, rotation=0, ha="right", va="center")
            if c >= len(rows[key]):
                ax.axis("off")
                continue
            sample = rows[key][c]
            if sample.image is not None:
                pixels = np.asarray(sample.image)
                if pixels.shape[0] == 1:
                    ax.imshow(pixels[0], cmap="gray", vmin=0, vmax=255)
                else:
                    ax.imshow(np.transpose(pixels[:3], (1, 2, 0)))
            else:
                ax.text(0.5, 0.5, "\n".join(textwrap.wrap(sample.note or "not readable", 14)[:3]), ha="center",
                        va="center", fontsize=5, transform=ax.transAxes)
            if sample.reason is not None:
                for spine in ax.spines.values():
                    spine.set_edgecolor("#c62828")
                    spine.set_linewidth(2)
                ax.set_title("\n".join(textwrap.wrap(sample.reason, 18)[:2]), fontsize=5, color="#c62828")
    fig.suptitle("Sample images per class (quarantined ones framed in red, with their reason)", fontsize=9)
    return fig


def render(info: reports.RunInfo, data: VisionReportData) -> tuple[str, int]:
    """The page and its number of charts."""
    import collections

    sections = []
    codes = collections.Counter(reason_code(str(q["reason"])) for q in data.quarantined)
    overview = [("dataset", data.dataset), ("validated images (silver)", data.silver_rows),
                ("quarantined images", len(data.quarantined))]
    sections.append(reports.section("Overview", reports.table_html(["", "value"], overview)))
    model = data.model
    if model is not None:
        metrics = model.get("metrics") or {}
        params = model.get("params") or {}
        history = (params.get("fit_report") or {}).get("history") or metrics.get("history") or []
        parts = [reports.table_html(
            ["test accuracy", "validation accuracy", "majority-class baseline", "test images", "device"],
            [[metrics.get("test_accuracy"), metrics.get("val_accuracy"),
              metrics.get("baseline_majority_class_accuracy"), metrics.get("test_n"), metrics.get("device")]])]
        parts.append(reports.figure_html(learning_curves_figure(history), "loss and validation accuracy per epoch")
                     if history else reports.note_html("No per-epoch history was recorded for this model."))
        if metrics.get("test_per_class_accuracy"):
            parts.append(reports.figure_html(
                per_class_figure(metrics["test_per_class_accuracy"], metrics.get("baseline_majority_class_accuracy")),
                "accuracy of each class on the test split"))
        if metrics.get("test_confusion_matrix"):
            parts.append(reports.figure_html(confusion_figure(metrics["test_confusion_matrix"], data.class_names),
                                             "test split: actual class (rows) against predicted class (columns)"))
        sections.append(reports.section(f"Model {model.get('model_name')} (version {model.get('model_version')})",
                                        *parts))
    else:
        sections.append(reports.section("Model", reports.note_html("No model was registered by this run.")))
    if data.samples:
        shown = sum(1 for s in data.samples if s.reason is not None)
        sections.append(reports.section("Samples", reports.figure_html(
            samples_figure(data.samples, data.class_names),
            f"up to {SAMPLES_PER_CLASS} validated images per class and {shown} quarantined image(s)")))
    else:
        sections.append(reports.section("Samples", reports.note_html("No manifest rows for this date and dataset.")))
    if data.quarantined:
        listed = [[q.get("image_id", "")[:16] if q.get("image_id") else "", q.get("label"), q["reason"]]
                  for q in data.quarantined[:QUARANTINE_LISTED]]
        more = len(data.quarantined) - len(listed)
        sections.append(reports.section(
            "Quarantine",
            reports.table_html(["reason", "images"], sorted(codes.items(), key=lambda kv: -kv[1])),
            reports.table_html(["image id", "label", "reason"], listed),
            reports.note_html(f"... and {more} more") if more > 0 else ""))
    else:
        sections.append(reports.section("Quarantine", reports.note_html(
            "No quarantined images for this date and dataset.")))
    document = reports.page(TITLE, info, sections, details={"dataset": data.dataset})
    return document, reports.count_charts(document)


def _pick(rows: list[dict[str, Any]], per_label: int, total: int | None = None) -> list[dict[str, Any]]:
    taken: dict[Any, int] = {}
    picked = []
    for row in rows:
        if taken.get(row["label"], 0) < per_label and (total is None or len(picked) < total):
            taken[row["label"]] = taken.get(row["label"], 0) + 1
            picked.append(row)
    return picked


def load(run: RunContext) -> VisionReportData:
    """The logical date's manifest rows of the run's dataset, sample pixels and the run's registry record."""
    from ml.vision import TRAINER
    from schemas.vision import DATASETS
    from spark_jobs.vision import io

    settings, day = run.settings, run.logical_date
    dataset = TRAINER.dataset(run)
    scope = {"dataset": dataset}
    manifest = ("image_id", "label", "source_uri", "record_index")
    silver = reports.read_date_rows(settings, "silver.image_manifest", day, columns=manifest, equal=scope)
    quarantine = reports.read_date_rows(settings, "quarantine.image_manifest", day, columns=(*manifest, "reason"),
                                        equal=scope)
    raw = reports.read_date_rows(settings, "raw.image_manifest", day, columns=("source_uri", "source_format"),
                                 equal=scope)
    formats = dict(zip(raw.column("source_uri").to_pylist(), raw.column("source_format").to_pylist(),
                       strict=True)) if raw is not None else {}
    good = sorted(silver.to_pylist() if silver is not None else [], key=lambda r: (r["label"], r["image_id"] or ""))
    refused = sorted(quarantine.to_pylist() if quarantine is not None else [],
                     key=lambda r: (r["label"] is None, r["label"] or 0, r["reason"], r["image_id"] or ""))
    cache = io.ObjectCache(settings)  # reads only through io.read_manifest_object (confined URIs)
    samples = [_sample(cache, formats, row) for row in _pick(good, SAMPLES_PER_CLASS)]
    samples += [_sample(cache, formats, row) for row in _pick(refused, QUARANTINED_PER_CLASS, QUARANTINED_SHOWN)]
    spec = DATASETS[dataset]
    return VisionReportData(dataset, spec.class_names, samples,
                            [{"image_id": r["image_id"], "label": r["label"], "reason": r["reason"]} for r in refused],
                            len(good), reports.run_model(settings, TRAINER.model_name(run), run.run_id))


def _sample(cache: Any, formats: Mapping[str, str], row: Mapping[str, Any]) -> Sample:
    images = cache.images(row["source_uri"], formats.get(row["source_uri"])) if row["source_uri"] else "no URI"
    index = row["record_index"]
    if isinstance(images, str):
        image, note = None, images
    elif index is None or not 0 <= int(index) < len(images):
        image, note = None, f"record {index} not in the file"
    else:
        image, note = images[int(index)], None
    return Sample(row["label"], image, row.get("reason"), row["image_id"], note)


def report_step(run: RunContext) -> dict[str, Any]:
    """Build and store the run's report; returns ``{"report": uri, "charts": n, "dataset": ...}``."""
    from spark_jobs.vision.pipeline import VISION_CNN

    info = reports.RunInfo(VISION_CNN.dag_id, run.logical_date, run.run_id)
    data = load(run)
    document, charts = render(info, data)
    return reports.step_summary(reports.write_report(run.settings, info, document), charts, dataset=data.dataset)
