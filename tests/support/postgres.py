"""A throw-away PostgreSQL server on 127.0.0.1 for the `cluster` profile's catalog."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.servers import free_port


def postgres_bin() -> str | None:
    """Directory of the newest installed PostgreSQL server binaries (Debian layout), if any."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return os.path.dirname(candidates[-1]) if candidates else None


@contextmanager
def postgres_server(database: str = "lakehouse", user: str = "lakehouse",
                    password: str = "test-password") -> Iterator[str]:
    """Start initdb + postgres on a free port; yield 'host:port'. Runs as the postgres user when root."""
    bindir = postgres_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries not found (apt-get install postgresql)")
    data = tempfile.mkdtemp(prefix="lakehouse-pg-")
    as_user: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(data, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    port = free_port()
    pwfile = os.path.join(data, "pw")

    def run(*cmd: str) -> None:
        subprocess.run([*as_user, *cmd], check=True, capture_output=True, text=True)

    run("sh", "-c", f"echo {password} > {pwfile}")
    run(f"{bindir}/initdb", "-D", f"{data}/db", "-U", user, "--pwfile", pwfile, "-A", "scram-sha-256")
    run(f"{bindir}/pg_ctl", "-D", f"{data}/db", "-l", f"{data}/log", "-w", "-o",
        f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start")
    try:
        env = {**os.environ, "PGPASSWORD": password}
        subprocess.run([f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", user, database],
                       check=True, capture_output=True, env=env)
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([*as_user, f"{bindir}/pg_ctl", "-D", f"{data}/db", "-m", "immediate", "stop"],
                       capture_output=True, check=False)
        shutil.rmtree(data, ignore_errors=True)
