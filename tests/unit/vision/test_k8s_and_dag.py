"""The GPU training pod renders without a cluster; the DAG file parses without heavy imports."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lakehouse.settings import PROJECT_ROOT, LakehouseSettings
from spark_jobs.vision.k8s import pod_name, render_pod_spec


def test_render_pod_spec_requests_one_gpu(tmp_path: Path) -> None:
    settings = LakehouseSettings(profile="cluster", home=tmp_path,
                                 catalog={"name": "prod", "password": "catalog-pw"},
                                 s3={"access_key_id": "AKIAKEY", "secret_access_key": "s3-secret"},
                                 vision={"epochs": {"mnist": 2, "cifar10": 30}, "device": "cpu"})
    spec = render_pod_spec(settings, dataset="cifar10", logical_date="2024-05-06", run_id="manual__2024-05-06")
    assert spec["kind"] == "Pod" and spec["metadata"]["namespace"] == settings.vision.k8s_namespace
    container = spec["spec"]["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert container["resources"]["requests"]["nvidia.com/gpu"] == 1
    assert container["image"] == settings.vision.k8s_image
    assert container["command"] == ["python", "-m", "ml.vision"]
    assert container["args"] == ["--dataset", "cifar10", "--logical-date", "2024-05-06", "--run-id",
                                 "manual__2024-05-06"]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["LAKEHOUSE_PROFILE"] == "cluster" and env["LAKEHOUSE_WAREHOUSE"].startswith("s3://")
    # The pod sees the worker's lake: catalog name, URI and user, the S3 endpoint, the training knobs...
    assert env["LAKEHOUSE_CATALOG__NAME"] == "prod" and env["LAKEHOUSE_CATALOG__USER"] == "lakehouse"
    assert env["LAKEHOUSE_CATALOG__URI"] == settings.catalog.uri
    assert env["LAKEHOUSE_S3__ENDPOINT_URL"] == settings.s3.endpoint_url
    assert json.loads(env["LAKEHOUSE_VISION__EPOCHS"]) == {"mnist": 2, "cifar10": 30}
    # ...but trains on its GPU, and never carries secrets (they come from the Secret) or worker paths.
    assert env["LAKEHOUSE_VISION__DEVICE"] == "cuda"
    assert [e["name"] for e in container["env"]].count("LAKEHOUSE_VISION__DEVICE") == 1
    values = " ".join(env.values())
    assert "catalog-pw" not in values and "AKIAKEY" not in values and "s3-secret" not in values
    assert not any("SECRET" in k or "PASSWORD" in k or "ACCESS_KEY" in k for k in env)
    assert not any(k.startswith(("LAKEHOUSE_HOME", "LAKEHOUSE_JARS", "LAKEHOUSE_SPARK")) for k in env)
    assert container["envFrom"][0]["secretRef"]["name"]
    assert spec["metadata"]["name"] == "vision-train-cifar10-manual--2024-05-06"
    assert len(pod_name("mnist", "x" * 200)) <= 63


def test_render_pod_spec_keeps_airflow_templates(tmp_path: Path) -> None:
    spec = render_pod_spec(LakehouseSettings(profile="local", home=tmp_path), dataset="{{ params.dataset }}",
                           logical_date="{{ ds }}", run_id="{{ run_id }}")
    assert spec["spec"]["containers"][0]["args"][1] == "{{ params.dataset }}"


def test_missing_template_is_a_clear_error(tmp_path: Path) -> None:
    settings = LakehouseSettings(profile="local", home=tmp_path, vision={"k8s_pod_template": str(tmp_path / "no.yaml")})
    with pytest.raises(Exception, match=r"training pod template .* not found"):
        render_pod_spec(settings, dataset="mnist", logical_date="2024-01-01", run_id="r")


def test_dag_file_has_no_heavy_imports(tmp_path: Path) -> None:
    code = (
        "import sys, json, runpy\n"
        f"runpy.run_path({str(PROJECT_ROOT / 'dags' / 'dag_vision_classifier.py')!r})\n"
        "heavy = [m for m in ('torch', 'pyspark', 'great_expectations', 'numpy', 'sklearn') if m in sys.modules]\n"
        "print(json.dumps(heavy))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "AIRFLOW_HOME": str(tmp_path), "LAKEHOUSE_HOME": str(tmp_path),
           "PYTHONPATH": str(PROJECT_ROOT), "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
           "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path}/airflow.db"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    heavy = json.loads(result.stdout.strip().splitlines()[-1])
    assert heavy == [] or heavy == ["numpy"], heavy  # numpy may come with Airflow/pandas, nothing heavier
