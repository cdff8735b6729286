"""Purging what would otherwise grow forever (issue 14 item 9), run by every worker process on a schedule
(`housekeeping_loop`, started by worker.py; no cron):

- `oauth_states`: a state is good for 10 minutes (qbo.oauth); rows older than `states_after` (1 day) are
  expired or used, and nothing reads them again;
- `webhook_events`: a row is kept until routed (never purged before), then `webhooks_after` (30 days) for
  deduping Intuit's redeliveries (its retries end within days, qbo-reference §11.1).

Deletes go in batches of `batch` rows, each its own statement, so no pass holds many locks for long; several
workers purging at once just delete less each."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import asyncpg

log = logging.getLogger("store.housekeeping")

STATES_AFTER = timedelta(days=1)
WEBHOOKS_AFTER = timedelta(days=30)


async def _purge(pool: asyncpg.Pool, table: str, where: str, older: timedelta, batch: int) -> int:
    total = 0
    while True:
        status = await pool.execute(
            f"DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} WHERE {where} < now() - $1::interval "  # noqa: S608
            "LIMIT $2))", older, batch)
        deleted = int(status.split()[-1])
        total += deleted
        if deleted < batch:
            return total


async def purge(pool: asyncpg.Pool, *, states_after: timedelta = STATES_AFTER,
                webhooks_after: timedelta = WEBHOOKS_AFTER, batch: int = 5000) -> dict[str, int]:
    """One pass: how many rows of each table were deleted."""
    counts = {
        "oauth_states": await _purge(pool, "oauth_states", "created_at", states_after, batch),
        # routed_at is NULL until routed, and NULL < anything is not true: unrouted events always stay.
        "webhook_events": await _purge(pool, "webhook_events", "routed_at", webhooks_after, batch),
    }
    if any(counts.values()):
        log.info("housekeeping purged %s", counts)
    return counts


async def housekeeping_loop(pool: asyncpg.Pool, every: float = 3600.0, *, states_after: timedelta = STATES_AFTER,
                            webhooks_after: timedelta = WEBHOOKS_AFTER) -> None:
    """`purge` now and then every `every` seconds, for as long as the process runs; a failed pass (database
    restarting) is logged and the next one tries again."""
    while True:
        try:
            await purge(pool, states_after=states_after, webhooks_after=webhooks_after)
        except Exception as exc:
            log.warning("housekeeping pass failed (%s); next in %ss", type(exc).__name__, every)
        await asyncio.sleep(every)
