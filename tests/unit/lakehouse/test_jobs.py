"""Job entry points import what they need late in the background (``PRELOAD``) while the Spark session starts: a
later import of the same module waits for the whole module, and a failing preload surfaces at the job's own import."""

from __future__ import annotations

import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from lakehouse import jobs


@pytest.fixture
def module_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _module(folder: Path, body: str) -> str:
    name = f"preload_probe_{uuid.uuid4().hex}"
    (folder / f"{name}.py").write_text(textwrap.dedent(body))
    return name


def test_an_import_during_the_preload_waits_for_the_whole_module(module_dir: Path) -> None:
    name = _module(module_dir, """
        import time
        time.sleep(0.5)  # a slow import: the main thread asks for it while it runs
        COMPLETE = True
        """)
    thread = jobs.preload_in_background([name])
    assert thread is not None
    time.sleep(0.1)
    assert name in sys.modules  # the preload is under way, the module is half-imported
    module = __import__(name)
    assert module.COMPLETE is True  # not the half-imported module
    thread.join(5)
    assert not thread.is_alive()


def test_nothing_is_started_for_modules_already_imported() -> None:
    assert jobs.preload_in_background(["json", "sys"]) is None


def test_a_failing_preload_is_raised_by_the_jobs_own_import(module_dir: Path) -> None:
    name = _module(module_dir, """
        raise ImportError("the optional dependency is broken")
        """)
    thread = jobs.preload_in_background([name])
    assert thread is not None
    thread.join(5)
    assert name not in sys.modules
    with pytest.raises(ImportError, match="the optional dependency is broken"):
        __import__(name)


def test_the_gate_job_preloads_great_expectations() -> None:
    assert jobs.job_preloads("spark_jobs.gate") == ("great_expectations",)
    assert jobs.job_preloads("lakehouse.jobs") == ()
