"""The vision CNN pipeline, declared once: its DAG (dags/dag_vision_classifier.py), `lakehouse run` and
the gate/publish lists are derived from this (lakehouse.pipeline)."""

from __future__ import annotations

from lakehouse.pipeline import Call, Gate, Param, Pipeline, Pod, Resources, Schedule, Stage, training_steps
from lakehouse.settings import LakehouseSettings

DATASET = {"dataset": "{{ params.dataset }}"}


def training_pod(settings: LakehouseSettings) -> Pod | None:
    """Where `train` runs: a one-GPU Kubernetes pod (the `cluster` profile's default, or with
    ``vision.train_on_kubernetes``) in the ``vision.gpu_pool`` pool / ``vision.gpu_queue`` queue; None: in-process."""
    v = settings.vision
    if not v.trains_on_kubernetes(settings.profile):
        return None
    return Pod(v.k8s_conn_id, v.k8s_namespace, v.k8s_image, pool=v.gpu_pool, queue=v.gpu_queue)


VISION_CNN = Pipeline(
    dag_id="vision_cnn_classifier",
    domain="vision",
    description="MNIST / CIFAR-10 image manifests on Iceberg, quality gates, CNN training",
    doc="""Vision CNN classifier (MNIST or CIFAR-10): raw -> silver -> gate -> Gold -> gate -> train + register.

Trigger manually with the `dataset` parameter (`mnist` or `cifar10`); set
`LAKEHOUSE_VISION__SCHEDULE_CRON` (e.g. `0 3 * * 1`) for a weekly run of the default dataset.
Runs of different datasets may overlap: each owns its dataset's rows of the date.

1. **land_raw**: reads the official files from `{landing}/vision/<dataset>/` with strict readers
   (bad magic, truncated file, count mismatch, corrupt or foreign pickle stop the run here), keeps
   them unchanged in the raw zone and writes `raw.image_manifest` (one row per image). Test files
   are optional (MNIST's `t10k-*` pair, CIFAR-10's `test_batch`).
2. **build_silver**: decodes every referenced image, checks shape, hash, URI confinement and
   duplicates; stages `silver.image_manifest` and `quarantine.image_manifest`.
3. **gate_silver**: GX suite `silver_image_manifest` (a label outside the dataset's classes fails the
   delivery); publishes silver + quarantine on success.
4. **build_gold**: hash-based train/val/test split (delivered test files are the test split as-is;
   without them the test split is drawn by hash), pixel bytes, training-split channel stats.
5. **gate_gold**: GX suite `gold_image_training_set` (every class in the train split, and in val/test
   once they are large enough; class balance, split shares, no hash in two splits, pixel statistics);
   publishes Gold. A failed gate stops the run before training.
6. **train -> evaluate -> register**: fits on the published Gold snapshot (in-process on `local`/`s3`; on
   the `cluster` profile, or with `settings.vision.train_on_kubernetes`, a one-GPU pod from
   infra/k8s/vision-train-pod.yaml on the cluster of the `settings.vision.k8s_conn_id` connection, in the
   Airflow pool `settings.vision.gpu_pool`), evaluates on val/test against the majority-class baseline
   and registers the model with the snapshot id.
7. **report**: one HTML page per run under `{artifacts}/reports/vision_cnn_classifier/<date>/`
   (`lakehouse reports`).

Inputs: `{landing}/vision/<dataset>/` (MNIST IDX `*-ubyte[.gz]`; CIFAR-10 as published,
`cifar-10-python.tar.gz` or `cifar-10-binary.tar.gz`, read without unpacking, or its python pickles
`data_batch_*`; the test files are optional).
Outputs: raw/silver/quarantine.image_manifest, gold.image_training_set, a CNN in ml.model_registry, the run report.
Rerun a date: clear the DAG run (or `lakehouse run vision_cnn_classifier --date D --param dataset=mnist`).
""",
    schedule=lambda s: Schedule(s.vision.schedule_cron),
    catchup=lambda s: s.vision.catchup,
    params={"dataset": Param(lambda s: s.vision.default_dataset, "which dataset to ingest and train on",
                             enum=("mnist", "cifar10"))},
    steps=(
        Stage("land_raw", "spark_jobs.vision.raw", writes=("raw.image_manifest", "raw.delivered_files"),
              options=DATASET,
              doc="Strictly read the landing files, keep them in the raw zone, write raw.image_manifest."),
        Stage("build_silver", "spark_jobs.vision.silver", stages=("silver.image_manifest", "quarantine.image_manifest"),
              options=DATASET, doc="Validate the raw manifest; stage silver.image_manifest and quarantine."),
        Gate("gate_silver", suite="silver_image_manifest"),
        Stage("build_gold", "spark_jobs.vision.gold", stages=("gold.image_training_set",), options=DATASET,
              doc="Split by content hash, add pixels and training-split channel stats; stage Gold."),
        Gate("gate_gold", suite="gold_image_training_set"),
        *training_steps(
            "ml.vision:TRAINER", resources=lambda s: Resources(pool=s.vision.training_pool),
            kubernetes=training_pod,
            pod_spec="spark_jobs.vision.k8s:training_pod",
            fit_doc="Fit the dataset's CNN on the published Gold snapshot (in-process, or, by default on the cluster "
                    "profile, on one GPU in a Kubernetes pod from infra/k8s/vision-train-pod.yaml in the GPU pool); "
                    "evaluate and register run on the worker."),
        Call("report", "spark_jobs.vision.report:report_step",
             doc="Write the run report (one HTML page): learning curves, per-class accuracy, confusion matrix and "
                 "sample images per class, quarantined ones with their reasons. Its path is in the task log and "
                 "the XCom."),
    ),
    tags=("pytorch",),
)

PIPELINES = (VISION_CNN,)
