"""Render the GPU training pod spec (infra/k8s/vision-train-pod.yaml) from settings; no cluster needed."""

from __future__ import annotations

import re
from pathlib import Path
from string import Template
from typing import Any

import yaml

from lakehouse import storage
from lakehouse.errors import LakehouseError
from lakehouse.settings import PROJECT_ROOT, LakehouseSettings


def pod_name(dataset: str, run_id: str) -> str:
    """A DNS-1123 pod name for a run (Jinja expressions are kept as they are for Airflow to render)."""
    if "{{" in run_id:
        return f"vision-train-{dataset}"
    safe = re.sub(r"[^a-z0-9-]", "-", f"vision-train-{dataset}-{run_id}".lower()).strip("-")
    return safe[:63].rstrip("-")


def render_pod_spec(settings: LakehouseSettings, *, dataset: str, logical_date: str, run_id: str,
                    secret_name: str = "lakehouse-credentials") -> dict[str, Any]:
    """The pod spec as a dict, with image, namespace, command arguments and non-secret settings filled in."""
    path = Path(settings.vision.k8s_pod_template)
    if not path.is_absolute():
        path = PROJECT_ROOT / path
    if not path.is_file():
        raise LakehouseError(f"training pod template {path} not found (LAKEHOUSE_VISION__K8S_POD_TEMPLATE)")
    values = {
        "POD_NAME": pod_name(dataset, run_id), "NAMESPACE": settings.vision.k8s_namespace,
        "IMAGE": settings.vision.k8s_image, "DATASET": dataset, "LOGICAL_DATE": logical_date, "RUN_ID": run_id,
        "PROFILE": settings.profile, "WAREHOUSE": storage.to_uri(settings.warehouse),
        "ARTIFACTS": storage.to_uri(settings.artifacts), "CATALOG_URI": settings.catalog.uri,
        "S3_ENDPOINT": settings.s3.endpoint_url or "", "SECRET_NAME": secret_name,
    }
    try:
        text = Template(path.read_text()).substitute(values)
    except (KeyError, ValueError) as exc:
        raise LakehouseError(f"training pod template {path} has an unknown placeholder: {exc}") from None
    spec = yaml.safe_load(text)
    if not isinstance(spec, dict) or spec.get("kind") != "Pod":
        raise LakehouseError(f"training pod template {path} does not describe a Pod")
    return spec
