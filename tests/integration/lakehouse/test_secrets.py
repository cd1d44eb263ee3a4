"""Secrets never surface: a DAG run in both task modes with unique dummy credentials, then every place
a secret could end up is searched: process command lines sampled during the run, everything the run
printed or logged, the Airflow home (task logs, metadata DB with rendered fields, serialized DAGs and
XComs), every object in the bucket (tables, validation reports), the lake's local files, the Spark event
log (what the Spark UI's environment page shows) and the session's conf."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import uuid
from pathlib import Path

import boto3
import pytest

from tests.conftest import make_s3_settings
from tests.support.airflow import run_dag, task_states
from tests.support.servers import S3Endpoint


class CommandLineSampler:
    """Samples every process's argv (as `ps` shows it) in the background."""

    def __init__(self, interval_s: float = 0.2) -> None:
        self.interval_s = interval_s
        self.samples: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CommandLineSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            for proc in Path("/proc").iterdir():
                if proc.name.isdigit():
                    try:
                        self.samples.add((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
                    except OSError:
                        continue
            self._stop.wait(self.interval_s)


def _files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def _leaks(secrets: list[str], blobs: dict[str, bytes]) -> list[str]:
    return [f"{secret[:12]}... in {where}" for where, blob in blobs.items() for secret in secrets
            if secret.encode() in blob]


@pytest.mark.parametrize("mode", ["submit", "in_process"])
def test_dag_run_never_surfaces_secrets(airflow_env, spark, s3, s3_settings, tmp_path, capfd, caplog, mode) -> None:
    key_id, secret, password = (f"dummy-{what}-{uuid.uuid4().hex}" for what in ("key", "secret", "password"))
    endpoint = S3Endpoint(s3.url, key_id, secret, s3.bucket)  # moto accepts any credentials
    event_log = tmp_path / "spark-events"
    event_log.mkdir()
    # in_process runs on the test session, whose catalogs are the s3 profile's: same home and catalog.
    settings = make_s3_settings(
        s3_settings.home, endpoint,
        catalog={"name": "lakehouse_s3", "uri": s3_settings.catalog.uri, "password": password},
        spark={"conf": {"spark.eventLog.enabled": "true", "spark.eventLog.dir": f"file://{event_log}"}},
    )
    caplog.set_level(logging.DEBUG)
    day = dt.date(2023, 7, 11) if mode == "submit" else dt.date(2023, 7, 12)
    with CommandLineSampler() as sampler:
        dag_run = run_dag("lakehouse_smoke", day, settings, spark_task_mode=mode)
    assert task_states(dag_run) == {"stage_smoke_events": "success", "gate_smoke_events": "success"}

    secrets = [key_id, secret, password]
    out, err = capfd.readouterr()
    blobs: dict[str, bytes] = {
        "process command lines": "\n".join(sampler.samples).encode(),
        "printed output": (out + err).encode(),
        # DEBUG wire logs of botocore show the access key *id* in request headers (not the secret key)
        "log records at INFO and above": "\n".join(
            r.getMessage() for r in caplog.records if r.levelno >= logging.INFO).encode(),
        "session conf": repr(spark.sparkContext.getConf().getAll()).encode()
        + repr(spark.sql("SET -v").collect()).encode(),
    }
    airflow_home = Path(airflow_env["AIRFLOW_HOME"])
    local_files = _files_under(airflow_home) + _files_under(Path(settings.home)) + _files_under(event_log)
    blobs.update({str(p): p.read_bytes() for p in local_files})
    client = boto3.client("s3", endpoint_url=s3.url, region_name="us-east-1",
                          aws_access_key_id=s3.access_key, aws_secret_access_key=s3.secret_key)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=s3.bucket):
        for obj in page.get("Contents", []):
            blobs[f"s3://{s3.bucket}/{obj['Key']}"] = client.get_object(Bucket=s3.bucket, Key=obj["Key"])["Body"].read()

    assert any("pytest" in line for line in sampler.samples), "the sampler never saw this test's own process"
    assert any(p.name.endswith(".db") for p in local_files)
    if mode == "submit":
        # the spark-submit JVM really ran with the credentials (in its environment) and wrote an event log
        assert _files_under(event_log), "spark-submit wrote no event log"
        assert any("SparkSubmit" in line and "lakehouse-stage_smoke_events" in line for line in sampler.samples)
    assert any(k.startswith("s3://") and "/validations/" in k for k in blobs), "no validation report written"
    assert _leaks(secrets, blobs) == []
    debug = "\n".join(r.getMessage() for r in caplog.records).encode()
    assert _leaks([secret, password], {"log records at DEBUG": debug}) == []


def test_config_masks_every_secret_and_the_catalog_is_in_wal_mode(tmp_path) -> None:
    import json
    import sqlite3

    from tests.support.cli import run_cli

    secrets = {"LAKEHOUSE_S3__SECRET_ACCESS_KEY": f"dummy-{uuid.uuid4().hex}",
               "LAKEHOUSE_S3__ACCESS_KEY_ID": f"dummy-{uuid.uuid4().hex}",
               "LAKEHOUSE_CATALOG__PASSWORD": f"dummy-{uuid.uuid4().hex}"}
    result = run_cli(["config"], env={"LAKEHOUSE_HOME": str(tmp_path), **secrets})
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["catalog"]["password"] == shown["s3"]["secret_access_key"] == "**********"
    assert not any(value in result.stdout + result.stderr for value in secrets.values())
    init = run_cli(["init"], env={"LAKEHOUSE_HOME": str(tmp_path)})
    assert init.returncode == 0, init.stderr
    with sqlite3.connect(tmp_path / "catalog.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
