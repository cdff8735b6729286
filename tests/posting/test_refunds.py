"""Refunds booked in QBO by the posting activity, against the emulator and PostgreSQL (docs/refunds.md):
netted before the payment reached QBO, the Payment reduced or voided before deposit (the invoice reopens
in both systems), a RefundReceipt from the clearing account after deposit; exactly once when the worker
dies after QBO accepted (lookup before resend), and 6540 met half-way books a RefundReceipt."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from activities.accounts import ensure_account
from qbo.models import Deposit, Payment
from rules.posting import payment_ref_num
from rules.refunds import CLEARING_ACCOUNT_KEY, CLEARING_ACCOUNT_NAME, clearing_account_body, refund_memo
from store import platform_repo, refunds_repo
from tests.posting.conftest import World, no_mismatches
from tests.posting.test_crash_and_deposits import Killed, _KilledAfter

D = Decimal


async def _refund(world: World, pay_id: str, amount: str, kind: str = "refund") -> str:
    row = await refunds_repo.create_refund(world.pool, world.partner, pay_id, D(amount), kind, None)
    return row["id"]


async def _refund_row(world: World, rid: str) -> Any:
    return await world.pool.fetchrow("SELECT * FROM refunds WHERE id = $1", rid)


async def _platform_invoice(world: World, iid: str) -> tuple[Decimal, str]:
    row = await world.pool.fetchrow("SELECT balance, status FROM invoices WHERE id = $1", iid)
    return row["balance"], row["status"]


async def _qbo_payment(world: World, pay_id: str) -> Payment:
    qbo_id = (await world.payment(pay_id))["qbo_payment_id"]
    found = await world.company.read("Payment", qbo_id)
    assert isinstance(found, Payment)
    return found


async def test_partial_then_full_refund_before_deposit_reopens_the_invoice(world: World) -> None:
    inv = await world.new_invoice("100.00")
    pay = await world.pay(inv, "100.00")
    assert (await world.post()).posted == 1
    first = await _refund(world, pay, "40.00")
    summary = await world.post()
    assert (summary.refunds_booked, summary.refunds_needs_attention) == (1, 0)
    assert ((await _refund_row(world, first))["status"], (await _refund_row(world, first))["booking"]) == \
        ("posted", "reduced")
    qbo = await _qbo_payment(world, pay)
    assert qbo.TotalAmt == D("60.00") and [ln.Amount for ln in qbo.Line] == [D("60.00")]
    assert (await world.qbo_invoice(inv)).Balance == D("40.00")
    assert await _platform_invoice(world, inv) == (D("40.00"), "partially_paid")
    assert (await world.payment(pay))["qbo_amount"] == D("60.00")
    await no_mismatches(world)
    rest = await _refund(world, pay, "60.00", kind="chargeback")
    assert (await world.post()).refunds_booked == 1
    assert (await _refund_row(world, rest))["booking"] == "voided"
    qbo = await _qbo_payment(world, pay)
    assert qbo.is_voided and len(await world.qbo_payments(payment_ref_num(pay))) == 1
    assert (await world.qbo_invoice(inv)).Balance == D("100.00")
    assert await _platform_invoice(world, inv) == (D("100.00"), "open")
    report = await world.reconcile()
    assert (report["invoice_mismatches"], report["payment_mismatches"]) == (0, 0), report["details"]


async def test_a_refund_before_the_payment_reached_qbo_never_reaches_it(world: World) -> None:
    inv, whole = await world.new_invoice("100.00"), await world.new_invoice("50.00")
    pay, gone = await world.pay(inv, "100.00"), await world.pay(whole, "50.00")
    await _refund(world, pay, "25.00")
    await _refund(world, gone, "50.00")
    summary = await world.post()
    assert (summary.posted, summary.refunds_booked) == (1, 0)  # netted refunds are booked by the payment
    assert (await _qbo_payment(world, pay)).TotalAmt == D("75.00")
    assert await world.qbo_payments(payment_ref_num(gone)) == []  # refunded in full: never in QBO
    assert (await world.payment(gone))["status"] == "refunded"
    assert (await world.qbo_invoice(inv)).Balance == D("25.00")
    assert await _platform_invoice(world, inv) == (D("25.00"), "partially_paid")
    assert await _platform_invoice(world, whole) == (D("50.00"), "open")
    await no_mismatches(world)


async def test_refund_after_deposit_is_a_refund_receipt_and_the_invoice_stays_paid(world: World) -> None:
    bank = await world.bank_account()
    await world.set_prefs(create_deposits=True, deposit_account_id=bank)
    inv = await world.new_invoice("120.00")
    pay = await world.pay(inv, "120.00")
    payout = await world.payout([pay], "0.00")
    await world.post()
    assert (await world.deposit()).deposited == 1
    rid = await _refund(world, pay, "20.00", kind="chargeback")
    assert (await world.post()).refunds_booked == 1
    row = await _refund_row(world, rid)
    assert (row["status"], row["booking"]) == ("posted", "refund_receipt") and row["qbo_refund_receipt_id"]
    receipt = (await world.company.read("RefundReceipt", row["qbo_refund_receipt_id"])).wire()
    assert D(str(receipt["TotalAmt"])) == D("20.00") and receipt["PrivateNote"] == refund_memo(rid)
    clearing = await world.company.read("Account", receipt["DepositToAccountRef"]["value"])
    assert clearing.Name == CLEARING_ACCOUNT_NAME and clearing.wire()["AccountType"] == "Other Current Asset"
    assert (await _qbo_payment(world, pay)).TotalAmt == D("120.00")  # the deposited Payment is untouched
    assert (await world.qbo_invoice(inv)).Balance == 0 and await _platform_invoice(world, inv) == (D("0.00"), "paid")
    dep = await world.company.read("Deposit", (await world.payout_row(payout))["qbo_deposit_id"])
    assert isinstance(dep, Deposit) and dep.TotalAmt == D("120.00")
    await no_mismatches(world)


@pytest.mark.parametrize("method", ["sparse_update", "void"])
async def test_killed_after_qbo_changed_the_payment_is_booked_once(world: World, method: str) -> None:
    await world.emu.config(world.realm, requestid_replay="ignore")  # QBO fails to dedupe: the lookup must
    inv = await world.new_invoice("80.00")
    pay = await world.pay(inv, "80.00")
    await world.post()
    rid = await _refund(world, pay, "30.00" if method == "sparse_update" else "80.00")
    with pytest.raises(Killed):
        await world.post(_KilledAfter(world.api, method))
    assert (await _refund_row(world, rid))["status"] == "pending"
    assert (await world.post()).refunds_booked == 1  # the retry finds it booked and sends nothing
    qbo = await _qbo_payment(world, pay)
    expected = D("50.00") if method == "sparse_update" else D("0")
    assert qbo.TotalAmt == expected and (await world.payment(pay))["qbo_amount"] == expected
    assert (await world.qbo_invoice(inv)).Balance == D("80.00") - expected
    await no_mismatches(world)


async def test_refund_receipt_killed_after_create_is_created_once(world: World) -> None:
    await world.emu.config(world.realm, requestid_replay="ignore")
    bank = await world.bank_account()
    await world.set_prefs(create_deposits=True, deposit_account_id=bank)
    inv = await world.new_invoice("60.00")
    pay = await world.pay(inv, "60.00")
    await world.payout([pay], "0.00")
    await world.post()
    await world.deposit()
    rid = await _refund(world, pay, "60.00")
    # the clearing account exists already, so the create the worker dies after is the RefundReceipt's
    await ensure_account(world.company, CLEARING_ACCOUNT_NAME, clearing_account_body(), CLEARING_ACCOUNT_KEY)
    with pytest.raises(Killed):
        await world.post(_KilledAfter(world.api, "create"))
    assert (await world.post()).refunds_booked == 1
    found = await world.company.find("RefundReceipt", [("PrivateNote", "=", refund_memo(rid))])
    assert [o.Id for o in found] == [(await _refund_row(world, rid))["qbo_refund_receipt_id"]]


class _DepositedMeanwhile:
    """The real client, but the Payment is swept into a Deposit between the refund's read and its update."""

    def __init__(self, api: Any, bank: str) -> None:
        self.api, self.bank = api, bank

    def company(self, partner_id: str) -> Any:
        real, bank = self.api.company(partner_id), self.bank

        class Company:
            def __getattr__(self, name: str) -> Any:
                attr = getattr(real, name)
                if name != "sparse_update":
                    return attr

                async def call(entity: str, body: dict[str, Any], request_id: str) -> Any:
                    live = await real.read("Payment", body["Id"])
                    await real.create("Deposit", {"DepositToAccountRef": {"value": bank}, "Line": [
                        {"Amount": live.TotalAmt, "LinkedTxn": [{"TxnId": live.Id, "TxnType": "Payment",
                                                                 "TxnLineId": "0"}]}]}, "sweep-" + live.Id)
                    return await attr(entity, body, request_id)

                return call

        return Company()


