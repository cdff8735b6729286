"""post_payments against the emulator over HTTP and real PostgreSQL."""

from __future__ import annotations

import uuid
from decimal import Decimal

from qbo.models import Payment
from rules.posting import payment_ref_num
from tests.posting.conftest import World, no_mismatches

D = Decimal


async def test_payment_posted_once_and_invoice_balance_follows(world: World) -> None:
    inv = await world.new_invoice("300.00")
    pid = await world.pay(inv, "120.50")
    summary = await world.post()
    assert (summary.posted, summary.needs_attention, summary.remaining) == (1, 0, 0)
    row = await world.payment(pid)
    assert row["status"] == "posted" and row["qbo_payment_id"] and row["attempts"] == 1
    qbo_inv = await world.qbo_invoice(inv)
    assert qbo_inv.Balance == D("179.50")
    found = await world.qbo_payments(payment_ref_num(pid))
    assert [p.Id for p in found] == [row["qbo_payment_id"]]
    assert isinstance(found[0], Payment) and found[0].TotalAmt == D("120.50")
    assert found[0].Line[0].LinkedTxn[0].TxnId == qbo_inv.Id
    again = await world.post()  # nothing pending: no second payment
    assert (again.posted, again.remaining) == (0, 0)
    assert len(await world.qbo_payments(payment_ref_num(pid))) == 1
    await no_mismatches(world)


async def test_partial_payments_on_one_invoice(world: World) -> None:
    inv = await world.new_invoice("100.00")
    first = await world.pay(inv, "30.00")
    second = await world.pay(inv, "45.25")
    assert (await world.post()).posted == 2
    assert (await world.qbo_invoice(inv)).Balance == D("24.75")
    third = await world.pay(inv, "24.75")
    assert (await world.post()).posted == 1
    assert (await world.qbo_invoice(inv)).Balance == D("0.00")
    for pid in (first, second, third):
        assert (await world.payment(pid))["status"] == "posted"
    await world.resync_invoice(inv)
    await no_mismatches(world)


async def test_hundred_payments_use_at_most_four_posting_calls(world: World) -> None:
    invoices = [await world.new_invoice("50.00") for _ in range(20)]
    pids = [await world.pay(inv, "10.00") for inv in invoices for _ in range(5)]
    before = (await world.ops()).get("batch", 0)
    summary = await world.post()
    assert (summary.posted, summary.needs_attention, summary.remaining) == (100, 0, 0)
    assert (await world.ops()).get("batch", 0) - before <= 4
    rows = await world.pool.fetch("SELECT status, qbo_payment_id FROM payments WHERE id = ANY($1)", pids)
    assert {r["status"] for r in rows} == {"posted"} and len({r["qbo_payment_id"] for r in rows}) == 100
    for inv in invoices:
        assert (await world.qbo_invoice(inv)).Balance == D("0.00")
        await world.resync_invoice(inv)
    await no_mismatches(world)


async def test_batch_cannot_overpay_one_invoice(world: World) -> None:
    inv = await world.new_invoice("40.00")
    ok = await world.pay(inv, "25.00")
    too_much = await world.pay(inv, "20.00")
    summary = await world.post()
    assert (summary.posted, summary.needs_attention) == (1, 1)
    assert (await world.payment(ok))["status"] == "posted"
    row = await world.payment(too_much)
    assert row["status"] == "needs_attention" and "overpayment" in row["attention_reason"]
    assert await world.qbo_payments(payment_ref_num(too_much)) == []
    assert (await world.qbo_invoice(inv)).Balance == D("15.00")
    await no_mismatches(world)


async def test_platform_created_invoice_is_not_synced(world: World) -> None:
    iid = f"i-{uuid.uuid4().hex[:8]}"
    customer = next(iter(world.customers.values()))
    await world.pool.execute(
        "INSERT INTO invoices (id, partner_id, source, customer_id, amount, balance, status)"
        " VALUES ($1, $2, 'platform', $3, 10, 10, 'open')", iid, world.partner, customer)
    pid = await world.pay(iid, "10.00")
    before = (await world.ops()).get("batch", 0)
    summary = await world.post()
    assert (summary.posted, summary.remaining) == (0, 0)
    assert (await world.payment(pid))["status"] == "not_synced"
    assert (await world.ops()).get("batch", 0) == before
