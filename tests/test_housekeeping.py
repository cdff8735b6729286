"""The worker's housekeeping (issue 14 item 9): expired OAuth states and webhook events routed long ago are
purged on a schedule; fresh states, recent events and events not routed yet stay. Real PostgreSQL."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from store.housekeeping import housekeeping_loop, purge
from tests.helpers import eventually


async def _seed(db_pool) -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    pid = f"p-hk-{tag}"
    await db_pool.execute("INSERT INTO partners (id, name) VALUES ($1, $1)", pid)
    ids = {k: f"{k}-{tag}" for k in ("old_state", "old_used_state", "fresh_state", "old_event", "recent_event",
                                     "unrouted_event")}
    await db_pool.executemany(
        "INSERT INTO oauth_states (nonce, partner_id, created_at, used_at) VALUES ($1, $2, now() - $3::interval, $4)",
        [(ids["old_state"], pid, timedelta(days=2), None), (ids["old_used_state"], pid, timedelta(days=3), None),
         (ids["fresh_state"], pid, timedelta(minutes=5), None)])
    await db_pool.executemany(
        "INSERT INTO webhook_events (event_id, realm_id, received_at, routed_at) "
        "VALUES ($1, '123', now() - $2::interval, now() - $3::interval)",
        [(ids["old_event"], timedelta(days=41), timedelta(days=40)), (ids["recent_event"], timedelta(days=2), timedelta(days=2))])
    await db_pool.execute("INSERT INTO webhook_events (event_id, realm_id, received_at) "
                          "VALUES ($1, '123', now() - interval '60 days')", ids["unrouted_event"])
    return ids


async def _left(db_pool, ids: dict[str, str]) -> set[str]:
    rows = await db_pool.fetch("SELECT nonce AS k FROM oauth_states WHERE nonce = ANY($1::text[]) UNION ALL "
                               "SELECT event_id FROM webhook_events WHERE event_id = ANY($1::text[])",
                               list(ids.values()))
    return {k for k, v in ids.items() if v in {r["k"] for r in rows}}


async def test_purge_deletes_only_expired_states_and_old_routed_events(db_pool) -> None:
    ids = await _seed(db_pool)
    counts = await purge(db_pool, batch=1)  # batch of one: the batching loop runs to the end
    assert counts["oauth_states"] >= 2 and counts["webhook_events"] >= 1, counts
    assert await _left(db_pool, ids) == {"fresh_state", "recent_event", "unrouted_event"}
    assert await purge(db_pool) == {"oauth_states": 0, "webhook_events": 0}  # nothing more to do


async def test_the_worker_loop_purges_on_its_schedule(db_pool) -> None:
    loop = asyncio.create_task(housekeeping_loop(db_pool, every=0.05))
    try:
        await eventually(lambda: asyncio.sleep(0, loop.done() or True), what="the loop to start")
        ids = await _seed(db_pool)  # after the first pass: only a later, scheduled pass removes them

        async def purged() -> bool:
            if loop.done():  # fails at once: an assert in a probe would only mean "not yet"
                pytest.fail(f"the housekeeping loop ended: {loop}")
            assert await _left(db_pool, ids) == {"fresh_state", "recent_event", "unrouted_event"}
            return True

        await eventually(purged, what="a scheduled pass to purge the old rows")
    finally:
        loop.cancel()
