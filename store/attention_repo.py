"""SQL for putting `needs_attention` items back in line (PRODUCT.md §4 "never a dead end", §6 retry).

Two ways back: a person presses retry in the dashboard (`retry_payment`, `retry_payout`: any cause, the
reason is cleared and the request is kept in sync_log as an 'info' row), or the workflow finds that a cause
which clears by itself may have cleared (`requeue_cleared_*`: a cheap check against the mirror, no QBO
call; the normal live decision then runs again and re-parks the item if QBO still disagrees).

Each requeue bumps `retry_generation`, so the next create carries a new requestid (QBO would replay the
old failure for the old one); `attempts` is kept, so a payment sent before is still looked up by its
PaymentRefNum before it is sent again (exactly once).
"""

from __future__ import annotations

import asyncpg

from rules.attention import AUTO_RETRY

_AUTO = sorted(c.value for c in AUTO_RETRY)

# A fingerprint of the partner's chart of accounts (ids and Active flags): an `account_inactive` item is
# looked at again only once this differs from the one taken when it was parked.
ACCOUNTS_FINGERPRINT = (
    "(SELECT md5(COALESCE(string_agg(a.qbo_id || ':' || a.active::text, ',' ORDER BY a.qbo_id), ''))"
    " FROM qbo_accounts a WHERE a.partner_id = $1)"
)

# Per cause, "what it depends on changed since the item was parked" (x = the payment or payout row).
_CONNECTION_BACK = (
    "EXISTS (SELECT 1 FROM qbo_connections k WHERE k.partner_id = x.partner_id AND k.state = 'active'"
    " AND k.connected_at > x.attention_at)")  # connected_at: set by each OAuth callback (qbo/tokens.py)
_ACCOUNTS_CHANGED = f"x.attention_ref IS DISTINCT FROM {ACCOUNTS_FINGERPRINT}"

_CLEARED_PAYMENTS = f"""
FROM payments x JOIN invoices i ON i.id = x.invoice_id
WHERE x.partner_id = $1 AND x.status = 'needs_attention' AND x.attention_code = ANY($2::text[]) AND (
    (x.attention_code IN ('customer_inactive', 'customer_not_found') AND EXISTS (
        SELECT 1 FROM customers c WHERE c.partner_id = x.partner_id AND c.realm_id = i.realm_id
        AND c.qbo_id = i.qbo_customer_id AND c.qbo_active AND NOT c.qbo_deleted AND c.updated_at > x.attention_at))
 OR (x.attention_code = 'invoice_balance_too_low' AND i.updated_at > x.attention_at AND NOT i.qbo_deleted
     AND i.status <> 'void')
 OR (x.attention_code = 'account_inactive' AND {_ACCOUNTS_CHANGED})
 OR (x.attention_code = 'auth' AND {_CONNECTION_BACK}))
"""

_CLEARED_PAYOUTS = f"""
FROM payouts x
WHERE x.partner_id = $1 AND x.status = 'needs_attention' AND x.attention_code = ANY($2::text[]) AND (
    (x.attention_code = 'account_inactive' AND {_ACCOUNTS_CHANGED})
 OR (x.attention_code = 'auth' AND {_CONNECTION_BACK}))
"""

_REQUEUE = ("status = 'pending', retry_generation = retry_generation + 1, updated_at = now()")


async def requeue_cleared_payments(pool: asyncpg.Pool, partner_id: str) -> list[str]:
    """Put back in line the parked payments whose cause may have cleared. The reason and code stay until
    the new decision: a re-park for the same reason then logs nothing new (store.posting_repo)."""
    rows = await pool.fetch(
        f"UPDATE payments SET {_REQUEUE} WHERE id IN (SELECT x.id {_CLEARED_PAYMENTS}) RETURNING id",  # noqa: S608
        partner_id, _AUTO)
    return [r["id"] for r in rows]


async def requeue_cleared_payouts(pool: asyncpg.Pool, partner_id: str) -> list[str]:
    rows = await pool.fetch(
        f"UPDATE payouts SET {_REQUEUE} WHERE id IN (SELECT x.id {_CLEARED_PAYOUTS}) RETURNING id",  # noqa: S608
        partner_id, _AUTO)
    return [r["id"] for r in rows]


_QBO_ID = {"payments": "qbo_payment_id", "payouts": "qbo_deposit_id"}


async def retry(pool: asyncpg.Pool, partner_id: str, table: str, item_id: str) -> str:
    """The dashboard's retry: → 'queued', 'not_found' (unknown, or another partner's) or the item's status
    when it is not in needs_attention (the caller answers 409). Status, cleared reason and the sync_log
    'info' row are one transaction, so a double click queues once and logs once."""
    entity = {"payments": "Payment", "payouts": "Payout", "refunds": "Refund"}[table]
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"SELECT status, attention_reason, attention_code FROM {table}"  # noqa: S608 (table from the map)
            " WHERE id = $1 AND partner_id = $2 FOR UPDATE", item_id, partner_id)
        if row is None:
            return "not_found"
        if row["status"] != "needs_attention":
            status: str = row["status"]
            return status
        await conn.execute(
            f"UPDATE {table} SET {_REQUEUE}, attention_reason = NULL, attention_code = NULL,"  # noqa: S608
            " attention_at = NULL, attention_ref = NULL WHERE id = $1", item_id)
        # Our posting was deleted, voided or edited in QBO by a person (own_postings_repo): the retry posts
        # it afresh, so forget the QBO object that no longer stands for it. (Refunds are not watched that
        # way: a refund retried is looked up by its memo before anything is sent, activities/refunds.py.)
        if table in _QBO_ID:
            await conn.execute(
                f"UPDATE {table} SET qbo_change = NULL, qbo_sync_token = NULL, {_QBO_ID[table]} = NULL"  # noqa: S608
                " WHERE id = $1 AND qbo_change IS NOT NULL", item_id)
        await conn.execute(
            "INSERT INTO sync_log (partner_id, kind, entity, platform_id, reason, details)"
            " VALUES ($1, 'info', $2, $3, $4, $5)", partner_id, entity, item_id,
            "retry requested from the dashboard", {"previous_reason": row["attention_reason"],
                                                  "previous_code": row["attention_code"]})
    return "queued"
