"""Found by the chaos soak: while PostgreSQL restarted, API requests answered 500 internal_error. A database
refusing new connections is now a 503 `unavailable` with Retry-After (nothing reached it, nothing saved)."""

from __future__ import annotations

import asyncpg
import pytest

from store import platform_repo
from tests.api.conftest import api_settings, app_client  # noqa: F401  (fixtures)


@pytest.mark.parametrize("refusal", [asyncpg.CannotConnectNowError("the database system is shutting down"),
                                     ConnectionRefusedError(111, "Connect call failed")])
async def test_a_restarting_database_is_503_with_retry_after(app_client, monkeypatch, refusal) -> None:  # noqa: F811
    async def refused(*_args, **_kw):
        raise refusal

    monkeypatch.setattr(platform_repo, "partner_exists", refused)
    resp = await app_client.post("/partners/p_x/invoices/inv_x/payments", json={"amount": "1.00"})
    assert resp.status_code == 503, resp.text
    assert resp.headers["retry-after"] == "1"
    assert resp.json()["error"]["code"] == "unavailable" and "try again" in resp.json()["error"]["message"]
