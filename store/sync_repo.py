"""SQL for the QBO → platform sync activities (activities/sync.py): staging, backfill progress, sync runs,
snapshots and set-based upserts. asyncpg; money stays Decimal (numeric ↔ Decimal), payloads are written and
read as JSON text so amounts never pass through float (store.db decodes jsonb with plain json.loads).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from store import attention_repo, own_postings_repo

#: A tombstone has no SyncToken and is final: it sorts after every real version of the object.
TOMBSTONE_TOKEN = 2**62

_PLATFORM_TABLE = {"Customer": "customers", "Invoice": "invoices"}


def platform_id(prefix: str, partner_id: str, realm_id: str, qbo_id: str) -> str:
    """Deterministic id from the QBO identity, so a retried apply can never create two rows."""
    digest = hashlib.sha256(f"{partner_id}|{realm_id}|{qbo_id}".encode()).hexdigest()
    return f"{prefix}_{digest[:20]}"


@dataclass(frozen=True)
class StagedObject:
    qbo_id: str
    sync_token: int
    last_updated: datetime | None
    deleted: bool
    payload: str  # JSON text


@dataclass(frozen=True)
class Connection:
    realm_id: str
    cdc_cursor: datetime | None
    last_full_sweep_at: datetime | None
    home_currency: str | None = None  # Preferences.CurrencyPrefs as last read (None: never read)
    multicurrency: bool = False
    currency_prefs_read_at: datetime | None = None


# --- connection, runs ---------------------------------------------------------------------------------

async def load_connection(db: Any, partner_id: str) -> Connection:
    row = await db.fetchrow(
        "SELECT realm_id, cdc_cursor, last_full_sweep_at, home_currency, multicurrency_enabled, "
        "currency_prefs_read_at FROM qbo_connections WHERE partner_id = $1", partner_id
    )
    if row is None:
        raise LookupError(f"partner {partner_id} has no QBO connection")
    return Connection(row["realm_id"], row["cdc_cursor"], row["last_full_sweep_at"],
                      row["home_currency"].strip() if row["home_currency"] else None,
                      bool(row["multicurrency_enabled"]), row["currency_prefs_read_at"])


# --- currency (issue 13, docs/currency.md) ------------------------------------------------------------

async def save_currency_prefs(db: Any, partner_id: str, home_currency: str, multicurrency: bool) -> None:
    await db.execute(
        "UPDATE qbo_connections SET home_currency = $2, multicurrency_enabled = $3, currency_prefs_read_at = now(),"
        " updated_at = now() WHERE partner_id = $1", partner_id, home_currency, multicurrency)


async def preferences_event_since(db: Any, realm_id: str, since: datetime | None) -> bool:
    """Did a `Preferences` webhook for the realm arrive after `since` (the last read)? The webhook endpoint
    stores every event by realm and entity (api/webhooks.py), so no extra QBO call finds out."""
    return bool(await db.fetchval(
        "SELECT EXISTS (SELECT 1 FROM webhook_events WHERE realm_id = $1 AND entity = 'Preferences'"
        " AND ($2::timestamptz IS NULL OR received_at >= $2))", realm_id, since))


async def invoice_currencies(db: Any, partner_id: str, realm_id: str) -> list[str]:
    """The currencies of the partner's live invoices (QBO's and platform-created): those its payments are in."""
    rows = await db.fetch(
        "SELECT DISTINCT currency FROM invoices WHERE partner_id = $1 AND NOT archived AND status <> 'void'"
        " AND (realm_id = $2 OR realm_id IS NULL) ORDER BY currency", partner_id, realm_id)
    return [r["currency"].strip() for r in rows]


async def init_cursor(db: Any, partner_id: str) -> None:
    """The first backfill call: CDC later starts from when the backfill started."""
    await db.execute(
        "UPDATE qbo_connections SET cdc_cursor = now(), updated_at = now() "
        "WHERE partner_id = $1 AND cdc_cursor IS NULL", partner_id,
    )


async def set_cursor(db: Any, partner_id: str, cursor: datetime, *, swept: bool) -> None:
    await db.execute(
        "UPDATE qbo_connections SET cdc_cursor = $2, updated_at = now(), "
        "last_full_sweep_at = CASE WHEN $3 THEN now() ELSE last_full_sweep_at END WHERE partner_id = $1",
        partner_id, cursor, swept,
    )


async def start_run(db: Any, partner_id: str, trigger: str) -> int:
    return await db.fetchval(
        "INSERT INTO sync_runs (partner_id, trigger) VALUES ($1, $2) RETURNING id", partner_id, trigger
    )


async def pending_counts(db: Any, partner_id: str) -> tuple[int, int]:
    """Work for the posting steps: pending items, plus parked ones whose cause may have cleared (the
    posting step puts those back in line, store/attention_repo.py). Pending refunds count as payment work:
    the payment posting step books them (activities/refunds.py)."""
    row = await db.fetchrow(
        "SELECT (SELECT count(*) FROM payments WHERE partner_id = $1 AND status = 'pending')"
        " + (SELECT count(*) FROM refunds WHERE partner_id = $1 AND status = 'pending') AS payments, "
        "(SELECT count(*) FROM payouts WHERE partner_id = $1 AND status = 'pending') AS payouts",
        partner_id,
    )
    cleared_payments, cleared_payouts = await attention_repo.count_cleared(db, partner_id)
    return int(row["payments"]) + cleared_payments, int(row["payouts"]) + cleared_payouts


async def finish_run(
    db: Any, partner_id: str, run_id: int, counts: dict[str, int], error: str | None
) -> str | None:
    """Close the run. Returns its trigger when this call finished it (not when a retried activity finishes
    it again), so the caller counts each cycle once (`qbo_sync_cycles_total`)."""
    async with db.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "WITH old AS (SELECT finished_at FROM sync_runs WHERE id = $2 AND partner_id = $1 FOR UPDATE) "
            "UPDATE sync_runs SET finished_at = now(), status = $3, counts = $4, error = $5, "
            "errors = CASE WHEN $5::text IS NULL THEN 0 ELSE 1 END, "
            "conflicts = (SELECT count(*) FROM sync_log WHERE sync_run_id = $2 AND kind = 'conflict') "
            "FROM old WHERE id = $2 AND partner_id = $1 "
            "RETURNING sync_runs.trigger, old.finished_at IS NULL AS first",
            partner_id, run_id, "failed" if error else "succeeded", counts, error,
        )
        if error is None:
            await conn.execute(
                "UPDATE qbo_connections SET last_synced_at = now(), updated_at = now() WHERE partner_id = $1",
                partner_id,
            )
    return row["trigger"] if row is not None and row["first"] else None


# --- staging --------------------------------------------------------------------------------------------

def _stage_sql(entity: str) -> str:
    """Insert staged versions, skipping versions the platform already holds (so an overlap re-read or a
    sweep of unchanged rows stages nothing) and duplicates (ON CONFLICT on the staging key)."""
    table = _PLATFORM_TABLE.get(entity)
    skip = ""
    if entity in ("Payment", "Deposit"):
        skip = own_postings_repo.stage_filter(entity)
    elif table is not None:
        skip = (
            f"WHERE NOT EXISTS (SELECT 1 FROM {table} p WHERE p.partner_id = $1 AND p.realm_id = $2 "
            "AND p.qbo_id = u.qbo_id AND (p.qbo_deleted OR (NOT u.deleted AND p.qbo_sync_token >= u.tok)))"
        )
    return (
        "INSERT INTO qbo_staging (partner_id, realm_id, entity, qbo_id, sync_token, last_updated, deleted, payload) "
        "SELECT $1, $2, $3, u.qbo_id, u.tok, u.lu, u.deleted, u.payload::jsonb "
        "FROM unnest($4::text[], $5::bigint[], $6::timestamptz[], $7::bool[], $8::text[]) "
        f"AS u(qbo_id, tok, lu, deleted, payload) {skip} ON CONFLICT DO NOTHING"
    )


async def stage(db: Any, partner_id: str, realm_id: str, entity: str, objects: Sequence[StagedObject]) -> int:
    """Stage one page/chunk in one statement; returns how many versions were new."""
    if not objects:
        return 0
    status = await db.execute(
        _stage_sql(entity), partner_id, realm_id, entity,
        [o.qbo_id for o in objects], [o.sync_token for o in objects], [o.last_updated for o in objects],
        [o.deleted for o in objects], [o.payload for o in objects],
    )
    return int(status.rsplit(" ", 1)[-1])


async def platform_qbo_ids(db: Any, partner_id: str, realm_id: str, entity: str) -> list[str]:
    """QBO ids of live (not deleted) QBO-sourced rows, for the sweep's missing-id check."""
    table = _PLATFORM_TABLE[entity]
    rows = await db.fetch(
        f"SELECT qbo_id FROM {table} WHERE partner_id = $1 AND realm_id = $2 AND qbo_id IS NOT NULL "
        "AND NOT qbo_deleted", partner_id, realm_id,
    )
    return [r["qbo_id"] for r in rows]


