"""Render the GPU training pod spec (infra/k8s/vision-train-pod.yaml) from settings; no cluster needed."""

from __future__ import annotations

import re
from pathlib import Path
from string import Template
from typing import Any

import yaml

from lakehouse.errors import LakehouseError
from lakehouse.settings import PROJECT_ROOT, LakehouseSettings


def pod_name(dataset: str, run_id: str) -> str:
    """A DNS-1123 pod name for a run (Jinja expressions are kept as they are for Airflow to render)."""
    if "{{" in run_id:
        return f"vision-train-{dataset}"
    safe = re.sub(r"[^a-z0-9-]", "-", f"vision-train-{dataset}-{run_id}".lower()).strip("-")
    return safe[:63].rstrip("-")


# Settings the training process needs, passed to the pod as LAKEHOUSE_* variables so it sees the same
# lake as the Airflow worker; worker-local sections (home, jars, Spark, Airflow) and the pod's own knobs stay out.
_POD_SETTINGS_PREFIXES = ("LAKEHOUSE_PROFILE", "LAKEHOUSE_WAREHOUSE", "LAKEHOUSE_LANDING", "LAKEHOUSE_ARTIFACTS",
                          "LAKEHOUSE_CATALOG__", "LAKEHOUSE_S3__", "LAKEHOUSE_VISION__")
_POD_OWN_SETTINGS = ("LAKEHOUSE_VISION__DEVICE", "LAKEHOUSE_VISION__TRAIN_ON_KUBERNETES", "LAKEHOUSE_VISION__K8S_",
                     "LAKEHOUSE_VISION__GPU_")


def pod_settings_env(settings: LakehouseSettings) -> dict[str, str]:
    """The non-secret settings for the training pod (credentials come from the pod's Secret)."""
    return {key: value for key, value in settings.to_env(include_secrets=False).items()
            if key.startswith(_POD_SETTINGS_PREFIXES) and not key.startswith(_POD_OWN_SETTINGS)}


def render_pod_spec(settings: LakehouseSettings, *, dataset: str, logical_date: str, run_id: str,
                    secret_name: str = "lakehouse-credentials") -> dict[str, Any]:
    """The pod spec as a dict: image, namespace and command arguments filled in, and the non-secret
    settings appended to the training container's environment."""
    path = Path(settings.vision.k8s_pod_template)
    if not path.is_absolute():
        path = PROJECT_ROOT / path
    if not path.is_file():
        raise LakehouseError(f"training pod template {path} not found (LAKEHOUSE_VISION__K8S_POD_TEMPLATE)")
    values = {
        "POD_NAME": pod_name(dataset, run_id), "NAMESPACE": settings.vision.k8s_namespace,
        "IMAGE": settings.vision.k8s_image, "DATASET": dataset, "LOGICAL_DATE": logical_date, "RUN_ID": run_id,
        "SECRET_NAME": secret_name,
    }
    try:
        text = Template(path.read_text()).substitute(values)
    except (KeyError, ValueError) as exc:
        raise LakehouseError(f"training pod template {path} has an unknown placeholder: {exc}") from None
    spec = yaml.safe_load(text)
    if not isinstance(spec, dict) or spec.get("kind") != "Pod":
        raise LakehouseError(f"training pod template {path} does not describe a Pod")
    containers = spec.get("spec", {}).get("containers") or []
    if not containers:
        raise LakehouseError(f"training pod template {path} has no container")
    env = containers[0].setdefault("env", [])
    # Values set in the template (the pod's own, e.g. the CUDA device) win over the worker's settings.
    present = {item["name"] for item in env}
    env.extend({"name": key, "value": value} for key, value in sorted(pod_settings_env(settings).items())
               if key not in present)
    return spec


def training_pod(settings: LakehouseSettings, *, params: dict[str, Any], logical_date: str,
                 run_id: str) -> dict[str, Any]:
    """The pipeline's training pod (lakehouse.pipeline.Call.pod_spec), rendered when the task runs."""
    return render_pod_spec(settings, dataset=params.get("dataset") or settings.vision.default_dataset,
                           logical_date=logical_date, run_id=run_id)
