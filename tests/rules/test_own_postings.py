"""Our own postings changed in QBO (PRODUCT.md §3 last row; qbo-reference §4, §5.3, §15.1), on real payloads."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rules.facts import BadQboPayload, QboTombstone
from rules.own_postings import OwnPosting, QboChange, decide_own_posting, parse_posting
from tests.emulator.support import fixture

D = Decimal
# fx:airbyte_record_payment_98_linked_invoice_and_deposit: 81.00 applied to invoice 42, deposited in 121.
PAYMENT_98 = fixture("airbyte_record_payment_98_linked_invoice_and_deposit.json")["data"]
OURS = OwnPosting(entity="Payment", platform_id="pay-1", qbo_id="98", amount=D("81.00"), invoice_qbo_id="42")
DEPOSIT_121 = fixture("airbyte_record_deposit_121_payments_and_cashback.json")["data"]
OUR_DEPOSIT = OwnPosting(entity="Deposit", platform_id="po-1", qbo_id="121", amount=D("868.15"))


def test_our_payment_as_posted_is_unchanged_even_when_deposited() -> None:
    seen = parse_posting(PAYMENT_98, "Payment")
    decision = decide_own_posting(OURS, seen)
    assert decision.change is None and decision.sync_token == 0 and decision.reason is None


def test_deleted_payment_tombstone_names_the_object_and_says_not_reposted() -> None:
    # qbo-reference §4: a CDC delete carries only domain, status, Id and MetaData.LastUpdatedTime.
    seen = parse_posting({"domain": "QBO", "status": "Deleted", "Id": "98",
                          "MetaData": {"LastUpdatedTime": "2026-03-02T10:00:00-08:00"}}, "Payment")
    assert isinstance(seen, QboTombstone)
    decision = decide_own_posting(OURS, seen)
    assert decision.change is QboChange.DELETED and decision.sync_token is None
    assert "QBO Payment 98 was deleted in QuickBooks" in decision.reason
    assert "2026-03-02T18:00:00+00:00" in decision.reason and "not re-posted" in decision.reason


def test_voided_payment_as_in_the_void_fixture() -> None:
    # fx:payment_void_response.xml: TotalAmt 0, UnappliedAmt 0, PrivateNote "Voided", no lines.
    voided = {k: v for k, v in PAYMENT_98.items() if k not in ("Line", "LinkedTxn")}
    voided.update(TotalAmt=0, UnappliedAmt=0, PrivateNote="Voided", SyncToken="1")
    decision = decide_own_posting(OURS, parse_posting(voided, "Payment"))
    assert decision.change is QboChange.VOIDED and decision.sync_token == 1
    assert "was voided in QuickBooks" in decision.reason


def test_edited_total_and_unapplied_line_are_amount_changes() -> None:
    edited = {**PAYMENT_98, "TotalAmt": 60.0, "SyncToken": "2",
              "Line": [{"Amount": 60.0, "LinkedTxn": [{"TxnId": "42", "TxnType": "Invoice"}]}]}
    decision = decide_own_posting(OURS, parse_posting(edited, "Payment"))
    assert decision.change is QboChange.AMOUNT_CHANGED and "from 81.00 to 60.00" in decision.reason
    # Same TotalAmt, but the line no longer applies it to our invoice: QBO's invoice Balance went back up.
    unapplied = {**PAYMENT_98, "SyncToken": "3", "Line": []}
    decision = decide_own_posting(OURS, parse_posting(unapplied, "Payment"))
    assert decision.change is QboChange.AMOUNT_CHANGED and "now applies 0.00 instead of 81.00" in decision.reason
    # ...unless the invoice itself was voided or deleted in QBO, which unapplies its payments by itself.
    closed = OURS.model_copy(update={"invoice_closed": True})
    assert decide_own_posting(closed, parse_posting(unapplied, "Payment")).change is None


def test_deposit_total_must_still_be_our_net() -> None:
    assert decide_own_posting(OUR_DEPOSIT, parse_posting(DEPOSIT_121, "Deposit")).change is None
    other = OUR_DEPOSIT.model_copy(update={"amount": D("900.00")})
    decision = decide_own_posting(other, parse_posting(DEPOSIT_121, "Deposit"))
    assert decision.change is QboChange.AMOUNT_CHANGED and "QBO Deposit 121" in decision.reason
    gone = decide_own_posting(OUR_DEPOSIT, parse_posting({"status": "Deleted", "Id": "121"}, "Deposit"))
    assert gone.change is QboChange.DELETED and "no Deposit was re-created" in gone.reason


def test_identity_is_the_qbo_id_and_bad_payloads_raise_one_error() -> None:
    with pytest.raises(ValueError, match="identity mismatch"):
        decide_own_posting(OURS, parse_posting({**PAYMENT_98, "Id": "99"}, "Payment"))
    with pytest.raises(BadQboPayload, match="TotalAmt"):
        parse_posting({k: v for k, v in PAYMENT_98.items() if k != "TotalAmt"}, "Payment")
    with pytest.raises(BadQboPayload):
        parse_posting({**PAYMENT_98, "Line": "nope"}, "Payment")
