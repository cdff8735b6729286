"""SQL behind the dashboard API (PRODUCT.md §6): partners, the platform's own customers, invoices, payments
and payouts, and the read side of a partner's QBO connection. asyncpg; money stays Decimal.

Writes that must be all-or-nothing (a payment and its invoice's balance, a payout and its payments) run in
one transaction with the rows they depend on locked, so two concurrent requests cannot overpay an invoice or
put a payment into two payouts.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from rules.preferences import Preferences
from store.db import one

# Records of the company the partner is connected to, and the platform's own (no realm). A partner that
# moved to another company keeps the old company's records, but they are never listed as the new one's
# (PRODUCT.md §5). A partner that never connected sees everything it has.
_IN_CURRENT_COMPANY = ("(realm_id IS NULL OR realm_id = COALESCE("
                       "(SELECT c.realm_id FROM qbo_connections c WHERE c.partner_id = $1), realm_id))")


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


class RepoError(Exception):
    """A request the data refuses: `kind` maps to the HTTP status, `message` is for the caller."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind  # not_found | conflict | invalid
        self.message = message


# --- partners ---------------------------------------------------------------------------------------


async def create_partner(pool: asyncpg.Pool, name: str) -> str:
    pid = new_id("p")
    await pool.execute("INSERT INTO partners (id, name) VALUES ($1, $2)", pid, name)
    return pid


async def list_partners(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT p.id, p.name, COALESCE(c.state, 'not_connected') AS qbo_state FROM partners p "
        "LEFT JOIN qbo_connections c ON c.partner_id = p.id ORDER BY p.created_at, p.id")


async def partner_exists(pool: asyncpg.Pool, partner_id: str) -> bool:
    return bool(await pool.fetchval("SELECT EXISTS (SELECT 1 FROM partners WHERE id = $1)", partner_id))


async def partner_for_realm(pool: asyncpg.Pool, realm_id: str) -> str | None:
    partner_id: str | None = await pool.fetchval(
        "SELECT partner_id FROM qbo_connections WHERE realm_id = $1 AND state <> 'disconnected'", realm_id)
    return partner_id


# --- the QBO connection, read side ------------------------------------------------------------------


async def connection(pool: asyncpg.Pool, partner_id: str) -> asyncpg.Record | None:
    return await pool.fetchrow(
        "SELECT state, realm_id, company_name, last_synced_at, preferences, last_error, refresh_hard_expires_at "
        "FROM qbo_connections WHERE partner_id = $1", partner_id)


async def active_accounts(pool: asyncpg.Pool, partner_id: str) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT qbo_id AS id, name, account_type AS type, account_subtype AS subtype FROM qbo_accounts "
        "WHERE partner_id = $1 AND active ORDER BY account_type, name", partner_id)


async def platform_counts(pool: asyncpg.Pool, partner_id: str) -> dict[str, int]:
    row = await pool.fetchrow(
        f"""
        SELECT (SELECT count(*) FROM customers WHERE partner_id = $1 AND NOT archived
                   AND {_IN_CURRENT_COMPANY}) AS customers,
               (SELECT count(*) FROM invoices WHERE partner_id = $1 AND NOT archived AND {_IN_CURRENT_COMPANY}) AS invoices,
               (SELECT count(*) FROM payments WHERE partner_id = $1 AND status = 'pending') AS payments_pending,
               (SELECT count(*) FROM payments WHERE partner_id = $1 AND status = 'posted') AS payments_posted,
               (SELECT count(*) FROM payments WHERE partner_id = $1 AND status = 'needs_attention')
                   AS payments_needs_attention,
               (SELECT count(*) FROM payouts WHERE partner_id = $1 AND status = 'pending') AS payouts_pending,
               (SELECT count(*) FROM sync_log WHERE partner_id = $1 AND kind = 'conflict') AS conflicts
        """, partner_id)
    return {k: int(v) for k, v in dict(one(row)).items()}