async def test_a_payment_deposited_meanwhile_gets_a_refund_receipt(world: World) -> None:
    inv = await world.new_invoice("90.00")
    pay = await world.pay(inv, "90.00")
    await world.post()
    rid = await _refund(world, pay, "10.00")
    assert (await world.post(_DepositedMeanwhile(world.api, await world.bank_account()))).refunds_booked == 1
    row = await _refund_row(world, rid)
    assert row["booking"] == "refund_receipt" and row["qbo_refund_receipt_id"]
    assert (await _qbo_payment(world, pay)).TotalAmt == D("90.00")
    assert (await world.qbo_invoice(inv)).Balance == 0


async def _payout(world: World, payment_ids: list[str], fee: str, refund_ids: list[str] | None = None) -> str:
    row = await platform_repo.create_payout(world.pool, world.partner, payment_ids, D(fee), date(2027, 1, 4),
                                            refund_ids or [])
    return row["id"]


async def _deposit_of(world: World, payout: str) -> Deposit:
    row = await world.payout_row(payout)
    assert row["status"] == "deposited", row
    dep = await world.company.read("Deposit", row["qbo_deposit_id"])
    assert isinstance(dep, Deposit) and dep.TotalAmt == row["net_amount"]
    return dep


async def _deposits_on(world: World) -> None:
    await world.set_prefs(create_deposits=True, deposit_account_id=await world.bank_account())


