"""The token store's branches no other test reaches (issue 18): a refresh inside the margin, a stored token that
can't be decrypted, an outage of Intuit's token endpoint that leaves the stored tokens as they were, and a
revoke that fails and so keeps them. Real PostgreSQL, the emulator over HTTP; the outage is the emulator's
`oauth_fault_status` switch (per realm)."""

from __future__ import annotations

import base64
import os

import pytest
from prometheus_client import REGISTRY

from qbo.crypto import TokenCipher
from qbo.errors import QboAuthError, QboServerError

_ROW = ("SELECT state, access_token_enc, refresh_token_enc, token_key_id, access_expires_at, token_version "
        "FROM qbo_connections WHERE partner_id = $1")


async def _row(db_pool, partner: str) -> dict:
    return dict(await db_pool.fetchrow(_ROW, partner))


async def _expires_in(db_pool, partner: str, minutes: int) -> None:
    await db_pool.execute("UPDATE qbo_connections SET access_expires_at = now() + make_interval(mins => $2) "
                          "WHERE partner_id = $1", partner, minutes)


def _failed_refreshes() -> float:
    return REGISTRY.get_sample_value("qbo_token_refreshes_total", {"outcome": "error"}) or 0.0


async def _refresh_grants(emu, realm: str) -> int:
    return sum(t["kind"] == "refresh" for t in await emu.issued_tokens(realm))


async def test_an_access_token_inside_the_refresh_margin_is_refreshed_first(connect, emu, api, db_pool) -> None:
    """The margin is 5 minutes: a token with 10 left is used as is, one with 2 left is refreshed before use
    (an activity must not start a QBO call with a token that expires in the middle of it)."""
    company = await connect(customers=1, invoices=0)
    assert api.tokens.refresh_margin.total_seconds() == 300
    version = (await _row(db_pool, company.partner_id))["token_version"]
    await _expires_in(db_pool, company.partner_id, 10)
    kept = await api.tokens.get_access_token(company.partner_id)
    assert kept.version == version and await _refresh_grants(emu, company.realm_id) == 1
    await _expires_in(db_pool, company.partner_id, 2)
    refreshed = await api.tokens.get_access_token(company.partner_id)
    assert refreshed.version == version + 1 and await _refresh_grants(emu, company.realm_id) == 2
    assert refreshed.token.get_secret_value() != kept.token.get_secret_value()
    assert (await _row(db_pool, company.partner_id))["access_expires_at"] == refreshed.expires_at


async def test_a_stored_token_that_cannot_be_decrypted_is_an_auth_error(connect, api, db_pool) -> None:
    """A token encrypted under a key this process doesn't have (a key retired too early): QboAuthError, not a
    crash and not a refresh with garbage; the partner reconnects. Nothing is written over the row."""
    company = await connect(customers=1, invoices=0)
    stranger = TokenCipher("gone:" + base64.urlsafe_b64encode(os.urandom(32)).decode())
    for kind in ("access", "refresh"):
        await db_pool.execute(f"UPDATE qbo_connections SET {kind}_token_enc = $2 WHERE partner_id = $1",
                              company.partner_id, stranger.encrypt("tok", f"{company.partner_id}:{kind}"))
    before = await _row(db_pool, company.partner_id)
    with pytest.raises(QboAuthError, match="stored access token cannot be decrypted") as fresh:
        await api.tokens.get_access_token(company.partner_id)
    assert "not configured" in fresh.value.message and not fresh.value.retryable
    await _expires_in(db_pool, company.partner_id, 0)  # now the refresh token must be read
    with pytest.raises(QboAuthError, match="stored refresh token cannot be decrypted"):
        await api.tokens.get_access_token(company.partner_id)
    after = await _row(db_pool, company.partner_id)
    assert {k: after[k] for k in ("access_token_enc", "refresh_token_enc", "token_version", "state")} == \
        {k: before[k] for k in ("access_token_enc", "refresh_token_enc", "token_version", "state")}


async def test_a_token_endpoint_outage_leaves_the_stored_tokens_intact(connect, emu, api, db_pool) -> None:
    """Intuit answers 503 to the refresh: a retryable error (Temporal retries the activity), counted as an
    `error` refresh, and the row (ciphertexts, version, expiry) is exactly as before, so the next attempt
    refreshes with the same refresh token once Intuit is back."""
    company = await connect(customers=1, invoices=0)
    await _expires_in(db_pool, company.partner_id, 0)
    before = await _row(db_pool, company.partner_id)
    errors = _failed_refreshes()
    await emu.config(company.realm_id, oauth_fault_status=503)
    try:
        with pytest.raises(QboServerError) as outage:
            await api.tokens.get_access_token(company.partner_id)
        assert outage.value.retryable and outage.value.status == 503
        assert _failed_refreshes() == errors + 1
        assert await _row(db_pool, company.partner_id) == before
    finally:
        await emu.config(company.realm_id, oauth_fault_status=0)
    token = await api.tokens.get_access_token(company.partner_id)
    assert token.version == before["token_version"] + 1
    assert (await company.company_info()).CompanyName


async def test_a_failed_revoke_keeps_the_tokens_for_the_next_attempt(connect, emu, api, db_pool) -> None:
    """Disconnect while Intuit's revoke endpoint is down: the error is raised (retryable) and nothing is
    forgotten, so the retry can still revoke the grant; forgetting tokens that were never revoked would leave
    the app's access to the company open with no way to close it."""
    company = await connect(customers=1, invoices=0)
    before = await _row(db_pool, company.partner_id)
    await emu.config(company.realm_id, oauth_fault_status=503)
    try:
        with pytest.raises(QboServerError):
            await api.tokens.disconnect(company.partner_id)
        assert await _row(db_pool, company.partner_id) == before
        assert not any(t["revoked"] for t in await emu.issued_tokens(company.realm_id))
    finally:
        await emu.config(company.realm_id, oauth_fault_status=0)
    await api.tokens.disconnect(company.partner_id)
    after = await _row(db_pool, company.partner_id)
    assert after["state"] == "disconnected" and after["refresh_token_enc"] is None
    assert all(t["revoked"] for t in await emu.issued_tokens(company.realm_id))
