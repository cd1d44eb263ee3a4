"""S3 faults survived: jobs run as real processes against S3 through a fault-injecting proxy.

- Throttling (503 SlowDown) and dropped connections at realistic rates are absorbed by the retries of
  every client a job uses (Spark's S3A, boto3's preflight, pyarrow's landing reads): the job ends with
  exact row counts.
- An endpoint that is down or stalled, from the start or from the middle of a job, makes the job fail
  in bounded time with one readable line naming the endpoint, and leaves the table's ``main`` at its
  previous snapshot.
- Once the faults stop, a rerun of the same job and date succeeds with exact counts and no duplicates.

The jobs talk to S3 through the proxy (``tests.support.faulty_s3``); the tests check the tables through
the real endpoint with PyIceberg (same catalog database), so their reads are never faulted.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pytest

from lakehouse.catalog import create_tables, load_catalog
from lakehouse.settings import LakehouseSettings
from schemas.core import SMOKE_EVENTS
from schemas.deliveries import DELIVERED_FILES
from schemas.finance import RAW_TICKS
from spark_jobs.finance import generator
from tests.conftest import make_s3_settings
from tests.support.faulty_s3 import FaultPlan, FaultyS3Proxy, ProxyStats
from tests.support.processes import start_job
from tests.support.servers import S3Endpoint

log = logging.getLogger(__name__)
pytestmark = pytest.mark.s3

SMOKE_ROWS = 100  # spark_jobs.smoke.transforms.sensor_events: 25 rows x 4 sensors per date
# What a run through faults may take (JVM start included) and what a failing run must stay within.
SURVIVE_TIMEOUT_S = 300
FAIL_BOUND_S = 120
# Once the store is lost mid-job, the job must give up within this (with FAST_FAIL: each S3A call costs
# at most 2 rounds x 2 attempts x 3 s; the failed write's clean-up calls are bounded the same way).
MID_JOB_BOUND_S = 60
# Short timeouts for the failure tests: a stalled endpoint is given up on after seconds, not minutes.
FAST_FAIL = {"connect_timeout_s": 2, "request_timeout_s": 3, "max_attempts": 2, "retry_interval_ms": 200}
# Realistic trouble: ~15% throttled, ~4% connections dropped before and ~2% after the store handled
# the request; never more than 3 faults in a row for one request, which the default retries absorb.
TROUBLE = FaultPlan(slowdown=0.15, drop=0.04, lose_response=0.02, max_consecutive=3, seed=20240611)


@dataclass(frozen=True)
class Lake:
    """One lake seen two ways: ``through`` the proxy (what jobs use) and ``direct`` (what tests read)."""

    through: LakehouseSettings
    direct: LakehouseSettings
    proxy: FaultyS3Proxy

    def tuned(self, **s3: Any) -> LakehouseSettings:
        """The proxied settings with some S3 settings changed (e.g. short timeouts)."""
        values = {**self.through.s3.model_dump(), **s3}
        return self.through.model_copy(update={"s3": type(self.through.s3)(**values)})


@pytest.fixture(scope="module")
def proxy(s3: S3Endpoint) -> Iterator[FaultyS3Proxy]:
    if not s3.url.startswith("http://"):
        pytest.skip("the fault-injecting proxy speaks plain HTTP only")
    with FaultyS3Proxy(s3.url) as running:
        yield running


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory, s3: S3Endpoint, proxy: FaultyS3Proxy) -> Iterator[Lake]:
    """A fresh bucket and catalog; the tables the tested jobs write are created through the real endpoint."""
    import boto3

    bucket = f"faults-{uuid.uuid4().hex[:8]}"
    client = boto3.client("s3", endpoint_url=s3.url, region_name="us-east-1", aws_access_key_id=s3.access_key,
                          aws_secret_access_key=s3.secret_key)
    client.create_bucket(Bucket=bucket)
    home = tmp_path_factory.mktemp("s3-faults-home")
    direct = make_s3_settings(home, S3Endpoint(s3.url, s3.access_key, s3.secret_key, bucket))
    through = make_s3_settings(home, S3Endpoint(proxy.url, s3.access_key, s3.secret_key, bucket))
    create_tables(direct, [SMOKE_EVENTS, RAW_TICKS, DELIVERED_FILES])
    yield Lake(through, direct, proxy)
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=obj["Key"])
    client.delete_bucket(Bucket=bucket)


@pytest.fixture(autouse=True)
def _healthy_proxy(proxy: FaultyS3Proxy) -> Iterator[None]:
    """Every test starts and ends with a listening, fault-free proxy and fresh counters."""
    proxy.heal()
    proxy.reset_stats()
    yield
    proxy.heal()


# ---- helpers -----------------------------------------------------------------------------------
@dataclass
class Finished:
    """A job process that ended (within its time limit)."""

    returncode: int
    stdout: str
    stderr: str
    seconds: float
    after_trouble_s: float | None = None  # from the switch to ``trouble_after`` to the end


def _run(module: str, settings: LakehouseSettings, day: dt.date, run_id: str, *, limit_s: float,
         proxy: FaultyS3Proxy | None = None, trouble_after: FaultPlan | str | None = None,
         when: str = "PUT") -> Finished:
    """Run a job process; optionally, once S3A has sent its first ``when`` request (the job is past its
    preflight and writing), switch the proxy to ``trouble_after`` (a plan, or "down"). A job still running
    after ``limit_s`` is killed and the test fails: that is a hang."""
    started = time.monotonic()
    switched = None
    proc = start_job(module, settings, day.isoformat(), run_id)
    if proxy is not None and trouble_after is not None:
        seen = proxy.wait_until(lambda s: s.methods[("s3a", when)] > 0, timeout_s=limit_s,
                                stop=lambda: proc.poll() is not None)
        assert seen, f"the job never sent an S3A {when}: {proc.communicate()}"
        if trouble_after == "down":
            proxy.go_down()
        else:
            assert isinstance(trouble_after, FaultPlan)
            proxy.set_plan(trouble_after)
        switched = time.monotonic()
        log.info("proxy switched to %s after %.1f s", trouble_after, time.monotonic() - started)
    try:
        out, err = proc.communicate(timeout=max(1.0, limit_s - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"{module} was still running after {limit_s:.0f} s (hung); stderr tail:\n{err[-3000:]}")
    ended = time.monotonic()
    finished = Finished(proc.returncode, out, err, ended - started, None if switched is None else ended - switched)
    log.info("%s for %s ended with %d after %.1f s (%s s after the trouble began)", module, day,
             finished.returncode, finished.seconds, finished.after_trouble_s)
    return finished


def _one_error_line(job: Finished, endpoint: str) -> str:
    """The job failed with exactly one readable stderr line that names the endpoint."""
    assert job.returncode == 1, (job.returncode, job.stderr[-3000:])
    lines = [line for line in job.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one error line, got {len(lines)}:\n" + "\n".join(lines[:40])
    assert lines[0].startswith("error: "), lines[0]
    assert endpoint in lines[0], f"the error does not name the endpoint {endpoint}: {lines[0]}"
    return lines[0]


def _main_snapshot(settings: LakehouseSettings, identifier: str) -> int | None:
    snapshot = load_catalog(settings).load_table(identifier).current_snapshot()
    return snapshot.snapshot_id if snapshot is not None else None


def _rows(settings: LakehouseSettings, identifier: str, column: str, day: dt.date) -> pa.Table:
    """``main``'s rows of one logical date, read through the real endpoint."""
    from pyiceberg.expressions import EqualTo

    table = load_catalog(settings).load_table(identifier)
    return table.scan(row_filter=EqualTo(column, day.isoformat())).to_arrow()


