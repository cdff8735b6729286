"""Dependencies shared by the routers: the API_KEY bearer check and typed access to app state."""

from __future__ import annotations

import hmac
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from temporalio.client import Client

from api.errors import ApiError, not_found
from store import platform_repo as repo


def require_api_key(request: Request) -> None:
    """When API_KEY is set, `Authorization: Bearer <key>` with any of its keys is required (PRODUCT.md §6).
    Every key is compared, each in constant time, so neither a key nor which key matched can be guessed
    from response times."""
    keys = request.app.state.settings.api_keys
    if not keys:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    given = token.strip().encode()
    matches = [hmac.compare_digest(given, key.get_secret_value().encode()) for key in keys]
    if scheme.lower() != "bearer" or not any(matches):
        raise ApiError(401, "unauthorized", "missing or wrong bearer token: send 'Authorization: Bearer <API_KEY>'",
                       headers={"WWW-Authenticate": "Bearer"})


def pool(request: Request) -> asyncpg.Pool:
    db: asyncpg.Pool = request.app.state.pool
    return db


def temporal(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


async def existing_partner(pid: str, request: Request) -> str:
    """The path's partner id, or 404 before anything is read or written."""
    if not await repo.partner_exists(request.app.state.pool, pid):
        raise not_found(f"partner {pid}")
    return pid


Pool = Annotated[asyncpg.Pool, Depends(pool)]
Temporal = Annotated[Client, Depends(temporal)]
PartnerId = Annotated[str, Depends(existing_partner)]