async def sync_runs(pool: asyncpg.Pool, partner_id: str, limit: int) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT id, trigger, started_at, finished_at, status, counts, conflicts, errors, error FROM sync_runs "
        "WHERE partner_id = $1 ORDER BY started_at DESC, id DESC LIMIT $2", partner_id, limit)


async def time_zone(pool: asyncpg.Pool, partner_id: str) -> str:
    """The partner's `time_zone` preference (PRODUCT §4), QBO's own zone when none is stored."""
    raw = await pool.fetchval("SELECT preferences FROM qbo_connections WHERE partner_id = $1", partner_id)
    return Preferences.model_validate(raw or {}).time_zone


# --- customers and invoices ---------------------------------------------------------------------------


# Keyset paging (api/paging.py): rows after ($after_at, $after_id) in (created_at, id) order, `limit` of them
# (the API asks one more than it answers, to know whether there is a next page).
def _after(alias: str, n: int) -> str:
    return f"(${n}::timestamptz IS NULL OR ({alias}created_at, {alias}id) > (${n}::timestamptz, ${n + 1}::text))"


Key = tuple[datetime, str] | None


async def list_customers(pool: asyncpg.Pool, partner_id: str, include_archived: bool, after: Key = None,
                         limit: int = 1000) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT id, qbo_id, source, name, email, archived, created_at FROM customers "
        f"WHERE partner_id = $1 AND (NOT archived OR $2) AND {_IN_CURRENT_COMPANY} AND {_after('', 3)} "
        "ORDER BY created_at, id LIMIT $5",
        partner_id, include_archived, *(after or (None, None)), limit)


async def create_customer(pool: asyncpg.Pool, partner_id: str, name: str, email: str | None) -> str:
    cid = new_id("cus")
    await pool.execute(
        "INSERT INTO customers (id, partner_id, source, name, email) VALUES ($1, $2, 'platform', $3, $4)",
        cid, partner_id, name, email)
    return cid


async def list_invoices(pool: asyncpg.Pool, partner_id: str, include_archived: bool, after: Key = None,
                        limit: int = 1000) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT id, qbo_id, source, doc_number, customer_id, amount, balance, currency, exchange_rate, due_date, "
        "status, archived, created_at, (SELECT home_currency FROM qbo_connections c WHERE c.partner_id = $1) "
        f"AS home_currency FROM invoices WHERE partner_id = $1 AND (NOT archived OR $2) "
        f"AND {_IN_CURRENT_COMPANY} AND {_after('', 3)} ORDER BY created_at, id LIMIT $5",
        partner_id, include_archived, *(after or (None, None)), limit)


@dataclass
class NewInvoice:
    customer_id: str
    amount: Decimal
    due_date: date | None
    doc_number: str | None
    currency: str


async def create_invoice(pool: asyncpg.Pool, partner_id: str, inv: NewInvoice) -> str:
    owner = await pool.fetchval("SELECT partner_id FROM customers WHERE id = $1", inv.customer_id)
    if owner != partner_id:
        raise RepoError("invalid", f"customer {inv.customer_id} does not exist for this partner; "
                                   "use an id from GET /partners/{pid}/customers")
    iid = new_id("inv")
    await pool.execute(
        "INSERT INTO invoices (id, partner_id, source, customer_id, doc_number, amount, balance, currency, "
        "due_date, status) VALUES ($1, $2, 'platform', $3, $4, $5, $5, $6, $7, 'open')",
        iid, partner_id, inv.customer_id, inv.doc_number, inv.amount, inv.currency, inv.due_date)
    return iid


# --- payments -----------------------------------------------------------------------------------------