async def test_payout_with_a_refund_and_a_chargeback_and_its_fee_matches_its_deposit(world: World) -> None:
    await _deposits_on(world)
    inv1, inv2 = await world.new_invoice("100.00"), await world.new_invoice("50.00")
    p1, p2 = await world.pay(inv1, "100.00"), await world.pay(inv2, "50.00")
    await world.post()
    r1 = await _refund(world, p1, "30.00")
    c1 = await _refund(world, p2, "50.00", kind="chargeback")
    payout = await _payout(world, [p1, p2], "15.00", [r1, c1])  # 15.00 = processing + chargeback fee
    assert (await world.deposit()).waiting == 1  # the refunds are not booked yet
    assert "refund" in (await world.payout_row(payout))["waiting_reason"]
    assert (await world.post()).refunds_booked == 2
    assert (await world.deposit()).deposited == 1
    dep = await _deposit_of(world, payout)
    assert dep.TotalAmt == D("55.00")  # 150 − 30 − 50 − 15
    assert [(ln.Amount, bool(ln.LinkedTxn)) for ln in dep.Line] == [(D("70.00"), True), (D("-15.00"), False)]
    await no_mismatches(world)


async def test_a_refund_after_deposit_is_taken_from_the_next_payout(world: World) -> None:
    await _deposits_on(world)
    inv3, inv4 = await world.new_invoice("200.00"), await world.new_invoice("100.00")
    p3 = await world.pay(inv3, "200.00")
    await world.post()
    first = await _payout(world, [p3], "0.00")
    await world.deposit()
    r3 = await _refund(world, p3, "40.00")
    p4 = await world.pay(inv4, "100.00")
    second = await _payout(world, [p4], "2.00", [r3])
    await world.post()
    assert (await world.deposit()).deposited == 1
    dep = await _deposit_of(world, second)
    clearing = await world.company.find("Account", [("Name", "=", CLEARING_ACCOUNT_NAME)])
    assert dep.TotalAmt == D("58.00") and (await _deposit_of(world, first)).TotalAmt == D("200.00")
    account_lines = [(ln.Amount, ln.wire()["DepositLineDetail"]["AccountRef"]["value"]) for ln in dep.Line
                     if ln.DetailType == "DepositLineDetail"]
    assert (D("-40.00"), clearing[0].Id) in account_lines
    await no_mismatches(world)


