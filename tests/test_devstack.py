"""`make run`'s supervisor as a new user meets it: healthy, Ctrl-C leaves nothing behind, a second start
reuses the data, and a child that dies is reported rather than hidden."""

from __future__ import annotations

import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import httpx
import psutil
import pytest

from store.embedded import free_ports
from tests.helpers import wait_until

ROOT = Path(__file__).resolve().parents[1]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def devstack_env(stack_dir):
    names = ("API_PORT", "EMBEDDED_PG_PORT", "TEMPORAL_DEV_PORT", "TEMPORAL_UI_PORT", "EMULATOR")
    ports = dict(zip(names, free_ports(len(names)), strict=True))  # distinct: one at a time may repeat
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEMPORAL_ADDRESS")}
    env.update({k: str(v) for k, v in ports.items() if k != "EMULATOR"})
    env.update(QBO_DATA_DIR=str(stack_dir / "devdata"), QBO_EMULATOR_URL=f"http://127.0.0.1:{ports['EMULATOR']}")
    # The worker's two metrics ports (base, base + 1) too: `make run`'s fixed 9464 collides with another
    # suite's devstack test running beside this one (README "Tests": suites run side by side).
    metrics = _free_pair(set(ports.values()))
    env["WORKER_METRICS_PORT"] = str(metrics)
    return env, [*ports.values(), metrics, metrics + 1]


def _free_pair(taken: set[int]) -> int:
    """A free port whose successor is free too (the worker binds base and base + 1)."""
    while True:
        (base,) = free_ports(1)
        if {base, base + 1} & taken:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", base + 1))
            except OSError:
                continue
        return base


def _run_once(env: dict[str, str], ports: list[int], log_path: Path) -> None:
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "devstack"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: proc.poll() is not None or b"service is up" in log_path.read_bytes(), timeout=120,
                   what="the banner")
        assert proc.poll() is None, log_path.read_text()
        health = httpx.get(f"http://127.0.0.1:{env['API_PORT']}/healthz", timeout=5)
        assert health.status_code == 200 and health.json()["checks"] == {"postgres": "ok", "temporal": "ok"}
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 5  # temporal, postgres, emulator, worker, api
        page = re.search(r"dashboard\s+(http://\S+/dashboard/partners/\S+)", log_path.read_text())
        assert page, "the banner prints the demo partner's Integrations page"
        shown = httpx.get(page.group(1), timeout=30)
        assert shown.status_code == 200 and "Demo MSP" in shown.text, shown.text[:500]
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0, log_path.read_text()
    assert not any(c.is_running() and c.status() != psutil.STATUS_ZOMBIE for c in children)
    assert not [p for p in ports if _listening(p)]


def test_make_run_starts_healthy_stops_clean_and_restarts(devstack_env, tmp_path):
    env, ports = devstack_env
    _run_once(env, ports, tmp_path / "first.log")
    _run_once(env, ports, tmp_path / "second.log")
    assert "migrations applied: none (up to date)" in (tmp_path / "second.log").read_text()
    # Temporal's history survived the restart in SQLite's write-ahead-log mode (devstack/temporal.py).
    with closing(sqlite3.connect(Path(env["QBO_DATA_DIR"]) / "temporal.db")) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_dying_child_stops_the_stack_loudly(devstack_env, tmp_path):
    env, ports = devstack_env
    log_path = tmp_path / "run.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "devstack"], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: proc.poll() is not None or b"service is up" in log_path.read_bytes(), timeout=120,
                   what="the banner")
        emulator = next(c for c in psutil.Process(proc.pid).children(recursive=True)
                        if "qbo_emulator" in " ".join(c.cmdline()))
        emulator.kill()
        assert proc.wait(60) == 1
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "!!! emulator exited" in log_path.read_text()
    assert not [p for p in ports if _listening(p)]


def test_the_oauth_redirect_comes_back_to_this_stacks_api(tmp_path, monkeypatch):
    from devstack.stack import LocalStack, StackConfig

    monkeypatch.delenv("QBO_REDIRECT_URI", raising=False)
    stack = LocalStack(StackConfig.ephemeral(tmp_path))
    assert stack.env["QBO_REDIRECT_URI"] == f"{stack.api_url}/oauth/qbo/callback"
    monkeypatch.setenv("QBO_REDIRECT_URI", "https://dashboard.example.com/oauth/qbo/callback")
    assert LocalStack(StackConfig.ephemeral(tmp_path)).env["QBO_REDIRECT_URI"].startswith("https://dashboard.")
