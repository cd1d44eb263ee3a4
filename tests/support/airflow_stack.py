"""A running Airflow (`infra/scripts/airflow.sh`: API server, scheduler, DAG processor, triggerer) for
tests, on a free port and a throw-away home, plus a small client of its REST API."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from lakehouse.settings import PROJECT_ROOT, LakehouseSettings

SCRIPT = PROJECT_ROOT / "infra" / "scripts" / "airflow.sh"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class AirflowStack:
    """A started Airflow: where it listens, its home, and the admin login."""

    url: str
    home: Path
    username: str
    password: str
    pid: int  # of airflow.sh, the leader of its components' process group

    def token(self) -> str:
        response = requests.post(f"{self.url}/auth/token", json={"username": self.username,
                                                                  "password": self.password}, timeout=30)
        response.raise_for_status()
        return str(response.json()["access_token"])

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the REST API (``/api/v2`` + ``path``) as the admin; the decoded JSON answer."""
        headers = {"Authorization": f"Bearer {self.token()}"}
        response = requests.request(method, f"{self.url}/api/v2{path}", headers=headers, timeout=60, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def wait_for_dags(self, dag_ids: set[str], timeout_s: float = 240) -> dict[str, Any]:
        """Wait until the DAG processor has serialised ``dag_ids``; their API records by id."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = {d["dag_id"]: d for d in self.api("GET", "/dags", params={"limit": 100})["dags"]}
            if dag_ids <= set(found):
                return found
            if time.monotonic() > deadline:
                raise TimeoutError(f"DAGs {sorted(dag_ids - set(found))} never appeared; "
                                   f"import errors: {self.api('GET', '/importErrors')}; {self.component_logs()}")
            time.sleep(3)

    def wait_for_run(self, dag_id: str, timeout_s: float, run_id: str | None = None) -> dict[str, Any]:
        """Wait until a run of ``dag_id`` (the first one, or ``run_id``) has finished; its API record."""
        deadline = time.monotonic() + timeout_s
        while True:
            runs = self.api("GET", f"/dags/{dag_id}/dagRuns", params={"limit": 10})["dag_runs"]
            runs = [r for r in runs if run_id in (None, r["dag_run_id"])]
            if runs and runs[0]["state"] in ("success", "failed"):
                return runs[0]  # type: ignore[no-any-return]
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id} did not finish in {timeout_s} s: {runs}; {self.component_logs()}")
            time.sleep(5)

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        instances = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]
        return {t["task_id"]: t["state"] for t in instances}

    def component_logs(self, lines: int = 15) -> str:
        out = []
        for log in sorted((self.home / "logs" / "components").glob("*.log")):
            out.append(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(out)


@contextmanager
def airflow_stack(home: Path, settings: LakehouseSettings, extra_env: Mapping[str, str] | None = None,
                  start_timeout_s: float = 180) -> Iterator[AirflowStack]:
    """Start `make airflow`'s script with ``settings`` (as LAKEHOUSE_* variables) under ``home``; stop
    every process it started on exit."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKEHOUSE_", "AIRFLOW"))}
    env.update(settings.to_env())
    env.update({"AIRFLOW_HOME": str(home), "LAKEHOUSE_AIRFLOW_PORT": str(port),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5", **(extra_env or {})})
    home.mkdir(parents=True, exist_ok=True)
    out = (home / "airflow-sh.log").open("wb")
    process = subprocess.Popen(["bash", str(SCRIPT)], env=env, stdout=out, stderr=subprocess.STDOUT,
                               start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout_s
        passwords = home / "simple_auth_manager_passwords.json.generated"
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"airflow.sh exited {process.returncode}: {(home / 'airflow-sh.log').read_text()}")
            try:
                healthy = requests.get(f"{url}/api/v2/monitor/health", timeout=5).ok
            except requests.ConnectionError:
                healthy = False
            if healthy and passwords.exists():
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"Airflow did not start in {start_timeout_s} s")
            time.sleep(2)
        password = json.loads(passwords.read_text())["admin"]
        yield AirflowStack(url, home, "admin", password, process.pid)
    finally:
        # What Ctrl-C does to `make airflow`: signal the script alone; it must stop every component.
        process.send_signal(signal.SIGINT)
        survivors = _wait_for_group_exit(process, timeout_s=90)
        if survivors:
            os.killpg(process.pid, signal.SIGKILL)
        out.close()
    assert not survivors, f"airflow.sh left processes running after Ctrl-C: {survivors}"


def _wait_for_group_exit(process: subprocess.Popen[bytes], timeout_s: float) -> list[str]:
    """Command lines of the script's process group still alive after ``timeout_s`` (empty: all exited)."""
    import psutil

    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=1)
        alive = []
        for proc in psutil.process_iter(["pid", "cmdline"]):
            with contextlib.suppress(psutil.Error):
                if os.getpgid(proc.pid) == process.pid and proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(" ".join(proc.info["cmdline"] or [])[:120])
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(1)


def listening_addresses(root_pid: int) -> set[str]:
    """IP addresses the processes of ``root_pid``'s process group listen on (TCP)."""
    import psutil

    addresses = set()
    for proc in psutil.process_iter(["pid"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError):
            if os.getpgid(proc.pid) == root_pid:
                addresses |= {c.laddr.ip for c in proc.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN}
    return addresses
