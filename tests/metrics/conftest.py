"""The metrics tests reuse the API tests' real parts: the app in-process, the session's PostgreSQL, Temporal
dev server and QBO emulator, a partner connected through the real OAuth flow."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest

from tests.api.conftest import (  # noqa: F401  (fixtures)
    api_settings,
    app_client,
    connected,
    emu,
    new_partner,
    worker,
)


@pytest.fixture
def new_partner_factory() -> Callable[[httpx.AsyncClient], Awaitable[str]]:
    """`new_partner` for an app the test starts itself."""
    async def make(http: httpx.AsyncClient) -> str:
        resp = await http.post("/partners", json={"name": f"Metrics {uuid.uuid4().hex[:6]}"})
        assert resp.status_code == 201, resp.text
        return resp.json()["id"]

    return make
