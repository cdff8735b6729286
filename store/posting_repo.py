"""SQL for platform → QBO posting (activities/posting.py; reconciliation's paged reads are in reconcile_repo).

Every query that posts, voids or reconciles is bounded to the realm the partner is connected to now
(PRODUCT.md §3, §5): QBO ids are per-company counters, so an id of another company must never reach a
request (defence in depth: the OAuth callback already refuses a live connection's move to another realm).

The `payments` row is the outbox: `attempts` is incremented and committed BEFORE a create is sent to QBO,
so a retry after a crash knows it must look the payment up by PaymentRefNum before creating it again;
`qbo_payment_id` is written once QBO answered. Payouts use `qbo_request_id` the same way (set before the
Deposit create is sent). A per-partner advisory lock keeps two attempts from posting concurrently.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal

import asyncpg

from rules.attention import AttentionCode
from rules.deposits import DepositCurrency
from rules.preferences import Preferences
from store import balances
from store.attention_repo import ACCOUNTS_FINGERPRINT
from store.db import Conn

_PENDING_PAYMENTS = """
SELECT p.id, p.invoice_id, p.amount, p.netted_amount, p.currency, p.status, p.qbo_payment_id, p.attempts,
       p.retry_generation, p.paid_at,
       i.source AS inv_source, i.qbo_id AS inv_qbo_id, i.amount AS inv_amount, i.balance AS inv_balance,
       i.currency AS inv_currency, i.status AS inv_status, i.qbo_deleted AS inv_qbo_deleted
FROM payments p JOIN invoices i ON i.id = p.invoice_id
JOIN qbo_connections c ON c.partner_id = p.partner_id
WHERE p.partner_id = $1 AND p.status = 'pending' AND (i.realm_id IS NULL OR i.realm_id = c.realm_id)
ORDER BY p.created_at, p.id
LIMIT $2
"""


@asynccontextmanager
async def partner_lock(pool: asyncpg.Pool, partner_id: str, what: str) -> AsyncIterator[bool]:
    """Session advisory lock per (partner, what) on a dedicated connection; yields False when another
    attempt holds it (the caller then does nothing and reports the work as remaining)."""
    async with pool.acquire() as conn:
        key = f"posting:{what}:{partner_id}"
        held: bool | None = None  # None: the lock statement's outcome is unknown (it failed or was cancelled)
        try:
            held = bool(await conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", key))
            try:
                yield held
            finally:
                if held:
                    await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", key)
                    held = False
        finally:
            if held is not False:  # the lock may still be held: close the session rather than pool it
                conn.terminate()  # (the pool does not reset session state, store/db.py)


async def home_currency(pool: asyncpg.Pool, partner_id: str) -> str:
    """The company's home currency as last read from QBO Preferences (USD when never read: docs/currency.md)."""
    value = await pool.fetchval("SELECT home_currency FROM qbo_connections WHERE partner_id = $1", partner_id)
    return value.strip() if value else "USD"


async def load_preferences(pool: asyncpg.Pool, partner_id: str) -> Preferences:
    raw = await pool.fetchval("SELECT preferences FROM qbo_connections WHERE partner_id = $1", partner_id)
    return Preferences.model_validate(raw or {})


async def stored_preferences(pool: asyncpg.Pool, partner_id: str) -> Preferences | None:
    """The preferences the partner has, or None before onboarding stored any (a new partner, or one that
    connected another company: store/connection_repo.py clears them then)."""
    raw = await pool.fetchval("SELECT preferences FROM qbo_connections WHERE partner_id = $1", partner_id)
    return Preferences.model_validate(raw) if raw else None


async def save_account_pref(pool: asyncpg.Pool, partner_id: str, field: str, account_id: str) -> None:
    """Set one account preference (`fee_account_id`, `other_income_account_id`) an activity created."""
    await pool.execute(
        "UPDATE qbo_connections SET preferences = preferences || jsonb_build_object($3::text, $2::text),"
        " updated_at = now() WHERE partner_id = $1", partner_id, account_id, field)


# --- payments (the outbox) ---------------------------------------------------------------------------


