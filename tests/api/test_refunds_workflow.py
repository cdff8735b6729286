"""Refunds and chargebacks end to end: the API, the partner's real workflow and worker, PostgreSQL and the
QBO emulator (issue 13 "Done when"): a partial and a full refund before deposit (the QBO Payment reduced,
then voided, the invoice reopening in both systems), a chargeback with its fee in a payout whose Deposit
equals the net to the cent, a refund after deposit (a RefundReceipt, taken from the next payout), and a
reconciliation run that agrees on all of it."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from qbo.models import Deposit, Invoice, Payment
from tests.api.conftest import reconciled
from tests.helpers import eventually

D = Decimal


async def _payment(http, pid: str, pay_id: str) -> dict[str, Any]:
    return next(p for p in (await http.get(f"/partners/{pid}/payments")).json()["items"] if p["id"] == pay_id)


async def _wait_payment(http, pid: str, pay_id: str, what: str, check) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        p = await _payment(http, pid, pay_id)
        return p if check(p) else None
    return await eventually(probe, timeout=90, what=what)


async def _wait_payout(http, pid: str, payout_id: str) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        items = (await http.get(f"/partners/{pid}/payouts")).json()["items"]
        po = next(p for p in items if p["id"] == payout_id)
        return po if po["status"] != "pending" else None
    return await eventually(probe, timeout=90, what=f"payout {payout_id} to be deposited")


async def _refund(http, pid: str, pay_id: str, amount: str, kind: str = "refund") -> str:
    resp = await http.post(f"/partners/{pid}/payments/{pay_id}/refunds", json={"amount": amount, "kind": kind})
    assert resp.status_code == 201, resp.text
    return resp.json()["id"]


def _booked(rid: str):
    return lambda p: any(r["id"] == rid and r["status"] == "posted" for r in p["refunds"])


async def _pay_posted(http, pid: str, invoice: dict[str, Any]) -> dict[str, Any]:
    resp = await http.post(f"/partners/{pid}/invoices/{invoice['id']}/payments", json={"amount": invoice["balance"]})
    assert resp.status_code == 201, resp.text
    return await _wait_payment(http, pid, resp.json()["id"], "the payment to be posted",
                               lambda p: p["status"] == "posted")


async def test_refunds_and_chargebacks_through_the_api_the_workflow_and_qbo(app_client, connected, db_pool) -> None:
    http, pid = app_client, connected["pid"]
    qbo = http._transport.app.state.qbo.company(pid)
    bank = next(a["id"] for a in connected["status"]["accounts"] if a["type"] == "Bank")
    prefs = await http.put(f"/partners/{pid}/qbo/preferences", json={"create_deposits": True,
                                                                      "deposit_account_id": bank})
    assert prefs.status_code == 200, prefs.text
    invoices = [i for i in (await http.get(f"/partners/{pid}/invoices")).json()["items"] if D(i["balance"]) > 2]
    assert len(invoices) >= 3, invoices
    a = await _pay_posted(http, pid, invoices[0])
    b = await _pay_posted(http, pid, invoices[1])

    # before deposit: a partial refund reduces the QBO Payment and reopens the invoice by it
    part = (D(a["amount"]) / 2).quantize(D("0.01"))
    r_a = await _refund(http, pid, a["id"], str(part))
    await _wait_payment(http, pid, a["id"], "the partial refund to be booked", _booked(r_a))
    qbo_a = await qbo.read("Payment", a["qbo_payment_id"])
    assert isinstance(qbo_a, Payment) and qbo_a.TotalAmt == D(a["amount"]) - part
    inv_a = await qbo.read("Invoice", invoices[0]["qbo_id"])
    assert isinstance(inv_a, Invoice) and inv_a.Balance == part
    listed = next(i for i in (await http.get(f"/partners/{pid}/invoices")).json()["items"] if i["id"] == invoices[0]["id"])
    assert (D(listed["balance"]), listed["status"]) == (part, "partially_paid")

    # a chargeback of the whole of b voids its Payment; the payout carries both, with the chargeback fee
    c_b = await _refund(http, pid, b["id"], b["amount"], kind="chargeback")
    await _wait_payment(http, pid, b["id"], "the chargeback to be booked", _booked(c_b))
    qbo_b = await qbo.read("Payment", b["qbo_payment_id"])
    assert isinstance(qbo_b, Payment) and qbo_b.is_voided
    fee = D("17.50")  # processing fee + chargeback fee: fees
    gross = D(a["amount"]) + D(b["amount"])
    assert gross - part - D(b["amount"]) > fee
    made = await http.post(f"/partners/{pid}/payouts", json={"payment_ids": [a["id"], b["id"]],
                                                              "refund_ids": [r_a, c_b], "fee_amount": str(fee)})
    assert made.status_code == 201, made.text
    assert D(made.json()["net_amount"]) == gross - part - D(b["amount"]) - fee
    first = await _wait_payout(http, pid, made.json()["id"])
    assert first["status"] == "deposited", first
    dep = await qbo.read("Deposit", first["qbo_deposit_id"])
    assert isinstance(dep, Deposit) and dep.TotalAmt == D(first["net_amount"])

    # after deposit: a refund of a is a RefundReceipt, taken from the next payout
    c = await _pay_posted(http, pid, invoices[2])
    r_late = await _refund(http, pid, a["id"], "1.00")
    late = await _wait_payment(http, pid, a["id"], "the late refund to be booked", _booked(r_late))
    booked = next(r for r in late["refunds"] if r["id"] == r_late)
    assert booked["booking"] == "refund_receipt" and booked["qbo_refund_receipt_id"]
    second = await http.post(f"/partners/{pid}/payouts", json={"payment_ids": [c["id"]], "refund_ids": [r_late],
                                                                "fee_amount": "0.30"})
    assert second.status_code == 201, second.text
    deposited = await _wait_payout(http, pid, second.json()["id"])
    dep2 = await qbo.read("Deposit", deposited["qbo_deposit_id"])
    assert isinstance(dep2, Deposit) and dep2.TotalAmt == D(c["amount"]) - D("1.30") == D(deposited["net_amount"])

    report = await reconciled(http, pid)
    assert {k: report[k] for k in ("invoice_mismatches", "deposit_mismatches", "payment_mismatches",
                                   "refund_mismatches", "unknown_deposits")} == {
        "invoice_mismatches": 0, "deposit_mismatches": 0, "payment_mismatches": 0, "refund_mismatches": 0,
        "unknown_deposits": 0}, report["details"]
    assert report["refunds_checked"] == 1 and report["payouts_checked"] >= 2
