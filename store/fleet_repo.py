"""The fleet as PostgreSQL holds it, read at scrape time for the API's `/metrics` (`metrics.fleet`).

Read from the database rather than counted in a process, so the figures are the truth of every worker
together, survive restarts, and need no coordination. A handful of GROUP BY statements in one read-only
transaction: their cost grows with the partner count (one lag row each), not with traffic.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class BackfillProgress:
    fetched: int
    total: int  # objects QBO counted so far; 0 before the first count


@dataclass(frozen=True)
class FleetSnapshot:
    partners_by_state: dict[str, int]  # `not_connected` for partners without a connection row
    sync_lag_seconds: dict[str, float]  # partner id → now − last successful cycle (or since connecting)
    postings: dict[tuple[str, str], int]  # (payment | payout | refund, status) → count
    needs_attention: dict[tuple[str, str], int]  # (payment | payout | refund, attention_code) → count
    backfills: dict[str, BackfillProgress]  # partner id → progress, only for backfills not finished


async def read_fleet(pool: asyncpg.Pool) -> FleetSnapshot:
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        states = await conn.fetch(
            "SELECT coalesce(c.state, 'not_connected') AS state, count(*) AS n "
            "FROM partners p LEFT JOIN qbo_connections c ON c.partner_id = p.id GROUP BY 1")
        # Disconnected partners have no lag: nobody expects them to sync. A connection that never finished
        # a cycle counts from when it connected, so a stuck onboarding shows as growing lag.
        lags = await conn.fetch(
            "SELECT partner_id, extract(epoch FROM now() - coalesce(last_synced_at, connected_at)) AS lag "
            "FROM qbo_connections WHERE state <> 'disconnected'")
        postings = await conn.fetch(
            "SELECT 'payment' AS kind, status, count(*) AS n FROM payments GROUP BY status "
            "UNION ALL SELECT 'payout', status, count(*) FROM payouts GROUP BY status "
            "UNION ALL SELECT 'refund', status, count(*) FROM refunds GROUP BY status")
        attention = await conn.fetch(
            "SELECT 'payment' AS kind, coalesce(attention_code, 'unknown') AS code, count(*) AS n FROM payments "
            "WHERE status = 'needs_attention' GROUP BY 2 "
            "UNION ALL SELECT 'payout', coalesce(attention_code, 'unknown'), count(*) FROM payouts "
            "WHERE status = 'needs_attention' GROUP BY 2 "
            "UNION ALL SELECT 'refund', coalesce(attention_code, 'unknown'), count(*) FROM refunds "
            "WHERE status = 'needs_attention' GROUP BY 2")
        backfills = await conn.fetch(
            "SELECT partner_id, sum(fetched) AS fetched, coalesce(sum(total), 0) AS total "
            "FROM backfill_progress GROUP BY partner_id HAVING NOT bool_and(done)")
    return FleetSnapshot(
        partners_by_state={r["state"]: int(r["n"]) for r in states},
        sync_lag_seconds={r["partner_id"]: max(0.0, float(r["lag"])) for r in lags},
        postings={(r["kind"], r["status"]): int(r["n"]) for r in postings},
        needs_attention={(r["kind"], r["code"]): int(r["n"]) for r in attention},
        backfills={r["partner_id"]: BackfillProgress(int(r["fetched"]), int(r["total"])) for r in backfills},
    )