async def pending_payments(pool: asyncpg.Pool, partner_id: str, limit: int) -> list[asyncpg.Record]:
    return await pool.fetch(_PENDING_PAYMENTS, partner_id, limit)


async def count_pending_payments(pool: asyncpg.Pool, partner_id: str) -> int:
    return int(await pool.fetchval(
        "SELECT count(*) FROM payments WHERE partner_id = $1 AND status = 'pending'", partner_id))


async def record_attempts(pool: asyncpg.Pool, attempts: Sequence[tuple[str, str]]) -> dict[str, Decimal]:
    """Step 1 of a create, committed before QBO sees it: attempts++ and the requestid used. Returns the amount
    each still-pending payment is to be sent for: its amount less the refunds netted into it, frozen from
    here on (a refund is netted only while attempts = 0, under the same row lock: store/refunds_repo.py).
    A payment refunded in full meanwhile is no longer pending and is left out."""
    rows = await pool.fetch(
        "UPDATE payments p SET attempts = attempts + 1, qbo_request_id = v.rid, updated_at = now()"
        " FROM unnest($1::text[], $2::text[]) AS v(id, rid) WHERE p.id = v.id AND p.status = 'pending'"
        " RETURNING p.id, p.amount - p.netted_amount AS amount",
        [a[0] for a in attempts], [a[1] for a in attempts])
    return {r["id"]: r["amount"] for r in rows}


async def next_request_generation(pool: asyncpg.Pool, payment_id: str) -> None:
    """A pending payment whose create QBO answered with a Fault (so did not apply) gets a new requestid
    generation: QBO replays a reused requestid's answer (qbo-reference §7.5), fault included, so resending
    under the old one could never succeed."""
    await pool.execute("UPDATE payments SET retry_generation = retry_generation + 1, updated_at = now()"
                       " WHERE id = $1 AND status = 'pending'", payment_id)


async def mark_posted(pool: asyncpg.Pool, payment_id: str, qbo_payment_id: str,
                      qbo_view: tuple[Decimal, Decimal] | None = None,
                      deposit_to_account_id: str | None = None) -> None:
    """Record the QBO Payment; with QBO's (Balance, TotalAmt) of the invoice after it, the platform balance
    is recomputed in the same transaction (store/balances.py keeps that invariant). `deposit_to_account_id`:
    the Payment's DepositToAccountRef (None = Undeposited Funds)."""
    await balances.mark_posted(pool, payment_id, qbo_payment_id, qbo_view, deposit_to_account_id)


async def mark_not_synced(pool: asyncpg.Pool, payment_id: str, reason: str) -> None:
    await pool.execute(
        "UPDATE payments SET status = 'not_synced', attention_reason = $2, updated_at = now()"
        " WHERE id = $1 AND status = 'pending'", payment_id, reason)


