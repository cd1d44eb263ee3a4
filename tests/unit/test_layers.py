"""Imports flow one way (README, "Declared pipelines"): schemas <- lakehouse <- ml <- spark_jobs <-
expectations <- dags. Every import in every module counts, the lazy ones inside functions included."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("schemas", "lakehouse", "ml", "spark_jobs", "expectations", "dags")


def imported_packages(path: Path) -> set[str]:
    """Top-level project packages that ``path`` imports (absolute imports; relative ones stay inside)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & set(LAYERS)


def test_no_import_runs_back_up_the_layers() -> None:
    upward = []
    for rank, layer in enumerate(LAYERS):
        for path in sorted((ROOT / layer).rglob("*.py")):
            for package in imported_packages(path):
                if LAYERS.index(package) > rank:
                    upward.append(f"{path.relative_to(ROOT)} imports {package}")
    assert upward == []


def test_the_check_sees_lazy_imports(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from spark_jobs.finance import io\n    import dags.x\n")
    assert imported_packages(module) == {"spark_jobs", "dags"}
