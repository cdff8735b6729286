"""The platform balance of a QBO-sourced invoice, and the lock that keeps it right (PRODUCT.md §3).

Invariant: `balance = max(0, qbo_balance − Σ payments on the invoice not yet in QBO)`, each payment counted
for what QBO will get, its amount less the refunds netted into it before it was sent (docs/refunds.md), and the status that
goes with it (`rules.invoices.derive_balance_status`, the one formula), where `qbo_balance` is QBO's
Balance as last known. Every writer of an input holds the invoice row locked while it reads the others and
writes, so no two can interleave:

- the sync's apply sets `qbo_balance` from QBO and derives the balance (sync_repo.snapshots locks the invoices);
- a platform payment lowers the balance by its amount (platform_repo.create_payment locks);
- the posting, once a payment is in QBO, sets `qbo_balance` to QBO's balance after it and recomputes
  (`mark_posted` here). That is also the repair: a payment QBO accepted while its activity died is
  "in QBO" but still pending, so the next apply subtracts it twice; the next posting finds it by
  PaymentRefNum, records it and recomputes from the live balance.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import asyncpg

from rules.facts import InvoiceStatus
from rules.invoices import derive_balance_status
from store.db import Conn

NOT_IN_QBO = ("pending", "needs_attention")  # the same set as the unposted total of rules/entities.py INVOICE


async def lock_invoices(conn: Conn, invoice_ids: Sequence[str]) -> None:
    """Row-lock the invoices until the transaction ends, in id order (so two lockers never deadlock)."""
    await conn.execute("SELECT 1 FROM invoices WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE",
                       list(invoice_ids))


async def recompute(conn: Conn, invoice_ids: Sequence[str]) -> None:
    """Rewrite balance and status of the (locked) QBO-sourced invoices from `qbo_balance` and the payments
    not yet in QBO. Invoices without a known QBO view, and deleted ones (their tombstone keeps the last
    values), are left alone."""
    rows = await conn.fetch(
        "SELECT i.id, i.qbo_balance, i.qbo_total, i.status, COALESCE((SELECT sum(p.amount - p.netted_amount) FROM payments p "
        "  WHERE p.invoice_id = i.id AND p.status = ANY($2::text[]) AND p.qbo_change IS NULL), 0) AS unposted"
        " FROM invoices i "
        "WHERE i.id = ANY($1::text[]) AND i.source = 'qbo' AND NOT i.qbo_deleted "
        "AND i.qbo_balance IS NOT NULL AND i.qbo_total IS NOT NULL",
        list(invoice_ids), list(NOT_IN_QBO))
    derived = [(r["id"], derive_balance_status(qbo_total=r["qbo_total"], qbo_balance=r["qbo_balance"],
                                               unposted=r["unposted"], voided=r["status"] == InvoiceStatus.VOID))
               for r in rows]
    if not derived:
        return
    await conn.execute(
        "UPDATE invoices i SET balance = v.balance, status = v.status, updated_at = now() "
        "FROM unnest($1::text[], $2::numeric[], $3::text[]) AS v(id, balance, status) "
        "WHERE i.id = v.id AND (i.balance, i.status) IS DISTINCT FROM (v.balance, v.status)",
        [i for i, _ in derived], [d.balance for _, d in derived], [d.status.value for _, d in derived])


async def mark_posted(pool: asyncpg.Pool, payment_id: str, qbo_payment_id: str,
                      qbo_view: tuple[Decimal, Decimal] | None, deposit_to_account_id: str | None = None) -> None:
    """The payment is in QBO: record it and, given QBO's (Balance, TotalAmt) of its invoice now that it
    is, recompute the platform balance, all in one transaction under the invoice's row lock. Without a
    view (the live invoice was not read) the balance is left as it is: the stored `qbo_balance` may not
    include this payment yet, and the next apply brings QBO's."""
    async with pool.acquire() as conn, conn.transaction():
        invoice_id = await conn.fetchval("SELECT invoice_id FROM payments WHERE id = $1", payment_id)
        await lock_invoices(conn, [invoice_id])
        await conn.execute(
            "UPDATE payments SET status = 'posted', qbo_payment_id = $2, qbo_deposit_to_account_id = $3,"
            " qbo_amount = amount - netted_amount,"
            " attention_reason = NULL, attention_code = NULL, attention_at = NULL, attention_ref = NULL,"
            " posted_at = now(), updated_at = now() WHERE id = $1", payment_id, qbo_payment_id, deposit_to_account_id)
        if qbo_view is None or invoice_id is None:
            return
        await conn.execute("UPDATE invoices SET qbo_balance = $2, qbo_total = $3 WHERE id = $1 AND source = 'qbo'",
                           invoice_id, *qbo_view)
        await recompute(conn, [invoice_id])
