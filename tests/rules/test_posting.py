"""§4 conflicts, one case each, plus the posting keys (PaymentRefNum, requestid) and body shapes."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from rules.facts import InvoiceStatus
from rules.faults import FaultAction, classify_fault
from rules.posting import (
    PAYMENT_REF_NUM_MAX,
    PostingAction,
    PostingFacts,
    VoidAction,
    build_payment,
    decide_platform_void,
    decide_posting,
    decide_postings,
    payment_ref_num,
    payment_request_id,
)
from rules.preferences import Preferences, validate_preferences
from tests.rules.factories import CHART, payment, platform_invoice, qbo_invoice, tombstone

D = Decimal


@dataclass(frozen=True)
class Conflict:
    name: str
    run: Callable[[], Any]
    action: Any
    reason_contains: str


CONFLICTS = [
    Conflict("invoice deleted in QBO",
             lambda: decide_posting(payment(), platform_invoice(), None, True),
             PostingAction.NEEDS_ATTENTION, "deleted in QBO"),
    Conflict("invoice deleted in QBO (tombstone read)",
             lambda: decide_posting(payment(), platform_invoice(), tombstone(), True),
             PostingAction.NEEDS_ATTENTION, "deleted in QBO"),
    Conflict("invoice already paid in QBO",
             lambda: decide_posting(payment(), platform_invoice(), qbo_invoice(balance=D("0.00")), True),
             PostingAction.NEEDS_ATTENTION, "already paid"),
    Conflict("invoice voided in QBO",
             lambda: decide_posting(payment(), platform_invoice(),
                                    qbo_invoice(total=D(0), balance=D(0), voided=True), True),
             PostingAction.NEEDS_ATTENTION, "voided"),
    Conflict("amount larger than the QBO balance",
             lambda: decide_posting(payment(amount=D("40.01")), platform_invoice(),
                                    qbo_invoice(balance=D("40.00")), True),
             PostingAction.NEEDS_ATTENTION, "larger than the open QBO balance 40.00"),
    Conflict("customer inactive in QBO",
             lambda: decide_posting(payment(), platform_invoice(), qbo_invoice(), False),
             PostingAction.NEEDS_ATTENTION, "inactive"),
    Conflict("customer not found in QBO",
             lambda: decide_posting(payment(), platform_invoice(), qbo_invoice(), None),
             PostingAction.NEEDS_ATTENTION, "not found"),
    Conflict("currency mismatch",
             lambda: decide_posting(payment(currency="CAD"), platform_invoice(), qbo_invoice(), True),
             PostingAction.NEEDS_ATTENTION, "currency mismatch"),
    Conflict("stale SyncToken (5010) is re-read and retried once",
             lambda: classify_fault("5010"), FaultAction.REREAD_AND_RETRY, "5010"),
    Conflict("stale SyncToken (5010) again after the retry",
             lambda: classify_fault("5010", stale_retries_done=1), FaultAction.NEEDS_ATTENTION, "still stale"),
    Conflict("deposited payment locked (6540)",
             lambda: classify_fault("6540", detail="Deposited Transaction cannot be changed"),
             FaultAction.NEEDS_ATTENTION, "remove it from its QBO deposit"),
    Conflict("unknown account on write (2500)",
             lambda: classify_fault("2500"), FaultAction.NEEDS_ATTENTION, "account"),
    Conflict("unknown fault code is parked, not retried forever",
             lambda: classify_fault("9999"), FaultAction.NEEDS_ATTENTION, "9999"),
]


@pytest.mark.parametrize("case", CONFLICTS, ids=lambda c: c.name)
def test_section_4_conflict(case: Conflict) -> None:
    result = case.run()
    assert result.action == case.action
    assert case.reason_contains in result.reason


def test_unknown_account_in_preferences_is_rejected() -> None:
    errors = validate_preferences(Preferences(payment_account_id="999"), CHART)
    assert len(errors) == 1 and "does not exist" in errors[0] and "999" in errors[0]


def test_exact_balance_posts() -> None:
    d = decide_posting(payment(amount=D("40.00")), platform_invoice(), qbo_invoice(balance=D("40.00")), True)
    assert d.action == PostingAction.POST and d.reason is None


def test_existing_qbo_payment_wins_over_balance_checks() -> None:
    """After a crash QBO's balance already includes our payment; it must be recorded, not flagged."""
    d = decide_posting(payment(), platform_invoice(), qbo_invoice(balance=D("0.00")), True,
                       existing_qbo_payment_id="981")
    assert d.action == PostingAction.ALREADY_POSTED and d.qbo_payment_id == "981"
    recorded = decide_posting(payment(qbo_payment_id="77", status="posted"), platform_invoice(), None, None)
    assert recorded.action == PostingAction.ALREADY_POSTED and recorded.qbo_payment_id == "77"


