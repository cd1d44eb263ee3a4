"""Run the `lakehouse` console script in a new process, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from lakehouse.settings import LakehouseSettings

LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")


def run_cli(args: list[str], settings: LakehouseSettings | None = None, env: dict[str, str] | None = None,
            stdin: str | None = None, timeout: int = 300) -> subprocess.CompletedProcess[str]:
    """`lakehouse ARGS` with ``settings`` (as LAKEHOUSE_* variables) and extra ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOUSE_") or k.startswith("LAKEHOUSE_TEST")}
    if settings is not None:
        base.update(settings.to_env())
    base.update(env or {})
    return subprocess.run([LAKEHOUSE, *args], env=base, input=stdin, capture_output=True, text=True,
                          timeout=timeout, check=False)