async def upsert_accounts(db: Any, partner_id: str, accounts: Sequence[Any], currencies: dict[str, str | None]) -> int:
    """Refresh `qbo_accounts` rows; returns how many were new or different."""
    if not accounts:
        return 0
    status = await db.execute(
        "INSERT INTO qbo_accounts (partner_id, qbo_id, name, account_type, account_subtype, active, currency) "
        "SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bool[], $7::text[]) "
        "ON CONFLICT (partner_id, qbo_id) DO UPDATE SET name = EXCLUDED.name, "
        "account_type = EXCLUDED.account_type, account_subtype = EXCLUDED.account_subtype, "
        "active = EXCLUDED.active, currency = EXCLUDED.currency "
        "WHERE (qbo_accounts.name, qbo_accounts.account_type, qbo_accounts.account_subtype, qbo_accounts.active, "
        "qbo_accounts.currency) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.account_type, "
        "EXCLUDED.account_subtype, EXCLUDED.active, EXCLUDED.currency)",
        partner_id, [a.qbo_id for a in accounts], [a.name for a in accounts], [a.account_type for a in accounts],
        [a.account_subtype for a in accounts], [a.active for a in accounts],
        [currencies.get(a.qbo_id) for a in accounts],
    )
    return int(status.rsplit(" ", 1)[-1])


