"""SQL for reconciliation runs (PRODUCT.md §6) and the paged reads they make.

The dashboard requests a run (`request_run`), the partner's workflow runs it (`start_run` … `finish_run`,
services/reconcile.py) and the dashboard reads the latest (`latest_run`). Reads are keyset pages of at
most `limit` rows, bounded to the connected realm, so a company with 100,000 invoices is checked with one
QBO query per 1,000 invoices and never more than one page in memory.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from store.db import one


async def request_run(pool: asyncpg.Pool, partner_id: str) -> tuple[int, str]:
    """The open run of the partner, or a new one: (run id, status). Two clicks join one run."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO reconciliation_runs (partner_id, realm_id)"
            " VALUES ($1, (SELECT realm_id FROM qbo_connections WHERE partner_id = $1))"
            " ON CONFLICT (partner_id) WHERE status <> 'finished' DO NOTHING", partner_id)
        row = await conn.fetchrow("SELECT id, status FROM reconciliation_runs WHERE partner_id = $1"
                                  " AND status <> 'finished'", partner_id)
    row = one(row)
    return int(row["id"]), row["status"]


async def start_run(pool: asyncpg.Pool, partner_id: str) -> int | None:
    """Mark the open run running (again, when an earlier attempt died) and return its id."""
    run_id: int | None = await pool.fetchval(
        "UPDATE reconciliation_runs SET status = 'running', started_at = now() WHERE partner_id = $1"
        " AND status <> 'finished' RETURNING id", partner_id)
    return run_id


async def finish_run(pool: asyncpg.Pool, run_id: int, report: dict[str, Any]) -> None:
    await pool.execute(
        "UPDATE reconciliation_runs SET status = 'finished', finished_at = now(), report = $2::text::jsonb"
        " WHERE id = $1", run_id, json.dumps(report, default=str))


async def latest_run(pool: asyncpg.Pool, partner_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT id, status, realm_id, requested_at, started_at, finished_at, report::text AS report"
        " FROM reconciliation_runs WHERE partner_id = $1 ORDER BY id DESC LIMIT 1", partner_id)


# --- paged reads ---------------------------------------------------------------------------------------

_CONNECTED = "JOIN qbo_connections c ON c.partner_id = {t}.partner_id AND c.realm_id = {r}"


async def invoices_page(pool: asyncpg.Pool, partner_id: str, after: str, limit: int) -> list[asyncpg.Record]:
    """QBO-sourced invoices with the platform payments not yet in QBO on each (pending / needs_attention,
    except those QBO had and a person changed there: `qbo_change`, migration 0007)."""
    return await pool.fetch(
        "SELECT i.id, i.qbo_id, i.balance, i.status, i.qbo_deleted, i.currency, i.exchange_rate,"
        " COALESCE(c.home_currency, 'USD') AS home_currency,"
        " COALESCE((SELECT sum(p.amount - p.netted_amount) FROM payments p WHERE p.invoice_id = i.id"
        "           AND p.status IN ('pending', 'needs_attention') AND p.qbo_change IS NULL), 0) AS unposted"
        f" FROM invoices i {_CONNECTED.format(t='i', r='i.realm_id')}"
        " WHERE i.partner_id = $1 AND i.source = 'qbo' AND i.id > $2 ORDER BY i.id LIMIT $3",
        partner_id, after, limit)


async def posted_payments_page(pool: asyncpg.Pool, partner_id: str, after: str, limit: int) -> list[asyncpg.Record]:
    """Payments QBO should hold as we posted them, with the QBO invoice each applies to."""
    return await pool.fetch(
        "SELECT p.id, COALESCE(p.qbo_amount, p.amount) AS amount, p.qbo_payment_id, i.qbo_id AS invoice_qbo_id,"
        " (i.status = 'void' OR i.qbo_deleted) AS invoice_closed FROM payments p"
        f" JOIN invoices i ON i.id = p.invoice_id {_CONNECTED.format(t='p', r='i.realm_id')}"
        " WHERE p.partner_id = $1 AND p.status = 'posted' AND p.qbo_payment_id IS NOT NULL AND p.id > $2"
        " ORDER BY p.id LIMIT $3", partner_id, after, limit)


async def deposited_payouts_page(pool: asyncpg.Pool, partner_id: str, after: str,
                                 limit: int) -> list[asyncpg.Record]:
    """`net_amount` here is what the Deposit must total: the net, or less when payments QBO received
    straight into a bank account could not be in it (`deposit_total`, rules/deposits.py)."""
    return await pool.fetch(
        "SELECT po.id, COALESCE(po.deposit_total, po.net_amount) AS net_amount, po.qbo_deposit_id, po.currency"
        " FROM payouts po"
        f" {_CONNECTED.format(t='po', r='po.qbo_realm_id')}"
        " WHERE po.partner_id = $1 AND po.status = 'deposited' AND po.id > $2 ORDER BY po.id LIMIT $3",
        partner_id, after, limit)


async def known_deposit_ids(pool: asyncpg.Pool, partner_id: str, qbo_ids: list[str]) -> set[str]:
    """Which of these QBO Deposit ids a payout of the partner (in the connected realm) records."""
    rows = await pool.fetch(
        f"SELECT po.qbo_deposit_id FROM payouts po {_CONNECTED.format(t='po', r='po.qbo_realm_id')}"
        " WHERE po.partner_id = $1 AND po.qbo_deposit_id = ANY($2::text[])", partner_id, qbo_ids)
    return {r["qbo_deposit_id"] for r in rows}


async def receipt_refunds_page(pool: asyncpg.Pool, partner_id: str, after: str, limit: int) -> list[asyncpg.Record]:
    """Refunds booked as RefundReceipts (docs/refunds.md), bound to the connected realm through the invoice."""
    return await pool.fetch(
        "SELECT r.id, r.amount, r.qbo_refund_receipt_id, i.currency, i.exchange_rate,"
        " COALESCE(c.home_currency, 'USD') AS home_currency FROM refunds r JOIN payments p ON p.id = r.payment_id"
        f" JOIN invoices i ON i.id = p.invoice_id {_CONNECTED.format(t='r', r='i.realm_id')}"
        " WHERE r.partner_id = $1 AND r.status = 'posted' AND r.booking = 'refund_receipt' AND r.id > $2"
        " ORDER BY r.id LIMIT $3", partner_id, after, limit)