async def test_a_reduction_paid_out_in_another_payout_balances_through_the_clearing_account(world: World) -> None:
    await _deposits_on(world)
    inv5, inv6 = await world.new_invoice("100.00"), await world.new_invoice("50.00")
    p5, p6 = await world.pay(inv5, "100.00"), await world.pay(inv6, "50.00")
    await world.post()
    r5 = await _refund(world, p5, "20.00")
    await world.post()  # reduced to 80 before any payout
    x = await _payout(world, [p5], "1.00")
    y = await _payout(world, [p6], "0.00", [r5])
    assert (await world.deposit()).deposited == 2
    dep_x, dep_y = await _deposit_of(world, x), await _deposit_of(world, y)
    assert (dep_x.TotalAmt, dep_y.TotalAmt) == (D("99.00"), D("30.00"))
    assert sorted(ln.Amount for ln in dep_x.Line) == [D("-1.00"), D("20.00"), D("80.00")]
    assert sorted(ln.Amount for ln in dep_y.Line) == [D("-20.00"), D("50.00")]
    await no_mismatches(world)


async def test_reconciliation_agrees_on_refunded_invoices_and_payouts_with_refunds(world: World) -> None:
    """Live read: every refunded invoice, every payout with refunds and every RefundReceipt agree; a receipt a
    person deleted in QBO is reported."""
    await _deposits_on(world)
    inv1, inv2, inv3 = (await world.new_invoice("100.00"), await world.new_invoice("60.00"),
                        await world.new_invoice("200.00"))
    p1, p2, p3 = await world.pay(inv1, "100.00"), await world.pay(inv2, "60.00"), await world.pay(inv3, "200.00")
    netted = await _refund(world, p3, "15.00")  # before p3 reached QBO
    await world.post()
    r1 = await _refund(world, p1, "25.00")
    await world.post()
    first = await _payout(world, [p1, p2], "3.00", [r1])
    await world.deposit()
    r2 = await _refund(world, p2, "60.00", kind="chargeback")  # after deposit: a RefundReceipt
    second = await _payout(world, [p3], "0.50", [netted, r2])
    await world.post()
    await world.deposit()
    assert [(await world.payout_row(o))["status"] for o in (first, second)] == ["deposited", "deposited"]
    # platform balances: inv1 reopened by 25, inv2 paid (the chargeback after deposit), inv3 reopened by 15
    assert [await _platform_invoice(world, i) for i in (inv1, inv2, inv3)] == [
        (D("25.00"), "partially_paid"), (D("0.00"), "paid"), (D("15.00"), "partially_paid")]
    report = await world.reconcile()
    assert {k: report[k] for k in ("invoice_mismatches", "deposit_mismatches", "payment_mismatches",
                                   "refund_mismatches", "unknown_deposits")} == dict.fromkeys(
        ("invoice_mismatches", "deposit_mismatches", "payment_mismatches", "refund_mismatches", "unknown_deposits"), 0), \
        report["details"]
    assert (report["refunds_checked"], report["payouts_checked"]) == (1, 2)
    receipt = await world.company.read("RefundReceipt", (await _refund_row(world, r2))["qbo_refund_receipt_id"])
    await world.company.delete("RefundReceipt", receipt.Id, receipt.SyncToken or "0", "planted-" + receipt.Id)
    report = await world.reconcile()
    assert report["refund_mismatches"] == 1 and report["details"][0]["id"] == r2


async def test_a_refund_netted_while_the_posting_was_reading_is_not_sent(world: World, monkeypatch) -> None:
    """The posting read the payment (100) before a refund was netted into it (30): the amount sent is the one
    frozen when the first attempt is recorded, 70, and QBO never sees the refunded part."""
    from store import posting_repo

    inv = await world.new_invoice("100.00")
    pay = await world.pay(inv, "100.00")
    read = posting_repo.pending_payments

    async def read_then_refund(pool, partner_id, limit):
        rows = await read(pool, partner_id, limit)
        if not await world.pool.fetchval("SELECT count(*) FROM refunds WHERE payment_id = $1", pay):
            await _refund(world, pay, "30.00")  # attempts is still 0: netted into the payment
        return rows

    monkeypatch.setattr(posting_repo, "pending_payments", read_then_refund)
    assert (await world.post()).posted == 1
    assert (await _qbo_payment(world, pay)).TotalAmt == D("70.00")
    assert (await world.payment(pay))["qbo_amount"] == D("70.00")
    assert (await world.qbo_invoice(inv)).Balance == D("30.00")
    assert await _platform_invoice(world, inv) == (D("30.00"), "partially_paid")
    await no_mismatches(world)
