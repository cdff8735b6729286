"""Servers keep idle connections open longer than the clients do.

With uvicorn's default (5 s) equal to httpx's `keepalive_expiry` (5 s), a client could send a request on a
connection the server was closing at that moment and get `httpx.ReadError` for a request never read: it
failed `tests/qbo/test_emulator_limits.py` once on a loaded machine (the admin call after a burst)."""

from __future__ import annotations

from types import SimpleNamespace

import httpx

from api.__main__ import uvicorn_config
from qbo_emulator.__main__ import server_config


def test_servers_outlive_the_clients_idle_connections() -> None:
    client_expiry = httpx.Limits().keepalive_expiry
    assert client_expiry is not None
    emulator = server_config(object(), "127.0.0.1", 0, "warning")
    api = uvicorn_config(object(), SimpleNamespace(api_port=0, log_level="WARNING"), "127.0.0.1")  # type: ignore[arg-type]
    assert emulator.timeout_keep_alive > 2 * client_expiry
    assert api.timeout_keep_alive > 2 * client_expiry
