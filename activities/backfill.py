"""The backfill's steps of SyncActivities (activities/sync.py mixes them in): page through every object
of an entity once, deciding the objects the platform has never seen with their page.

Why apart from the cycle: the backfill is a pipeline tuned for volume (QBO answers page N+2 while this
process decides page N+1 and PostgreSQL writes page N), decides new objects in sets, and reads pages as
raw JSON (qbo/pages.py); the cycle's fetch and the apply both objects go through are in activities/sync.py.
Each page commits with the backfill position that produced it, so a retried chunk never stores a page twice
or skips one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from typing import Any

import asyncpg
from temporalio import activity

from activities.errors import heartbeat, qbo_failures
from qbo.client import QboApi
from qbo.jsonio import object_reader
from qbo.pages import RawObject, RawPage
from rules import BadQboPayload, SyncAction
from rules import entities as synced
from store import sync_repo as repo
from store.db import one
from workflows.models import BackfillChunk, BackfillInput

DECIDE_SLICE = 100

# Each entity's JSON read as far as its parser looks (`spec.keys`): the backfill and apply alike hand
# `spec.parse` these dicts, so both decide on the very same facts.
READ = {spec.name: object_reader(spec.keys) for spec in synced.SYNCED}


def raw_to_staged(obj: RawObject) -> repo.StagedObject:
    token = repo.TOMBSTONE_TOKEN if obj.deleted or obj.sync_token is None else obj.sync_token
    return repo.StagedObject(obj.qbo_id, token, obj.last_updated, obj.deleted, obj.json)


def decide_new(spec: synced.SyncedEntity, objects: list[RawObject], home_currency: str,
               seen: set[str] | None = None) -> tuple[list[tuple[RawObject, Any]], list[RawObject]]:
    """The backfill's set-based decision, for objects as if the platform had never seen them: the entity's
    own rule with no platform row (`decide(None, change)`, the same function apply calls), kept when it
    creates the row. Returns ((object, state) to insert if it is indeed new, objects to stage instead): a
    tombstone, a second version in the same page, an unreadable payload or any other decision goes the
    ordinary way, staged and applied with its snapshot; so does an object that turns out not to be new
    (`repo.insert_new` skips it). `seen`: the QBO ids already decided in this page."""
    new: list[tuple[RawObject, Any]] = []
    rest: list[RawObject] = []
    seen = set() if seen is None else seen
    read, parse, decide = READ[spec.name], spec.parse, spec.decide
    for obj in objects:
        if obj.deleted or obj.qbo_id in seen:
            rest.append(obj)
            continue
        seen.add(obj.qbo_id)
        try:
            decision = decide(None, parse(read(obj.json), home_currency))
        except (BadQboPayload, ValueError):
            decision = None  # apply logs it as unreadable
        if decision is None or decision.action != SyncAction.CREATE or decision.state is None:
            rest.append(obj)
        else:
            new.append((obj, decision.state))
    return new, rest


class BackfillSteps:
    """For SyncActivities, which holds the pool, the QBO client, the page size and the test hooks."""

    pool: asyncpg.Pool
    qbo: QboApi
    page_size: int
    after_page: Callable[[str, int], Awaitable[None]] | None
    insert_new: bool

    @activity.defn
    @qbo_failures
    async def backfill_chunk(self, input: BackfillInput) -> BackfillChunk:
        """Up to `max_pages` pages of one entity, resuming from the stored position. The next page is fetched
        while this one is stored (`raw_pages`); objects the platform has never seen are decided and inserted
        with their page (`_take_page`), the rest are staged for `apply_staged`."""
        pid, entity = input.partner_id, input.entity
        spec = synced.BY_NAME[entity]
        conn_info = await repo.load_connection(self.pool, pid)
        await repo.init_cursor(self.pool, pid)
        company = self.qbo.company(pid)
        progress = await repo.load_progress(self.pool, pid, entity)
        if progress is None:
            total = await company.count(entity, include_inactive=True)
            await repo.create_progress(self.pool, pid, entity, total)
            progress = one(await repo.load_progress(self.pool, pid, entity))
        counts = {"staged": 0, "applied": 0, "pages": 0}
        if not progress["done"]:
            # As in apply: an invoice without CurrencyRef is in the home currency read at onboarding.
            home = conn_info.home_currency or "USD"
            await self._backfill_pages(company.raw_pages(
                entity, start_position=progress["next_position"], page_size=self.page_size, include_inactive=True,
                max_pages=input.max_pages), conn_info.realm_id, pid, spec, home, counts)
        final = one(await repo.load_progress(self.pool, pid, entity))
        return BackfillChunk(entity=entity, staged=counts["staged"], applied=counts["applied"],
                             fetched_total=final["fetched"], total=final["total"], finished=final["done"])

    async def _backfill_pages(self, pages: AsyncGenerator[RawPage, None], realm: str, pid: str, spec: synced.SyncedEntity,
                              home: str, counts: dict[str, int]) -> None:
        """A three-stage pipeline: QBO answers page N+2 (`raw_pages` asks ahead) while this process decides
        page N+1 and PostgreSQL writes page N. Pages are written one after the other, in order."""
        writing: asyncio.Task[tuple[int, int]] | None = None

        async def written() -> None:
            assert writing is not None
            page_staged, page_applied = await writing
            counts["staged"] += page_staged
            counts["applied"] += page_applied
            counts["pages"] += 1
            heartbeat(spec.name, counts["pages"])
            if self.after_page is not None:
                await self.after_page(spec.name, counts["pages"])

        try:
            async with aclosing(pages):
                async for page in pages:
                    decided = await self._decide_page(spec, page, home)
                    if writing is not None:
                        await written()
                    writing = asyncio.ensure_future(self._take_page(pid, realm, spec, page, decided))
            if writing is not None:
                await written()
                writing = None
        finally:
            if writing is not None:  # failed elsewhere: the page's transaction rolls back
                writing.cancel()
                await asyncio.gather(writing, return_exceptions=True)

    async def _decide_page(self, spec: synced.SyncedEntity, page: RawPage, home: str
                           ) -> tuple[list[tuple[RawObject, Any]], list[RawObject]]:
        """`decide_new` for a page, a slice at a time, giving the event loop a turn between slices: the
        previous page's transaction sends its next statement then, instead of waiting for the whole page."""
        if not self.insert_new:
            return [], page.items
        new: list[tuple[RawObject, Any]] = []
        rest: list[RawObject] = []
        seen: set[str] = set()
        for start in range(0, len(page.items), DECIDE_SLICE):
            slice_new, slice_rest = decide_new(spec, page.items[start:start + DECIDE_SLICE], home, seen)
            new += slice_new
            rest += slice_rest
            await asyncio.sleep(0)
        return new, rest

    async def _take_page(self, pid: str, realm: str, spec: synced.SyncedEntity, page: RawPage,
                         decided: tuple[list[tuple[RawObject, Any]], list[RawObject]]) -> tuple[int, int]:
        """Store one page with the backfill position that produced it, in one transaction (a retried chunk
        never stores a page twice or skips one): new objects inserted as decided, the others staged.
        Returns (staged, applied)."""
        new, rest = decided
        async with self.pool.acquire() as conn, conn.transaction():
            inserted = await repo.insert_new(conn, spec, pid, realm, [state for _, state in new])
            rest = rest + [obj for obj, _ in new if obj.qbo_id not in inserted]
            staged = await repo.stage(conn, pid, realm, spec.name, [raw_to_staged(o) for o in rest])
            await repo.save_progress(conn, pid, spec.name, expected=page.start_position,
                                     next_position=page.next_start_position, fetched=len(page.items),
                                     done=page.is_last)
        return staged, len(inserted)
