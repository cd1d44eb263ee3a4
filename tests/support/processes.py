"""Run lakehouse jobs as real processes (their own JVMs), optionally lined up at a fault point."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from lakehouse.faults import BARRIER_VARIABLE, KILL_VARIABLE
from lakehouse.settings import PROJECT_ROOT, LakehouseSettings


def job_env(settings: LakehouseSettings, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a job process: the machine's, minus any LAKEHOUSE_* but ``settings``'."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOUSE_") or k.startswith("LAKEHOUSE_TEST")}
    env.update(settings.to_env())
    env["PYTHONPATH"] = str(PROJECT_ROOT)
    env.update(extra or {})
    return env


def start_job(module: str, settings: LakehouseSettings, logical_date: str, run_id: str,
              options: Sequence[str] = (), extra_env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``python -m module --logical-date D --run-id R [--option k=v ...]``."""
    args = [sys.executable, "-m", module, "--logical-date", logical_date, "--run-id", run_id]
    for option in options:
        args += ["--option", option]
    return subprocess.Popen(args, env=job_env(settings, extra_env), cwd=PROJECT_ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def run_job_process(module: str, settings: LakehouseSettings, logical_date: str, run_id: str,
                    options: Sequence[str] = (), kill_at: str | None = None,
                    timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """Run a job to completion (or to its SIGKILL at ``kill_at``)."""
    extra = {KILL_VARIABLE: kill_at} if kill_at else None
    proc = start_job(module, settings, logical_date, run_id, options, extra)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def race(jobs: Sequence[tuple[str, LakehouseSettings, str, str, Sequence[str]]], point: str, barrier: Path,
         timeout: int = 600) -> list[subprocess.CompletedProcess[str]]:
    """Start every job, hold each at fault point ``point`` until all have reached it, then let them go
    at once; return their results in order."""
    procs = [start_job(module, settings, day, run_id, options, {BARRIER_VARIABLE: f"{point}:{barrier}"})
             for module, settings, day, run_id, options in jobs]
    deadline = time.monotonic() + timeout
    while len(list(barrier.glob("*.arrived"))) < len(procs):
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            break  # one ended before the barrier: collect what happened
        time.sleep(0.1)
    barrier.mkdir(parents=True, exist_ok=True)
    (barrier / "release").touch()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results
