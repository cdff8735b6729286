"""Retry of a `needs_attention` payment or payout from the dashboard (PRODUCT.md §6, issue 12): the moves
of people: a partner clicking twice, retrying an item that isn't parked, another partner's ids."""

from __future__ import annotations

from tests.api.conftest import assert_error, qbo_invoice, snapshot


async def _parked_payment(app_client, db_pool, pid: str) -> str:
    iid = await qbo_invoice(db_pool, pid, "50.00")
    pay = (await app_client.post(f"/partners/{pid}/invoices/{iid}/payments", json={"amount": "20.00"})).json()
    await db_pool.execute(
        "UPDATE payments SET status = 'needs_attention', attention_reason = 'customer 7 is inactive in QBO',"
        " attention_code = 'customer_inactive', attention_at = now(), attempts = 1 WHERE id = $1", pay["id"])
    return pay["id"]


async def test_retry_puts_a_parked_payment_back_in_line_once(app_client, new_partner, db_pool) -> None:
    pid = await new_partner()
    pay_id = await _parked_payment(app_client, db_pool, pid)
    first = await app_client.post(f"/partners/{pid}/payments/{pay_id}/retry")
    assert first.status_code == 202, first.text
    assert first.json() == {"id": pay_id, "status": "pending"}
    row = await db_pool.fetchrow("SELECT * FROM payments WHERE id = $1", pay_id)
    assert row["status"] == "pending" and row["attention_reason"] is None and row["attention_code"] is None
    assert row["attempts"] == 1, "attempts kept: the PaymentRefNum lookup must still run before a resend"
    assert row["retry_generation"] == 1
    listed = {p["id"]: p for p in (await app_client.get(f"/partners/{pid}/payments")).json()["items"]}
    assert listed[pay_id]["status"] == "pending" and listed[pay_id]["attention_reason"] is None

    before = await snapshot(db_pool, pid)
    second = await app_client.post(f"/partners/{pid}/payments/{pay_id}/retry")  # the double click
    assert_error(second, 409, "conflict", "already back in line")
    assert await snapshot(db_pool, pid) == before
    logged = await db_pool.fetch(
        "SELECT kind, reason, details FROM sync_log WHERE partner_id = $1 AND platform_id = $2", pid, pay_id)
    assert [(r["kind"], r["reason"]) for r in logged] == [("info", "retry requested from the dashboard")]
    assert logged[0]["details"]["previous_reason"] == "customer 7 is inactive in QBO"


async def _posted_payment_in_a_payout(app_client, new_partner, db_pool) -> tuple[str, dict, dict]:
    """A partner with a payment recorded as posted to QBO (id 9) and a pending payout of it."""
    pid = await new_partner()
    iid = await qbo_invoice(db_pool, pid, "50.00")
    pay = (await app_client.post(f"/partners/{pid}/invoices/{iid}/payments", json={"amount": "20.00"})).json()
    await db_pool.execute("UPDATE payments SET status = 'posted', qbo_payment_id = '9' WHERE id = $1", pay["id"])
    payout = (await app_client.post(f"/partners/{pid}/payouts",
                                    json={"payment_ids": [pay["id"]], "fee_amount": "1.00"})).json()
    return pid, pay, payout


async def test_retry_of_an_item_not_needing_attention_is_409(app_client, new_partner, db_pool) -> None:
    pid, pay, payout = await _posted_payment_in_a_payout(app_client, new_partner, db_pool)
    before = await snapshot(db_pool, pid)
    assert_error(await app_client.post(f"/partners/{pid}/payments/{pay['id']}/retry"), 409, "conflict", "posted")
    assert_error(await app_client.post(f"/partners/{pid}/payouts/{payout['id']}/retry"), 409, "conflict", "pending")
    assert await snapshot(db_pool, pid) == before


async def test_retry_of_unknown_or_another_partners_ids_is_404(app_client, new_partner, db_pool) -> None:
    owner, other = await new_partner(), await new_partner()
    pay_id = await _parked_payment(app_client, db_pool, owner)
    iid = await qbo_invoice(db_pool, owner, "30.00")
    pay2 = (await app_client.post(f"/partners/{owner}/invoices/{iid}/payments", json={"amount": "30.00"})).json()
    payout = (await app_client.post(f"/partners/{owner}/payouts",
                                    json={"payment_ids": [pay2["id"]], "fee_amount": "0"})).json()
    await db_pool.execute("UPDATE payouts SET status = 'needs_attention', attention_reason = 'x' WHERE id = $1",
                          payout["id"])
    before = await snapshot(db_pool, owner)
    assert_error(await app_client.post(f"/partners/{other}/payments/{pay_id}/retry"), 404, "not_found", pay_id)
    assert_error(await app_client.post(f"/partners/{other}/payouts/{payout['id']}/retry"), 404, "not_found")
    assert_error(await app_client.post(f"/partners/{owner}/payments/pay_nope/retry"), 404, "not_found")
    assert_error(await app_client.post(f"/partners/p_nope/payouts/{payout['id']}/retry"), 404, "not_found")
    assert await snapshot(db_pool, owner) == before
    assert await db_pool.fetchval("SELECT count(*) FROM sync_log WHERE partner_id = ANY($1)", [owner, other]) == 0
    # the owner can retry its payout: back to pending, reason gone, history kept
    ok = await app_client.post(f"/partners/{owner}/payouts/{payout['id']}/retry")
    assert ok.status_code == 202, ok.text
    row = await db_pool.fetchrow("SELECT status, attention_reason, retry_generation FROM payouts WHERE id = $1",
                                 payout["id"])
    assert (row["status"], row["attention_reason"], row["retry_generation"]) == ("pending", None, 1)


async def test_lists_show_what_a_person_changed_in_qbo(app_client, new_partner, db_pool) -> None:
    """The dashboard (and the chaos soak's check) tell a posting deleted or voided in QuickBooks from other
    parked items by `qbo_change`; a retry clears it with the rest of the cause."""
    pid, pay, payout = await _posted_payment_in_a_payout(app_client, new_partner, db_pool)
    listed = (await app_client.get(f"/partners/{pid}/payments")).json()["items"]
    assert [p["qbo_change"] for p in listed] == [None]
    await db_pool.execute(
        "UPDATE payments SET status = 'needs_attention', qbo_change = 'voided', attention_code = 'changed_in_qbo',"
        " attention_reason = 'QBO Payment 9 was voided in QuickBooks' WHERE id = $1", pay["id"])
    await db_pool.execute(
        "UPDATE payouts SET status = 'needs_attention', qbo_change = 'deleted', qbo_deposit_id = '12',"
        " attention_code = 'changed_in_qbo', attention_reason = 'QBO Deposit 12 was deleted' WHERE id = $1",
        payout["id"])
    listed = (await app_client.get(f"/partners/{pid}/payments")).json()["items"]
    assert [(p["status"], p["attention_code"], p["qbo_change"]) for p in listed] == [
        ("needs_attention", "changed_in_qbo", "voided")]
    payouts = (await app_client.get(f"/partners/{pid}/payouts")).json()["items"]
    assert [(p["status"], p["qbo_change"]) for p in payouts] == [("needs_attention", "deleted")]
    assert (await app_client.post(f"/partners/{pid}/payments/{pay['id']}/retry")).status_code == 202
    assert [p["qbo_change"] for p in (await app_client.get(f"/partners/{pid}/payments")).json()["items"]] == [None]
