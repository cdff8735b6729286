"""`POST /partners/{pid}/payments/{id}/refunds` and payouts with `refund_ids` (PRODUCT.md §6;
docs/refunds.md), against the real PostgreSQL: full or partial, several up to the amount paid, 422 past
it (also when the requests race), netted into a payment QBO never saw, statuses in the payment's JSON."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from tests.api.conftest import assert_error, qbo_invoice, snapshot


async def _pay(app_client, pid: str, iid: str, amount: str) -> str:
    resp = await app_client.post(f"/partners/{pid}/invoices/{iid}/payments", json={"amount": amount})
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


async def _refund(app_client, pid: str, pay_id: str, amount: str, **extra):
    return await app_client.post(f"/partners/{pid}/payments/{pay_id}/refunds", json={"amount": amount, **extra})


async def _invoice(db_pool, iid: str) -> tuple[Decimal, str]:
    row = await db_pool.fetchrow("SELECT balance, status FROM invoices WHERE id = $1", iid)
    return row["balance"], row["status"]


async def _as_posted(db_pool, pay_id: str) -> None:
    """The payment reached QBO (as the posting records it), so a refund must be booked there."""
    await db_pool.execute("UPDATE payments SET status = 'posted', attempts = 1, qbo_payment_id = '900',"
                          " qbo_amount = amount WHERE id = $1", pay_id)


async def test_refunds_of_a_payment_qbo_never_saw_are_netted_into_it(app_client, new_partner, db_pool) -> None:
    pid = await new_partner()
    iid = await qbo_invoice(db_pool, pid, "100.00")
    await db_pool.execute("UPDATE invoices SET qbo_balance = 100, qbo_total = 100 WHERE id = $1", iid)
    pay_id = await _pay(app_client, pid, iid, "100.00")
    assert await _invoice(db_pool, iid) == (Decimal("0.00"), "paid")
    partial = await _refund(app_client, pid, pay_id, "30.00", reason="damaged")
    assert partial.status_code == 201, partial.text
    assert partial.json() | {"id": None} == {"id": None, "payment_id": pay_id, "amount": "30.00", "kind": "refund",
                                             "status": "posted", "booking": "netted"}
    assert await _invoice(db_pool, iid) == (Decimal("30.00"), "partially_paid")  # QBO will get 70 of it
    [listed] = (await app_client.get(f"/partners/{pid}/payments")).json()["items"]
    assert (listed["status"], listed["refunded_amount"]) == ("pending", "30.00")
    assert [(r["amount"], r["reason"], r["booking"]) for r in listed["refunds"]] == [("30.00", "damaged", "netted")]
    rest = await _refund(app_client, pid, pay_id, "70.00", kind="chargeback")
    assert rest.status_code == 201 and rest.json()["kind"] == "chargeback"
    [listed] = (await app_client.get(f"/partners/{pid}/payments")).json()["items"]
    assert (listed["status"], listed["refunded_amount"]) == ("refunded", "100.00")  # never reaches QBO at all
    assert await _invoice(db_pool, iid) == (Decimal("100.00"), "open")


async def test_refunds_past_what_was_paid_are_refused_and_change_nothing(app_client, new_partner, db_pool) -> None:
    pid = await new_partner()
    iid = await qbo_invoice(db_pool, pid, "100.00")
    pay_id = await _pay(app_client, pid, iid, "50.00")
    await _as_posted(db_pool, pay_id)
    assert (await _refund(app_client, pid, pay_id, "20.00")).json()["status"] == "pending"  # to book in QBO
    other = await new_partner()
    before = await snapshot(db_pool, pid)
    assert_error(await _refund(app_client, pid, pay_id, "30.01"), 422, None, "can still refund (30.00")
    assert_error(await _refund(app_client, pid, pay_id, "0"), 422)
    assert_error(await _refund(app_client, pid, pay_id, "5.00", kind="reversal"), 422)
    assert_error(await _refund(app_client, pid, "pay_nope", "5.00"), 404)
    assert_error(await _refund(app_client, other, pay_id, "5.00"), 404)
    assert await snapshot(db_pool, pid) == before
    assert (await _refund(app_client, pid, pay_id, "30.00")).status_code == 201  # exactly the rest


async def test_concurrent_refunds_cannot_exceed_the_payment(app_client, new_partner, db_pool) -> None:
    """Ten requests of 30 against a payment of 100 at once: three succeed, seven get 422, never more."""
    pid = await new_partner()
    iid = await qbo_invoice(db_pool, pid, "100.00")
    pay_id = await _pay(app_client, pid, iid, "100.00")
    await _as_posted(db_pool, pay_id)
    answers = await asyncio.gather(*(_refund(app_client, pid, pay_id, "30.00") for _ in range(10)))
    assert sorted(r.status_code for r in answers) == [201] * 3 + [422] * 7, [r.text for r in answers]
    row = await db_pool.fetchrow("SELECT refunded_amount, (SELECT sum(amount) FROM refunds WHERE payment_id = $1)"
                                 " AS total FROM payments WHERE id = $1", pay_id)
    assert row["refunded_amount"] == row["total"] == Decimal("90.00")


async def test_a_refund_on_a_platform_invoice_reopens_it_and_never_reaches_qbo(app_client, new_partner, db_pool) -> None:
    pid = await new_partner()
    cid = (await app_client.post(f"/partners/{pid}/customers", json={"name": "P"})).json()["id"]
    iid = (await app_client.post(f"/partners/{pid}/invoices", json={"customer_id": cid, "amount": "80.00",
                                                                      "due_date": "2026-12-01"})).json()["id"]
    pay_id = await _pay(app_client, pid, iid, "80.00")
    refund = await _refund(app_client, pid, pay_id, "20.00")
    assert (refund.json()["status"], refund.json()["booking"]) == ("not_synced", None)
    assert await _invoice(db_pool, iid) == (Decimal("20.00"), "partially_paid")


async def test_payout_net_of_refunds(app_client, new_partner, db_pool) -> None:
    pid = await new_partner()
    iid = await qbo_invoice(db_pool, pid, "300.00")
    a, b = await _pay(app_client, pid, iid, "100.00"), await _pay(app_client, pid, iid, "200.00")
    await _as_posted(db_pool, a)
    r1 = (await _refund(app_client, pid, a, "40.00")).json()["id"]
    r2 = (await _refund(app_client, pid, a, "10.00", kind="chargeback")).json()["id"]
    before = await snapshot(db_pool, pid)
    assert_error(await app_client.post(f"/partners/{pid}/payouts", json={
        "payment_ids": [b], "refund_ids": [r1, "rf_nope"], "fee_amount": "1.00"}), 422, None, "rf_nope")
    assert_error(await app_client.post(f"/partners/{pid}/payouts", json={
        "payment_ids": [a], "refund_ids": [r1, r2], "fee_amount": "50.00"}), 422, None, "not positive")
    assert_error(await app_client.post(f"/partners/{pid}/payouts", json={
        "payment_ids": [b], "refund_ids": [r1, r1], "fee_amount": "1.00"}), 422)
    assert await snapshot(db_pool, pid) == before
    made = await app_client.post(f"/partners/{pid}/payouts", json={
        "payment_ids": [a, b], "refund_ids": [r1, r2], "fee_amount": "15.00"})
    assert made.status_code == 201, made.text
    body = made.json()
    assert (body["gross_amount"], body["refund_amount"], body["fee_amount"], body["net_amount"]) == \
        ("300.00", "50.00", "15.00", "235.00")
    again = await app_client.post(f"/partners/{pid}/payouts", json={"payment_ids": [], "refund_ids": [r1],
                                                                      "fee_amount": "0"})
    assert again.status_code == 422  # a payout carries payments
    [listed] = (await app_client.get(f"/partners/{pid}/payouts")).json()["items"]
    assert listed["refund_ids"] == sorted([r1, r2]) and listed["payment_ids"] == sorted([a, b])
    refunds = (await app_client.get(f"/partners/{pid}/payments")).json()["items"][0]["refunds"]
    assert {r["payout_id"] for r in refunds} == {body["id"]}


async def test_refunds_are_counted_in_the_fleet_gauges(app_client, new_partner, db_pool) -> None:
    from tests.metrics.scrape import scrape, value

    pid = await new_partner()
    iid = await qbo_invoice(db_pool, pid, "100.00")
    pay_id = await _pay(app_client, pid, iid, "100.00")
    await _as_posted(db_pool, pay_id)
    before = await scrape(app_client)
    assert (await _refund(app_client, pid, pay_id, "10.00")).status_code == 201
    after = await scrape(app_client)
    assert value(after, "qbo_postings", kind="refund", status="pending") == \
        value(before, "qbo_postings", kind="refund", status="pending") + 1