# --- backfill progress ----------------------------------------------------------------------------------

async def load_progress(db: Any, partner_id: str, entity: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        "SELECT next_position, fetched, total, done FROM backfill_progress WHERE partner_id = $1 AND entity = $2",
        partner_id, entity,
    )


async def create_progress(db: Any, partner_id: str, entity: str, total: int) -> None:
    await db.execute(
        "INSERT INTO backfill_progress (partner_id, entity, total) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        partner_id, entity, total,
    )


async def save_progress(
    conn: Any, partner_id: str, entity: str, *, expected: int, next_position: int, fetched: int, done: bool
) -> None:
    """Advance the position only from where this page started (a concurrent duplicate cannot double-count)."""
    status = await conn.execute(
        "UPDATE backfill_progress SET next_position = $3, fetched = fetched + $4, done = $5 "
        "WHERE partner_id = $1 AND entity = $2 AND next_position = $6",
        partner_id, entity, next_position, fetched, done, expected,
    )
    if status.endswith(" 0"):
        raise RuntimeError(f"backfill of {entity} for {partner_id} moved concurrently; retry")


# --- apply ----------------------------------------------------------------------------------------------

async def next_staged_batch(conn: Any, partner_id: str, entity: str, limit: int,
                            after: tuple[str, str] | None = None) -> list[asyncpg.Record]:
    """Every staged version of the next `limit` objects of `entity` after `after` (keyset order), locked
    until the transaction ends. Seeking past the last applied key matters: applied rows are deleted, and an
    index scan from the start would wade through their dead entries again on every batch (quadratic)."""
    realm, qbo_id = after or ("", "")
    # Two plain range scans on `qbo_staging_apply_order`: first the batch's last key, then the rows up to
    # it. (One query with `IN (SELECT DISTINCT … LIMIT)` let the planner, misled by a freshly filled
    # table's missing statistics, pick a nested loop that took seconds per batch.)
    upper = await conn.fetchrow(
        "SELECT realm_id, qbo_id FROM (SELECT DISTINCT realm_id, qbo_id FROM qbo_staging "
        "  WHERE partner_id = $1 AND entity = $2 AND (realm_id, qbo_id) > ($4, $5) "
        "  ORDER BY realm_id, qbo_id LIMIT $3) k ORDER BY realm_id DESC, qbo_id DESC LIMIT 1",
        partner_id, entity, limit, realm, qbo_id,
    )
    if upper is None:
        return []
    return await conn.fetch(
        "SELECT realm_id, qbo_id, sync_token, payload::text AS payload FROM qbo_staging "
        "WHERE partner_id = $1 AND entity = $2 AND (realm_id, qbo_id) > ($3, $4) AND (realm_id, qbo_id) <= ($5, $6) "
        "ORDER BY realm_id, qbo_id, sync_token FOR UPDATE",
        partner_id, entity, realm, qbo_id, upper["realm_id"], upper["qbo_id"],
    )


