"""Issue 12 with the real workflow, activities, PostgreSQL and emulator: a payment parked because QBO's
invoice balance was too low posts by itself, without anyone pressing retry, once a bookkeeper's change in
QBO raises the balance again (here: they delete the payment they had recorded in QBO by mistake), in the
cycle that applies that change, whether fetch applied it or `apply_staged` did."""

from __future__ import annotations

import uuid
from decimal import Decimal

import httpx
import pytest

from activities import sync as sync_activities
from activities.sync import APPLY_IN_FETCH
from rules.posting import payment_ref_num
from starter import partners
from tests.helpers import eventually
from worker import build_worker
from workflows.models import IntegrationState
from workflows.partner import PartnerIntegrationWorkflow

D = Decimal


@pytest.mark.parametrize("apply_in_fetch", [APPLY_IN_FETCH, 0], ids=["applied-by-fetch", "applied-by-apply_staged"])
async def test_parked_payment_posts_by_itself_when_the_cause_clears(temporal_env, task_queue, db_pool, api, connect, emu,
                                                                     emulator_url, monkeypatch, apply_in_fetch) -> None:
    # 0: every change is "too many" for fetch to apply itself (over 500 in production): apply_staged applies
    # them, and the cycle must look for payments after it (the `post-after-large-apply` patch).
    monkeypatch.setattr(sync_activities, "APPLY_IN_FETCH", apply_in_fetch)
    company = await connect(customers=3, invoices=5, random_seed=12)
    pid, realm = company.partner_id, company.realm_id
    client = temporal_env.client
    async with build_worker(client, db_pool, api, task_queue=task_queue):
        await partners.start_or_reconnect(client, pid, realm, sync_interval_seconds=3600, task_queue=task_queue)
        handle = partners.handle_for(client, pid)

        async def onboarded():
            status = await handle.query(PartnerIntegrationWorkflow.status)
            return status.state is IntegrationState.ACTIVE and status.last_sync_at

        await eventually(onboarded, timeout=120, what="onboarding")
        inv = await db_pool.fetchrow(
            "SELECT id, qbo_id, qbo_customer_id, balance FROM invoices WHERE partner_id = $1 AND status = 'open'"
            " AND balance > 40 ORDER BY qbo_id LIMIT 1", pid)
        bookkeeper = (await emu.tokens(realm))["access_token"]
        async with httpx.AsyncClient(base_url=f"{emulator_url}/v3/company/{realm}", params={"minorversion": "75"},
                                     headers={"Authorization": f"Bearer {bookkeeper}",
                                              "Accept": "application/json"}) as http:
            # The bookkeeper records most of the balance in QBO by mistake; the customer pays 25 in the platform.
            theirs = (await http.post("/payment", json={
                "CustomerRef": {"value": inv["qbo_customer_id"]}, "TotalAmt": str(inv["balance"] - 10),
                "Line": [{"Amount": str(inv["balance"] - 10),
                          "LinkedTxn": [{"TxnId": inv["qbo_id"], "TxnType": "Invoice"}]}]})).json()["Payment"]
            pay_id = f"pay-{uuid.uuid4().hex[:10]}"
            await db_pool.execute(
                "INSERT INTO payments (id, partner_id, invoice_id, amount, currency, status)"
                " VALUES ($1, $2, $3, 25.00, 'USD', 'pending')", pay_id, pid, inv["id"])

            async def status_of_payment(wanted: str):
                await partners.sync_now(client, pid)
                row = await db_pool.fetchrow("SELECT status, attention_code FROM payments WHERE id = $1", pay_id)
                assert row["status"] == wanted
                return row

            parked = await eventually(lambda: status_of_payment("needs_attention"), timeout=60, interval=0.5,
                                      what="the payment to be parked")
            assert parked["attention_code"] == "invoice_balance_too_low"

            # The bookkeeper deletes their payment: QBO's balance is back. Nobody presses retry.
            resp = await http.post("/payment", params={"operation": "delete"},
                                   json={"Id": theirs["Id"], "SyncToken": theirs["SyncToken"]})
            assert resp.status_code == 200, resp.text
            await eventually(lambda: status_of_payment("posted"), timeout=60, interval=0.5,
                             what="the payment to post by itself")
            # By the cycle that applied the invoice's new balance, not the one after it (an interval later
            # when nothing else wakes the partner): that run's counts hold both. The payment is marked
            # posted inside post_payments; the run's counts are written after it (finish_sync_run).
            async def posting_run() -> dict:
                counts = await db_pool.fetchval(
                    "SELECT counts FROM sync_runs WHERE partner_id = $1 AND (counts->>'payments_posted')::int > 0"
                    " ORDER BY id DESC LIMIT 1", pid)
                assert counts is not None, "no run has recorded the posting yet"
                return counts

            counts = await eventually(posting_run, timeout=60, what="the posting run's counts recorded")
            assert counts.get("updated", 0) >= 1, counts

        found = await company.find("Payment", [("PaymentRefNum", "=", payment_ref_num(pay_id))])
        assert len(found) == 1 and found[0].TotalAmt == D("25.00")
        logged = await db_pool.fetchval(
            "SELECT count(*) FROM sync_log WHERE platform_id = $1 AND kind = 'needs_attention'", pay_id)
        assert logged == 1
        await partners.disconnect(client, pid)
