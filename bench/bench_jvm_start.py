"""Fixed cost of one Spark task with and without the driver's class-data sharing archive (lakehouse.jvm).

Each run is a whole process, as a `spark-submit` task is: `lakehouse smoke` (start the driver JVM and
the Iceberg catalog, write a day of raw.smoke_events through the one write path, read it back).
Runs alternate archive on / off in one lake so both see the same machine load; the result is the
median of each and their ratio, with the load average before and after.

    .venv/bin/python bench/bench_jvm_start.py --pairs 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def timed_smoke(env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "lakehouse"), "smoke"], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--out", default="/tmp/bench-jvm-start.json")
    args = parser.parse_args()

    from lakehouse import jvm
    from lakehouse.settings import LakehouseSettings

    archive = jvm.build_archive(LakehouseSettings())
    home = tempfile.mkdtemp(prefix="bench-jvm-")
    base = {**os.environ, "LAKEHOUSE_HOME": home, "LAKEHOUSE_PROFILE": "local"}
    subprocess.run([str(Path(sys.executable).parent / "lakehouse"), "init"], env=base, check=True,
                   stdout=subprocess.DEVNULL)
    timed_smoke(base)  # warm the OS page cache for both variants
    load_before = os.getloadavg()
    times: dict[str, list[float]] = {"archive": [], "no_archive": []}
    for _ in range(args.pairs):
        times["no_archive"].append(timed_smoke({**base, "LAKEHOUSE_SPARK__CLASS_DATA_SHARING": "false"}))
        times["archive"].append(timed_smoke(base))
    result = {
        "archive": str(archive), "archive_mb": round(archive.stat().st_size / 1e6),
        "median_s": {k: round(statistics.median(v), 2) for k, v in times.items()},
        "runs_s": {k: [round(x, 2) for x in v] for k, v in times.items()},
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()], "cpus": os.cpu_count(),
    }
    result["ratio_archive_over_none"] = round(result["median_s"]["archive"] / result["median_s"]["no_archive"], 2)
    Path(args.out).write_text(json.dumps(result, indent=2))
    print(json.dumps(result))
    print(f"ratio_archive_over_none={result['ratio_archive_over_none']}")


if __name__ == "__main__":
    main()
