"""SQL for binding a partner to one QBO company (PRODUCT.md §5 "Reconnect is to the same company only").

The OAuth callback locks the partner's connection row, decides with `rules.connection.decide_connect`,
and, when a disconnected partner connects to another company, sets the old company's work aside here in
the same transaction as the new tokens are stored: nothing of the old realm is ever posted, deposited or
reconciled against the new one, and the new realm is onboarded from scratch (accounts, preferences,
backfill, CDC cursor). The old realm's customers and invoices stay in the database with their realm id;
lists show the connected realm's records only (store/platform_repo.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg


@dataclass(frozen=True)
class CurrentConnection:
    state: str
    realm_id: str


async def lock_connection(conn: asyncpg.Connection, partner_id: str) -> CurrentConnection | None:
    """The partner's connection, locked until the transaction ends (two callbacks can't both switch)."""
    row = await conn.fetchrow(
        "SELECT state, realm_id FROM qbo_connections WHERE partner_id = $1 FOR UPDATE", partner_id)
    return CurrentConnection(row["state"], row["realm_id"]) if row else None


_SET_ASIDE_PAYMENTS = """
UPDATE payments p SET status = 'not_synced', attention_reason = $3, updated_at = now()
FROM invoices i
WHERE i.id = p.invoice_id AND p.partner_id = $1 AND p.status IN ('pending', 'needs_attention')
  AND i.realm_id IS NOT NULL AND i.realm_id <> $2
"""

_SET_ASIDE_PAYOUTS = """
UPDATE payouts po SET status = 'not_synced', attention_reason = $3, updated_at = now()
WHERE po.partner_id = $1 AND po.status IN ('pending', 'needs_attention')
  AND EXISTS (SELECT 1 FROM payout_payments pp JOIN payments p ON p.id = pp.payment_id
              JOIN invoices i ON i.id = p.invoice_id
              WHERE pp.payout_id = po.id AND i.realm_id IS NOT NULL AND i.realm_id <> $2)
"""


async def start_new_company(conn: asyncpg.Connection, partner_id: str, old_realm: str, new_realm: str) -> None:
    """A disconnected partner connects to another company: set the old company's unfinished postings aside
    (`not_synced`, with the reason) and forget everything that described the old company, so onboarding
    starts from scratch for the new one."""
    reason = (f"recorded for QuickBooks company {old_realm}, which this partner disconnected from; "
              f"never posted to company {new_realm}")
    payments = await conn.execute(_SET_ASIDE_PAYMENTS, partner_id, new_realm, reason)
    payouts = await conn.execute(_SET_ASIDE_PAYOUTS, partner_id, new_realm, reason)
    await conn.execute("DELETE FROM backfill_progress WHERE partner_id = $1", partner_id)
    await conn.execute("DELETE FROM qbo_accounts WHERE partner_id = $1", partner_id)
    await conn.execute("DELETE FROM qbo_staging WHERE partner_id = $1 AND realm_id <> $2", partner_id, new_realm)
    await conn.execute(
        "UPDATE qbo_connections SET preferences = '{}', cdc_cursor = NULL, last_full_sweep_at = NULL,"
        " last_synced_at = NULL, company_name = NULL, last_error = NULL WHERE partner_id = $1", partner_id)
    await conn.execute(
        "INSERT INTO sync_log (partner_id, kind, entity, reason, details) VALUES ($1, 'info', 'Connection', $2,"
        " jsonb_build_object('old_realm', $3::text, 'new_realm', $4::text))",
        partner_id, f"connected to QuickBooks company {new_realm} after disconnecting {old_realm}: "
                    f"{_count(payments)} payments and {_count(payouts)} payouts of {old_realm} set aside",
        old_realm, new_realm)


def _count(status: str) -> int:
    """Rows touched, from asyncpg's command tag ("UPDATE 3")."""
    return int(status.rsplit(" ", 1)[-1])