def test_batch_cannot_overpay_one_invoice() -> None:
    inv, live = platform_invoice(), qbo_invoice(balance=D("100.00"))
    items = [PostingFacts(payment=payment(id=f"p{i}", amount=D("60.00")), invoice=inv, qbo_invoice=live,
                          customer_active=True) for i in range(2)]
    items.append(PostingFacts(payment=payment(id="p2", amount=D("40.00")), invoice=inv, qbo_invoice=live,
                              customer_active=True))
    actions = [d.action for d in decide_postings(items)]
    assert actions == [PostingAction.POST, PostingAction.NEEDS_ATTENTION, PostingAction.POST]


def test_payment_ref_num_short_ids_pass_through() -> None:
    assert payment_ref_num("pay_01HX") == "pay_01HX"
    assert payment_ref_num("a" * 20) == "a" * 20


@pytest.mark.parametrize("pid", ["a" * 21, "pay_" + "0" * 32, "3f2b8c1e-4d5a-4b6c-9e7f-0a1b2c3d4e5f", "o'brien", "ü"])
def test_payment_ref_num_long_or_unsafe_ids_are_hashed(pid: str) -> None:
    ref = payment_ref_num(pid)
    assert len(ref) == PAYMENT_REF_NUM_MAX and ref.startswith("AP") and ref.isalnum() and ref.isascii()
    assert ref == payment_ref_num(pid)  # deterministic
    assert ref != payment_ref_num(pid + "x")


def test_payment_request_id_is_stable_and_short() -> None:
    assert payment_request_id("pay-1") == payment_request_id("pay-1")
    assert payment_request_id("pay-1") != payment_request_id("pay-2")
    assert payment_request_id("pay-1", 1) != payment_request_id("pay-1")
    assert len(payment_request_id("x" * 500)) == 36


def test_build_payment_deposits_on_goes_to_undeposited_funds() -> None:
    prefs = Preferences(payment_account_id="35", create_deposits=True, deposit_account_id="35")
    body = build_payment(payment(id="p" * 30), qbo_customer_id="58", qbo_invoice_id="130", prefs=prefs,
                         undeposited_funds_account_id="4")
    assert body["DepositToAccountRef"] == {"value": "4"}
    assert body["Line"] == [{"Amount": D("40.00"), "LinkedTxn": [{"TxnId": "130", "TxnType": "Invoice"}]}]
    assert len(body["PaymentRefNum"]) == 21 and "p" * 30 in body["PrivateNote"]
    # Without the UF id the ref is left out, which QBO defines as Undeposited Funds (qbo-reference §5.3).
    bare = build_payment(payment(), qbo_customer_id="58", qbo_invoice_id="130", prefs=prefs)
    assert "DepositToAccountRef" not in bare


def test_build_payment_deposits_off_uses_payment_account() -> None:
    body = build_payment(payment(), qbo_customer_id="58", qbo_invoice_id="130",
                         prefs=Preferences(payment_account_id="35"), undeposited_funds_account_id="4")
    assert body["DepositToAccountRef"] == {"value": "35"}
    assert isinstance(body["TotalAmt"], Decimal) and body["ProcessPayment"] is False


@pytest.mark.parametrize(("invoice_kw", "action", "reason"), [
    ({"status": InvoiceStatus.VOID, "balance": D(0)}, VoidAction.ALREADY_VOID, "already void"),
    ({"source": "platform", "qbo_id": None}, VoidAction.VOID_LOCALLY, "never sent"),
    ({"qbo_deleted": True, "archived": True}, VoidAction.REJECT, "deleted in QBO"),
    ({"balance": D("30.00"), "status": InvoiceStatus.PARTIALLY_PAID}, VoidAction.REJECT, "applied in QBO"),
    ({"has_platform_payments": True}, VoidAction.REJECT, "refund them"),
])
def test_platform_void_rejections(invoice_kw: dict[str, Any], action: VoidAction, reason: str) -> None:
    d = decide_platform_void(platform_invoice(**invoice_kw))
    assert d.action == action and reason in (d.reason or "")
