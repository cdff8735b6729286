"""SQL for checking our own postings against what QBO now says (activities/own_postings.py, migration 0007).

Our rows are found by the QBO id we recorded when posting (`payments.qbo_payment_id`, `payouts.qbo_deposit_id`):
a deleted object arrives from CDC as a tombstone with only its Id (qbo-reference §4), so the Id is the one key
every change carries. Only postings that still stand are candidates (`posted` / `deposited`, no `qbo_change`):
a posting found changed once is never flagged, logged or counted again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import asyncpg

from store.db import Conn, Db, one

# Candidates: our postings that still stand, by QBO id. Payments are bound to the realm through their invoice
# (a partner's records of one realm are never checked against another, PRODUCT.md §3).
_PAYMENTS = (
    # what our Payment holds now: its amount less the refunds netted into it or reduced from it (0013)
    "SELECT p.id, p.qbo_payment_id AS qbo_id, COALESCE(p.qbo_amount, p.amount) AS amount, i.qbo_id AS invoice_qbo_id, "
    "(i.status = 'void' OR i.qbo_deleted) AS invoice_closed, "
    # refunds sent against it whose outcome is not recorded yet (rules/own_postings.py)
    "(SELECT coalesce(jsonb_object_agg(r.id, r.amount::text), '{}') FROM refunds r WHERE r.payment_id = p.id"
    " AND r.status = 'pending' AND r.attempts > 0) AS refunds_in_flight FROM payments p "
    "JOIN invoices i ON i.id = p.invoice_id AND i.realm_id = $2 "
    "WHERE p.partner_id = $1 AND p.status = 'posted' AND p.qbo_change IS NULL AND p.qbo_payment_id IS NOT NULL"
)
_PAYOUTS = (
    "SELECT po.id, po.qbo_deposit_id AS qbo_id, po.net_amount AS amount, NULL::text AS invoice_qbo_id, "
    "false AS invoice_closed, '{}'::jsonb AS refunds_in_flight "
    "FROM payouts po WHERE po.partner_id = $1 AND $2::text IS NOT NULL AND po.status = 'deposited' "
    "AND po.qbo_change IS NULL AND po.qbo_deposit_id IS NOT NULL"
)
_CANDIDATES = {"Payment": _PAYMENTS, "Deposit": _PAYOUTS}
_TABLE = {"Payment": ("payments", "qbo_payment_id", "posted"), "Deposit": ("payouts", "qbo_deposit_id", "deposited")}


def stage_filter(entity: str) -> str:
    """The WHERE clause `sync_repo.stage` adds for Payment / Deposit: stage only versions of our own standing
    postings that were not checked yet (a bookkeeper's own Payments, and the CDC overlap's re-reads of a
    version already found unchanged, stage nothing). `u` is the staged row, $1 the partner, $2 the realm."""
    query = _CANDIDATES[entity]
    column = "p.qbo_payment_id" if entity == "Payment" else "po.qbo_deposit_id"
    alias = "p" if entity == "Payment" else "po"
    return (f"WHERE EXISTS ({query} AND {column} = u.qbo_id AND (u.deleted OR {alias}.qbo_sync_token IS NULL "
            f"OR {alias}.qbo_sync_token < u.tok))")


async def candidates(db: Db, partner_id: str, realm_id: str, entity: str,
                     qbo_ids: Sequence[str] | None = None) -> list[asyncpg.Record]:
    """Standing postings of `entity` (all of them, or those with the given QBO ids), ordered by QBO id."""
    table = "p" if entity == "Payment" else "po"
    column = "qbo_payment_id" if entity == "Payment" else "qbo_deposit_id"
    if qbo_ids is None:
        return await db.fetch(f"{_CANDIDATES[entity]} ORDER BY {table}.{column}", partner_id, realm_id)
    return await db.fetch(f"{_CANDIDATES[entity]} AND {table}.{column} = ANY($3::text[]) ORDER BY {table}.{column}",
                          partner_id, realm_id, list(qbo_ids))


async def any_standing(db: Db, partner_id: str, realm_id: str) -> bool:
    """Whether the partner has any posting QBO could have changed (else the check costs no QBO call)."""
    return bool(await db.fetchval(
        f"SELECT EXISTS ({_PAYMENTS}) OR EXISTS ({_PAYOUTS})", partner_id, realm_id))


async def record_checked(conn: Conn, entity: str, checked: Sequence[tuple[str, int]]) -> None:
    """(platform id, SyncToken) of versions found unchanged: the overlap does not stage them again."""
    table, _, _ = _TABLE[entity]
    await conn.executemany(
        f"UPDATE {table} SET qbo_sync_token = GREATEST(COALESCE(qbo_sync_token, -1), $2) WHERE id = $1",
        list(checked))


async def mark_changed(conn: Conn, partner_id: str, run_id: int | None, entity: str, platform_id: str,
                       qbo_id: str, change: str, reason: str, sync_token: int | None) -> bool:
    """Flag one posting `needs_attention` because QBO changed it, and log the conflict, in the caller's
    transaction. Only a standing posting is flagged, so a change seen twice (CDC overlap, a retried apply)
    changes and logs nothing the second time; returns whether this call flagged it."""
    table, column, standing = _TABLE[entity]
    flagged = await conn.fetchval(
        f"UPDATE {table} SET status = 'needs_attention', qbo_change = $3, attention_reason = $4, "
        "attention_code = 'changed_in_qbo', updated_at = now() "
        f"WHERE id = $1 AND partner_id = $2 AND status = '{standing}' AND qbo_change IS NULL "
        f"AND {column} = $5 RETURNING id", platform_id, partner_id, change, reason, qbo_id)
    if flagged is None:
        return False
    details = {"action": "changed_in_qbo", "change": change}
    if sync_token is not None:
        details["sync_token"] = str(sync_token)
    await conn.execute(
        "INSERT INTO sync_log (partner_id, sync_run_id, kind, entity, qbo_id, platform_id, reason, details) "
        "VALUES ($1, $2, 'conflict', $3, $4, $5, $6, $7::text::jsonb) ON CONFLICT DO NOTHING",
        partner_id, run_id, entity, qbo_id, platform_id, reason, json.dumps(details))
    return True


async def changed_counts(db: Db, partner_id: str) -> dict[str, int]:
    """Payments and payouts waiting for a person because QBO changed what we posted (reconciliation)."""
    row = await db.fetchrow(
        "SELECT (SELECT count(*) FROM payments WHERE partner_id = $1 AND status = 'needs_attention' "
        "        AND qbo_change IS NOT NULL) AS payments, "
        "(SELECT count(*) FROM payouts WHERE partner_id = $1 AND status = 'needs_attention' "
        "        AND qbo_change IS NOT NULL) AS payouts", partner_id)
    row = one(row)
    return {"payments": int(row["payments"]), "payouts": int(row["payouts"])}


async def changed_postings(db: Db, partner_id: str) -> list[asyncpg.Record]:
    """The flagged postings themselves, for the reconciliation details."""
    return await db.fetch(
        "SELECT 'payment' AS kind, id, qbo_payment_id AS qbo_id, qbo_change, attention_reason FROM payments "
        "WHERE partner_id = $1 AND status = 'needs_attention' AND qbo_change IS NOT NULL "
        "UNION ALL SELECT 'payout', id, qbo_deposit_id, qbo_change, attention_reason FROM payouts "
        "WHERE partner_id = $1 AND status = 'needs_attention' AND qbo_change IS NOT NULL ORDER BY 1, 2",
        partner_id)
