"""SQL for refunds and chargebacks (migration 0013; rules/refunds.py; docs/refunds.md).

The `refunds` row is the outbox of a refund, as `payments` is of a payment: `attempts` and the requestid
are committed before QBO sees anything, and a refund with `attempts > 0` is looked up before it is sent
again. Creating a refund locks its invoice, then its payment (the order every other writer uses), so two
concurrent refunds can't together pass the payment's amount (the CHECK on `payments.refunded_amount`
holds the same bound), and a refund can't be netted into a payment whose first attempt is being recorded.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg

from rules.attention import AttentionCode
from rules.invoices import derive_balance_status
from rules.refunds import NewRefund, RefundBooking, RefundRefused, decide_new_refund
from store import balances
from store.db import one
from store.platform_repo import RepoError, new_id
from store.posting_repo import park

_REFUND_COLUMNS = ("r.id, r.payment_id, r.amount, r.kind, r.reason, r.status, r.booking, r.qbo_refund_receipt_id,"
                   " r.attention_reason, r.attention_code, pr.payout_id, r.created_at, r.posted_at")


async def create_refund(pool: asyncpg.Pool, partner_id: str, payment_id: str, amount: Decimal, kind: str,
                        reason: str | None) -> asyncpg.Record:
    async with pool.acquire() as conn, conn.transaction():
        invoice_id = await conn.fetchval("SELECT invoice_id FROM payments WHERE id = $1 AND partner_id = $2",
                                         payment_id, partner_id)
        if invoice_id is None:
            raise RepoError("not_found", f"payment {payment_id} not found for this partner")
        await balances.lock_invoices(conn, [invoice_id])
        pay = one(await conn.fetchrow(
            "SELECT status, attempts, amount, refunded_amount FROM payments WHERE id = $1 FOR UPDATE", payment_id))
        try:
            new = decide_new_refund(payment_id=payment_id, payment_status=pay["status"], attempts=pay["attempts"],
                                    payment_amount=pay["amount"], refunded_amount=pay["refunded_amount"],
                                    amount=amount)
        except RefundRefused as exc:
            raise RepoError("invalid", str(exc)) from None
        row = await conn.fetchrow(
            "INSERT INTO refunds (id, partner_id, payment_id, amount, kind, reason, status, booking, posted_at)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, CASE WHEN $7 = 'posted' THEN now() END)"
            " RETURNING id, payment_id, amount, kind, status, booking",
            new_id("rf"), partner_id, payment_id, amount, kind, reason, new.status,
            new.booking.value if new.booking else None)
        row = one(row)
        await conn.execute(
            "UPDATE payments SET refunded_amount = refunded_amount + $2,"
            " netted_amount = netted_amount + CASE WHEN $3 THEN $2 ELSE 0 END,"
            " status = COALESCE($4, status), updated_at = now() WHERE id = $1",
            payment_id, amount, new.netted, new.payment_status)
        await _follow_invoice(conn, invoice_id, new, amount)
        return row


async def _follow_invoice(conn: Any, invoice_id: str, new: NewRefund, amount: Decimal) -> None:
    """A netted refund: QBO will get less, so the platform balance rises (store/balances.py's formula). A
    refund of a platform-invoice payment: that invoice's own balance rises by it. A pending refund moves
    nothing until QBO has it (the posting records QBO's balance then)."""
    if new.netted:
        await balances.recompute(conn, [invoice_id])
    elif new.status == "not_synced":
        inv = await conn.fetchrow("SELECT amount, balance, status FROM invoices WHERE id = $1", invoice_id)
        if inv["status"] == "void":
            return
        derived = derive_balance_status(qbo_total=inv["amount"], qbo_balance=min(inv["amount"], inv["balance"] + amount),
                                        unposted=Decimal("0"), voided=False)
        await conn.execute("UPDATE invoices SET balance = $2, status = $3, updated_at = now() WHERE id = $1",
                           invoice_id, derived.balance, derived.status.value)


async def refunds_of_payments(pool: asyncpg.Pool, payment_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    rows = await pool.fetch(
        f"SELECT {_REFUND_COLUMNS} FROM refunds r LEFT JOIN payout_refunds pr ON pr.refund_id = r.id"  # noqa: S608
        " WHERE r.payment_id = ANY($1::text[]) ORDER BY r.created_at, r.id", payment_ids)
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["payment_id"], []).append(dict(r))
    return out


# --- posting (activities/refunds.py) -------------------------------------------------------------------


async def pending_refunds(pool: asyncpg.Pool, partner_id: str, limit: int) -> list[asyncpg.Record]:
    """Refunds to book, with their payment and its invoice; bounded to the connected realm."""
    return await pool.fetch(
        "SELECT r.id, r.payment_id, r.amount, r.kind, r.attempts, r.retry_generation, r.created_at,"
        " p.status AS payment_status, p.qbo_payment_id, p.qbo_amount, p.qbo_change AS payment_qbo_change,"
        " i.id AS invoice_id, i.qbo_id AS invoice_qbo_id"
        " FROM refunds r JOIN payments p ON p.id = r.payment_id JOIN invoices i ON i.id = p.invoice_id"
        " JOIN qbo_connections c ON c.partner_id = r.partner_id"
        " WHERE r.partner_id = $1 AND r.status = 'pending' AND (i.realm_id IS NULL OR i.realm_id = c.realm_id)"
        " ORDER BY r.created_at, r.id LIMIT $2", partner_id, limit)


async def count_pending_refunds(pool: asyncpg.Pool, partner_id: str) -> int:
    count: int = await pool.fetchval("SELECT count(*) FROM refunds WHERE partner_id = $1 AND status = 'pending'",
                                     partner_id)
    return count


async def record_refund_attempt(pool: asyncpg.Pool, refund_id: str, request_id: str) -> None:
    """Committed before the write leaves: the next attempt looks the refund up first."""
    await pool.execute("UPDATE refunds SET attempts = attempts + 1, qbo_request_id = $2, updated_at = now()"
                       " WHERE id = $1 AND status = 'pending'", refund_id, request_id)


async def mark_refund_booked(pool: asyncpg.Pool, refund_id: str, booking: RefundBooking, *,
                             qbo_total: Decimal | None = None, receipt_id: str | None = None,
                             qbo_view: tuple[Decimal, Decimal] | None = None) -> None:
    """The refund is in QBO. For a reduction or void, `qbo_total` is what the QBO Payment holds now and
    `qbo_view` QBO's (Balance, TotalAmt) of the invoice after it: recorded and the platform balance
    recomputed in the same transaction, under the invoice's row lock (store/balances.py)."""
    async with pool.acquire() as conn, conn.transaction():
        ref = one(await conn.fetchrow("SELECT r.payment_id, p.invoice_id FROM refunds r JOIN payments p ON"
                                      " p.id = r.payment_id WHERE r.id = $1", refund_id))
        await balances.lock_invoices(conn, [ref["invoice_id"]])
        # payment before refund, the order create_payout locks them in (no deadlock between the two)
        await conn.execute("SELECT 1 FROM payments WHERE id = $1 FOR UPDATE", ref["payment_id"])
        await conn.execute(
            "UPDATE refunds SET status = 'posted', booking = $2, qbo_refund_receipt_id = $3, attention_reason = NULL,"
            " attention_code = NULL, attention_at = NULL, posted_at = now(), updated_at = now() WHERE id = $1",
            refund_id, booking.value, receipt_id)
        if qbo_total is not None:
            await conn.execute("UPDATE payments SET qbo_amount = $2, updated_at = now() WHERE id = $1",
                               ref["payment_id"], qbo_total)
        if qbo_view is not None:
            await conn.execute("UPDATE invoices SET qbo_balance = $2, qbo_total = $3 WHERE id = $1 AND source = 'qbo'",
                               ref["invoice_id"], *qbo_view)
            await balances.recompute(conn, [ref["invoice_id"]])


async def mark_refund_attention(pool: asyncpg.Pool, partner_id: str, refund_id: str, reason: str,
                                code: AttentionCode, qbo_id: str | None = None) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await park(conn, "refunds", partner_id, refund_id, reason, code, "Refund", qbo_id)
