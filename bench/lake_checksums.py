"""Order-independent checksums of every table of a lake, to show two lakes hold the same rows.

Used to check that a refactor or an optimisation keeps the pipelines' output identical: run the same
seeded DAGs (e.g. ``make demo``) on two checkouts with two lakehouse homes, take the checksums of
each and compare. Columns that differ by construction between two runs (run ids, model versions,
timestamps of the run, URIs of run artifacts) are left out, and the lakehouse home is replaced by
``{home}`` in every other value (source file names are absolute); the rest of every row is hashed,
the row hashes sorted, and the sorted list hashed again, so file layout and row order do not matter.

    LAKEHOUSE_HOME=/a/.lakehouse .venv/bin/python bench/lake_checksums.py > a.json
    LAKEHOUSE_HOME=/b/.lakehouse .venv/bin/python bench/lake_checksums.py --against a.json

With ``--against`` the exit status is 1 if any table of the ``--must-match`` namespaces (default:
silver, quarantine, gold) differs or is missing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from lakehouse.catalog import load_catalog
from lakehouse.settings import get_settings

NAMESPACES = ("raw", "silver", "quarantine", "gold", "ml")


def per_run_column(name: str) -> bool:
    """Whether a column's values differ between two equivalent runs by construction."""
    return name in {"run_id", "model_version"} or name.endswith("_at") or "uri" in name


def table_checksum(table: Any, home: str) -> dict[str, Any]:
    frame = table.scan().to_pandas()
    dropped = sorted(c for c in frame.columns if per_run_column(c))
    frame = frame.drop(columns=dropped)
    rows = sorted(hashlib.sha256(json.dumps([str(v).replace(home, "{home}") for v in row]).encode()).hexdigest()
                  for row in frame.itertuples(index=False))
    return {"rows": len(rows), "columns": sorted(frame.columns), "left_out": dropped,
            "sha256": hashlib.sha256("".join(rows).encode()).hexdigest()}


def lake_checksums() -> dict[str, dict[str, Any]]:
    settings = get_settings()
    catalog = load_catalog(settings)
    known = {ns[0] for ns in catalog.list_namespaces()}
    return {".".join(ident): table_checksum(catalog.load_table(ident), str(settings.home))
            for ns in NAMESPACES if ns in known for ident in sorted(catalog.list_tables(ns))}


def compare(ours: dict[str, Any], theirs: dict[str, Any], must_match: tuple[str, ...]) -> bool:
    """Print one line per table; True when every table of ``must_match`` namespaces is identical."""
    ok = True
    for name in sorted(set(ours) | set(theirs)):
        a, b = theirs.get(name), ours.get(name)
        same = a is not None and b is not None and a["sha256"] == b["sha256"]
        rows = f"{a['rows'] if a else '-'} / {b['rows'] if b else '-'} rows"
        print(f"{name:32} {'same' if same else 'DIFFERENT':9} {rows}")
        if not same and name.split(".")[0] in must_match:
            ok = False
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="checksums of the reference lake (JSON from an earlier run)")
    parser.add_argument("--must-match", default="silver,quarantine,gold",
                        help="namespaces whose tables must be identical (comma-separated)")
    args = parser.parse_args()
    ours = lake_checksums()
    if args.against is None:
        json.dump(ours, sys.stdout, indent=1)
        return 0
    theirs = json.loads(args.against.read_text())
    return 0 if compare(ours, theirs, tuple(args.must_match.split(","))) else 1


if __name__ == "__main__":
    sys.exit(main())
