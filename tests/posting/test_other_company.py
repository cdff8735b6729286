"""Defence in depth for one company per partner (PRODUCT.md §3, §5): records of another realm (a company
the partner was connected to before) share the small QBO ids of the connected company, yet are never
posted, deposited, voided or reconciled against it, whatever reached the outbox."""

from __future__ import annotations

import pytest

from rules.posting import payment_ref_num
from services.void import void_invoice_in_qbo
from tests.posting.conftest import World

OTHER_REALM = "4620816365000000001"


async def _foreign_twin(world: World, invoice_id: str) -> str:
    """The same QBO invoice id, but of another company."""
    row = await world.pool.fetchrow("SELECT qbo_id, amount, customer_id FROM invoices WHERE id = $1", invoice_id)
    twin = f"{invoice_id}-other"
    await world.pool.execute(
        "INSERT INTO invoices (id, partner_id, source, realm_id, qbo_id, amount, balance, currency, status)"
        " VALUES ($1, $2, 'qbo', $3, $4, $5, $5, 'USD', 'open')",
        twin, world.partner, OTHER_REALM, row["qbo_id"], row["amount"])
    return twin


async def test_another_companys_records_never_reach_qbo(world: World) -> None:
    own = await world.new_invoice("80.00")
    twin = await _foreign_twin(world, own)
    foreign_pay = await world.pay(twin, "30.00")
    own_pay = await world.pay(own, "5.00")
    await world.set_prefs(**{**await world.prefs(), "create_deposits": True,
                             "deposit_account_id": await world.bank_account()})
    payout = await world.payout([foreign_pay], "1.00")

    summary = await world.post()
    assert summary.posted == 1 and (await world.payment(own_pay))["status"] == "posted"
    assert (await world.payment(foreign_pay))["status"] == "pending"
    assert await world.qbo_payments(payment_ref_num(foreign_pay)) == [], "posted into the wrong company"
    assert (await world.qbo_invoice(own)).Balance == 75, "the twin's payment landed on the connected company's invoice"

    creates = (await world.ops()).get("create", 0)
    await world.deposit()
    assert (await world.payout_row(payout))["status"] == "pending"
    assert (await world.ops()).get("create", 0) == creates, "a Deposit was created for another company's payments"

    with pytest.raises(LookupError):
        await void_invoice_in_qbo(world.pool, world.api, world.partner, twin)
    report = await world.reconcile()
    assert twin not in {d["id"] for d in report["details"]}
    checked = await world.pool.fetchval("SELECT count(*) FROM invoices WHERE partner_id = $1 AND realm_id = $2",
                                        world.partner, world.realm)
    assert report["invoices_checked"] == checked
