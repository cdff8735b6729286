"""Fixtures for the API tests: the real app (its lifespan run in-process) over httpx's ASGI transport,
against the session's PostgreSQL, Temporal dev server and QBO emulator."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.helpers import eventually
from tests.qbo.emu import EmulatorAdmin


@pytest.fixture
def api_settings(settings, temporal_env):
    return settings.model_copy(update={"temporal_address": temporal_env.client.service_client.config.target_host,
                                       "sync_interval_seconds": 3600})


@asynccontextmanager
async def running_app(settings, task_queue: str, **options: Any) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    """`options`: further keyword arguments of `create_app` (e.g. `retry_every`)."""
    from api.app import create_app

    app = create_app(settings, task_queue=task_queue, **options)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://api", timeout=60) as http:
            yield app, http


@asynccontextmanager
async def served_app(settings, task_queue: str) -> AsyncIterator[str]:
    """The real app behind a real uvicorn server configured as `python -m api` does; yields its base URL."""
    import asyncio
    import socket

    import uvicorn

    from api.__main__ import uvicorn_config
    from api.app import create_app
    from tests.helpers import eventually

    server = uvicorn.Server(uvicorn_config(create_app(settings, task_queue=task_queue), settings, "127.0.0.1"))
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await eventually(lambda: asyncio.sleep(0, server.started or serving.done()), timeout=60,
                         what="uvicorn to start")
        assert not serving.done(), "uvicorn stopped during startup"
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await serving


@pytest.fixture
async def app_client(api_settings, task_queue) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(api_settings, task_queue) as (_, http):
        yield http


@pytest.fixture
async def emu(emulator_url: str) -> AsyncIterator[EmulatorAdmin]:
    admin = EmulatorAdmin(emulator_url)
    yield admin
    await admin.aclose()


@pytest.fixture
def new_partner(app_client: httpx.AsyncClient) -> Callable[..., Awaitable[str]]:
    async def make(name: str = "") -> str:
        resp = await app_client.post("/partners", json={"name": name or f"Partner {uuid.uuid4().hex[:6]}"})
        assert resp.status_code == 201, resp.text
        return resp.json()["id"]

    return make


async def qbo_invoice(db_pool, partner_id: str, amount: str = "100.00", *, archived: bool = False) -> str:
    """A QBO-sourced invoice as the sync would have stored it."""
    realm = f"r{uuid.uuid4().hex[:8]}"
    iid = f"inv_{uuid.uuid4().hex[:16]}"
    await db_pool.execute(
        "INSERT INTO invoices (id, partner_id, source, realm_id, qbo_id, amount, balance, currency, status, "
        "archived, doc_number) VALUES ($1, $2, 'qbo', $3, '101', $4, $4, 'USD', 'open', $5, '1001')",
        iid, partner_id, realm, Decimal(amount), archived)
    return iid


# What a running workflow's own bookkeeping (token refresh, sync cursor) may touch meanwhile.
_VOLATILE = {"updated_at", "last_synced_at", "cdc_cursor", "last_full_sweep_at", "access_token_enc",
             "refresh_token_enc", "access_expires_at", "refresh_expires_at", "refresh_hard_expires_at",
             "token_version", "token_key_id"}


async def snapshot(db_pool, partner_id: str) -> dict[str, Any]:
    """Everything a bad request must leave unchanged (all partners' rows: nothing may leak elsewhere)."""
    tables = ["customers", "invoices", "payments", "payouts", "payout_payments", "refunds", "payout_refunds",
              "qbo_connections", "partners"]
    out: dict[str, Any] = {}
    for table in tables:
        rows = await db_pool.fetch(f"SELECT * FROM {table} ORDER BY 1")  # noqa: S608
        out[table] = [{k: v for k, v in dict(r).items() if k not in _VOLATILE} for r in rows]
    return out


def assert_error(resp: httpx.Response, status: int, code: str | None = None, needle: str = "") -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"], body
    if code:
        assert body["error"]["code"] == code, body
    if needle:
        assert needle in body["error"]["message"], body
    return body["error"]


# --- a partner connected through the real OAuth flow, onboarded by the real workflow -------------------

@pytest.fixture
async def worker(api_settings, task_queue, temporal_env, db_pool) -> AsyncIterator[None]:
    from qbo.client import QboApi
    from worker import build_worker

    qbo = QboApi(api_settings, db_pool)
    try:
        async with build_worker(temporal_env.client, db_pool, qbo, task_queue=task_queue):
            yield
    finally:
        await qbo.aclose()


async def oauth_round_trip(http: httpx.AsyncClient, pid: str, realm: str) -> httpx.Response:
    """What the dashboard and the browser do: ask for the URL, consent at the emulator, land on the callback.
    `http` is that browser: it carries the cookie `connect` set back to the callback."""
    resp = await http.post(f"/partners/{pid}/qbo/connect")
    assert resp.status_code == 200, resp.text
    url = resp.json()["authorize_url"]
    assert "state=" in url
    async with httpx.AsyncClient(follow_redirects=False) as browser:
        consent = await browser.get(f"{url}&realmId={realm}")
    assert consent.status_code == 302, consent.text
    callback = urlsplit(consent.headers["location"])
    assert callback.path == "/oauth/qbo/callback" and "realmId=" in callback.query
    return await http.get(f"{callback.path}?{callback.query}")


@pytest.fixture
async def connected(app_client, new_partner, emu, db_pool, worker) -> dict:
    """A partner connected through the API's OAuth flow, onboarded by the real workflow."""
    pid = await new_partner()
    realm = await emu.create_company(customers=3, invoices=3)
    done = await oauth_round_trip(app_client, pid, realm)
    assert done.status_code == 200 and "started" in done.text, done.text

    async def active() -> dict | None:
        body = (await app_client.get(f"/partners/{pid}/qbo")).json()
        ready = body["state"] == "active" and body["source"] == "workflow" and body["last_synced_at"]
        assert ready, body
        return body

    status = await eventually(active, timeout=90, what="the partner to become active and finish a cycle")
    return {"pid": pid, "realm": realm, "status": status}


async def reconciled(http: httpx.AsyncClient, pid: str) -> dict:
    """Request a reconciliation run (PRODUCT.md §6) and wait for the partner's workflow to finish it."""
    asked = await http.post(f"/partners/{pid}/qbo/reconciliation")
    assert asked.status_code == 202, asked.text
    run_id = asked.json()["run_id"]

    async def finished() -> dict | None:
        body = (await http.get(f"/partners/{pid}/qbo/reconciliation")).json()
        assert body["run_id"] == run_id and body["status"] == "finished"
        return body

    return await eventually(finished, timeout=90, what=f"reconciliation run {run_id} to finish")
