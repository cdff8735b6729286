"""Fixtures for the sync activity tests: a partner connected to an emulator company (over real HTTP), the
activities run through `ActivityEnvironment` (heartbeats, no Temporal server), and a "bookkeeper": a second
token on the same company that makes QBO-side changes through the Accounting API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.sync import SyncActivities
from tests.emulator.support import Api
from tests.qbo.conftest import api, connect, emu  # noqa: F401  (fixtures)
from tests.qbo.emu import EmulatorAdmin
from workflows.models import ApplyInput, ApplySummary, BackfillInput, FetchResult, SyncRunStart


@dataclass
class Synced:
    """One connected partner, its activities and a bookkeeper on the same QBO company."""

    partner_id: str
    realm_id: str
    acts: SyncActivities
    books: Api
    emu: EmulatorAdmin
    pool: Any

    async def run(self, fn, arg):
        return await ActivityEnvironment().run(fn, arg)

    async def backfill(self, entity: str, max_pages: int = 5):
        return await self.run(self.acts.backfill_chunk, BackfillInput(partner_id=self.partner_id, entity=entity,
                                                                       max_pages=max_pages))

    async def full_backfill(self) -> None:
        for entity in ("Customer", "Invoice"):
            while True:
                chunk = await self.backfill(entity)
                if chunk.staged:
                    await self.apply()
                if chunk.finished:
                    break

    async def fetch(self, full_sweep: bool = False) -> FetchResult:
        return await self.run(self.acts.fetch_changes,
                              SyncRunStart(partner_id=self.partner_id, trigger="test", full_sweep=full_sweep))

    async def apply(self, run_id: int | None = None) -> ApplySummary:
        return await self.run(self.acts.apply_staged, ApplyInput(partner_id=self.partner_id, sync_run_id=run_id))

    async def cycle(self, full_sweep: bool = False) -> tuple[FetchResult, ApplySummary]:
        fetch = await self.fetch(full_sweep)
        summary = await self.apply(fetch.sync_run_id) if fetch.staged else ApplySummary()
        return fetch, summary

    async def calls(self) -> dict:
        return await self.emu.requests(self.realm_id)

    async def invoice(self, qbo_id: str):
        return await self.pool.fetchrow(
            "SELECT * FROM invoices WHERE partner_id = $1 AND qbo_id = $2", self.partner_id, qbo_id)

    async def customer(self, qbo_id: str):
        return await self.pool.fetchrow(
            "SELECT * FROM customers WHERE partner_id = $1 AND qbo_id = $2", self.partner_id, qbo_id)


async def make_synced(connect, api, emu, db_pool, emulator_url, *, page_size: int = 1000, **seed) -> Synced:  # noqa: F811
    company = await connect(**seed)
    # What onboarding's verify step does before any sync: read the company's currency preferences.
    from activities.currency import read_currency_prefs

    await read_currency_prefs(db_pool, api.company(company.partner_id), company.partner_id)
    books = Api(emulator_url, company.realm_id, await emu.tokens(company.realm_id), {})
    return Synced(company.partner_id, company.realm_id, SyncActivities(db_pool, api, page_size=page_size),
                  books, emu, db_pool)


@pytest.fixture
async def synced(connect, api, emu, db_pool, emulator_url) -> AsyncIterator[Synced]:  # noqa: F811
    """A partner whose 4 customers and 6 invoices are backfilled and applied."""
    s = await make_synced(connect, api, emu, db_pool, emulator_url, customers=4, invoices=6, payments=0)
    await s.full_backfill()
    yield s
    s.books.close()
