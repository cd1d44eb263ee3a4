"""Vision CNN classifier (MNIST or CIFAR-10): raw -> silver -> gate -> Gold -> gate -> train + register.

Trigger manually with the `dataset` parameter (`mnist` or `cifar10`); set
`LAKEHOUSE_VISION__SCHEDULE_CRON` (e.g. `0 3 * * 1`) for a weekly run of the default dataset.

1. **land_raw**: reads the official files from `{landing}/vision/<dataset>/` with strict readers
   (bad magic, truncated file, count mismatch, corrupt or foreign pickle stop the run here), keeps
   them unchanged in the raw zone and writes `raw.image_manifest` (one row per image).
2. **build_silver**: decodes every referenced image, checks shape, label, hash, URI confinement
   and duplicates; stages `silver.image_manifest` and `quarantine.image_manifest`.
3. **gate_silver**: GX suite `silver_image_manifest`; publishes silver + quarantine on success.
4. **build_gold**: hash-based train/val/test split, pixel bytes, training-split channel stats.
5. **gate_gold**: GX suite `gold_image_training_set` (class balance, split shares, no hash in two
   splits, pixel statistics); publishes Gold. A failed gate stops the run before training.
6. **train_register**: trains on the published Gold snapshot (in-process, or a GPU pod with
   `settings.vision.train_on_kubernetes`: a one-GPU pod from infra/k8s/vision-train-pod.yaml on the
   cluster of the `settings.vision.k8s_conn_id` connection), evaluates and registers the model with the
   snapshot id.
"""

from __future__ import annotations

from typing import Any

import pendulum
from airflow.sdk import DAG, Param, task

from lakehouse.orchestration import default_args, gate, spark_job
from lakehouse.settings import get_settings

settings = get_settings()
DATASET_ARG = ["--option", "dataset={{ params.dataset }}"]


def _kubernetes_operator() -> Any:
    """KubernetesPodOperator; asking for GPU pods without the provider is a configuration error,
    not a reason to train silently on the Airflow worker."""
    try:
        from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    except ImportError as exc:
        raise ImportError(
            "LAKEHOUSE_VISION__TRAIN_ON_KUBERNETES=true needs apache-airflow-providers-cncf-kubernetes: "
            "install it or turn the setting off"
        ) from exc
    return KubernetesPodOperator


@task(task_id="train_register")
def train_register(params: dict[str, Any] | None = None, ds: str | None = None,
                   run_id: str | None = None) -> dict[str, Any]:
    """Train the dataset's CNN on the published Gold snapshot, evaluate on val/test, register it."""
    import datetime as dt

    from lakehouse.settings import get_settings as current_settings
    from ml.vision import train_and_register

    assert params is not None and ds is not None and run_id is not None
    return train_and_register(current_settings(), params["dataset"], dt.date.fromisoformat(ds), run_id, log=print)


with DAG(
    dag_id="vision_cnn_classifier",
    description="MNIST / CIFAR-10 image manifests on Iceberg, quality gates, CNN training",
    doc_md=__doc__,
    schedule=settings.vision.schedule_cron,
    start_date=pendulum.datetime(2020, 1, 1, tz="UTC"),
    catchup=settings.vision.catchup,
    max_active_runs=1,
    default_args=default_args(settings),
    params={"dataset": Param(settings.vision.default_dataset, type="string", enum=["mnist", "cifar10"],
                             description="which dataset to ingest and train on")},
    tags=["lakehouse", "vision", "pytorch"],
) as dag:
    land_raw = spark_job("land_raw", "spark_jobs.vision.raw", args=DATASET_ARG, settings=settings,
                         doc_md="Strictly read the landing files, keep them in the raw zone, write raw.image_manifest.")
    build_silver = spark_job("build_silver", "spark_jobs.vision.silver", args=DATASET_ARG, settings=settings,
                             doc_md="Validate the raw manifest; stage silver.image_manifest and quarantine.")
    gate_silver = gate("gate_silver", table="silver.image_manifest", suite="silver_image_manifest",
                       publish=["silver.image_manifest", "quarantine.image_manifest"], settings=settings)
    build_gold = spark_job("build_gold", "spark_jobs.vision.gold", args=DATASET_ARG, settings=settings,
                           doc_md="Split by content hash, add pixels and training-split channel stats; stage Gold.")
    gate_gold = gate("gate_gold", table="gold.image_training_set", suite="gold_image_training_set",
                     settings=settings)

    pod_operator = _kubernetes_operator() if settings.vision.train_on_kubernetes else None
    if pod_operator is not None:
        from spark_jobs.vision.k8s import render_pod_spec

        spec = render_pod_spec(settings, dataset="{{ params.dataset }}", logical_date="{{ ds }}",
                               run_id="{{ run_id }}")
        container = spec["spec"]["containers"][0]
        train = pod_operator(
            task_id="train_register",
            name="vision-train",
            kubernetes_conn_id=settings.vision.k8s_conn_id,
            namespace=settings.vision.k8s_namespace,
            image=settings.vision.k8s_image,
            cmds=container["command"],
            arguments=container["args"],
            pod_template_dict=spec,
            get_logs=True,
            on_finish_action="delete_pod",
            doc_md="Train + register on one GPU in a Kubernetes pod (infra/k8s/vision-train-pod.yaml).",
        )
    else:
        train = train_register()

    land_raw >> build_silver >> gate_silver >> build_gold >> gate_gold >> train
