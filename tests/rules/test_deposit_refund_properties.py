"""Hypothesis properties of payouts carrying refunds and chargebacks (rules/deposits.py, docs/refunds.md),
next to the deposit ones of test_properties.py:

- each payout's Deposit totals its net (payments − refunds − fees) to the cent, whatever mix of bookings
  (netted, reduced, voided, RefundReceipt) its refunds have and whichever payout carries each refund;
- each linked line is what the QBO Payment holds;
- the refund clearing account returns to zero once every payout is deposited (GAZ-clr): what RefundReceipts
  credited it and what the Deposits' clearing lines moved cancel out.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rules.deposits import DepositPayment, DepositRefund, PayoutFacts, build_deposit
from rules.refunds import RefundBooking

D = Decimal
ZERO = D("0.00")
CLEARING, BANK, FEES = "77", "35", "60"
cents = st.integers(min_value=1, max_value=100_000).map(lambda c: D(c).scaleb(-2))


@st.composite
def payments_with_refunds(draw: st.DrawFn) -> list[tuple[Decimal, list[tuple[Decimal, RefundBooking, str]]]]:
    """Payments of payout A, each with refunds (amount, booking, carried by payout A or B) ≤ its amount."""
    out = []
    for _ in range(draw(st.integers(1, 6))):
        amount = draw(cents)
        refunds, left = [], amount
        for _ in range(draw(st.integers(0, 3))):
            if left <= 0:
                break
            r = draw(st.integers(1, int(left * 100)).map(lambda c: D(c).scaleb(-2)))
            booking = draw(st.sampled_from([RefundBooking.NETTED, RefundBooking.REDUCED, RefundBooking.REFUND_RECEIPT]))
            refunds.append((r, booking, draw(st.sampled_from(["A", "B"]))))
            left -= r
        out.append((amount, refunds))
    return out


def _payment(i: int, amount: Decimal, refunds: list[tuple[Decimal, RefundBooking, str]], payout: str) -> DepositPayment:
    against = [r for r in refunds if r[1] != RefundBooking.REFUND_RECEIPT]
    netted = sum((r[0] for r in against if r[1] == RefundBooking.NETTED), ZERO)
    qbo_amount = amount - sum((r[0] for r in against), ZERO)
    status = "refunded" if netted == amount else "posted"
    return DepositPayment(payment_id=f"p{i}", amount=amount, status=status,
                          qbo_payment_id=None if status == "refunded" else str(100 + i), qbo_amount=qbo_amount,
                          refunds_elsewhere=sum((r[0] for r in against if r[2] != payout), ZERO))


@settings(max_examples=200, deadline=None)
@given(paid=payments_with_refunds(), extra=cents, data=st.data())
def test_deposits_net_of_refunds_match_to_the_cent_and_clearing_returns_to_zero(
        paid: list[tuple[Decimal, list[tuple[Decimal, RefundBooking, str]]]], extra: Decimal, data: Any) -> None:
    a_payments = [_payment(i, amount, refunds, "A") for i, (amount, refunds) in enumerate(paid)]
    b_payments = [DepositPayment(payment_id="pb", amount=extra, qbo_payment_id="999", qbo_amount=extra)]
    carried: dict[str, list[DepositRefund]] = {"A": [], "B": []}
    receipts = ZERO
    for i, (_, refunds) in enumerate(paid):
        for j, (amount, booking, where) in enumerate(refunds):
            carried[where].append(DepositRefund(refund_id=f"r{i}-{j}", payment_id=f"p{i}", amount=amount,
                                                booking=booking, payment_in_payout=where == "A"))
            receipts += amount if booking == RefundBooking.REFUND_RECEIPT else ZERO
    clearing_moved = ZERO
    for name, pays in (("A", a_payments), ("B", b_payments)):
        gross = sum((p.amount for p in pays), ZERO)
        refunded = sum((r.amount for r in carried[name]), ZERO)
        assume(gross - refunded > D("0.01"))
        fee = data.draw(st.integers(0, int((gross - refunded - D("0.01")) * 100)).map(lambda c: D(c).scaleb(-2)))
        payout = PayoutFacts(id=name, gross_amount=gross, refund_amount=refunded, fee_amount=fee,
                             net_amount=gross - refunded - fee, arrival_date=date(2027, 1, 4))
        plan = build_deposit(payout, pays, BANK, FEES, refunds=carried[name], clearing_account_id=CLEARING)
        lines = plan.body["Line"]
        assert plan.total_amt == payout.net_amount == sum((ln["Amount"] for ln in lines), ZERO)
        linked = {ln["LinkedTxn"][0]["TxnId"]: ln["Amount"] for ln in lines if "LinkedTxn" in ln}
        assert linked == {p.qbo_payment_id: p.qbo_amount for p in pays if p.status == "posted" and p.qbo_amount}
        clearing_moved += sum((ln["Amount"] for ln in lines
                               if ln.get("DepositLineDetail", {}).get("AccountRef", {}).get("value") == CLEARING), ZERO)
    # a positive clearing line credits it, as a RefundReceipt paid from it does; the sum is what it holds
    assert clearing_moved + receipts == 0
