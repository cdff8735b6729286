"""Purging what would otherwise grow forever (issue 14 item 9), run by every worker process on a schedule
(`housekeeping_loop`, started by worker.py; no cron):

- `oauth_states`: a state is good for 10 minutes (qbo.oauth); rows older than `states_after` (1 day) are
  expired or used, and nothing reads them again;
- `webhook_events`: a row is kept until routed (never purged before), then `webhooks_after` (30 days) for
  deduping Intuit's redeliveries (its retries end within days, qbo-reference §11.1);
- `sync_runs` (one per cycle: ~2.9 M rows a day at 2,000 partners on a 60 s interval): a run that did
  something (staged, applied, posted, or failed) is kept `runs_after` (35 days: the month a bookkeeper
  closes, and its close, in `GET /partners/{pid}/qbo/sync-runs` and the dashboard's sync history); an idle
  run (nothing staged, nothing else done) `idle_runs_after` (2 days: a heartbeat, 1,440 a day per partner
  at a 60 s interval).
  Whatever its age, each partner's latest run stays (the API and the dashboard show it: when did it last
  sync, and how did that end), and so does every run that `sync_log` names (a conflict's or a parked
  item's reason keeps its run; those log rows are never purged). Measured on 720,000 runs of 1,000
  partners (embedded PostgreSQL, the shared 2-core machine): the first pass deleted 636,000 in 70 s, an
  hourly pass of 1,000 runs just past 2 days takes 0.4 s (sync_runs_idle_started), a pass with nothing to
  do 0.03-0.3 s.

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
RUNS_AFTER = timedelta(days=35)
IDLE_RUNS_AFTER = timedelta(days=2)

# What store/cycle_repo.record_fetch writes for an idle cycle (and fetch for one with nothing to apply);
# the same predicate as the partial index sync_runs_idle_started (migration 0021), so that index serves it.
IDLE_RUN = "r.status = 'succeeded' AND r.counts = '{\"staged\": 0}'::jsonb"
# Never a partner's latest run (a later one exists), never one sync_log names.
_RUN_PURGEABLE = (
    "EXISTS (SELECT 1 FROM sync_runs n WHERE n.partner_id = r.partner_id AND n.started_at > r.started_at)"
    " AND NOT EXISTS (SELECT 1 FROM sync_log l WHERE l.sync_run_id = r.id)")


async def _in_batches(pool: asyncpg.Pool, delete: str, older: timedelta, batch: int) -> int:
    """Run `delete` (its $1 the age, $2 the batch size) until a batch comes back short: rows deleted."""
    total = 0
    while True:
        deleted = int((await pool.execute(delete, older, batch)).split()[-1])
        total += deleted
        if deleted < batch:
            return total


async def _purge(pool: asyncpg.Pool, table: str, where: str, older: timedelta, batch: int) -> int:
    return await _in_batches(pool, f"DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {table} "  # noqa: S608
                             f"WHERE {where} < now() - $1::interval LIMIT $2))", older, batch)


def runs_to_purge(which: str) -> str:
    """The ids of one batch ($2) of `which` runs started more than $1 ago that may go."""
    return (f"SELECT r.id FROM sync_runs r WHERE r.started_at < now() - $1::interval AND {which}"  # noqa: S608 (constants)
            f" AND {_RUN_PURGEABLE} LIMIT $2")


async def _purge_runs(pool: asyncpg.Pool, which: str, older: timedelta, batch: int) -> int:
    """`_purge` for sync_runs: by id (the FK check from sync_log finds them by id), `which` runs only, and
    only those `_RUN_PURGEABLE`."""
    return await _in_batches(pool, f"DELETE FROM sync_runs WHERE id = ANY(ARRAY({runs_to_purge(which)}))",  # noqa: S608
                             older, batch)


async def purge(pool: asyncpg.Pool, *, states_after: timedelta = STATES_AFTER,
                webhooks_after: timedelta = WEBHOOKS_AFTER, runs_after: timedelta = RUNS_AFTER,
                idle_runs_after: timedelta = IDLE_RUNS_AFTER, batch: int = 5000) -> dict[str, int]:
    """One pass: how many rows of each table were deleted."""
    counts = {
        "oauth_states": await _purge(pool, "oauth_states", "created_at", states_after, batch),
        # routed_at is NULL until routed, and NULL < anything is not true: unrouted events always stay.
        "webhook_events": await _purge(pool, "webhook_events", "routed_at", webhooks_after, batch),
        "sync_runs": (await _purge_runs(pool, IDLE_RUN, idle_runs_after, batch)
                      + await _purge_runs(pool, "true", runs_after, batch)),
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