def _distinct(rows: pa.Table, *columns: str) -> int:
    return rows.group_by(list(columns)).aggregate([]).num_rows


def _seed_previous_snapshot(settings: LakehouseSettings, day: dt.date) -> int:
    """Give raw.smoke_events a known main snapshot for ``day`` (7 rows of a previous run)."""
    table = load_catalog(settings).load_table(SMOKE_EVENTS.identifier)
    rows = pa.Table.from_pylist(
        [{"event_date": day, "event_id": i, "sensor": "north", "value": float(i), "run_id": "previous"}
         for i in range(7)], schema=table.schema().as_arrow())
    table.append(rows)
    snapshot = _main_snapshot(settings, SMOKE_EVENTS.identifier)
    assert snapshot is not None
    return snapshot


def _assert_smoke_rows(settings: LakehouseSettings, day: dt.date, run_id: str) -> None:
    rows = _rows(settings, SMOKE_EVENTS.identifier, "event_date", day)
    assert rows.num_rows == SMOKE_ROWS
    assert _distinct(rows, "event_id") == SMOKE_ROWS, "no duplicates"
    assert set(rows.column("run_id").to_pylist()) == {run_id}, "the date holds exactly this run's rows"


def _assert_faults(stats: ProxyStats, *clients: str) -> None:
    for client in clients:
        assert stats.injected(client=client) > 0, f"no fault reached {client}: {stats.summary()}"
    assert stats.injected("slowdown") > 0 and stats.injected("drop") > 0, stats.summary()


