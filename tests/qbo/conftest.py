"""Fixtures for the QBO client tests: the emulator admin client, a QboApi, and connected companies."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.qbo.emu import EmulatorAdmin


@pytest.fixture
def db_settings(database_url: str):
    """Settings for tests that need PostgreSQL but no emulator."""
    from settings import load_settings

    return load_settings({**os.environ, "DATABASE_URL": database_url})


@pytest.fixture
async def emu(emulator_url: str) -> AsyncIterator[EmulatorAdmin]:
    admin = EmulatorAdmin(emulator_url)
    yield admin
    await admin.aclose()


@pytest.fixture
async def api(settings, db_pool) -> AsyncIterator:
    from qbo.client import QboApi
    from qbo.limiter import Limits

    # A short 429 cool-down so a test that meets a 429 does not wait Intuit's 60 s.
    qbo_api = QboApi(settings, db_pool, limits=Limits(throttle_cooldown=1.0))
    yield qbo_api
    await qbo_api.aclose()


async def new_partner(db_pool) -> str:
    partner = f"p-{uuid.uuid4().hex[:10]}"
    await db_pool.execute("INSERT INTO partners (id, name) VALUES ($1, $2)", partner, f"Partner {partner}")
    return partner


@pytest.fixture
def connect(emu: EmulatorAdmin, api, db_pool) -> Callable[..., Awaitable]:
    """Create an emulator company and a partner connected to it (tokens from the admin endpoint)."""
    from qbo.oauth import TokenSet

    async def _connect(**seed):
        realm = await emu.create_company(**seed)
        partner = await new_partner(db_pool)
        tokens = TokenSet.model_validate(await emu.tokens(realm))
        await api.tokens.save_connection(partner, realm, tokens)
        company = api.company(partner)
        company.realm_id = realm
        return company

    return _connect
