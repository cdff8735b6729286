"""A token refresh holds a pool connection and the connection's row lock while it waits for Intuit (issue 14
item 10). Both are bounded: the Intuit call gives up after `refresh_timeout` (the lock is released and the
stored tokens are untouched), and at most `max_concurrent_refreshes` refreshes per process hold a connection
at once, so many partners refreshing together after an outage can't drain the pool.

The slow token endpoint is the emulator's own `refresh_latency_seconds` switch (per realm)."""

from __future__ import annotations

import asyncio

import pytest

from qbo.errors import QboTransportError
from qbo.oauth import TokenSet
from tests.qbo.conftest import new_partner


async def _connected(emu, api, db_pool) -> tuple[str, str]:
    realm = await emu.create_company(customers=0, invoices=0)
    partner = await new_partner(db_pool)
    await api.tokens.save_connection(partner, realm, TokenSet.model_validate(await emu.tokens(realm)))
    return partner, realm


async def _locked(db_pool, partners: list[str]) -> int:
    """How many of these connection rows some transaction holds locked right now."""
    async with db_pool.acquire() as conn, conn.transaction():
        free = await conn.fetch("SELECT partner_id FROM qbo_connections WHERE partner_id = ANY($1::text[]) "
                                "FOR UPDATE SKIP LOCKED", partners)
    return len(partners) - len(free)


@pytest.fixture
async def bounded_api(settings, db_pool):
    from qbo.client import QboApi

    api = QboApi(settings, db_pool, refresh_timeout=0.5, max_concurrent_refreshes=2)
    yield api
    await api.aclose()


async def test_a_refresh_gives_up_on_a_slow_token_endpoint_and_releases_the_lock(emu, bounded_api, db_pool) -> None:
    partner, realm = await _connected(emu, bounded_api, db_pool)
    before = await bounded_api.tokens.connection(partner)
    await emu.config(realm, refresh_latency_seconds=8)
    try:
        with pytest.raises(QboTransportError, match="did not answer within"):
            await bounded_api.tokens.refresh(partner, seen_version=before.token_version)
        assert await _locked(db_pool, [partner]) == 0  # the row lock went with the rolled-back transaction
        after = await bounded_api.tokens.connection(partner)
        assert after.token_version == before.token_version  # nothing stored
    finally:
        await emu.config(realm, refresh_latency_seconds=0)
    # Intuit answering again: the next attempt (Temporal's retry) refreshes normally.
    token = await bounded_api.tokens.refresh(partner, seen_version=before.token_version)
    assert token.version == before.token_version + 1


async def test_at_most_n_refreshes_hold_a_connection_at_once(emu, settings, db_pool) -> None:
    from qbo.client import QboApi

    api = QboApi(settings, db_pool, refresh_timeout=30, max_concurrent_refreshes=2)
    try:
        connected: list[tuple[str, str]] = []
        connected = [await _connected(emu, api, db_pool) for _ in range(6)]
        partners = [p for p, _ in connected]
        for _, realm in connected:
            await emu.config(realm, refresh_latency_seconds=0.5)
        versions = {p: (await api.tokens.connection(p)).token_version for p in partners}
        refreshes = [asyncio.create_task(api.tokens.refresh(p, seen_version=versions[p])) for p in partners]
        most = 0
        while not all(r.done() for r in refreshes):  # sampled until every refresh has answered
            most = max(most, await _locked(db_pool, partners))
            await asyncio.sleep(0.01)
        tokens = await asyncio.gather(*refreshes)
        assert [t.version for t in tokens] == [versions[p] + 1 for p in partners]
        assert most == 2, f"{most} refreshes held a connection and row lock at once; the bound is 2"
    finally:
        for _, realm in connected:
            await emu.config(realm, refresh_latency_seconds=0)
        await api.aclose()
