"""SQL for platform → QBO posting (activities/posting.py) and reconciliation (activities/reconcile.py).

The `payments` row is the outbox: `attempts` is incremented and committed BEFORE a create is sent to QBO,
so a retry after a crash knows it must look the payment up by PaymentRefNum before creating it again;
`qbo_payment_id` is written once QBO answered. Payouts use `qbo_request_id` the same way (set before the
Deposit create is sent). A per-partner advisory lock keeps two attempts from posting concurrently.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import asyncpg

from rules.preferences import Preferences

_PENDING_PAYMENTS = """
SELECT p.id, p.invoice_id, p.amount, p.currency, p.status, p.qbo_payment_id, p.attempts,
       i.source AS inv_source, i.qbo_id AS inv_qbo_id, i.amount AS inv_amount, i.balance AS inv_balance,
       i.currency AS inv_currency, i.status AS inv_status, i.qbo_deleted AS inv_qbo_deleted
FROM payments p JOIN invoices i ON i.id = p.invoice_id
WHERE p.partner_id = $1 AND p.status = 'pending'
ORDER BY p.created_at, p.id
LIMIT $2
"""


@asynccontextmanager
async def partner_lock(pool: asyncpg.Pool, partner_id: str, what: str) -> AsyncIterator[bool]:
    """Session advisory lock per (partner, what) on a dedicated connection; yields False when another
    attempt holds it (the caller then does nothing and reports the work as remaining)."""
    async with pool.acquire() as conn:
        key = f"posting:{what}:{partner_id}"
        got = await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", key)
        try:
            yield bool(got)
        finally:
            if got:
                await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", key)


async def load_preferences(pool: asyncpg.Pool, partner_id: str) -> Preferences:
    raw = await pool.fetchval("SELECT preferences FROM qbo_connections WHERE partner_id = $1", partner_id)
    return Preferences.model_validate(raw or {})


async def save_fee_account(pool: asyncpg.Pool, partner_id: str, account_id: str) -> None:
    await pool.execute(
        "UPDATE qbo_connections SET preferences = preferences || jsonb_build_object('fee_account_id', $2::text),"
        " updated_at = now() WHERE partner_id = $1", partner_id, account_id)


# --- payments (the outbox) ---------------------------------------------------------------------------


async def pending_payments(pool: asyncpg.Pool, partner_id: str, limit: int) -> list[asyncpg.Record]:
    return await pool.fetch(_PENDING_PAYMENTS, partner_id, limit)


async def count_pending_payments(pool: asyncpg.Pool, partner_id: str) -> int:
    return await pool.fetchval(
        "SELECT count(*) FROM payments WHERE partner_id = $1 AND status = 'pending'", partner_id)


async def record_attempts(pool: asyncpg.Pool, attempts: Sequence[tuple[str, str]]) -> None:
    """Step 1 of a create, committed before QBO sees it: attempts++ and the requestid used."""
    await pool.executemany(
        "UPDATE payments SET attempts = attempts + 1, qbo_request_id = $2, updated_at = now()"
        " WHERE id = $1 AND status = 'pending'", attempts)


async def mark_posted(pool: asyncpg.Pool, payment_id: str, qbo_payment_id: str) -> None:
    await pool.execute(
        "UPDATE payments SET status = 'posted', qbo_payment_id = $2, attention_reason = NULL,"
        " posted_at = now(), updated_at = now() WHERE id = $1", payment_id, qbo_payment_id)


async def mark_not_synced(pool: asyncpg.Pool, payment_id: str, reason: str) -> None:
    await pool.execute(
        "UPDATE payments SET status = 'not_synced', attention_reason = $2, updated_at = now()"
        " WHERE id = $1 AND status = 'pending'", payment_id, reason)


async def mark_payment_attention(
    pool: asyncpg.Pool, partner_id: str, payment_id: str, reason: str, qbo_id: str | None = None
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE payments SET status = 'needs_attention', attention_reason = $2, updated_at = now()"
            " WHERE id = $1", payment_id, reason)
        await log_attention(conn, partner_id, "Payment", payment_id, reason, qbo_id)


async def log_attention(
    conn: Any, partner_id: str, entity: str, platform_id: str, reason: str, qbo_id: str | None = None,
    sync_run_id: int | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO sync_log (partner_id, sync_run_id, kind, entity, qbo_id, platform_id, reason)"
        " VALUES ($1, $2, 'needs_attention', $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        partner_id, sync_run_id, entity, qbo_id, platform_id, reason)


# --- payouts -----------------------------------------------------------------------------------------


async def pending_payouts(pool: asyncpg.Pool, partner_id: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT id, gross_amount, fee_amount, net_amount, qbo_deposit_id, qbo_request_id FROM payouts"
        " WHERE partner_id = $1 AND status = 'pending' ORDER BY created_at, id", partner_id)


async def payout_payments(pool: asyncpg.Pool, payout_id: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT p.id, p.amount, p.status, p.qbo_payment_id FROM payout_payments pp"
        " JOIN payments p ON p.id = pp.payment_id WHERE pp.payout_id = $1 ORDER BY p.id", payout_id)


async def record_deposit_attempt(pool: asyncpg.Pool, payout_id: str, request_id: str) -> None:
    await pool.execute(
        "UPDATE payouts SET qbo_request_id = $2, updated_at = now() WHERE id = $1", payout_id, request_id)


async def mark_deposited(pool: asyncpg.Pool, payout_id: str, qbo_deposit_id: str) -> None:
    await pool.execute(
        "UPDATE payouts SET status = 'deposited', qbo_deposit_id = $2, attention_reason = NULL,"
        " updated_at = now() WHERE id = $1", payout_id, qbo_deposit_id)


async def set_payout_status(
    pool: asyncpg.Pool, partner_id: str, payout_id: str, status: str, reason: str | None,
    qbo_deposit_id: str | None = None,
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE payouts SET status = $2, attention_reason = $3, qbo_deposit_id = COALESCE($4, qbo_deposit_id),"
            " updated_at = now() WHERE id = $1", payout_id, status, reason, qbo_deposit_id)
        if status == "needs_attention" and reason:
            await log_attention(conn, partner_id, "Payout", payout_id, reason, qbo_deposit_id)


# --- invoices (void, reconciliation) -----------------------------------------------------------------


async def invoice_with_payments(pool: asyncpg.Pool, partner_id: str, invoice_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT i.*, EXISTS (SELECT 1 FROM payments p WHERE p.invoice_id = i.id) AS has_payments"
        " FROM invoices i WHERE i.partner_id = $1 AND i.id = $2", partner_id, invoice_id)


async def mark_invoice_void(pool: asyncpg.Pool, invoice_id: str, qbo_sync_token: int | None) -> None:
    await pool.execute(
        "UPDATE invoices SET status = 'void', balance = 0, qbo_sync_token = COALESCE($2, qbo_sync_token),"
        " updated_at = now() WHERE id = $1", invoice_id, qbo_sync_token)


async def qbo_invoices_for_reconcile(pool: asyncpg.Pool, partner_id: str) -> list[asyncpg.Record]:
    """QBO-sourced invoices with the unposted platform payments (pending / needs_attention, except those QBO
    had and a person changed there: `qbo_change`, migration 0007) on each."""
    return await pool.fetch(
        "SELECT i.id, i.qbo_id, i.balance, i.status, i.qbo_deleted,"
        " COALESCE((SELECT sum(p.amount) FROM payments p WHERE p.invoice_id = i.id"
        "           AND p.status IN ('pending', 'needs_attention') AND p.qbo_change IS NULL), 0) AS unposted"
        " FROM invoices i WHERE i.partner_id = $1 AND i.source = 'qbo' ORDER BY i.id", partner_id)


async def posted_payments(pool: asyncpg.Pool, partner_id: str) -> list[asyncpg.Record]:
    """Payments QBO should hold as we posted them, with the QBO invoice each applies to."""
    return await pool.fetch(
        "SELECT p.id, p.amount, p.qbo_payment_id, i.qbo_id AS invoice_qbo_id,"
        " (i.status = 'void' OR i.qbo_deleted) AS invoice_closed FROM payments p"
        " JOIN invoices i ON i.id = p.invoice_id WHERE p.partner_id = $1 AND p.status = 'posted'"
        " AND p.qbo_payment_id IS NOT NULL ORDER BY p.id", partner_id)


async def deposited_payouts(pool: asyncpg.Pool, partner_id: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT id, net_amount, qbo_deposit_id FROM payouts WHERE partner_id = $1 AND status = 'deposited'"
        " ORDER BY id", partner_id)


def money(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))
