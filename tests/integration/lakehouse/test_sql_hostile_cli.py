"""`lakehouse sql` as an attacker uses it: every hostile statement is refused with one line, nothing changes.

Each statement below was accepted by the earlier text-based guard and did something Spark's parser
allows: nested block comments, raw string literals and backslash-continued ``--`` comments hid a write
from the guard; ``reflect``/``java_method`` ran static JVM methods; ``format.`path``` read local
files; ``${...}`` substitution printed environment secrets. The CLI runs in its own process (a JVM of
its own), on a lake of its own, so a statement that gets through cannot damage other tests.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from lakehouse.catalog import list_tables
from tests.conftest import make_local_settings
from tests.support.cli import LAKEHOUSE, run_cli

SECRET = f"dummy-secret-{uuid.uuid4().hex}"
PASSWORD = f"dummy-password-{uuid.uuid4().hex}"


def hostile_statements(tmp: Path) -> dict[str, str]:
    """Statement per attack class; ``tmp`` receives any file a statement manages to create."""
    return {
        "nested block comment hides a DELETE": "/* /* */ SELECT */ DELETE FROM raw.smoke_events",
        "raw string literal hides an INSERT": (
            "WITH x AS (SELECT r'\\' AS a) INSERT INTO raw.smoke_events SELECT * FROM raw.smoke_events --'"),
        "backslash-continued comment hides an INSERT": (
            "WITH x AS (SELECT 1 AS a) -- \\\n'\nINSERT INTO raw.smoke_events SELECT * FROM raw.smoke_events -- '"),
        "reflect creates a symlink": (
            f"SELECT reflect('org.apache.hadoop.fs.FileUtil', 'symLink', '/etc/passwd', '{tmp}/link')"),
        "java_method changes permissions": (
            f"SELECT java_method('org.apache.hadoop.fs.FileUtil', 'chmod', '{tmp}/victim', '777')"),
        "reflect in a subquery reads the environment": (
            "SELECT * FROM raw.smoke_events WHERE sensor IN "
            "(SELECT reflect('java.lang.System', 'getenv', 'AWS_SECRET_ACCESS_KEY'))"),
        "path-based source reads a local file": "SELECT * FROM text.`file:///etc/passwd`",
        "path-based source without a scheme": "SELECT * FROM json.`/etc/hostname`",
        "script transform runs a shell command": f"SELECT TRANSFORM(1) USING 'touch {tmp}/transformed' AS (a)",
        "insert into a local directory": f"INSERT OVERWRITE DIRECTORY '{tmp}/dir' USING csv SELECT 1",
        "multi-insert": "FROM raw.smoke_events INSERT INTO raw.smoke_events SELECT *",
        "cache table": "CACHE TABLE c AS SELECT * FROM raw.smoke_events",
        "add jar": f"ADD JAR {tmp}/x.jar",
        "configuration change": "SET spark.sql.variable.substitute=true",
        "call a procedure": "CALL lakehouse.system.expire_snapshots('raw.smoke_events')",
        "create a branch": "ALTER TABLE raw.smoke_events CREATE BRANCH b1",
        "describe query with reflection": (
            "DESCRIBE QUERY SELECT java_method('java.lang.System', 'getenv', 'AWS_SECRET_ACCESS_KEY')"),
    }


@pytest.fixture(scope="module")
def lake(tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_local_settings(tmp_path_factory.mktemp("sql-hostile"))
    result = run_cli(["demo", "--date", "2023-08-15"], settings)
    assert result.returncode == 0, result.stderr
    return settings


def _snapshots(settings) -> dict[str, int | None]:  # type: ignore[no-untyped-def]
    return {t.identifier: t.snapshot_id for t in list_tables(settings)}


def test_hostile_statements_are_refused_one_line_each_without_side_effects(lake, tmp_path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("x")
    victim.chmod(0o600)
    statements = hostile_statements(tmp_path)
    before = _snapshots(lake)
    # One interactive session (one JVM) for the whole table; each statement is ended on its own line
    # so that a trailing comment cannot swallow the terminator.
    session = "".join(f"{sql}\n;\n" for sql in statements.values())
    # `${...}` is no variable any more: the literal text comes back, never the secret it names.
    session += "SELECT '${env:AWS_SECRET_ACCESS_KEY}' AS s;\nexit\n"
    env = {"AWS_SECRET_ACCESS_KEY": SECRET, "AWS_ACCESS_KEY_ID": "dummy-key-id"}
    result = run_cli(["sql"], lake, env=env, stdin=session)
    assert result.returncode == 0, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == len(statements), "\n".join(errors)
    assert all("Exception" not in e and "\tat " not in e for e in errors), errors
    assert SECRET not in result.stdout + result.stderr
    assert "${env:AWS_SECRET_ACCESS_KEY}" in result.stdout
    assert "root:" not in result.stdout
    assert _snapshots(lake) == before
    assert not (tmp_path / "link").exists() and not (tmp_path / "link").is_symlink()
    assert victim.stat().st_mode & 0o777 == 0o600
    assert not (tmp_path / "transformed").exists() and not (tmp_path / "dir").exists()


@pytest.mark.parametrize("sql", [
    "/* /* */ SELECT */ DELETE FROM raw.smoke_events",
    "SELECT reflect('java.lang.System', 'getenv', 'AWS_SECRET_ACCESS_KEY')",
])
def test_argument_mode_refuses_with_exit_1(lake, sql: str) -> None:
    before = _snapshots(lake)
    result = run_cli(["sql", sql], lake, env={"AWS_SECRET_ACCESS_KEY": SECRET})
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert SECRET not in result.stdout + result.stderr
    assert _snapshots(lake) == before


def _all_command_lines() -> str:
    out = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                out.append((proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace"))
            except OSError:
                continue
    return "\n".join(out)


def test_catalog_password_never_on_a_command_line(lake) -> None:
    """The JVM behind `lakehouse sql` is alive while we sample every process's argv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOUSE_")}
    env.update(lake.to_env())
    env["LAKEHOUSE_CATALOG__PASSWORD"] = PASSWORD
    proc = subprocess.Popen([LAKEHOUSE, "sql"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("SELECT count(*) AS n FROM raw.smoke_events;\n")
        proc.stdin.flush()
        deadline = time.monotonic() + 240
        seen = ""
        while "(1 row" not in seen and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            seen += line
        assert "(1 row" in seen, seen
        assert PASSWORD not in _all_command_lines()
        proc.stdin.write("SET;\nexit\n")
        proc.stdin.flush()
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert PASSWORD not in seen + out + err
