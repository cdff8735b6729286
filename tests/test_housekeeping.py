"""The worker's housekeeping (issue 14 item 9): expired OAuth states, webhook events routed long ago and old
sync runs are purged on a schedule; fresh states, recent events, events not routed yet, each partner's
latest run and the runs sync_log names stay. Real PostgreSQL."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import timedelta

import pytest

from store.housekeeping import IDLE_RUN, housekeeping_loop, purge, runs_to_purge
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
    assert await purge(db_pool) == {"oauth_states": 0, "webhook_events": 0, "sync_runs": 0}  # nothing more to do


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


IDLE, BUSY = {"staged": 0}, {"staged": 3, "updated": 3}


async def _seed_runs(db_pool) -> tuple[dict[str, int], str]:
    """Runs of three partners, by name: (partner, age in days, status, counts, named by sync_log)."""
    tag = uuid.uuid4().hex[:8]
    busy, alone, pair = (f"p-hk-runs-{n}-{tag}" for n in ("busy", "alone", "pair"))
    await db_pool.executemany("INSERT INTO partners (id, name) VALUES ($1, $1)", [(p,) for p in (busy, alone, pair)])
    runs = {
        "old_idle": (busy, 3, "succeeded", IDLE, False), "recent_idle": (busy, 1, "succeeded", IDLE, False),
        "old_busy": (busy, 40, "succeeded", BUSY, False), "recent_busy": (busy, 20, "succeeded", BUSY, False),
        "old_failed": (busy, 40, "failed", {}, False), "old_logged": (busy, 40, "succeeded", BUSY, True),
        "old_idle_logged": (busy, 3, "succeeded", IDLE, True),
        "alone_latest": (alone, 90, "failed", {}, False),  # the partner's only run: its status reads it
        "pair_older": (pair, 60, "succeeded", IDLE, False), "pair_latest": (pair, 50, "succeeded", IDLE, False),
    }
    ids: dict[str, int] = {}
    for name, (pid, days, status, counts, logged) in runs.items():
        ids[name] = await db_pool.fetchval(
            "INSERT INTO sync_runs (partner_id, trigger, started_at, finished_at, status, counts)"
            " VALUES ($1, 'interval', now() - $2::interval, now() - $2::interval, $3, $4) RETURNING id",
            pid, timedelta(days=days), status, counts)
        if logged:
            await db_pool.execute("INSERT INTO sync_log (partner_id, sync_run_id, kind, entity, reason)"
                                  " VALUES ($1, $2, 'conflict', 'Invoice', 'kept with its run')", pid, ids[name])
    return ids, tag


async def _runs_left(db_pool, ids: dict[str, int]) -> set[str]:
    left = {r["id"] for r in await db_pool.fetch("SELECT id FROM sync_runs WHERE id = ANY($1::bigint[])",
                                                 list(ids.values()))}
    return {name for name, i in ids.items() if i in left}


async def test_purge_keeps_a_month_of_runs_two_days_of_idle_ones_and_every_partners_latest(db_pool) -> None:
    ids, _ = await _seed_runs(db_pool)
    counts = await purge(db_pool, batch=1)
    assert counts["sync_runs"] >= 4, counts
    assert await _runs_left(db_pool, ids) == {"recent_idle", "recent_busy", "old_logged", "old_idle_logged",
                                              "alone_latest", "pair_latest"}
    assert (await purge(db_pool))["sync_runs"] == 0


async def test_an_index_serves_each_purge(db_pool) -> None:
    """Planned with sequential scans priced out (the test tables are too small for the planner to prefer an
    index of its own accord): each pass reads sync_runs through its started_at index and asks sync_log by
    run id, never scanning either table whole."""
    async with db_pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        for which, index in ((IDLE_RUN, "sync_runs_idle_started"), ("true", "sync_runs_started")):
            plan = "\n".join(r[0] for r in await conn.fetch(
                f"EXPLAIN {runs_to_purge(which)}", timedelta(days=2), 5000))
            assert re.search(rf"\b{index}\b", plan) and re.search(r"\bsync_log_run\b", plan), plan
            assert "Seq Scan" not in plan, plan
