"""The partner workflow with its real activities: real Temporal, real PostgreSQL, the emulator over HTTP.

One partner's life: onboarding backfills a seeded company, a change a bookkeeper makes in QBO reaches the
platform on `sync_now`, and disconnect revokes the tokens at the emulator and completes the workflow."""

from __future__ import annotations

import httpx
import pytest

from starter import partners
from tests.helpers import eventually, history_text
from worker import build_worker
from workflows.models import IntegrationState
from workflows.partner import PartnerIntegrationWorkflow


async def _status(handle):
    return await handle.query(PartnerIntegrationWorkflow.status)


async def test_onboard_sync_and_disconnect(temporal_env, task_queue, db_pool, api, connect, emu, emulator_url,
                                           settings):
    company = await connect(customers=12, invoices=30, payments=6, random_seed=11)
    pid, realm = company.partner_id, company.realm_id
    qbo_customers = await company.count("Customer", include_inactive=True)
    qbo_invoices = await company.count("Invoice")
    client = temporal_env.client
    async with build_worker(client, db_pool, api, task_queue=task_queue):
        await partners.start_or_reconnect(client, pid, realm, sync_interval_seconds=3600, task_queue=task_queue)
        handle = partners.handle_for(client, pid)

        async def onboarded():
            status = await _status(handle)
            if status.last_error is not None and status.state is IntegrationState.ONBOARDING:
                pytest.fail(f"onboarding failed: {status.last_error}")  # at once: an assert means "not yet"
            assert status.state is IntegrationState.ACTIVE and status.last_sync_at
            return status

        status = await eventually(onboarded, timeout=120, what="onboarding and the first cycle")
        assert status.backfill.done == status.backfill.total == qbo_customers + qbo_invoices
        assert status.preferences is not None and status.preferences.payment_account_id is not None
        assert await db_pool.fetchval("SELECT count(*) FROM customers WHERE partner_id = $1", pid) == qbo_customers
        assert await db_pool.fetchval("SELECT count(*) FROM invoices WHERE partner_id = $1", pid) == qbo_invoices

        # A bookkeeper (another OAuth client) changes an open invoice's due date in QBO.
        bookkeeper = (await emu.tokens(realm))["access_token"]
        row = await db_pool.fetchrow(
            "SELECT qbo_id, qbo_sync_token FROM invoices WHERE partner_id = $1 AND status = 'open' "
            "AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.invoice_id = invoices.id) LIMIT 1", pid)
        async with httpx.AsyncClient(base_url=f"{emulator_url}/v3/company/{realm}",
                                     headers={"Authorization": f"Bearer {bookkeeper}",
                                              "Accept": "application/json"}) as http:
            resp = await http.post("/invoice", params={"minorversion": "75"}, json={
                "Id": row["qbo_id"], "SyncToken": str(row["qbo_sync_token"]), "sparse": True,
                "DueDate": "2031-01-31"})
            assert resp.status_code == 200, resp.text
        await partners.sync_now(client, pid)

        async def due_date_followed():
            value = await db_pool.fetchval(
                "SELECT due_date::text FROM invoices WHERE partner_id = $1 AND qbo_id = $2", pid, row["qbo_id"])
            assert value == "2031-01-31"
            return True

        await eventually(due_date_followed, timeout=60, what="the QBO edit to reach the platform")

        final = await partners.disconnect(client, pid)
        assert final.state is IntegrationState.DISCONNECTED
        assert (await handle.result()).state is IntegrationState.DISCONNECTED
        history = history_text(await handle.fetch_history())

    tokens = (await emu.issued_tokens(realm))
    ours = [t for t in tokens if t["token"] != bookkeeper and t["kind"] in ("access", "refresh")]
    bookkeeper_grant = next(t["grant_id"] for t in tokens if t["token"] == bookkeeper)
    ours = [t for t in ours if t["grant_id"] != bookkeeper_grant]
    assert ours and all(t["revoked"] for t in ours)
    # No token, secret or page of QBO data in the workflow's history (PRODUCT.md §5), searched with every
    # payload decoded; the decoding works: the workflow's input and the accounts loaded from QBO are readable.
    assert f'"partner_id": "{pid}"' in history and '"name": "Undeposited Funds"' in history
    for secret in [t["token"] for t in tokens] + [settings.qbo_client_secret.get_secret_value(),
                                                    settings.token_encryption_key.get_secret_value()]:
        assert secret not in history
    assert "QueryResponse" not in history and "CDCResponse" not in history and '"Line"' not in history
    row = await db_pool.fetchrow("SELECT state, access_token_enc, refresh_token_enc FROM qbo_connections "
                                 "WHERE partner_id = $1", pid)
    assert row["state"] == "disconnected" and row["access_token_enc"] is None and row["refresh_token_enc"] is None
    assert await db_pool.fetchval("SELECT count(*) FROM invoices WHERE partner_id = $1", pid) == qbo_invoices
