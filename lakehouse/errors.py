"""User-facing errors: one readable line instead of a Java stack trace."""

from __future__ import annotations

import functools
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar


class LakehouseError(Exception):
    """An error whose message is meant for the person running the command."""


class DataQualityError(LakehouseError):
    """A data-quality gate failed; nothing was published."""


# Exit status of a failed data-quality gate: retrying cannot help (the same rows fail again), so
# Airflow fails such a task at once instead of retrying it (lakehouse.orchestration).
DATA_QUALITY_EXIT = 3
INTERRUPTED_EXIT = 130


@contextmanager
def one_line_errors(prefix: str = "", passthrough: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
    """The one way lakehouse entry points (jobs, CLI, training) fail: an exception in the block becomes
    ``error: <prefix><one readable line>`` on stderr and a non-zero exit status: ``DATA_QUALITY_EXIT``
    for a failed quality gate, 130 for Ctrl-C, 1 otherwise. ``SystemExit`` passes through."""
    try:
        yield
    except (SystemExit, *passthrough):
        raise
    except KeyboardInterrupt:
        print(f"error: {prefix}interrupted", file=sys.stderr)
        raise SystemExit(INTERRUPTED_EXIT) from None
    except Exception as exc:
        print(f"error: {prefix}{explain(exc)}", file=sys.stderr)
        raise SystemExit(DATA_QUALITY_EXIT if isinstance(exc, DataQualityError) else 1) from None


# (pattern in the exception text, readable explanation). Order matters: first match wins.
# "{endpoint}" in an explanation is replaced by the S3 endpoint this process uses (see note_context), or
# left out when none was noted.
F = TypeVar("F", bound=Callable[..., Any])


def friendly(func: F) -> F:
    """A CLI command that fails like every entry point: one readable line on stderr, non-zero exit."""
    import click

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with one_line_errors(passthrough=(click.exceptions.Exit, click.exceptions.Abort)):
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


_KNOWN_CAUSES: list[tuple[str, str]] = [
    (r"UnknownHostException|Name or service not known|nodename nor servname",
     "S3 endpoint host cannot be resolved: check LAKEHOUSE_S3__ENDPOINT_URL"),
    (r"Connection refused|ConnectException|Could not connect to the endpoint URL|connect timed out|curlCode: 7,",
     "S3 endpoint {endpoint} is unreachable: is the object store running? (LAKEHOUSE_S3__ENDPOINT_URL)"),
    # S3A (AWS SDK v1), boto3 and pyarrow (curl) after every attempt: the store accepted the request but
    # never answered, or closed the connection without an answer.
    (r"Unable to execute HTTP request: (Read timed out|.*failed to respond|Connection reset)|"
     r"AWSNoResponseException|NoHttpResponseException|Read timeout on endpoint URL|"
     r"Connection was closed before we received a valid response|curlCode: (28|52|56),",
     "S3 endpoint {endpoint} stopped answering (no response within LAKEHOUSE_S3__REQUEST_TIMEOUT_S in "
     "LAKEHOUSE_S3__MAX_ATTEMPTS attempts): is the object store overloaded or hung? Rerun once it answers"),
    (r"AWSServiceThrottledException|<Code>SlowDown</Code>|Error Code: SlowDown|\(SlowDown\)|"
     r"Please reduce your request rate|AWS Error (SLOW_DOWN|SERVICE_UNAVAILABLE|UNKNOWN \(HTTP status 503\))",
     "S3 endpoint {endpoint} kept throttling requests (503 SlowDown) through LAKEHOUSE_S3__MAX_ATTEMPTS "
     "attempts: rerun later, or raise LAKEHOUSE_S3__MAX_ATTEMPTS"),
    (r"InvalidAccessKeyId|SignatureDoesNotMatch|AccessDenied|403 Forbidden|Status Code: 403",
     "S3 rejected the credentials: check LAKEHOUSE_S3__ACCESS_KEY_ID / LAKEHOUSE_S3__SECRET_ACCESS_KEY"),
    (r"NoSuchBucket|bucket does not exist|Bucket does not exist",
     "S3 bucket does not exist: create it or fix the warehouse setting"),
    (r"database is locked|SQLITE_BUSY",
     "catalog database is locked by another process: wait for it to finish or use the PostgreSQL catalog"),
    (r"Found conflicting files|Found new conflicting delete files|Found conflicting deleted files|"
     r"Missing required files to delete",
     "commit conflict: another run changed the same rows of this table and date while this one ran; "
     "nothing was committed by this attempt: retry it"),
    (r"is not an ancestor|Cannot fast-forward",
     "main moved after this run staged its data (another run published in between): rerun this run"),
    (r"ClassNotFoundException: org\.apache\.iceberg|Cannot find catalog plugin class",
     "Iceberg jars are missing from the Spark classpath: run `make jars`"),
    (r"ClassNotFoundException: org\.sqlite|No suitable driver found for jdbc:sqlite",
     "SQLite JDBC driver is missing: run `make jars`"),
]

_SPARK_ERROR_CLASS = re.compile(r"\[([A-Z_]+(?:\.[A-Z_]+)?)\]\s*(.*)")
# What explanations may name, noted by the code that knows it (``endpoint``: lakehouse.storage.check_s3
# notes the S3 endpoint before a job touches S3), since a Java "Read timed out" does not say where.
_CONTEXT: dict[str, str] = {}


def note_context(**values: str) -> None:
    """Remember values that explanations name in this process (``endpoint``: the S3 endpoint URL)."""
    _CONTEXT.update(values)


def explain(exc: BaseException) -> str:
    """Return one line describing ``exc`` for a person, without Java frames."""
    if isinstance(exc, LakehouseError):
        return str(exc)
    text = _exception_text(exc)
    for pattern, message in _KNOWN_CAUSES:
        if re.search(pattern, text):
            endpoint = _CONTEXT.get("endpoint")
            return message.replace("{endpoint}", endpoint) if endpoint else message.replace(" {endpoint}", "")
    first = _first_meaningful_line(text)
    return first or exc.__class__.__name__


def _exception_text(exc: BaseException) -> str:
    parts = [str(exc)]
    cause = exc.__cause__ or exc.__context__
    depth = 0
    while cause is not None and depth < 5:
        parts.append(str(cause))
        cause = cause.__cause__ or cause.__context__
        depth += 1
    return "\n".join(parts)


def _first_meaningful_line(text: str) -> str:
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("at ", "...", "JVM stacktrace", "Traceback")):
            continue
        line = re.sub(r"^(py4j\.protocol\.)?Py4JJavaError: ", "", line)
        line = re.sub(r"^An error occurred while calling [\w.]+\.\s*", "", line)
        line = re.sub(r"^[a-z]+(\.[a-zA-Z0-9_$]+)+(Exception|Error): ", "", line)
        if not line or line.startswith(": "):
            line = line.lstrip(": ")
        if line:
            return line[:500]
    return ""