async def create_payment(pool: asyncpg.Pool, partner_id: str, invoice_id: str, amount: Decimal,
                         reference: str | None, paid_at: datetime | None = None) -> asyncpg.Record:
    """One transaction: lock the invoice, check it can take `amount`, insert the payment, lower the balance.
    `paid_at` (when the customer paid, the QBO TxnDate's source) defaults to now."""
    async with pool.acquire() as conn, conn.transaction():
        inv = await conn.fetchrow(
            "SELECT i.source, i.balance, i.currency, i.status, i.archived, i.realm_id,"
            " c.realm_id AS connected_realm FROM invoices i"
            " LEFT JOIN qbo_connections c ON c.partner_id = i.partner_id"
            " WHERE i.id = $1 AND i.partner_id = $2 FOR UPDATE OF i", invoice_id, partner_id)
        inv = _check_payable(inv, invoice_id, amount)
        status = "pending" if inv["source"] == "qbo" else "not_synced"
        pay_id = new_id("pay")
        row = await conn.fetchrow(
            "INSERT INTO payments (id, partner_id, invoice_id, amount, currency, reference, status, paid_at) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, COALESCE($8, now())) RETURNING id, status, qbo_payment_id, paid_at",
            pay_id, partner_id, invoice_id, amount, inv["currency"], reference, status, paid_at)
        balance = inv["balance"] - amount
        await conn.execute(
            "UPDATE invoices SET balance = $2, status = $3, updated_at = now() WHERE id = $1",
            invoice_id, balance, "paid" if balance == 0 else "partially_paid")
        return one(row)


def _check_payable(inv: asyncpg.Record | None, invoice_id: str, amount: Decimal) -> asyncpg.Record:
    """The locked invoice, when a payment of `amount` may be recorded on it."""
    if inv is None:
        raise RepoError("not_found", f"invoice {invoice_id} not found for this partner")
    if inv["archived"]:
        raise RepoError("conflict", f"invoice {invoice_id} is archived; payments can't be recorded on it")
    if inv["realm_id"] and inv["connected_realm"] and inv["realm_id"] != inv["connected_realm"]:
        raise RepoError("conflict", f"invoice {invoice_id} belongs to QuickBooks company {inv['realm_id']}, "
                                    f"not the connected company {inv['connected_realm']}; payments can't be recorded on it")
    if inv["status"] == "void":
        raise RepoError("conflict", f"invoice {invoice_id} is void; payments can't be recorded on it")
    if amount > inv["balance"]:
        raise RepoError("invalid", f"amount {amount} is larger than the invoice's open balance "
                                   f"{inv['balance']}; record at most the balance")
    return inv


async def list_payments(pool: asyncpg.Pool, partner_id: str, after: Key = None,
                        limit: int = 1000) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT p.id, p.invoice_id, p.amount, p.currency, p.reference, p.status, p.qbo_payment_id, "
        "p.attention_reason, p.attention_code, p.qbo_change, pp.payout_id, p.paid_at, p.created_at, p.posted_at,"
        " p.refunded_amount FROM payments p "
        f"LEFT JOIN payout_payments pp ON pp.payment_id = p.id WHERE p.partner_id = $1 AND {_after('p.', 2)} "
        "ORDER BY p.created_at, p.id LIMIT $4", partner_id, *(after or (None, None)), limit)


# --- payouts ------------------------------------------------------------------------------------------


