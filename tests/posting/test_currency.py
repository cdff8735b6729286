"""Posting in a multicurrency company (issue 13, docs/currency.md), activity by activity against the emulator:
a EUR payment becomes a EUR Payment at its invoice's rate, and a EUR payout whose deposit account is in USD
waits for a person (`currency_mismatch`) instead of reaching QBO, where it would be refused."""

from __future__ import annotations

import uuid
from decimal import Decimal

from activities.currency import read_currency_prefs
from qbo.models import Invoice, Payment
from tests.posting.conftest import World

D = Decimal


async def test_eur_payment_at_the_invoice_rate_and_a_eur_payout_refused_by_a_usd_bank(connect, api, emu,
                                                                                     db_pool) -> None:
    company = await connect(customers=0, invoices=0, multicurrency=True)
    w = World(db_pool, api, emu, company)
    await read_currency_prefs(db_pool, company, w.partner)
    customer = await company.create("Customer", {"DisplayName": "Europa", "CurrencyRef": {"value": "EUR"}},
                                    uuid.uuid4().hex)
    await w.mirror_customers()
    inv = await company.create("Invoice", {"CustomerRef": {"value": customer.Id}, "ExchangeRate": "1.25", "Line": [
        {"Amount": D("80.00"), "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {}}]}, uuid.uuid4().hex)
    assert isinstance(inv, Invoice)
    iid = await w.mirror_invoice(inv)
    pay = await w.pay(iid, "80.00")
    await w.set_prefs(create_deposits=True, deposit_account_id=await w.bank_account(), fee_account_id=None)
    assert (await w.post()).posted == 1
    [posted] = await w.qbo_payments(pay)
    assert isinstance(posted, Payment)
    assert posted.CurrencyRef.value == "EUR" and posted.ExchangeRate == D("1.25")  # type: ignore[union-attr]

    payout = await w.payout([pay], "0.00")
    deposits_before = (await w.ops()).get("create", 0)
    summary = await w.deposit()
    assert summary.needs_attention == 1 and summary.deposited == 0
    row = await w.payout_row(payout)
    assert (row["status"], row["attention_code"]) == ("needs_attention", "currency_mismatch")
    assert "is in EUR but the deposit account is in USD" in row["attention_reason"]
    assert (await w.ops()).get("create", 0) == deposits_before  # nothing sent to QBO
