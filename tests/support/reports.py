"""Reading run reports back in tests: the embedded chart images of a page."""

from __future__ import annotations

import base64
import datetime as dt
import re
from typing import Any

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def images(document: str) -> list[bytes]:
    """Decoded PNG bytes of every embedded chart (``<img src="data:image/png;base64,...">``) of a page."""
    return [base64.b64decode(data) for data in re.findall(r'<img [^>]*src="data:image/png;base64,([^"]+)"', document)]


def assert_charts(document: str, count: int) -> None:
    """The page embeds exactly ``count`` charts, each a non-trivial PNG."""
    found = images(document)
    assert len(found) == count, f"{len(found)} charts, expected {count}"
    assert all(png.startswith(PNG_MAGIC) and len(png) > 2000 for png in found)



def read_run_report(settings: Any, dag_run: Any, day: dt.date) -> str:
    """The report a finished DAG run stored for logical date ``day``: its report task returned the stable
    location (``{"report": uri, ...}`` as XCom), ``lakehouse reports`` lists it; returned as text."""
    from lakehouse import reports, storage
    from tests.support.airflow import xcom_value

    uri = reports.report_uri(settings, reports.RunInfo(dag_run.dag_id, day, dag_run.run_id))
    summary = xcom_value(dag_run, "report")
    assert summary["report"] == uri and summary["charts"] > 0, summary
    assert uri in [e.uri for e in reports.list_reports(settings, dag_run.dag_id, day)]
    return storage.read_bytes(settings, uri).decode("utf-8")