async def create_payout(pool: asyncpg.Pool, partner_id: str, payment_ids: list[str],
                        fee: Decimal, arrival_date: date, refund_ids: list[str] | None = None) -> asyncpg.Record:
    """`arrival_date`: the day the money reaches the bank (the Deposit's TxnDate). `refund_ids`: refunds and
    chargebacks the processor took out of this payout (net = payments − refunds − fee, PRODUCT.md §6)."""
    async with pool.acquire() as conn, conn.transaction():
        # Lock the payments first, then read their payout links in a second statement: a statement that
        # waited for a lock re-checks the locked rows but not what it joined, so a payout committed by a
        # concurrent request while this one waited would be missed by a join (and the insert below would
        # hit the UNIQUE constraint: a 500). The second statement's snapshot is taken after the lock.
        locked = await conn.fetch(
            "SELECT p.id, p.amount, p.status, p.currency FROM payments p "
            "WHERE p.partner_id = $1 AND p.id = ANY($2::text[]) ORDER BY p.id FOR UPDATE OF p",
            partner_id, payment_ids)
        links: dict[str, str] = {r["payment_id"]: r["payout_id"] for r in await conn.fetch(
            "SELECT payment_id, payout_id FROM payout_payments WHERE payment_id = ANY($1::text[])",
            [r["id"] for r in locked])}
        rows = [{**dict(r), "payout_id": links.get(r["id"])} for r in locked]
        gross = _check_payout(rows, payment_ids, fee)
        currency = payout_currency(rows)
        refunded = await _lock_refunds(conn, partner_id, refund_ids or [], currency)
        if fee + refunded >= gross:
            raise RepoError("invalid", f"refunds {refunded} and fee_amount {fee} must be less than the payments' "
                                       f"total {gross}: QBO cannot record a Deposit that is not positive")
        # Pending even with payments on platform-created invoices: those become an other-income line of
        # the Deposit (§4). With deposits off, the deposits step settles it `not_synced`.
        status = "pending"
        po_id = new_id("po")
        row = await conn.fetchrow(
            "INSERT INTO payouts (id, partner_id, gross_amount, refund_amount, fee_amount, net_amount, status,"
            " arrival_date, currency) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
            "RETURNING id, gross_amount, refund_amount, fee_amount, net_amount, status, qbo_deposit_id, arrival_date,"
            " currency",
            po_id, partner_id, gross, refunded, fee, gross - refunded - fee, status, arrival_date, currency)
        await conn.executemany("INSERT INTO payout_payments (payout_id, payment_id) VALUES ($1, $2)",
                               [(po_id, pid) for pid in payment_ids])
        await conn.executemany("INSERT INTO payout_refunds (payout_id, refund_id) VALUES ($1, $2)",
                               [(po_id, rid) for rid in refund_ids or []])
        return one(row)


def payout_currency(rows: list[dict[str, Any]]) -> str:
    """A payout holds payments of one currency (PRODUCT.md §4, docs/currency.md): its Deposit is in its bank
    account's currency and must equal the bank line, which is in one currency. 422 otherwise, naming them."""
    by_currency: dict[str, list[str]] = {}
    for r in rows:
        by_currency.setdefault(r["currency"].strip(), []).append(r["id"])
    if len(by_currency) > 1:
        listed = "; ".join(f"{cur}: {', '.join(sorted(ids))}" for cur, ids in sorted(by_currency.items()))
        raise RepoError("invalid", f"a payout holds payments of one currency, these are in {len(by_currency)} "
                                   f"({listed}); make one payout per currency")
    return next(iter(by_currency))


async def _lock_refunds(conn: Any, partner_id: str, refund_ids: list[str], currency: str) -> Decimal:
    """Lock the refunds, check each is this partner's, in the payout's currency (its payment's: a Deposit is in
    one currency, docs/currency.md) and in no payout yet; their total. Links are read after the lock, for the
    reason create_payout reads payment links after it."""
    if not refund_ids:
        return Decimal("0.00")
    locked = await conn.fetch(
        "SELECT r.id, r.amount, p.currency FROM refunds r JOIN payments p ON p.id = r.payment_id"
        " WHERE r.partner_id = $1 AND r.id = ANY($2::text[]) ORDER BY r.id FOR UPDATE OF r", partner_id, refund_ids)
    unknown = sorted(set(refund_ids) - {r["id"] for r in locked})
    if unknown:
        raise RepoError("invalid", f"unknown refund ids for this partner: {', '.join(unknown)}")
    foreign = [f"{r['id']} ({r['currency'].strip()})" for r in locked if r["currency"].strip() != currency]
    if foreign:
        raise RepoError("invalid", f"a payout holds refunds of its payments' currency {currency} only, these are "
                                   f"not: {', '.join(foreign)}; make one payout per currency")
    taken = [r["refund_id"] for r in await conn.fetch(
        "SELECT refund_id FROM payout_refunds WHERE refund_id = ANY($1::text[]) ORDER BY refund_id", refund_ids)]
    if taken:
        raise RepoError("conflict", f"refunds already in a payout: {', '.join(taken)}")
    return sum((r["amount"] for r in locked), Decimal("0.00"))