# ---- faults that retries absorb ----------------------------------------------------------------
def test_smoke_job_survives_throttling_and_dropped_connections(lake: Lake) -> None:
    day, run_id = dt.date(2024, 6, 3), "faults__smoke"
    lake.proxy.set_plan(TROUBLE)
    job = _run("spark_jobs.smoke.job", lake.through, day, run_id, limit_s=SURVIVE_TIMEOUT_S)
    stats = lake.proxy.reset_stats()
    log.info("smoke through faults: %.1f s, %s", job.seconds, stats.summary())
    assert job.returncode == 0, job.stderr[-3000:]
    assert not job.stderr.strip(), job.stderr[-3000:]
    _assert_faults(stats, "s3a")
    _assert_smoke_rows(lake.direct, day, run_id)


def test_finance_raw_survives_throttling_and_dropped_connections(lake: Lake) -> None:
    day, run_id = dt.date(2024, 6, 4), "faults__finance_raw"
    manifest = generator.generate_landing(lake.direct, day, symbols=2, ticks=400, seed=11)
    lake.proxy.set_plan(TROUBLE)
    job = _run("spark_jobs.finance.raw", lake.through, day, run_id, limit_s=SURVIVE_TIMEOUT_S)
    stats = lake.proxy.reset_stats()
    log.info("finance raw through faults: %.1f s, %s", job.seconds, stats.summary())
    assert job.returncode == 0, job.stderr[-3000:]
    _assert_faults(stats, "s3a", "pyarrow")
    rows = _rows(lake.direct, RAW_TICKS.identifier, "trade_date", day)
    assert rows.num_rows == manifest["rows"]
    assert _distinct(rows, "source_file", "record_id") == manifest["rows"]
    delivered = _rows(lake.direct, DELIVERED_FILES.identifier, "logical_date", day).to_pylist()
    assert sorted(d["outcome"] for d in delivered) == ["ignored"] + ["ingested"] * len(manifest["files"]), delivered
    assert sum(d["rows"] or 0 for d in delivered) == manifest["rows"], "no good file was taken for unreadable"


def test_finance_raw_absorbs_a_throttling_burst_on_landing_reads(lake: Lake) -> None:
    """Every pyarrow request for a landing Parquet file (its existence check, footer and hash reads) is
    throttled max_attempts - 1 times in a row before it is answered: the attempts the settings promise
    must absorb that, and the good file must not end up quarantined as unreadable."""
    day, run_id = dt.date(2024, 6, 11), "faults__landing_burst"
    manifest = generator.generate_landing(lake.direct, day, symbols=2, ticks=300, seed=12)
    parquet = sorted(str(f) for f in manifest["files"] if str(f).endswith(".parquet"))
    assert parquet, manifest["files"]
    target = "/" + parquet[0].rsplit("/", 1)[-1]  # one file's name (this date's folder only is read)
    burst = lake.through.s3.max_attempts - 1
    lake.proxy.set_plan(FaultPlan(slowdown=1.0, max_consecutive=burst, only_clients=frozenset({"pyarrow"}),
                                  path_pattern=re.escape(target) + "$"))
    job = _run("spark_jobs.finance.raw", lake.through, day, run_id, limit_s=SURVIVE_TIMEOUT_S)
    stats = lake.proxy.reset_stats()
    log.info("finance raw through a burst of %d: %.1f s, %s", burst, job.seconds, stats.summary())
    assert job.returncode == 0, job.stderr[-3000:]
    assert stats.injected("slowdown", "pyarrow") >= 2 * burst, stats.summary()  # at least a check and a read
    delivered = _rows(lake.direct, DELIVERED_FILES.identifier, "logical_date", day).to_pylist()
    assert [d for d in delivered if d["outcome"] == "quarantined"] == [], "a good file was quarantined"
    rows = _rows(lake.direct, RAW_TICKS.identifier, "trade_date", day)
    assert rows.num_rows == manifest["rows"] == _distinct(rows, "source_file", "record_id")


