"""rules/refunds.py: how a refund is recorded and booked (docs/refunds.md), decided purely."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rules.refunds import (
    LivePayment,
    ReceiptCurrency,
    ReceiptCurrencyError,
    RefundAction,
    RefundBooking,
    RefundFacts,
    RefundRefused,
    build_reduction,
    build_refund_receipt,
    decide_new_refund,
    decide_refund,
    parse_live_payment,
    receipt_currency,
    refund_request_id,
    refunds_in_note,
)

D = Decimal
R = RefundFacts(id="rf_1", payment_id="pay_1", amount=D("40.00"))


def _new(status: str = "posted", attempts: int = 1, refunded: str = "0.00", amount: str = "40.00"):
    return decide_new_refund(payment_id="pay_1", payment_status=status, attempts=attempts,
                             payment_amount=D("100.00"), refunded_amount=D(refunded), amount=D(amount))


def test_new_refunds_up_to_what_was_paid() -> None:
    assert _new().status == "pending" and not _new().netted
    assert _new(refunded="60.00").status == "pending"  # exactly the rest
    with pytest.raises(RefundRefused, match="can still refund \\(60.00: paid 100.00, refunded 40.00"):
        _new(refunded="40.00", amount="60.01")


def test_a_payment_qbo_never_saw_gets_the_refund_netted_in() -> None:
    partial = _new(status="pending", attempts=0)
    assert (partial.status, partial.booking, partial.netted, partial.payment_status) == \
        ("posted", RefundBooking.NETTED, True, None)
    assert _new(status="pending", attempts=0, refunded="60.00").payment_status == "refunded"
    assert _new(status="needs_attention", attempts=0).netted
    assert not _new(status="pending", attempts=1).netted  # a request may be in flight: book it in QBO
    assert _new(status="not_synced").status == "not_synced"


def _live(total: str = "100.00", **kw) -> LivePayment:
    return LivePayment(**{"qbo_id": "9", "sync_token": "0", "total": D(total), "voided": False, "deposited": False,
                          **kw})


def _decide(live: LivePayment | None, status: str = "posted", qbo_amount: str | None = "100.00", **kw):
    return decide_refund(R, payment_status=status, payment_changed_in_qbo=False,
                         qbo_amount=D(qbo_amount) if qbo_amount else None, live=live, **kw)


def test_booking_follows_where_the_payment_is() -> None:
    assert _decide(_live()).action == RefundAction.REDUCE and _decide(_live()).new_total == D("60.00")
    assert _decide(_live("40.00"), qbo_amount="40.00").action == RefundAction.VOID
    assert _decide(_live(deposited=True)).action == RefundAction.RECEIPT
    assert _decide(None, status="pending", qbo_amount=None).action == RefundAction.WAIT
    assert _decide(_live("90.00")).action == RefundAction.NEEDS_ATTENTION  # changed in QBO by a person
    assert _decide(None).action == RefundAction.NEEDS_ATTENTION  # deleted in QBO


def test_lookups_find_an_earlier_success() -> None:
    booked = _decide(_live("60.00", private_note="Alternative Payments payment pay_1 | refund rf_1 40.00"))
    assert (booked.action, booked.booking, booked.new_total) == (RefundAction.ALREADY_BOOKED, RefundBooking.REDUCED,
                                                                 D("60.00"))
    voided = _decide(LivePayment(qbo_id="9", sync_token="1", total=D("0"), voided=True, deposited=False),
                     qbo_amount="40.00")
    assert (voided.action, voided.booking) == (RefundAction.ALREADY_BOOKED, RefundBooking.VOIDED)
    by_person = _decide(LivePayment(qbo_id="9", sync_token="1", total=D("0"), voided=True, deposited=False))
    assert by_person.action == RefundAction.NEEDS_ATTENTION
    assert _decide(_live(deposited=True), found_receipt_id="77").action == RefundAction.ALREADY_BOOKED


def test_reduction_body_sends_all_lines_and_marks_the_refund() -> None:
    live = {"Id": "9", "SyncToken": "3", "CustomerRef": {"value": "5"}, "TotalAmt": "100.00",
            "PrivateNote": "Alternative Payments payment pay_1",
            "Line": [{"Amount": "100.00", "LinkedTxn": [{"TxnId": "12", "TxnType": "Invoice"}]}]}
    body = build_reduction(live, R, "12", D("60.00"))
    assert body["TotalAmt"] == D("60.00") and body["SyncToken"] == "3" and body["sparse"] is True
    assert body["Line"] == [{"Amount": D("60.00"), "LinkedTxn": [{"TxnId": "12", "TxnType": "Invoice"}]}]
    assert refunds_in_note(body["PrivateNote"]) == {"rf_1"}
    with pytest.raises(RefundRefused):
        build_reduction(live, R, "13", D("60.00"))
    assert parse_live_payment({**live, "LinkedTxn": [{"TxnId": "4", "TxnType": "Deposit"}]}).deposited


def test_refund_receipt_body_and_request_ids() -> None:
    body = build_refund_receipt(R.model_copy(update={"kind": "chargeback"}), customer_qbo_id="5", item_id="1",
                                clearing_account_id="88", txn_date="2026-03-01")
    assert body["DepositToAccountRef"] == {"value": "88"} and body["PrivateNote"] == "Alternative Payments refund rf_1"
    assert body["Line"][0]["Amount"] == D("40.00") and body["Line"][0]["Description"].startswith("Chargeback")
    assert refund_request_id("rf_1") == refund_request_id("rf_1") != refund_request_id("rf_1", 1)


def _fx(invoice_currency: str | None = "EUR", rate: str | None = "1.10", clearing: str | None = None):
    return receipt_currency(refund_id="rf_1", invoice_currency=invoice_currency,
                            invoice_rate=D(rate) if rate else None, home="USD", clearing_name="Clearing",
                            clearing_currency=clearing)


def test_a_foreign_refund_receipt_is_in_the_invoices_currency_at_its_rate() -> None:
    """docs/refunds.md "Foreign currency": never QBO's default rate of 1, never an account QBO refuses."""
    eur = _fx()
    assert eur == ReceiptCurrency(currency="EUR", exchange_rate=D("1.10"))
    body = build_refund_receipt(R, customer_qbo_id="5", item_id="1", clearing_account_id="88", txn_date="2026-03-01",
                                currency=eur)
    assert (body["CurrencyRef"], body["ExchangeRate"]) == ({"value": "EUR"}, D("1.10"))
    assert _fx(clearing="EUR") == eur  # an account in the refund's own currency pays it too
    home = build_refund_receipt(R, customer_qbo_id="5", item_id="1", clearing_account_id="88", txn_date="2026-03-01",
                                currency=_fx(None, None))
    assert home["CurrencyRef"] == {"value": "USD"} and "ExchangeRate" not in home
    with pytest.raises(ReceiptCurrencyError, match="carries no ExchangeRate: QBO would book the refund at 1"):
        _fx(rate=None)
    with pytest.raises(ReceiptCurrencyError, match="'Clearing' is in GBP: QBO pays a EUR refund only from"):
        _fx(clearing="GBP")
    with pytest.raises(ReceiptCurrencyError, match="is in EUR: QBO pays a USD refund"):
        _fx("USD", None, clearing="EUR")


def test_a_refund_qbo_applied_but_we_did_not_record_is_not_a_bookkeepers_change() -> None:
    """The worker died after QBO reduced (or voided) our Payment: the sync must not flag it changed."""
    from rules.own_postings import OwnPosting, QboPostingFacts, decide_own_posting

    ours = OwnPosting(entity="Payment", platform_id="pay_1", qbo_id="9", amount=D("100.00"), invoice_qbo_id="12",
                      refunds_in_flight={"rf_1": D("40.00")})
    reduced = QboPostingFacts(entity="Payment", qbo_id="9", sync_token=1, total=D("60.00"), voided=False,
                              applied={"12": D("60.00")}, note="Alternative Payments payment pay_1 | refund rf_1 40.00")
    assert decide_own_posting(ours, reduced).change is None
    by_person = reduced.model_copy(update={"note": "edited"})
    assert decide_own_posting(ours, by_person).change is not None
    voided = QboPostingFacts(entity="Payment", qbo_id="9", sync_token=2, total=D("0"), voided=True, note="Voided")
    whole = ours.model_copy(update={"refunds_in_flight": {"rf_2": D("100.00")}})
    assert decide_own_posting(whole, voided).change is None
    assert decide_own_posting(ours, voided).change is not None
