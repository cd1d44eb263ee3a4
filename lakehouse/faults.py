"""Named fault points, so tests can prove that every step survives a crash or a race.

The write and publish paths call :func:`point` at the moments that matter (after a commit, between
two publishes, ...). Unless a test sets one of the variables below, a point does nothing.

- ``LAKEHOUSE_FAULT_KILL_AT=<point>``: the process kills itself with SIGKILL at that point (what
  ``kill -9``, an OOM kill or a lost worker does), so a test can assert that ``main`` is consistent
  afterwards and that a plain retry converges.
- ``LAKEHOUSE_FAULT_BARRIER=<point>:<directory>``: at that point the process announces itself with a
  file ``<directory>/<pid>.arrived`` and waits until ``<directory>/release`` exists (at most 10 min),
  so a test can line two real processes up at the same step and let them race deterministically.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path

KILL_VARIABLE = "LAKEHOUSE_FAULT_KILL_AT"
BARRIER_VARIABLE = "LAKEHOUSE_FAULT_BARRIER"
BARRIER_TIMEOUT_S = 600.0

log = logging.getLogger(__name__)


def point(name: str) -> None:
    """A fault point called ``name`` (see the module docstring)."""
    if os.environ.get(KILL_VARIABLE) == name:
        log.warning("fault point %s: killing process %d", name, os.getpid())
        os.kill(os.getpid(), signal.SIGKILL)
    barrier = os.environ.get(BARRIER_VARIABLE)
    if barrier and barrier.split(":", 1)[0] == name:
        _wait_at_barrier(Path(barrier.split(":", 1)[1]))


def _wait_at_barrier(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{os.getpid()}.arrived").touch()
    deadline = time.monotonic() + BARRIER_TIMEOUT_S
    while not (directory / "release").exists():
        if time.monotonic() > deadline:
            raise TimeoutError(f"fault barrier {directory} was never released")
        time.sleep(0.05)