async def mark_payment_attention(
    pool: asyncpg.Pool, partner_id: str, payment_id: str, reason: str, qbo_id: str | None = None,
    code: AttentionCode = AttentionCode.QBO_FAULT,
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await park(conn, "payments", partner_id, payment_id, reason, code, "Payment", qbo_id)


_WAITING_CLEARED = ", waiting_reason = NULL"


async def park(
    conn: Conn, table: str, partner_id: str, item_id: str, reason: str, code: str, entity: str,
    qbo_id: str | None,
) -> None:
    """needs_attention with its cause. The sync_log row is written only when the reason is new for the
    item: a requeued item whose cause had not cleared goes back without a second row."""
    previous = await conn.fetchval(
        f"SELECT attention_reason FROM {table} WHERE id = $2 AND partner_id = $1 FOR UPDATE",  # noqa: S608
        partner_id, item_id)
    await conn.execute(
        f"UPDATE {table} SET status = 'needs_attention', attention_reason = $3, attention_code = $4,"  # noqa: S608
        f" attention_at = now(), updated_at = now(){_WAITING_CLEARED if table == 'payouts' else ''},"
        f" attention_ref = CASE WHEN $4 = 'account_inactive' THEN {ACCOUNTS_FINGERPRINT} END"
        " WHERE id = $2 AND partner_id = $1", partner_id, item_id, reason, str(code))
    if previous != reason:
        await log_attention(conn, partner_id, entity, item_id, reason, qbo_id)


async def log_attention(
    conn: Conn, partner_id: str, entity: str, platform_id: str, reason: str, qbo_id: str | None = None,
    sync_run_id: int | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO sync_log (partner_id, sync_run_id, kind, entity, qbo_id, platform_id, reason)"
        " VALUES ($1, $2, 'needs_attention', $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        partner_id, sync_run_id, entity, qbo_id, platform_id, reason)


async def log_info(pool: asyncpg.Pool, partner_id: str, entity: str, platform_id: str, reason: str) -> None:
    await pool.execute(
        "INSERT INTO sync_log (partner_id, kind, entity, platform_id, reason) VALUES ($1, 'info', $2, $3, $4)",
        partner_id, entity, platform_id, reason)


# --- payouts -----------------------------------------------------------------------------------------


async def pending_payouts(pool: asyncpg.Pool, partner_id: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT id, gross_amount, refund_amount, fee_amount, net_amount, qbo_deposit_id, qbo_request_id,"
        " retry_generation, waiting_reason, arrival_date, currency FROM payouts po"
        " WHERE partner_id = $1 AND status = 'pending'"
        " AND NOT EXISTS (SELECT 1 FROM payout_payments pp"
        "   JOIN payments p ON p.id = pp.payment_id JOIN invoices i ON i.id = p.invoice_id"
        "   JOIN qbo_connections c ON c.partner_id = po.partner_id"
        "   WHERE pp.payout_id = po.id AND i.realm_id IS NOT NULL AND i.realm_id <> c.realm_id)"
        " ORDER BY created_at, id", partner_id)


async def payout_payments(pool: asyncpg.Pool, payout_id: str) -> list[asyncpg.Record]:
    """The payout's payments, with where QBO recorded each (`deposited_to_bank`: straight to an account
    that is not Undeposited Funds, so no Deposit can link it; NULL account = QBO's default, Undeposited
    Funds)."""
    return await pool.fetch(
        "SELECT p.id, p.amount, p.status, p.qbo_payment_id, p.attention_reason, p.qbo_deposit_to_account_id,"
        " (p.qbo_deposit_to_account_id IS NOT NULL AND a.account_subtype IS DISTINCT FROM 'UndepositedFunds')"
        "   AS deposited_to_bank,"
        # The rate the Payment was posted at: its invoice's, for payments not in home currency (docs/currency.md).
        " CASE WHEN p.currency <> COALESCE(c.home_currency, 'USD') THEN i.exchange_rate END AS exchange_rate,"
        # refunds booked against the payment (its QBO amount excludes them) that this payout does not carry
        " (SELECT COALESCE(sum(r.amount), 0) FROM refunds r WHERE r.payment_id = p.id"
        "   AND r.booking IN ('netted', 'reduced', 'voided') AND NOT EXISTS (SELECT 1 FROM payout_refunds pr"
        "   WHERE pr.refund_id = r.id AND pr.payout_id = pp.payout_id)) AS refunds_elsewhere,"
        " p.qbo_amount"
        " FROM payout_payments pp JOIN payments p ON p.id = pp.payment_id"
        " JOIN invoices i ON i.id = p.invoice_id JOIN qbo_connections c ON c.partner_id = p.partner_id"
        " LEFT JOIN qbo_accounts a ON a.partner_id = p.partner_id AND a.qbo_id = p.qbo_deposit_to_account_id"
        " WHERE pp.payout_id = $1 ORDER BY p.id", payout_id)


async def deposit_currency(pool: asyncpg.Pool, partner_id: str, account_id: str | None) -> DepositCurrency:
    """Home currency and the deposit account's (an account without a currency is in home, §15.5)."""
    row = await pool.fetchrow(
        "SELECT COALESCE(c.home_currency, 'USD') AS home, a.currency AS bank FROM qbo_connections c"
        " LEFT JOIN qbo_accounts a ON a.partner_id = c.partner_id AND a.qbo_id = $2 WHERE c.partner_id = $1",
        partner_id, account_id)
    home = row["home"].strip() if row else "USD"
    bank = row["bank"].strip() if row and row["bank"] else home
    return DepositCurrency(home=home, bank=bank)


async def payout_refunds(pool: asyncpg.Pool, payout_id: str) -> list[asyncpg.Record]:
    """The refunds the payout carries, with how each was booked and whether its payment is in the payout."""
    return await pool.fetch(
        "SELECT r.id, r.payment_id, r.amount, r.status, r.booking, r.attention_reason,"
        " EXISTS (SELECT 1 FROM payout_payments pp WHERE pp.payout_id = pr.payout_id"
        "   AND pp.payment_id = r.payment_id) AS payment_in_payout"
        " FROM payout_refunds pr JOIN refunds r ON r.id = pr.refund_id WHERE pr.payout_id = $1 ORDER BY r.id",
        payout_id)


async def record_deposit_attempt(pool: asyncpg.Pool, payout_id: str, request_id: str) -> None:
    await pool.execute(
        "UPDATE payouts SET qbo_request_id = $2, updated_at = now() WHERE id = $1", payout_id, request_id)


async def mark_deposited(
    pool: asyncpg.Pool, payout_id: str, qbo_deposit_id: str, deposit_total: Decimal | None = None,
    note: str | None = None,
) -> None:
    """`deposit_total`/`note` only when the Deposit is not the whole net (payments recorded straight to a bank)."""
    await pool.execute(
        "UPDATE payouts SET status = 'deposited', qbo_deposit_id = $2, attention_reason = NULL,"
        " attention_code = NULL, attention_at = NULL, attention_ref = NULL, waiting_reason = NULL,"
        " deposit_total = COALESCE($3, deposit_total), deposit_note = COALESCE($4, deposit_note),"
        " qbo_realm_id = (SELECT c.realm_id FROM qbo_connections c WHERE c.partner_id = payouts.partner_id),"
        " updated_at = now() WHERE id = $1", payout_id, qbo_deposit_id, deposit_total, note)


async def set_payout_waiting(pool: asyncpg.Pool, payout_id: str, reason: str | None) -> None:
    """Why a pending payout has no Deposit yet; written only when it changed (no churn per cycle)."""
    await pool.execute(
        "UPDATE payouts SET waiting_reason = $2, updated_at = now()"
        " WHERE id = $1 AND status = 'pending' AND waiting_reason IS DISTINCT FROM $2", payout_id, reason)


async def set_payout_status(
    pool: asyncpg.Pool, partner_id: str, payout_id: str, status: str, reason: str | None,
    qbo_deposit_id: str | None = None, code: AttentionCode = AttentionCode.QBO_FAULT,
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        if qbo_deposit_id is not None:
            await conn.execute("UPDATE payouts SET qbo_deposit_id = $2 WHERE id = $1", payout_id, qbo_deposit_id)
        if status == "needs_attention":
            await park(conn, "payouts", partner_id, payout_id, reason or "needs attention", code, "Payout",
                        qbo_deposit_id)
            return
        await conn.execute(
            "UPDATE payouts SET status = $2, attention_reason = $3, waiting_reason = NULL, updated_at = now()"
            " WHERE id = $1", payout_id, status, reason)


# --- invoices (void, reconciliation) -----------------------------------------------------------------


async def invoice_with_payments(pool: asyncpg.Pool, partner_id: str, invoice_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT i.*, EXISTS (SELECT 1 FROM payments p WHERE p.invoice_id = i.id) AS has_payments"
        " FROM invoices i LEFT JOIN qbo_connections c ON c.partner_id = i.partner_id"
        " WHERE i.partner_id = $1 AND i.id = $2 AND (i.realm_id IS NULL OR i.realm_id = COALESCE(c.realm_id, i.realm_id))",
        partner_id, invoice_id)


async def mark_invoice_void(pool: asyncpg.Pool, invoice_id: str, qbo_sync_token: int | None) -> None:
    await pool.execute(
        "UPDATE invoices SET status = 'void', balance = 0, qbo_sync_token = COALESCE($2, qbo_sync_token),"
        " qbo_balance = CASE WHEN source = 'qbo' THEN 0 END, updated_at = now() WHERE id = $1",
        invoice_id, qbo_sync_token)
