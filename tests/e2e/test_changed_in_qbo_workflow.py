"""A bookkeeper deletes a Payment this service posted, seen through the partner workflow itself: real Temporal,
real PostgreSQL, the emulator over HTTP, the real activities (PRODUCT.md §3 last row, §5 cycle)."""

from __future__ import annotations

import uuid

from rules.posting import payment_ref_num
from starter import partners
from tests.emulator.support import Api
from tests.helpers import eventually
from worker import build_worker
from workflows.models import IntegrationState
from workflows.partner import PartnerIntegrationWorkflow


async def test_deleted_payment_flagged_by_the_workflow_and_never_reposted(
        temporal_env, task_queue, db_pool, api, connect, emu, emulator_url) -> None:
    company = await connect(customers=3, invoices=4, payments=0)
    pid, realm = company.partner_id, company.realm_id
    books = Api(emulator_url, realm, await emu.tokens(realm), {})
    client = temporal_env.client
    async with build_worker(client, db_pool, api, task_queue=task_queue):
        await partners.start_or_reconnect(client, pid, realm, sync_interval_seconds=3600, task_queue=task_queue)
        handle = partners.handle_for(client, pid)

        async def cycled(after=None):
            status = await handle.query(PartnerIntegrationWorkflow.status)
            done = status.state is IntegrationState.ACTIVE and status.last_sync_at and status.step == "idle"
            assert done and (after is None or status.last_sync_at > after)
            return status

        async def sync_once():
            before = (await handle.query(PartnerIntegrationWorkflow.status)).last_sync_at
            await partners.sync_now(client, pid)
            return await eventually(lambda: cycled(before), timeout=60, what="a sync cycle")

        await eventually(cycled, timeout=120, what="onboarding and the first cycle")
        invoice = await db_pool.fetchrow("SELECT id, qbo_id, balance FROM invoices WHERE partner_id = $1 "
                                         "AND status = 'open' ORDER BY qbo_id::int LIMIT 1", pid)
        pay_id = f"pay-{uuid.uuid4().hex[:12]}"
        await db_pool.execute("INSERT INTO payments (id, partner_id, invoice_id, amount, currency, status)"
                              " VALUES ($1, $2, $3, $4, 'USD', 'pending')", pay_id, pid, invoice["id"], invoice["balance"])
        await db_pool.execute("UPDATE invoices SET balance = 0, status = 'paid' WHERE id = $1", invoice["id"])
        await sync_once()  # posts it
        await sync_once()  # our own new Payment comes back through CDC: unchanged
        posted = await db_pool.fetchrow("SELECT status, qbo_payment_id FROM payments WHERE id = $1", pay_id)
        assert posted["status"] == "posted"

        qbo = books.read("Payment", posted["qbo_payment_id"])
        books.update("Payment", {"Id": qbo["Id"], "SyncToken": qbo["SyncToken"]}, operation="delete")
        status = await sync_once()
        row = await db_pool.fetchrow("SELECT status, qbo_change, attention_reason FROM payments WHERE id = $1", pay_id)
        assert (row["status"], row["qbo_change"]) == ("needs_attention", "deleted")
        assert f"QBO Payment {qbo['Id']} was deleted in QuickBooks" in row["attention_reason"]
        assert status.counts.get("postings_changed_in_qbo") == 1
        live = books.read("Invoice", invoice["qbo_id"])
        inv = await db_pool.fetchrow("SELECT balance, status FROM invoices WHERE id = $1", invoice["id"])
        assert (inv["balance"], inv["status"]) == (live["Balance"], "open") and live["Balance"] == invoice["balance"]

        for _ in range(2):
            await sync_once()
        assert (await handle.query(PartnerIntegrationWorkflow.status)).counts.get("postings_changed_in_qbo") == 1
        assert await db_pool.fetchval("SELECT count(*) FROM sync_log WHERE partner_id = $1 AND kind = 'conflict' "
                                      "AND platform_id = $2", pid, pay_id) == 1
        ref = payment_ref_num(pay_id)
        assert books.query(f"SELECT * FROM Payment WHERE PaymentRefNum = '{ref}'").get("Payment", []) == []
        await partners.disconnect(client, pid)
    books.close()
