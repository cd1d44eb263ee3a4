"""One Ctrl-C to `make airflow` stops every component, even one that hangs in its shutdown (Airflow's
scheduler can wait forever for its LocalExecutor workers, apache/airflow#67870): stop_components signals
again after a grace period and then kills the components and their descendants."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

SCRIPT = Path(__file__).resolve().parents[3] / "infra" / "scripts" / "stop_components.sh"

# A component that ignores SIGTERM and has a worker child that ignores it too (the hung scheduler).
STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
worker = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"])
open(sys.argv[1], "w").write(str(worker.pid))
time.sleep(600)
"""
POLITE = "import time; time.sleep(600)"  # exits on the first SIGTERM


def run_components(tmp_path: Path, *programs: str, grace_s: int = 1) -> tuple[subprocess.CompletedProcess[str],
                                                                               list[int], float]:
    """Start each program as a background job of a bash script that then stops them all; return the result,
    every pid started (components and recorded workers) and the seconds stop_components took."""
    lines = [f"source {SCRIPT}", "pids=()"]
    for i, program in enumerate(programs):
        (tmp_path / f"c{i}.py").write_text(program)
        lines.append(f'"{sys.executable}" {tmp_path}/c{i}.py {tmp_path}/worker{i} & pids+=($!)')
    lines += ['echo "${pids[@]}" > ' + f"{tmp_path}/pids", "sleep 2",  # the workers start
              "start=$SECONDS", 'stop_components "${pids[@]}"', f'echo $((SECONDS - start)) > {tmp_path}/took']
    script = tmp_path / "run.sh"
    script.write_text("\n".join(lines) + "\n")
    env = {**os.environ, "LAKEHOUSE_STOP_GRACE_S": str(grace_s)}
    result = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=60, check=False)
    pids = [int(p) for p in (tmp_path / "pids").read_text().split()]
    pids += [int(w.read_text()) for w in tmp_path.glob("worker*")]
    return result, pids, float((tmp_path / "took").read_text())


def running(pids: list[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def test_components_that_stop_are_not_waited_for_or_killed(tmp_path: Path) -> None:
    result, pids, took = run_components(tmp_path, POLITE, POLITE, grace_s=5)
    assert result.returncode == 0, result.stderr
    assert not running(pids)
    assert took < 5 and "signalling again" not in result.stderr


def test_a_component_hanging_in_its_shutdown_is_stopped_with_its_workers(tmp_path: Path) -> None:
    started = time.monotonic()
    result, pids, took = run_components(tmp_path, POLITE, STUBBORN, grace_s=1)
    assert result.returncode == 0, result.stderr
    assert len(pids) == 3  # two components and the stubborn one's worker
    assert not running(pids), running(pids)
    assert "signalling again" in result.stderr and "killing" in result.stderr
    assert took < 10 and time.monotonic() - started < 30