# ---- faults that must fail the job cleanly -----------------------------------------------------
def test_a_landing_file_the_store_keeps_refusing_fails_the_job_instead_of_being_quarantined(lake: Lake) -> None:
    """Throttling beyond the retries on a good landing Parquet file is a store failure, not a bad file:
    the job fails with one line naming the endpoint and nothing lands, rather than recording the file
    as `unreadable_file` and ingesting the day without it."""
    day, run_id = dt.date(2024, 6, 12), "faults__landing_refused"
    manifest = generator.generate_landing(lake.direct, day, symbols=2, ticks=200, seed=13)
    parquet = sorted(str(f) for f in manifest["files"] if str(f).endswith(".parquet"))
    target = "/" + parquet[0].rsplit("/", 1)[-1]
    before = _main_snapshot(lake.direct, RAW_TICKS.identifier)
    # The existence checks are refused a little longer than the retries last (the file itself reads fine).
    lake.proxy.set_plan(FaultPlan(slowdown=1.0, max_consecutive=lake.through.s3.max_attempts,
                                  only_clients=frozenset({"pyarrow"}), only_methods=frozenset({"HEAD"}),
                                  path_pattern=re.escape(target) + "$"))
    job = _run("spark_jobs.finance.raw", lake.through, day, run_id, limit_s=SURVIVE_TIMEOUT_S)
    lake.proxy.reset_stats()
    line = _one_error_line(job, lake.proxy.url)
    assert "unreadable" not in line, line
    assert _main_snapshot(lake.direct, RAW_TICKS.identifier) == before
    delivered = _rows(lake.direct, DELIVERED_FILES.identifier, "logical_date", day).to_pylist()
    assert delivered == [], "a delivery was recorded although the job failed"


def test_endpoint_down_or_stalled_at_start_fails_fast_then_rerun_succeeds(lake: Lake) -> None:
    """The preflight check (before any JVM starts) fails in bounded time with one line naming the
    endpoint, whether nothing listens or the store accepts connections and never answers."""
    day, run_id = dt.date(2024, 6, 5), "faults__at_start"
    fast = lake.tuned(**FAST_FAIL)
    previous = _seed_previous_snapshot(lake.direct, day)

    lake.proxy.go_down()
    down = _run("spark_jobs.smoke.job", fast, day, run_id, limit_s=FAIL_BOUND_S)
    assert "is unreachable" in _one_error_line(down, lake.proxy.url)
    lake.proxy.heal()
    lake.proxy.set_plan(FaultPlan(stall=1.0, stall_s=None))
    stalled = _run("spark_jobs.smoke.job", fast, day, run_id, limit_s=FAIL_BOUND_S)
    assert "did not answer within 3 s" in _one_error_line(stalled, lake.proxy.url)
    stats = lake.proxy.reset_stats()
    log.info("at start: down failed after %.1f s, stalled after %.1f s; %s", down.seconds, stalled.seconds,
             stats.summary())
    assert stats.injected("stall", "boto3") == FAST_FAIL["max_attempts"], stats.summary()
    assert stalled.seconds < FAST_FAIL["max_attempts"] * FAST_FAIL["request_timeout_s"] + 15
    assert _main_snapshot(lake.direct, SMOKE_EVENTS.identifier) == previous

    lake.proxy.heal()
    rerun = _run("spark_jobs.smoke.job", fast, day, run_id, limit_s=SURVIVE_TIMEOUT_S)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    _assert_smoke_rows(lake.direct, day, run_id)


