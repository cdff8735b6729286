"""Refunds of foreign-currency payments end to end (issue 13: refunds x currency; docs/refunds.md "Foreign
currency"): a USD company with multicurrency on, EUR invoices at 1.10, payments posted through the real
workflow as EUR Payments, then refunded (a) before the payment reached QBO (netted), (b) while it is in QBO
and not deposited (the EUR Payment reduced, then voided), (c) after it is deposited (a EUR RefundReceipt at
the invoice's rate from the home-currency clearing account, cleared by the next EUR payout's Deposit). Every
object we write is in EUR at 1.10, each invoice's open amount is the same in both systems, reconciliation
is clean. And a refund the clearing account cannot pay (a person made it in GBP) waits as `needs_attention`
(`currency_mismatch`) with nothing sent."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from store.posting_repo import partner_lock
from tests.api.conftest import reconciled
from tests.api.test_currency import Bookkeeper, _connect
from tests.helpers import eventually

D = Decimal
RATE = D("1.10")
CLEARING = "Alternative Payments Refunds Clearing"


@pytest.fixture
async def eur_invoices(emu, emulator_url) -> Any:
    """A USD company with multicurrency on, a EUR customer with three EUR invoices at 1.10, a EUR bank."""
    realm = await emu.create_company(customers=0, invoices=0, multicurrency=True)
    bk = Bookkeeper(emulator_url, realm, await emu.tokens(realm))
    customer = await bk.create("Customer", {"DisplayName": "Europa GmbH", "CurrencyRef": {"value": "EUR"}})
    invoices = [await bk.create("Invoice", {"CustomerRef": {"value": customer["Id"]}, "ExchangeRate": str(RATE),
                                            "Line": [{"Amount": amount, "DetailType": "SalesItemLineDetail",
                                                      "SalesItemLineDetail": {"ItemRef": {"value": "1"}}}]})
                for amount in ("100.00", "80.00", "60.00")]
    bank = await bk.create("Account", {"Name": "Checking EUR", "AccountType": "Bank", "CurrencyRef": {"value": "EUR"}})
    yield {"realm": realm, "bk": bk, "invoices": invoices, "eur_bank": bank["Id"]}
    await bk.http.aclose()


class Partner:
    def __init__(self, http, pid: str, bk: Bookkeeper) -> None:
        self.http, self.pid, self.bk = http, pid, bk

    async def invoice(self, qbo_id: str) -> dict[str, Any]:
        items = (await self.http.get(f"/partners/{self.pid}/invoices")).json()["items"]
        return next(i for i in items if i["qbo_id"] == qbo_id)

    async def payment(self, pay_id: str) -> dict[str, Any]:
        items = (await self.http.get(f"/partners/{self.pid}/payments")).json()["items"]
        return next(p for p in items if p["id"] == pay_id)

    async def pay(self, qbo_invoice: dict[str, Any]) -> str:
        inv = await self.invoice(qbo_invoice["Id"])
        resp = await self.http.post(f"/partners/{self.pid}/invoices/{inv['id']}/payments",
                                    json={"amount": inv["balance"]})
        assert resp.status_code == 201, resp.text
        return str(resp.json()["id"])

    async def refund(self, pay_id: str, amount: str) -> dict[str, Any]:
        resp = await self.http.post(f"/partners/{self.pid}/payments/{pay_id}/refunds", json={"amount": amount})
        assert resp.status_code == 201, resp.text
        return dict(resp.json())

    async def wait_payment(self, pay_id: str, what: str, check) -> dict[str, Any]:
        async def probe() -> dict[str, Any] | None:
            p = await self.payment(pay_id)
            return p if check(p) else None
        return await eventually(probe, timeout=120, what=what)

    async def wait_refund(self, pay_id: str, refund_id: str, status: str = "posted") -> dict[str, Any]:
        p = await self.wait_payment(pay_id, f"refund {refund_id} to be {status}",
                                    lambda p: any(r["id"] == refund_id and r["status"] == status for r in p["refunds"]))
        return next(r for r in p["refunds"] if r["id"] == refund_id)

    async def payout(self, payment_ids: list[str], refund_ids: list[str], fee: str) -> dict[str, Any]:
        made = await self.http.post(f"/partners/{self.pid}/payouts", json={
            "payment_ids": payment_ids, "refund_ids": refund_ids, "fee_amount": fee})
        assert made.status_code == 201, made.text
        assert made.json()["currency"] == "EUR"

        async def deposited() -> dict[str, Any] | None:
            items = (await self.http.get(f"/partners/{self.pid}/payouts")).json()["items"]
            po = next(p for p in items if p["id"] == made.json()["id"])
            assert po["status"] in ("pending", "deposited"), po
            return po if po["status"] == "deposited" else None
        return await eventually(deposited, timeout=120, what="the EUR payout to be deposited")

    async def open_amount_agrees(self, qbo_invoice: dict[str, Any], balance: str) -> None:
        """The invoice's open amount is the same in QBO (in EUR, its home value at the invoice's rate) and
        in the platform."""
        qbo = await self.bk.read("Invoice", qbo_invoice["Id"])
        assert (qbo["CurrencyRef"]["value"], qbo["ExchangeRate"]) == ("EUR", RATE)
        assert (qbo["Balance"], qbo["HomeBalance"]) == (D(balance), (D(balance) * RATE).quantize(D("0.01")))
        assert D((await self.invoice(qbo_invoice["Id"]))["balance"]) == D(balance)

    async def eur_payment(self, pay_id: str) -> dict[str, Any]:
        qbo = await self.bk.read("Payment", (await self.payment(pay_id))["qbo_payment_id"])
        assert (qbo["CurrencyRef"]["value"], qbo["ExchangeRate"]) == ("EUR", RATE), qbo
        return qbo


async def test_refunds_of_eur_payments_are_booked_in_eur_at_the_invoice_rate(
        app_client, new_partner, worker, db_pool, eur_invoices) -> None:
    pid = await _connect(app_client, new_partner, eur_invoices["realm"])
    bk, (inv_a, inv_b, inv_c) = eur_invoices["bk"], eur_invoices["invoices"]
    it = Partner(app_client, pid, bk)
    prefs = (await app_client.get(f"/partners/{pid}/qbo")).json()["preferences"]
    ok = await app_client.put(f"/partners/{pid}/qbo/preferences", json={
        **prefs, "create_deposits": True, "deposit_account_id": eur_invoices["eur_bank"]})
    assert ok.status_code == 200, ok.text

    # (a) refunded before the payment reached QBO: while the posting step is held off (its per-partner lock),
    # 30 of the 100 is refunded; QBO gets a EUR Payment of 70 at 1.10 and the invoice is 30 open in both.
    async with partner_lock(db_pool, pid, "payments") as got:
        assert got
        pay_a = await it.pay(inv_a)
        netted = await it.refund(pay_a, "30.00")
        assert (netted["status"], netted["booking"]) == ("posted", "netted")
    await it.wait_payment(pay_a, "the netted payment to be posted", lambda p: p["status"] == "posted")
    assert (await it.eur_payment(pay_a))["TotalAmt"] == D("70.00")
    await it.open_amount_agrees(inv_a, "30.00")

    # (b) in QBO, not deposited: the EUR Payment is reduced by the refund, then voided by the rest; it stays
    # EUR at 1.10 and the invoice reopens by each refund in both systems.
    pay_b = await it.pay(inv_b)
    await it.wait_payment(pay_b, "the payment of invoice B to be posted", lambda p: p["status"] == "posted")
    reduced = await it.refund(pay_b, "20.00")
    assert (await it.wait_refund(pay_b, reduced["id"]))["booking"] == "reduced"
    assert (await it.eur_payment(pay_b))["TotalAmt"] == D("60.00")
    await it.open_amount_agrees(inv_b, "20.00")
    voided = await it.refund(pay_b, "60.00")
    assert (await it.wait_refund(pay_b, voided["id"]))["booking"] == "voided"
    assert (await it.eur_payment(pay_b))["TotalAmt"] == 0
    await it.open_amount_agrees(inv_b, "80.00")

    # (c) deposited: the payout of A (carrying its netted refund) is a EUR Deposit; a later refund of A is a
    # EUR RefundReceipt at the invoice's rate, from the home-currency clearing account; A stays 30 open.
    first = await it.payout([pay_a], [netted["id"]], "1.00")
    deposit = await bk.read("Deposit", first["qbo_deposit_id"])
    assert (deposit["CurrencyRef"]["value"], deposit["ExchangeRate"], deposit["TotalAmt"]) == ("EUR", RATE, D("69.00"))
    late = await it.refund(pay_a, "10.00")
    booked = await it.wait_refund(pay_a, late["id"])
    assert booked["booking"] == "refund_receipt"
    receipt = await bk.read("RefundReceipt", booked["qbo_refund_receipt_id"])
    assert (receipt["CurrencyRef"]["value"], receipt["ExchangeRate"], receipt["TotalAmt"], receipt["HomeTotalAmt"]) \
        == ("EUR", RATE, D("10.00"), D("11.00"))
    clearing = await bk.read("Account", receipt["DepositToAccountRef"]["value"])
    assert (clearing["Name"], clearing["CurrencyRef"]["value"]) == (CLEARING, "USD")
    await it.open_amount_agrees(inv_a, "30.00")

    # The next EUR payout carries the late refund: a EUR Deposit at 1.10 with a -10.00 clearing line, whose
    # home value (11.00) is what the receipt put in the clearing account.
    pay_c = await it.pay(inv_c)
    await it.wait_payment(pay_c, "the payment of invoice C to be posted", lambda p: p["status"] == "posted")
    second = await it.payout([pay_c], [late["id"]], "0.50")
    deposit = await bk.read("Deposit", second["qbo_deposit_id"])
    assert (deposit["CurrencyRef"]["value"], deposit["ExchangeRate"], deposit["TotalAmt"]) == ("EUR", RATE, D("49.50"))
    assert D(second["net_amount"]) == D("49.50")
    [clearing_line] = [ln for ln in deposit["Line"]
                       if (ln.get("DepositLineDetail") or {}).get("AccountRef", {}).get("value") == clearing["Id"]]
    assert clearing_line["Amount"] * deposit["ExchangeRate"] == -receipt["HomeTotalAmt"]

    # Nothing we wrote is in USD.
    for entity in ("Payment", "RefundReceipt", "Deposit"):
        written = await bk.find(f"select * from {entity}")
        assert written and {o["CurrencyRef"]["value"] for o in written} == {"EUR"}, (entity, written)
    report = await reconciled(app_client, pid)
    assert {k: report[k] for k in ("invoice_mismatches", "payment_mismatches", "deposit_mismatches",
                                   "refund_mismatches")} == dict.fromkeys(
        ("invoice_mismatches", "payment_mismatches", "deposit_mismatches", "refund_mismatches"), 0), report

    # Reconciliation compares the receipt's rate with its invoice's: one at QBO's default of 1 is reported.
    resp = await bk.http.post("/refundreceipt", json={"Id": receipt["Id"], "SyncToken": receipt["SyncToken"],
                                                      "sparse": True, "ExchangeRate": "1"})
    assert resp.status_code == 200, resp.text
    report = await reconciled(app_client, pid)
    assert report["refund_mismatches"] == 1, report
    assert any("RefundReceipt exchange rate differs: the invoice's 1.1" in d["problem"] for d in report["details"])

    # A clearing account QBO cannot pay a EUR refund from (a person renamed ours and made one in GBP under its
    # name): the refund waits with the reason and `currency_mismatch`; no RefundReceipt is sent.
    ours = await bk.read("Account", clearing["Id"])
    resp = await bk.http.post("/account", json={"Id": ours["Id"], "SyncToken": ours["SyncToken"], "sparse": True,
                                                "Name": "Old refunds clearing"})
    assert resp.status_code == 200, resp.text
    await bk.create("Account", {"Name": CLEARING, "AccountType": "Other Current Asset",
                                "CurrencyRef": {"value": "GBP"}})
    receipts = len(await bk.find("select * from RefundReceipt"))
    stuck = await it.refund(pay_c, "5.00")
    parked = await it.wait_refund(pay_c, stuck["id"], "needs_attention")
    assert parked["attention_code"] == "currency_mismatch", parked
    assert f"'{CLEARING}' is in GBP: QBO pays a EUR refund only from an account in the home currency (USD) or " \
        "in EUR" in parked["attention_reason"]
    assert len(await bk.find("select * from RefundReceipt")) == receipts
    await it.open_amount_agrees(inv_c, "0.00")

    # Never a dead end: the bookkeeper moves the GBP account out of the way and the partner presses retry
    # (twice: a double click queues once); the refund is booked, one RefundReceipt in EUR.
    gbp = next(a for a in await bk.find(f"select * from Account where Name = '{CLEARING}'"))
    resp = await bk.http.post("/account", json={"Id": gbp["Id"], "SyncToken": gbp["SyncToken"], "sparse": True,
                                                "Name": "Refunds clearing GBP"})
    assert resp.status_code == 200, resp.text
    retried = await app_client.post(f"/partners/{pid}/refunds/{stuck['id']}/retry")
    assert retried.status_code == 202 and retried.json()["status"] == "pending", retried.text
    again = await app_client.post(f"/partners/{pid}/refunds/{stuck['id']}/retry")
    assert again.status_code == 409, again.text
    booked = await it.wait_refund(pay_c, stuck["id"], "posted")
    assert booked["booking"] == "refund_receipt", booked
    new_receipts = await bk.find("select * from RefundReceipt")
    assert len(new_receipts) == receipts + 1
    assert {r["CurrencyRef"]["value"] for r in new_receipts} == {"EUR"}
