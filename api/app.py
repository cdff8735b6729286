"""The FastAPI application: one pool, one Temporal client, created in the lifespan and shared by routes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from api import dashboard, metrics, oauth, partners, platform, webhooks
from api.body_limit import BodyLimit
from api.errors import install_error_handlers
from qbo.client import QboApi
from settings import TASK_QUEUE, Settings, get_settings
from starter.client import connect_temporal
from store.db import create_pool

log = logging.getLogger("api")


async def retry_loop(app: FastAPI, every: float = 15.0) -> None:
    """Finish, for as long as the API runs, what met Temporal down: webhook events not yet routed, and
    partner workflows an OAuth callback could not start."""
    while True:
        await asyncio.sleep(every)
        for step in (webhooks.route_pending, oauth.start_pending_workflows):
            with contextlib.suppress(Exception):
                await step(app)


def create_app(settings: Settings | None = None, *, task_queue: str = TASK_QUEUE,
               retry_every: float = 15.0) -> FastAPI:
    """`task_queue`: where new partner workflows start (tests use one per test); `retry_every`: seconds between
    turns of the retry loop (tests shorten it to watch the loop work)."""
    settings = settings or get_settings()
    settings.check_api()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.pool = await create_pool(settings.database_url, wait_seconds=60)
        app.state.task_queue = task_queue
        app.state.qbo = QboApi(settings, app.state.pool)
        try:
            app.state.temporal = await connect_temporal(settings, lazy=True)
            app.state.webhook_tasks = set()
            app.state.webhook_claimed = set()  # event ids a routing pass of this process is routing
            app.state.signals_in_flight = {}  # partner id → the outcome of the sync_now a pass is sending
            retry = asyncio.create_task(retry_loop(app, retry_every))
            try:
                yield
            finally:
                for task in [retry, *app.state.webhook_tasks]:
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.gather(retry, *app.state.webhook_tasks, return_exceptions=True)
        finally:
            await app.state.qbo.aclose()
            await app.state.pool.close()

    app = FastAPI(title="QBO integration service", version="0.1.0", lifespan=lifespan,
                  description="Dashboard API of the QuickBooks Online integration (PRODUCT.md §6). Amounts are "
                              "decimal strings with two places; errors are {\"error\": {\"code\", \"message\"}}.")
    install_error_handlers(app)
    app.add_middleware(BodyLimit)
    app.include_router(partners.router)
    app.include_router(platform.router)
    app.include_router(oauth.router)
    app.include_router(webhooks.router)
    app.include_router(metrics.router)
    if settings.dashboard_on:
        app.include_router(dashboard.router)

    @app.get("/healthz", tags=["ops"])
    async def healthz(request: Request) -> JSONResponse:
        """200 when the API, PostgreSQL and Temporal are reachable."""
        checks: dict[str, str] = {}
        try:
            async with request.app.state.pool.acquire() as conn:
                await conn.fetchval("SELECT 1")
            checks["postgres"] = "ok"
        except Exception as exc:  # report, don't crash: this is the health endpoint
            checks["postgres"] = f"error: {type(exc).__name__}"
        try:
            await request.app.state.temporal.service_client.check_health()
            checks["temporal"] = "ok"
        except Exception as exc:
            checks["temporal"] = f"error: {type(exc).__name__}"
        healthy = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ok" if healthy else "unavailable", "checks": checks},
                            status_code=200 if healthy else 503)

    return app