@pytest.mark.parametrize("trouble", ["down", "stalled"])
def test_endpoint_lost_mid_job_fails_cleanly_then_rerun_succeeds(lake: Lake, trouble: str) -> None:
    day = {"down": dt.date(2024, 6, 7), "stalled": dt.date(2024, 6, 10)}[trouble]
    run_id = f"faults__{trouble}_mid_job"
    fast = lake.tuned(**FAST_FAIL)
    previous = _seed_previous_snapshot(lake.direct, day)
    plan: FaultPlan | str = "down" if trouble == "down" else FaultPlan(stall=1.0, stall_s=None)
    job = _run("spark_jobs.smoke.job", fast, day, run_id, limit_s=FAIL_BOUND_S, proxy=lake.proxy,
               trouble_after=plan)
    stats = lake.proxy.reset_stats()
    log.info("%s mid-job: failed after %.1f s, %s", trouble, job.seconds, stats.summary())
    line = _one_error_line(job, lake.proxy.url)
    assert ("is unreachable" if trouble == "down" else "stopped answering") in line
    assert job.after_trouble_s is not None and job.after_trouble_s < MID_JOB_BOUND_S
    assert stats.methods[("s3a", "PUT")] > 0, "the job was writing when the endpoint went away"
    assert _main_snapshot(lake.direct, SMOKE_EVENTS.identifier) == previous, "main stays at its previous snapshot"
    assert set(_rows(lake.direct, SMOKE_EVENTS.identifier, "event_date", day).column("run_id").to_pylist()) == {
        "previous"}

    lake.proxy.heal()
    rerun = _run("spark_jobs.smoke.job", fast, day, run_id, limit_s=SURVIVE_TIMEOUT_S)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    _assert_smoke_rows(lake.direct, day, run_id)


# ---- the proxy itself (boto3 only, no JVM) -----------------------------------------------------
def _bare_client(url: str, *, attempts: int = 1, read_timeout: float = 2.0) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing",
                        aws_secret_access_key="testing",
                        config=Config(retries={"total_max_attempts": attempts, "mode": "standard"},
                                      connect_timeout=2, read_timeout=read_timeout,
                                      s3={"addressing_style": "path"}))


def test_proxy_injects_each_fault_and_counts_it(lake: Lake) -> None:
    import botocore.exceptions as bce

    bucket = lake.direct.warehouse_bucket
    client = _bare_client(lake.proxy.url)
    body = bytes(range(256)) * 400
    client.put_object(Bucket=bucket, Key="proxy/object.bin", Body=body)
    assert client.get_object(Bucket=bucket, Key="proxy/object.bin")["Body"].read() == body
    assert client.head_object(Bucket=bucket, Key="proxy/object.bin")["ContentLength"] == len(body)

    lake.proxy.set_plan(FaultPlan(slowdown=1.0))
    with pytest.raises(bce.ClientError) as throttled:
        client.get_object(Bucket=bucket, Key="proxy/object.bin")
    assert throttled.value.response["Error"]["Code"] == "SlowDown"
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    for plan in (FaultPlan(drop=1.0), FaultPlan(lose_response=1.0)):
        lake.proxy.set_plan(plan)
        with pytest.raises(bce.ConnectionClosedError):
            client.put_object(Bucket=bucket, Key="proxy/lost.bin", Body=b"x")
    lake.proxy.heal()  # the PUT whose response was lost did reach the store:
    assert client.get_object(Bucket=bucket, Key="proxy/lost.bin")["Body"].read() == b"x"

    lake.proxy.set_plan(FaultPlan(stall=1.0, stall_s=None))
    started = time.monotonic()
    with pytest.raises(bce.ReadTimeoutError):
        client.head_bucket(Bucket=bucket)
    assert 1.5 < time.monotonic() - started < 10
    lake.proxy.go_down()
    with pytest.raises(bce.EndpointConnectionError):
        client.head_bucket(Bucket=bucket)
    lake.proxy.heal()
    assert client.head_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 200
    stats = lake.proxy.stats
    assert {f: stats.injected(f, "boto3") for f in ("slowdown", "drop", "lose_response", "stall")} == {
        "slowdown": 1, "drop": 1, "lose_response": 1, "stall": 1}


