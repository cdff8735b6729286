"""Connecting a partner through the API and the emulator's real OAuth flow, with the real workflow and
activities on a per-test task queue: status, preferences (applied or 422), sync now, sync runs,
reconnect without a duplicate workflow, disconnect."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import httpx

from starter.partners import handle_for
from tests.api.conftest import assert_error, oauth_round_trip, reconciled, running_app, snapshot
from tests.helpers import eventually


async def test_connect_stores_tokens_encrypted_and_reports_status(app_client, connected, emu, db_pool) -> None:
    pid, realm, status = connected["pid"], connected["realm"], connected["status"]
    row = await db_pool.fetchrow("SELECT * FROM qbo_connections WHERE partner_id = $1", pid)
    assert row["access_token_enc"] and row["refresh_token_enc"]
    stored = repr(dict(row))
    for issued in await emu.issued_tokens(realm):
        assert issued["token"] not in stored, "a plaintext token is stored in qbo_connections"
    assert status["realm_id"] == realm and status["company_name"] and status["backfill"]
    assert status["accounts"] and {"id", "name", "type", "subtype"} == set(status["accounts"][0])
    assert status["preferences"]["payment_account_id"]
    # Intuit's hard expiry (opted into on the code exchange) is shown so the dashboard can warn in time.
    assert row["refresh_hard_expires_at"] is not None
    assert datetime.fromisoformat(status["reconnect_before"]) == row["refresh_hard_expires_at"]
    invoices = (await app_client.get(f"/partners/{pid}/invoices")).json()["items"]
    assert len(invoices) == 3 and all(i["source"] == "qbo" for i in invoices)


async def test_preferences_applied_or_rejected(app_client, connected, db_pool) -> None:
    pid, status = connected["pid"], connected["status"]
    before = await snapshot(db_pool, pid)
    bad = {**status["preferences"], "deposit_account_id": "99999", "create_deposits": True}
    err = assert_error(await app_client.put(f"/partners/{pid}/qbo/preferences", json=bad), 422,
                       "invalid_preferences")
    assert "deposit_account_id" in err["message"], err
    assert_error(await app_client.put(f"/partners/{pid}/qbo/preferences", json={"nope": 1}), 422, "validation_error")
    for zone in ("Mars/Olympus_Mons", "PST", "+08:00"):
        err = assert_error(await app_client.put(f"/partners/{pid}/qbo/preferences",
                                                json={**status["preferences"], "time_zone": zone}),
                           422, "invalid_preferences")
        assert "not an IANA time zone" in err["message"], err
    assert await snapshot(db_pool, pid) == before

    bank = next(a for a in status["accounts"] if a["type"] == "Bank")
    # The preferences as the dashboard shows them, sent back with deposits turned on: the default
    # fee_account_id is the fee account onboarding created, which the workflow knows of.
    assert status["preferences"]["fee_account_id"]
    good = {**status["preferences"], "create_deposits": True, "deposit_account_id": bank["id"],
            "time_zone": "America/New_York"}
    applied = await app_client.put(f"/partners/{pid}/qbo/preferences", json=good)
    assert applied.status_code == 200, applied.text
    assert applied.json()["deposit_account_id"] == bank["id"]
    assert applied.json()["fee_account_id"] == status["preferences"]["fee_account_id"]
    assert applied.json()["time_zone"] == "America/New_York"
    stored = await db_pool.fetchval("SELECT preferences->>'time_zone' FROM qbo_connections WHERE partner_id = $1", pid)
    assert stored == "America/New_York"


async def test_sync_reconnect_disconnect(app_client, connected, temporal_env) -> None:
    pid, realm = connected["pid"], connected["realm"]
    assert (await app_client.post(f"/partners/{pid}/qbo/sync")).status_code == 202

    async def runs() -> list:
        return (await app_client.get(f"/partners/{pid}/qbo/sync-runs")).json()

    run = (await eventually(runs, timeout=60, what="a sync run"))[0]
    assert {"trigger", "started_at", "finished_at", "counts", "conflicts", "errors", "error"} <= set(run)

    first_run = (await handle_for(temporal_env.client, pid).describe()).run_id
    again = await oauth_round_trip(app_client, pid, realm)
    assert again.status_code == 200 and "signalled" in again.text, again.text
    assert (await handle_for(temporal_env.client, pid).describe()).run_id == first_run

    gone = await app_client.post(f"/partners/{pid}/qbo/disconnect")
    assert gone.status_code == 200 and gone.json()["state"] == "disconnected", gone.text
    partners = {p["id"]: p for p in (await app_client.get("/partners")).json()}
    assert partners[pid]["qbo_state"] == "disconnected"
    assert (await app_client.post(f"/partners/{pid}/qbo/disconnect")).status_code == 200
    assert_error(await app_client.post(f"/partners/{pid}/qbo/sync"), 409, "not_connected")


async def test_void_and_reconciliation(app_client, connected, db_pool) -> None:
    pid = connected["pid"]
    first, second = (await app_client.get(f"/partners/{pid}/invoices")).json()["items"][:2]
    rec = await reconciled(app_client, pid)
    assert rec["invoices_checked"] == 3 and rec["invoice_mismatches"] == 0

    voided = await app_client.post(f"/partners/{pid}/invoices/{first['id']}/void")
    assert voided.status_code == 200 and voided.json()["voided"], voided.text
    statuses = {i["id"]: i["status"] for i in (await app_client.get(f"/partners/{pid}/invoices")).json()["items"]}
    assert statuses[first["id"]] == "void"
    # Voided in QBO too (the void body: Id and live SyncToken): reconciliation finds QBO and the platform agree.
    rec = await reconciled(app_client, pid)
    assert rec["invoices_checked"] == 3 and rec["invoice_mismatches"] == 0, rec
    assert_error(await app_client.post(f"/partners/{pid}/invoices/{first['id']}/payments",
                                       json={"amount": "1.00"}), 409, needle="void")

    pay = await app_client.post(f"/partners/{pid}/invoices/{second['id']}/payments", json={"amount": "1.00"})
    assert pay.status_code == 201, pay.text
    before = await snapshot(db_pool, pid)
    assert_error(await app_client.post(f"/partners/{pid}/invoices/{second['id']}/void"), 409, "void_refused")
    assert_error(await app_client.post(f"/partners/{pid}/invoices/inv_nope/void"), 404, "not_found")
    assert await snapshot(db_pool, pid) == before


async def test_platform_changes_never_reach_qbo(app_client, connected, db_pool, emu) -> None:
    """PRODUCT.md §3, platform → QBO: a customer and an invoice created in the platform, a payment on that
    invoice, a QBO-sourced invoice archived and another's amount and due date edited in the platform: a
    whole sync cycle afterwards reads QBO and writes nothing to it."""
    pid, realm = connected["pid"], connected["realm"]
    cid = (await app_client.post(f"/partners/{pid}/customers", json={"name": "Platform only"})).json()["id"]
    iid = (await app_client.post(f"/partners/{pid}/invoices",
                                 json={"customer_id": cid, "amount": "40.00", "due_date": "2027-01-01"})).json()["id"]
    paid = await app_client.post(f"/partners/{pid}/invoices/{iid}/payments", json={"amount": "15.00"})
    assert paid.status_code == 201, paid.text
    archived, edited = [r["id"] for r in await db_pool.fetch(
        "SELECT id FROM invoices WHERE partner_id = $1 AND source = 'qbo' ORDER BY qbo_id LIMIT 2", pid)]
    await db_pool.execute("UPDATE invoices SET archived = true WHERE id = $1", archived)
    await db_pool.execute("UPDATE invoices SET amount = amount + 1, due_date = '2030-01-01' WHERE id = $1", edited)
    await emu.reset_requests(realm)
    last_before = (await app_client.get(f"/partners/{pid}/qbo")).json()["last_synced_at"]
    assert (await app_client.post(f"/partners/{pid}/qbo/sync")).status_code == 202

    async def cycle_done() -> bool:  # the workflow records the cycle after its postings and deposits
        assert (await app_client.get(f"/partners/{pid}/qbo")).json()["last_synced_at"] != last_before
        return True

    await eventually(cycle_done, timeout=60, what="a whole sync cycle after the platform changes")
    ops = (await emu.requests(realm))["by_operation"]
    assert ops.get("cdc") and set(ops) <= {"cdc", "query", "read"}, ops  # reads only
    assert await db_pool.fetchval("SELECT qbo_id FROM invoices WHERE id = $1", iid) is None
    assert await db_pool.fetchval("SELECT status FROM payments WHERE invoice_id = $1", iid) == "not_synced"


async def test_callback_state_is_one_time(app_client, new_partner, emu, db_pool) -> None:
    """A state that connected once is refused when it comes back, with the same code or with a fresh,
    unused code the browser got by consenting again on the same authorize URL (so it is the state, not the
    code, that is refused), and nothing changes."""
    pid = await new_partner()
    realm = await emu.create_company(customers=1, invoices=0)
    url = (await app_client.post(f"/partners/{pid}/qbo/connect")).json()["authorize_url"]
    async with httpx.AsyncClient(follow_redirects=False) as browser:
        first, second = [urlsplit((await browser.get(f"{url}&realmId={realm}")).headers["location"])
                         for _ in range(2)]
    assert parse_qs(first.query)["state"] == parse_qs(second.query)["state"]
    assert parse_qs(first.query)["code"] != parse_qs(second.query)["code"]
    binding = next(iter(app_client.cookies.jar))  # the browser binding (README "Security")
    used = await app_client.get(f"{first.path}?{first.query}")
    assert used.status_code == 200 and "started" in used.text, used.text
    # The callback deleted its cookie; put it back so the replays are refused for the state itself.
    app_client.cookies.set(binding.name, binding.value, domain=binding.domain, path=binding.path)
    before = await snapshot(db_pool, pid)
    for replay in (first, second):
        assert_error(await app_client.get(f"{replay.path}?{replay.query}"), 400, "invalid_state")
    assert await snapshot(db_pool, pid) == before


async def test_not_connected_partner(app_client, new_partner, db_pool) -> None:
    pid = await new_partner()
    status = (await app_client.get(f"/partners/{pid}/qbo")).json()
    assert status["state"] == "not_connected" and status["accounts"] == [] and status["source"] == "database"
    before = await snapshot(db_pool, pid)
    assert_error(await app_client.put(f"/partners/{pid}/qbo/preferences", json={}), 409, "not_connected")
    assert_error(await app_client.post(f"/partners/{pid}/qbo/sync"), 409, "not_connected")
    assert_error(await app_client.post(f"/partners/{pid}/qbo/disconnect"), 409, "not_connected")
    assert_error(await app_client.put("/partners/p_nope/qbo/preferences", json={}), 404, "not_found")
    assert_error(await app_client.post("/partners/p_nope/qbo/connect"), 404, "not_found")
    assert await snapshot(db_pool, pid) == before


async def test_payment_stands_without_a_workflow(api_settings, task_queue, db_pool) -> None:
    """The payment commits first; `sync_now` is best effort (here: a partner with no workflow at all)."""
    from tests.api.conftest import qbo_invoice

    async with running_app(api_settings, task_queue) as (_, http):
        pid = (await http.post("/partners", json={"name": "No workflow"})).json()["id"]
        iid = await qbo_invoice(db_pool, pid, "10.00")
        pay = await http.post(f"/partners/{pid}/invoices/{iid}/payments", json={"amount": "10.00"})
        assert pay.status_code == 201 and pay.json()["status"] == "pending", pay.text
        # Committed although sync_now found no workflow: the payment waits in the outbox, and the invoice's
        # platform balance already counts it.
        row = await db_pool.fetchrow("SELECT invoice_id, amount, status FROM payments WHERE id = $1",
                                     pay.json()["id"])
        assert dict(row) == {"invoice_id": iid, "amount": Decimal("10.00"), "status": "pending"}
        listed = (await http.get(f"/partners/{pid}/payments")).json()["items"]
        assert [(p["id"], p["status"]) for p in listed] == [(pay.json()["id"], "pending")]
        assert await db_pool.fetchval("SELECT balance FROM invoices WHERE id = $1", iid) == Decimal("0.00")


async def test_callback_with_temporal_down_keeps_the_connection_and_starts_later(
        app_client, new_partner, emu, db_pool, worker, monkeypatch) -> None:
    """Temporal unreachable during the callback: the tokens are kept and the partner is told syncing will
    start; the API's retry step starts the workflow once Temporal answers again."""
    from temporalio.service import RPCError, RPCStatusCode

    from api import oauth

    async def unavailable(*_a, **_k):
        raise RPCError("connection refused", RPCStatusCode.UNAVAILABLE, b"")

    pid = await new_partner()
    realm = await emu.create_company(customers=2, invoices=2)
    monkeypatch.setattr(oauth.partner_workflows, "start_or_reconnect", unavailable)
    done = await oauth_round_trip(app_client, pid, realm)
    assert done.status_code == 200 and "starts automatically" in done.text, done.text
    assert await db_pool.fetchval("SELECT workflow_pending FROM qbo_connections WHERE partner_id = $1", pid)
    monkeypatch.undo()
    assert await oauth.start_pending_workflows(app_client._transport.app) >= 1
    assert not await db_pool.fetchval("SELECT workflow_pending FROM qbo_connections WHERE partner_id = $1", pid)

    async def active():
        assert (await app_client.get(f"/partners/{pid}/qbo")).json()["state"] == "active"
        return True

    await eventually(active, timeout=90, what="the late-started workflow to onboard the partner")
