"""Token lifecycle over real HTTP: OAuth connect, 401 refresh-and-retry, invalid_grant after revoke,
disconnect, hard expiry, and no secret in logs at DEBUG."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from qbo.errors import QboAuthError, to_application_error
from qbo.models import CompanyInfo
from tests.qbo.conftest import new_partner


async def oauth_connect(api, emu, db_pool, realm: str) -> str:
    """The dashboard flow: authorize URL → consent (emulator auto-approves with realmId) → callback → exchange."""
    partner = await new_partner(db_pool)
    url = await api.oauth.authorize_url(db_pool, partner)
    async with httpx.AsyncClient() as browser:
        consent = await browser.get(f"{url}&realmId={realm}")
    assert consent.status_code == 302
    callback = parse_qs(urlsplit(consent.headers["location"]).query)
    assert callback["realmId"] == [realm]
    assert await api.oauth.consume_state(db_pool, callback["state"][0]) == partner
    tokens = await api.oauth.exchange_code(callback["code"][0])
    await api.tokens.save_connection(partner, callback["realmId"][0], tokens)
    return partner


async def test_oauth_connect_tracks_hard_expiry(api, emu, db_pool) -> None:
    realm = await emu.create_company(customers=2, invoices=1)
    partner = await oauth_connect(api, emu, db_pool, realm)
    conn = await api.tokens.connection(partner)
    assert conn.realm_id == realm and conn.state == "onboarding"
    assert conn.refresh_hard_expires_at is not None and conn.refresh_hard_expires_at > datetime.now(UTC)
    assert conn.access_expires_at > datetime.now(UTC)
    assert isinstance(await api.company(partner).company_info(), CompanyInfo)
    row = await db_pool.fetchrow(
        "SELECT access_token_enc, refresh_token_enc, token_key_id FROM qbo_connections WHERE partner_id = $1",
        partner,
    )
    issued = await emu.issued_tokens(realm)
    for token in (t["token"] for t in issued):
        assert token.encode() not in bytes(row["access_token_enc"]) + bytes(row["refresh_token_enc"])
    assert row["token_key_id"] == api.cipher.current_kid


async def test_401_refreshes_once_and_retries(connect, emu, api) -> None:
    company = await connect(customers=2, invoices=1)
    before = await api.tokens.connection(company.partner_id)
    await emu.expire_access_tokens(company.realm_id)
    info = await company.company_info()  # 401 → refresh → retry
    assert info.CompanyName
    after = await api.tokens.connection(company.partner_id)
    assert after.token_version == before.token_version + 1
    assert (await emu.requests(company.realm_id))["unauthorized"] == 1
    refreshes = [t for t in await emu.issued_tokens(company.realm_id) if t["kind"] == "refresh"]
    assert len(refreshes) == 2  # the admin-issued one and exactly one refresh


async def test_invalid_grant_after_revoke_is_an_auth_error(connect, emu, api) -> None:
    company = await connect(customers=2, invoices=1)
    await emu.revoke(company.realm_id)
    with pytest.raises(QboAuthError) as info:
        await company.company_info()
    assert info.value.code == "invalid_grant"
    app = to_application_error(info.value)
    assert app.type == "QboAuthError" and app.non_retryable
    # nothing was stored over the (still revoked) tokens
    conn = await api.tokens.connection(company.partner_id)
    assert conn.state != "disconnected" and conn.token_version == 1


async def test_invalid_grant_rereads_a_token_rotated_elsewhere(connect, emu, api, db_pool) -> None:
    """While this worker refreshes with a token that turns out revoked, the partner reconnects (the callback
    stores new tokens, waiting on the row lock). After `invalid_grant` the store re-reads, finds the new
    tokens and uses them instead of stranding the partner."""
    import asyncio

    from qbo.oauth import TokenSet
    from tests.helpers import eventually

    company = await connect(customers=2, invoices=1)
    version = (await api.tokens.connection(company.partner_id)).token_version
    original = api.tokens._oauth.refresh
    reconnect: asyncio.Task | None = None

    async def reconnect_is_waiting() -> bool:
        return bool(
            await db_pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND query LIKE '%INSERT INTO qbo_connections%'"
            )
        )

    async def refresh_during_reconnect(token):
        nonlocal reconnect
        if reconnect is None:
            await emu.revoke(company.realm_id)  # the old grant dies with the reconnect
            fresh = TokenSet.model_validate(await emu.tokens(company.realm_id))
            reconnect = asyncio.create_task(
                api.tokens.save_connection(company.partner_id, company.realm_id, fresh)
            )
            await eventually(reconnect_is_waiting, what="the reconnect to wait on the row lock")
        return await original(token)

    api.tokens._oauth.refresh = refresh_during_reconnect
    try:
        token = await api.tokens.refresh(company.partner_id, seen_version=version)
    finally:
        api.tokens._oauth.refresh = original
    assert reconnect is not None and await reconnect == version + 1
    assert token.version == version + 1
    assert isinstance(await company.company_info(), CompanyInfo)


async def test_disconnect_revokes_and_forgets_tokens(connect, emu, api) -> None:
    company = await connect(customers=2, invoices=1)
    await company.company_info()
    await api.tokens.disconnect(company.partner_id)
    issued = await emu.issued_tokens(company.realm_id)
    assert issued and all(t["revoked"] for t in issued)
    conn = await api.tokens.connection(company.partner_id)
    assert conn.state == "disconnected"
    with pytest.raises(QboAuthError):
        await company.company_info()
    await api.tokens.disconnect(company.partner_id)  # idempotent


async def test_no_secret_in_logs_at_debug(api, emu, db_pool, settings, caplog) -> None:
    caplog.set_level(logging.DEBUG)  # root and every library logger (httpx, httpcore, asyncpg, qbo)
    for name in ("httpx", "httpcore", "qbo", "asyncio"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    realm = await emu.create_company(customers=3, invoices=3)
    partner = await oauth_connect(api, emu, db_pool, realm)
    company = api.company(partner)
    await company.company_info()
    _ = [p async for p in company.query_pages("Invoice")]
    await emu.expire_access_tokens(realm)
    await company.count("Customer")  # 401 → refresh → retry
    await api.tokens.refresh(partner, seen_version=(await api.tokens.connection(partner)).token_version)
    await emu.revoke(realm)
    with pytest.raises(QboAuthError) as failure:
        await company.count("Customer")  # 401 → invalid_grant
    await api.tokens.disconnect(partner)

    text = (
        caplog.text + "".join(repr(r.args) for r in caplog.records) + str(failure.value) + repr(failure.value)
    )
    assert "QBO POST query" in caplog.text and "refreshed QBO tokens" in caplog.text  # logging did happen
    issued = await emu.issued_tokens(realm)
    assert len([t for t in issued if t["kind"] == "refresh"]) >= 3
    for token in issued:
        assert token["token"] not in text
        assert token["token"][:16] not in text
    for secret in (
        settings.qbo_client_secret,
        settings.qbo_webhook_verifier_token,
        settings.token_encryption_key,
    ):
        assert secret.get_secret_value() not in text
    key_material = settings.token_encryption_key.get_secret_value().split(":", 1)[1]
    assert key_material not in text


async def test_concurrent_401s_in_one_process_refresh_once(connect, emu, api) -> None:
    import asyncio

    company = await connect(customers=2, invoices=1)
    await company.company_info()
    await emu.expire_access_tokens(company.realm_id)
    results = await asyncio.gather(*(company.count("Customer") for _ in range(20)))
    assert len(set(results)) == 1
    refreshes = [t for t in await emu.issued_tokens(company.realm_id) if t["kind"] == "refresh"]
    assert len(refreshes) == 2  # the admin-issued one and a single refresh for all twenty 401s


async def test_tokens_never_in_reprs(connect, emu, api) -> None:
    from qbo.oauth import TokenSet

    company = await connect(customers=1, invoices=0)
    access = await api.tokens.get_access_token(company.partner_id)
    tokens = TokenSet.model_validate(await emu.tokens(company.realm_id))
    texts = [
        repr(access),
        str(access),
        repr(tokens),
        str(tokens),
        str(tokens.model_dump()),
        repr(api),
        repr(api.tokens),
        repr(api.oauth),
        repr(api.http),
        repr(api.cipher),
        repr(company),
    ]
    secrets = [
        access.token.get_secret_value(),
        tokens.access_token.get_secret_value(),
        tokens.refresh_token.get_secret_value(),
    ]
    for text in texts:
        for secret in secrets:
            assert secret not in text


async def test_stored_connection_never_moves_to_another_realm_while_live(connect, emu, db_pool, api) -> None:
    """The token store's own guard (behind the callback's decision): a live connection keeps its realm."""
    from qbo.oauth import TokenSet
    from qbo.tokens import RealmMismatch

    company = await connect(customers=1, invoices=0)
    other = await emu.create_company(customers=1, invoices=0)
    before = await db_pool.fetchrow("SELECT realm_id, token_version FROM qbo_connections WHERE partner_id = $1",
                                    company.partner_id)
    with pytest.raises(RealmMismatch):
        await api.tokens.save_connection(company.partner_id, other,
                                         TokenSet.model_validate(await emu.tokens(other)))
    after = await db_pool.fetchrow("SELECT realm_id, token_version FROM qbo_connections WHERE partner_id = $1",
                                   company.partner_id)
    assert dict(after) == dict(before) and after["realm_id"] == company.realm_id
    # After a disconnect the same call is the start of a new company (the callback sets the old one aside).
    await api.tokens.disconnect(company.partner_id)
    await api.tokens.save_connection(company.partner_id, other, TokenSet.model_validate(await emu.tokens(other)))
    assert await db_pool.fetchval("SELECT realm_id FROM qbo_connections WHERE partner_id = $1",
                                  company.partner_id) == other