async def delete_staged(conn: Any, partner_id: str, entity: str, keys: Sequence[tuple[str, str, int]]) -> None:
    """Delete exactly the applied versions, given in the order `next_staged_batch` returned them (the
    database's collation, which decides the range). The key range lets PostgreSQL walk
    `qbo_staging_apply_order` instead of joining the whole table (seconds per batch on a large, freshly
    filled staging table)."""
    if not keys:
        return
    low, high = keys[0], keys[-1]
    await conn.execute(
        "DELETE FROM qbo_staging WHERE partner_id = $1 AND entity = $2 "
        "AND (realm_id, qbo_id) >= ($6, $7) AND (realm_id, qbo_id) <= ($8, $9) "
        "AND (realm_id, qbo_id, sync_token) IN (SELECT * FROM unnest($3::text[], $4::text[], $5::bigint[]))",
        partner_id, entity, [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys],
        low[0], low[1], high[0], high[1],
    )


async def staged_count(db: Any, partner_id: str) -> int:
    return int(await db.fetchval("SELECT count(*) FROM qbo_staging WHERE partner_id = $1", partner_id))


async def customer_snapshots(conn: Any, partner_id: str, realm_id: str, qbo_ids: list[str]) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT id, source, qbo_id, qbo_sync_token, qbo_updated_at, name, email, archived, qbo_active, "
        "qbo_deleted FROM customers WHERE partner_id = $1 AND realm_id = $2 AND qbo_id = ANY($3::text[])",
        partner_id, realm_id, qbo_ids,
    )


async def invoice_snapshots(conn: Any, partner_id: str, realm_id: str, qbo_ids: list[str]) -> list[asyncpg.Record]:
    """The invoices with their unposted payments, locked until the transaction ends. Locked first, read
    after: a payment recorded concurrently (platform_repo.create_payment locks the same row) either
    committed before and is counted here, or waits until this apply committed and then lowers the balance
    it wrote. Read in the same statement as the lock, it could be missed and overwritten (store/balances.py)."""
    await conn.execute(
        "SELECT 1 FROM invoices WHERE partner_id = $1 AND realm_id = $2 AND qbo_id = ANY($3::text[]) "
        "ORDER BY id FOR UPDATE", partner_id, realm_id, qbo_ids)
    return await conn.fetch(
        "SELECT i.id, i.source, i.qbo_id, i.qbo_sync_token, i.qbo_updated_at, i.qbo_customer_id, i.doc_number, "
        "i.amount, i.balance, i.currency, i.exchange_rate, i.due_date, i.status, i.archived, i.qbo_deleted, "
        # Not yet in QBO: pending or needs_attention, except postings QBO had and a person removed or changed
        # there (qbo_change, migration 0007): QBO's Balance already tells the truth about those.
        "COALESCE(sum(p.amount - p.netted_amount) FILTER (WHERE p.status IN ('pending', 'needs_attention') "
        "  AND p.qbo_change IS NULL), 0) "
        "  AS unposted_payments_total, count(p.id) > 0 AS has_platform_payments "
        "FROM invoices i LEFT JOIN payments p ON p.invoice_id = i.id "
        "WHERE i.partner_id = $1 AND i.realm_id = $2 AND i.qbo_id = ANY($3::text[]) GROUP BY i.id",
        partner_id, realm_id, qbo_ids,
    )


# Set-based upserts: one statement per batch over `unnest`ed arrays (not one statement per row). A batch
# holds each QBO object once (apply reduces versions first), so ON CONFLICT never meets a row twice.
_CUSTOMER_UPSERT = """
INSERT INTO customers (id, partner_id, source, realm_id, qbo_id, qbo_sync_token, qbo_updated_at, name, email,
                       archived, qbo_active, qbo_deleted)
SELECT v.id, $1, 'qbo', $2, v.qbo_id, v.tok, v.upd, v.name, v.email, v.archived, v.active, v.deleted
FROM unnest($3::text[], $4::text[], $5::bigint[], $6::timestamptz[], $7::text[], $8::text[], $9::bool[],
            $10::bool[], $11::bool[]) AS v(id, qbo_id, tok, upd, name, email, archived, active, deleted)
ON CONFLICT (partner_id, realm_id, qbo_id) WHERE qbo_id IS NOT NULL DO UPDATE SET
    qbo_sync_token = EXCLUDED.qbo_sync_token, qbo_updated_at = EXCLUDED.qbo_updated_at, name = EXCLUDED.name,
    email = EXCLUDED.email, archived = EXCLUDED.archived, qbo_active = EXCLUDED.qbo_active,
    qbo_deleted = EXCLUDED.qbo_deleted, updated_at = now()
"""