def _check_payout(rows: list[dict[str, Any]], payment_ids: list[str], fee: Decimal) -> Decimal:
    unknown = sorted(set(payment_ids) - {r["id"] for r in rows})
    if unknown:
        raise RepoError("invalid", f"unknown payment ids for this partner: {', '.join(unknown)}")
    taken = sorted(r["id"] for r in rows if r["payout_id"] is not None)
    if taken:
        raise RepoError("conflict", f"payments already in a payout: {', '.join(taken)}")
    gross = sum((r["amount"] for r in rows), Decimal("0.00"))
    if fee >= gross:
        raise RepoError("invalid", f"fee_amount {fee} must be less than the payments' total {gross}")
    return gross


async def list_payouts(pool: asyncpg.Pool, partner_id: str, after: Key = None,
                       limit: int = 1000) -> list[dict[str, Any]]:
    rows = await pool.fetch(
        "SELECT po.id, po.gross_amount, po.refund_amount, po.fee_amount, po.net_amount, po.status, po.qbo_deposit_id, "
        "po.attention_reason, po.attention_code, po.qbo_change, po.waiting_reason, po.deposit_note, po.arrival_date, po.created_at, "
        "po.currency, "
        "COALESCE(array_agg(pp.payment_id ORDER BY pp.payment_id) FILTER (WHERE pp.payment_id IS NOT NULL), "
        "'{}') AS payment_ids, ARRAY(SELECT pr.refund_id FROM payout_refunds pr WHERE pr.payout_id = po.id"
        " ORDER BY pr.refund_id) AS refund_ids FROM payouts po LEFT JOIN payout_payments pp ON pp.payout_id = po.id "
        f"WHERE po.partner_id = $1 AND {_after('po.', 2)} GROUP BY po.id ORDER BY po.created_at, po.id LIMIT $4",
        partner_id, *(after or (None, None)), limit)
    return [dict(r) for r in rows]


# --- webhook events ----------------------------------------------------------------------------------


async def record_webhook_events(pool: asyncpg.Pool, events: list[tuple[str, str, str | None, str | None,
                                                                        str | None]]) -> list[str]:
    """Store (event_id, realm, entity, entity_id, operation) rows before answering; returns the ids that
    were new (a redelivered event id is ignored: dedupe)."""
    if not events:
        return []
    rows = await pool.fetch(
        "INSERT INTO webhook_events (event_id, realm_id, entity, entity_id, operation) "
        "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) "
        "ON CONFLICT (event_id) DO NOTHING RETURNING event_id",
        *[list(col) for col in zip(*events, strict=True)])
    return [r["event_id"] for r in rows]


async def unrouted_webhook_events(pool: asyncpg.Pool, limit: int = 500) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT w.event_id, w.realm_id, c.partner_id FROM webhook_events w "
        "LEFT JOIN qbo_connections c ON c.realm_id = w.realm_id AND c.state <> 'disconnected' "
        "WHERE w.routed_at IS NULL ORDER BY w.received_at LIMIT $1", limit)


async def mark_webhook_events(pool: asyncpg.Pool, event_ids: list[str], result: str) -> None:
    await pool.execute("UPDATE webhook_events SET routed_at = now(), route_result = $2 "
                       "WHERE event_id = ANY($1::text[])", event_ids, result)


async def set_workflow_pending(pool: asyncpg.Pool, partner_id: str, pending: bool) -> None:
    await pool.execute("UPDATE qbo_connections SET workflow_pending = $2 WHERE partner_id = $1", partner_id, pending)


async def pending_workflows(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT partner_id, realm_id FROM qbo_connections "
                            "WHERE workflow_pending AND state <> 'disconnected' ORDER BY updated_at LIMIT 100")
