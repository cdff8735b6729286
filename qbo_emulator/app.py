"""FastAPI app factory: routes, the `intuit_tid` header on every response, webhook sender lifecycle."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from qbo_emulator import admin, api, oauth
from qbo_emulator.state import Emulator


def create_app(db_path: Path | None) -> FastAPI:
    emu = Emulator(db_path)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await emu.webhooks.start()
        try:
            yield
        finally:
            await emu.webhooks.stop()
            emu.store.close()

    app = FastAPI(title="QBO emulator", lifespan=lifespan, docs_url="/_emulator/docs",
                  openapi_url="/_emulator/openapi.json", redoc_url=None)
    app.state.emu = emu

    @app.middleware("http")
    async def intuit_tid(request: Request, call_next) -> Response:  # noqa: ANN001
        """Every response carries a unique trace id (qbo-reference §1.3: `intuit_tid`)."""
        response = await call_next(request)
        tid = f"1-{uuid.uuid4().hex[:8]}-{uuid.uuid4().hex[:24]}"
        response.headers["intuit_tid"] = tid
        return response

    @app.exception_handler(404)
    async def not_found(request: Request, exc: Exception) -> Response:
        return JSONResponse({"error": f"not found: {request.url.path}"}, status_code=404)

    app.include_router(admin.router)
    app.include_router(oauth.router)
    app.include_router(api.router)
    return app