_INVOICE_UPSERT = """
INSERT INTO invoices (id, partner_id, source, realm_id, qbo_id, qbo_sync_token, qbo_updated_at, customer_id,
                      qbo_customer_id, doc_number, amount, balance, currency, due_date, status, archived, qbo_deleted,
                      qbo_balance, qbo_total, exchange_rate)
SELECT v.id, $1, 'qbo', $2, v.qbo_id, v.tok, v.upd, c.id, v.cust, v.doc, v.amount, v.balance, v.currency, v.due,
       v.status, v.archived, v.deleted, v.qbo_balance, v.qbo_total, v.rate
FROM unnest($3::text[], $4::text[], $5::bigint[], $6::timestamptz[], $7::text[], $8::text[], $9::numeric[],
            $10::numeric[], $11::text[], $12::date[], $13::text[], $14::bool[], $15::bool[], $16::numeric[],
            $17::numeric[], $18::numeric[])
     AS v(id, qbo_id, tok, upd, cust, doc, amount, balance, currency, due, status, archived, deleted, qbo_balance,
          qbo_total, rate)
LEFT JOIN customers c ON c.partner_id = $1 AND c.realm_id = $2 AND c.qbo_id = v.cust
ON CONFLICT (partner_id, realm_id, qbo_id) WHERE qbo_id IS NOT NULL DO UPDATE SET
    qbo_sync_token = EXCLUDED.qbo_sync_token, qbo_updated_at = EXCLUDED.qbo_updated_at,
    customer_id = EXCLUDED.customer_id, qbo_customer_id = EXCLUDED.qbo_customer_id,
    doc_number = EXCLUDED.doc_number, amount = EXCLUDED.amount, balance = EXCLUDED.balance,
    currency = EXCLUDED.currency, due_date = EXCLUDED.due_date, status = EXCLUDED.status,
    archived = EXCLUDED.archived, qbo_deleted = EXCLUDED.qbo_deleted,
    qbo_balance = COALESCE(EXCLUDED.qbo_balance, invoices.qbo_balance),
    qbo_total = COALESCE(EXCLUDED.qbo_total, invoices.qbo_total), exchange_rate = EXCLUDED.exchange_rate,
    updated_at = now()
"""


def _columns(rows: list[tuple]) -> list[list]:
    """Rows to per-column arrays for `unnest`."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else []


async def upsert_customers(conn: Any, partner_id: str, realm_id: str, states: Sequence[Any]) -> None:
    if not states:
        return
    await conn.execute(_CUSTOMER_UPSERT, partner_id, realm_id, *_columns([
        (platform_id("cus", partner_id, realm_id, s.qbo_id), s.qbo_id, s.qbo_sync_token, s.qbo_updated_at,
         s.name, s.email, s.archived, s.qbo_active, s.qbo_deleted)
        for s in states
    ]))


async def upsert_invoices(conn: Any, partner_id: str, realm_id: str, states: Sequence[Any]) -> None:
    if not states:
        return
    await conn.execute(_INVOICE_UPSERT, partner_id, realm_id, *_columns([
        (platform_id("inv", partner_id, realm_id, s.qbo_id), s.qbo_id, s.qbo_sync_token, s.qbo_updated_at,
         s.qbo_customer_id, s.doc_number, s.amount, s.balance, s.currency, s.due_date, s.status.value,
         s.archived, s.qbo_deleted, s.qbo_balance, s.qbo_total, s.exchange_rate)
        for s in states
    ]))


async def log_entries(conn: Any, partner_id: str, run_id: int | None, entries: Sequence[tuple]) -> None:
    """entries: (kind, entity, qbo_id, platform_id, reason, details dict). Deduped by `sync_log_dedupe`."""
    await conn.executemany(
        "INSERT INTO sync_log (partner_id, sync_run_id, kind, entity, qbo_id, platform_id, reason, details) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8::text::jsonb) ON CONFLICT DO NOTHING",
        [(partner_id, run_id, k, e, q, p, r, json.dumps(d)) for k, e, q, p, r, d in entries],
    )