def test_proxy_decisions_are_deterministic_and_retries_absorb_bounded_faults(lake: Lake) -> None:
    bucket = lake.direct.warehouse_bucket
    runs = []
    for _ in range(2):
        lake.proxy.set_plan(FaultPlan(slowdown=0.3, drop=0.1, seed=7))
        lake.proxy.reset_stats()
        client = _bare_client(lake.proxy.url)
        outcomes = []
        for i in range(40):  # one at a time: arrival order = call order
            try:
                client.put_object(Bucket=bucket, Key=f"proxy/det/{i}", Body=b"d")
                outcomes.append("ok")
            except Exception as exc:
                outcomes.append(type(exc).__name__)
        runs.append(outcomes)
    assert runs[0] == runs[1], "same plan and seed, same faults"
    assert 5 < sum(o != "ok" for o in runs[0]) < 30

    lake.proxy.set_plan(FaultPlan(slowdown=0.5, drop=0.3, max_consecutive=2, seed=3))
    lake.proxy.reset_stats()
    client = _bare_client(lake.proxy.url, attempts=3)
    for i in range(15):  # 80% of attempts faulted, at most 2 in a row: 3 attempts always get through
        client.put_object(Bucket=bucket, Key=f"proxy/retried/{i}", Body=b"r")
    stats = lake.proxy.stats
    assert stats.injected() >= 10 and stats.total_retries == stats.injected(), stats.summary()
    assert stats.forwarded == 15, stats.summary()


# ---- readable lines (no JVM) -------------------------------------------------------------------
@pytest.mark.parametrize(("java_text", "expected"), [
    ("java.net.SocketTimeoutException: getFileStatus on s3://b/k: com.amazonaws.SdkClientException: "
     "Unable to execute HTTP request: Read timed out", "stopped answering"),
    ("org.apache.hadoop.fs.s3a.AWSClientIOException: PUT 0-byte object on s3://b/k: "
     "com.amazonaws.SdkClientException: Unable to execute HTTP request: 127.0.0.1:9000 failed to respond",
     "stopped answering"),
    ("com.amazonaws.SdkClientException: Unable to execute HTTP request: Connect to 127.0.0.1:9000 "
     "[/127.0.0.1] failed: Connection refused", "is unreachable"),
    ("org.apache.hadoop.fs.s3a.AWSServiceThrottledException: getFileStatus on s3://b/k: "
     "com.amazonaws.services.s3.model.AmazonS3Exception: Please reduce your request rate. (Service: Amazon "
     "S3; Status Code: 503; Error Code: SlowDown; Request ID: X)", "kept throttling"),
    # pyarrow (the C++ SDK over curl), as lakehouse.storage's readers raise them
    ("OSError: When reading information for key 'k' in bucket 'b': AWS Error NETWORK_CONNECTION during "
     "HeadObject operation: curlCode: 28, Timeout was reached; Details: Operation too slow.", "stopped answering"),
    ("OSError: When getting information for key 'k' in bucket 'b': AWS Error NETWORK_CONNECTION during "
     "HeadObject operation: curlCode: 7, Could not connect to server", "is unreachable"),
    ("OSError: When getting information for key 'k' in bucket 'b': AWS Error UNKNOWN (HTTP status 503) during "
     "HeadObject operation: No response body.", "kept throttling"),
])
def test_s3_failures_are_one_line_naming_the_endpoint(monkeypatch: pytest.MonkeyPatch, java_text: str,
                                                       expected: str) -> None:
    from lakehouse import errors

    monkeypatch.setattr(errors, "_CONTEXT", {})
    trace = f"An error occurred while calling o212.overwrite.\n: {java_text}\n\tat org.apache.Foo.bar(Foo.java:1)"
    unnamed = errors.explain(RuntimeError(trace))
    assert expected in unnamed and "{endpoint}" not in unnamed and "\n" not in unnamed
    errors.note_context(endpoint="http://store.example:9000")
    assert errors.explain(RuntimeError(trace)).startswith(f"S3 endpoint http://store.example:9000 {expected}")
