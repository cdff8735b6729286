"""One case per row of PRODUCT.md §3 (some rows have two halves, e.g. deactivated / reactivated).

Each case runs a pure decision and checks dotted attributes of the result, so the table reads like the spec.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from rules.customers import decide_customer
from rules.decisions import SyncAction
from rules.facts import InvoiceStatus
from rules.invoices import decide_invoice
from rules.posting import (
    PostingAction,
    VoidAction,
    build_payment,
    decide_platform_void,
    decide_posting,
)
from rules.preferences import Preferences
from tests.rules.factories import (
    payment,
    platform_customer,
    platform_invoice,
    qbo_customer,
    qbo_invoice,
    tombstone,
)

D = Decimal


@dataclass(frozen=True)
class Case:
    name: str
    run: Callable[[], Any]
    expect: dict[str, Any] = field(default_factory=dict)


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
    return obj


CASES = [
    # Row 1: customer created or changed in QBO → created or updated (source=qbo)
    Case("customer created in QBO", lambda: decide_customer(None, qbo_customer()),
         {"action": SyncAction.CREATE, "state.source": "qbo", "state.name": "Acme IT",
          "state.email": "ap@acme.test", "state.archived": False, "state.qbo_sync_token": 0}),
    Case("customer changed in QBO",
         lambda: decide_customer(platform_customer(), qbo_customer(sync_token=1, display_name="Acme IT Ltd",
                                                                    email="billing@acme.test")),
         {"action": SyncAction.UPDATE, "state.name": "Acme IT Ltd", "state.email": "billing@acme.test",
          "state.qbo_sync_token": 1, "state.archived": False}),
    # Row 2: customer deleted (made inactive) in QBO → archived, never deleted; reactivated → unarchived
    Case("customer made inactive in QBO",
         lambda: decide_customer(platform_customer(), qbo_customer(sync_token=1, active=False)),
         {"action": SyncAction.ARCHIVE, "state.archived": True, "state.qbo_active": False,
          "state.qbo_deleted": False, "state.name": "Acme IT"}),
    Case("customer reactivated in QBO",
         lambda: decide_customer(platform_customer(archived=True, qbo_active=False, qbo_sync_token=1),
                                 qbo_customer(sync_token=2, active=True)),
         {"action": SyncAction.UNARCHIVE, "state.archived": False, "state.qbo_active": True}),
    Case("customer tombstone archives, keeps the row",
         lambda: decide_customer(platform_customer(), tombstone("Customer", "58")),
         {"action": SyncAction.ARCHIVE, "state.archived": True, "state.qbo_deleted": True,
          "state.name": "Acme IT"}),
    # Row 3: invoice created in QBO → created with amount, balance, currency, due date, doc number, customer, status
    Case("invoice created in QBO", lambda: decide_invoice(None, qbo_invoice()),
         {"action": SyncAction.CREATE, "state.amount": D("100.00"), "state.balance": D("100.00"),
          "state.currency": "USD", "state.due_date": date(2026, 2, 4), "state.doc_number": "1001",
          "state.qbo_customer_id": "58", "state.status": InvoiceStatus.OPEN, "state.archived": False}),
    # Row 4: amount or due date of an unpaid invoice changed → updated; with platform payments → conflict
    Case("amount and due date of an unpaid invoice changed in QBO",
         lambda: decide_invoice(platform_invoice(), qbo_invoice(sync_token=1, total=D("150.00"),
                                                                balance=D("150.00"), due_date=date(2026, 3, 1))),
         {"action": SyncAction.UPDATE, "state.amount": D("150.00"), "state.balance": D("150.00"),
          "state.due_date": date(2026, 3, 1), "not_applied": ()}),
    Case("amount and due date changed on an invoice with platform payments: conflict, not applied",
         lambda: decide_invoice(
             platform_invoice(has_platform_payments=True, balance=D("60.00"), status=InvoiceStatus.PARTIALLY_PAID),
             qbo_invoice(sync_token=2, total=D("150.00"), balance=D("110.00"), due_date=date(2026, 3, 1))),
         {"action": SyncAction.CONFLICT, "not_applied": ("amount", "due_date"),
          "state.amount": D("100.00"), "state.due_date": date(2026, 2, 4),
          "state.balance": D("110.00"), "state.status": InvoiceStatus.PARTIALLY_PAID,
          "state.qbo_sync_token": 2}),
    # Row 5: partial payment or credit applied in QBO → balance = QBO Balance; partially_paid or paid
    Case("partial payment applied in QBO",
         lambda: decide_invoice(platform_invoice(), qbo_invoice(sync_token=1, balance=D("30.00"))),
         {"action": SyncAction.UPDATE, "state.balance": D("30.00"), "state.status": InvoiceStatus.PARTIALLY_PAID,
          "state.amount": D("100.00")}),
    Case("credit memo applied in QBO pays the invoice",
         lambda: decide_invoice(platform_invoice(), qbo_invoice(sync_token=1, balance=D("0.00"))),
         {"action": SyncAction.UPDATE, "state.balance": D("0.00"), "state.status": InvoiceStatus.PAID}),
    Case("unposted platform payment is subtracted from the QBO balance",
         lambda: decide_invoice(platform_invoice(has_platform_payments=True, unposted_payments_total=D("40.00")),
                                qbo_invoice(sync_token=1, balance=D("90.00"))),
         {"action": SyncAction.UPDATE, "state.balance": D("50.00"), "state.status": InvoiceStatus.PARTIALLY_PAID}),
    Case("unposted platform payments exceed the QBO balance: floored at 0 and a conflict",
         lambda: decide_invoice(platform_invoice(has_platform_payments=True, unposted_payments_total=D("80.00")),
                                qbo_invoice(sync_token=1, balance=D("50.00"))),
         {"action": SyncAction.CONFLICT, "state.balance": D("0.00"), "state.status": InvoiceStatus.PAID,
          "shortfall": D("30.00")}),
    # Row 6: invoice voided in QBO → status void
    Case("invoice voided in QBO",
         lambda: decide_invoice(platform_invoice(), qbo_invoice(sync_token=1, total=D("0"), balance=D("0"),
                                                                voided=True)),
         {"action": SyncAction.MARK_VOID, "state.status": InvoiceStatus.VOID, "state.balance": D("0.00"),
          "state.archived": False}),
    Case("invoice with platform payments voided in QBO: void, amount kept, conflict",
         lambda: decide_invoice(platform_invoice(has_platform_payments=True),
                                qbo_invoice(sync_token=1, total=D("0"), balance=D("0"), voided=True)),
         {"action": SyncAction.CONFLICT, "state.status": InvoiceStatus.VOID, "state.amount": D("100.00"),
          "not_applied": ("amount",)}),
    # Row 7: invoice deleted in QBO → archived (kept, with its history)
    Case("invoice deleted in QBO", lambda: decide_invoice(platform_invoice(), tombstone()),
         {"action": SyncAction.ARCHIVE, "state.archived": True, "state.qbo_deleted": True,
          "state.amount": D("100.00"), "state.doc_number": "1001", "state.qbo_sync_token": 0}),
    Case("version older than a tombstone arrives later: ignored",
         lambda: decide_invoice(platform_invoice(archived=True, qbo_deleted=True), qbo_invoice(sync_token=9)),
         {"action": SyncAction.IGNORE_STALE, "state": None}),
    # Stale and repeated versions (§4 "stale SyncToken"; idempotent apply)
    Case("stale SyncToken ignored",
         lambda: decide_invoice(platform_invoice(qbo_sync_token=3), qbo_invoice(sync_token=2)),
         {"action": SyncAction.IGNORE_STALE, "state": None}),
    Case("same SyncToken again: no change",
         lambda: decide_customer(platform_customer(qbo_sync_token=3), qbo_customer(sync_token=3, display_name="X")),
         {"action": SyncAction.NO_CHANGE, "state": None}),
    # Row 8: paid or partly paid through the platform → the payment is posted to QBO (§4)
    Case("status changed in the platform: paid through the platform → payment posted",
         lambda: decide_posting(payment(), platform_invoice(), qbo_invoice(), True),
         {"action": PostingAction.POST}),
    Case("payment body links the invoice, in its currency, with the platform id",
         lambda: build_payment(payment(), qbo_customer_id="58", qbo_invoice_id="130",
                               prefs=Preferences(payment_account_id="4")),
         {"TotalAmt": D("40.00"), "CurrencyRef.value": "USD", "PaymentRefNum": "pay-1",
          "DepositToAccountRef.value": "4", "CustomerRef.value": "58"}),
    # Row 9: voided in the platform → a QBO-sourced invoice with no payments is voided in QBO
    Case("status changed in the platform: voided, QBO-sourced, no payments → voided in QBO",
         lambda: decide_platform_void(platform_invoice()), {"action": VoidAction.VOID_IN_QBO}),
    Case("voided in the platform with platform payments → rejected",
         lambda: decide_platform_void(platform_invoice(has_platform_payments=True)),
         {"action": VoidAction.REJECT}),
    # Row 10: customer or invoice created in the platform → never sent to QBO, never touched by QBO
    Case("customer created in the platform is never touched",
         lambda: decide_customer(platform_customer(source="platform", qbo_id=None), qbo_customer(sync_token=5)),
         {"action": SyncAction.SKIP_PLATFORM_OWNED, "state": None}),
    Case("invoice created in the platform is never touched",
         lambda: decide_invoice(platform_invoice(source="platform", qbo_id=None), qbo_invoice(sync_token=5)),
         {"action": SyncAction.SKIP_PLATFORM_OWNED, "state": None}),
    Case("payment on a platform-created invoice is not synced",
         lambda: decide_posting(payment(), platform_invoice(source="platform", qbo_id=None), None, None),
         {"action": PostingAction.NOT_SYNCED}),
    # Row 11: archived in the platform → nothing happens in QBO (and a QBO update keeps the archive)
    Case("archived in the platform stays archived when QBO changes the invoice",
         lambda: decide_invoice(platform_invoice(archived=True), qbo_invoice(sync_token=1, balance=D("20.00"))),
         {"action": SyncAction.UPDATE, "state.archived": True, "state.balance": D("20.00")}),
    # Row 12: amount or due date edited in the platform → never sent to QBO; QBO stays the source of truth
    Case("due date edited in the platform is overwritten by the next QBO version",
         lambda: decide_invoice(platform_invoice(due_date=date(2027, 1, 1)), qbo_invoice(sync_token=1)),
         {"action": SyncAction.UPDATE, "state.due_date": date(2026, 2, 4)}),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_section_3_row(case: Case) -> None:
    result = case.run()
    for path, expected in case.expect.items():
        assert _get(result, path) == expected, path


def test_conflict_reason_names_fields_and_values() -> None:
    d = decide_invoice(platform_invoice(has_platform_payments=True),
                       qbo_invoice(sync_token=1, total=D("150.00"), balance=D("150.00")))
    assert d.reason is not None and "amount 100.00 → 150.00" in d.reason
    assert d.log_details() == {"action": "conflict", "sync_token": "1", "not_applied": ["amount"]}


def test_shortfall_is_recorded_in_log_details() -> None:
    d = decide_invoice(platform_invoice(has_platform_payments=True, unposted_payments_total=D("80.00")),
                       qbo_invoice(sync_token=1, balance=D("50.00")))
    assert d.log_details()["shortfall"] == "30.00"
    assert d.reason is not None and "floored" in d.reason


def test_identity_is_by_qbo_id_only() -> None:
    with pytest.raises(ValueError, match="identity"):
        decide_invoice(platform_invoice(qbo_id="131"), qbo_invoice(qbo_id="130", sync_token=1))
    # Same DocNumber and name but another Id is a different object: the caller finds no row → create.
    assert decide_customer(None, qbo_customer(qbo_id="59")).action == SyncAction.CREATE


def test_tombstone_for_never_synced_object_writes_nothing() -> None:
    d = decide_invoice(None, tombstone())
    assert d.action == SyncAction.NO_CHANGE and d.state is None and d.reason


def test_deleted_invoice_with_platform_payments_is_a_conflict() -> None:
    d = decide_invoice(platform_invoice(has_platform_payments=True), tombstone())
    assert d.action == SyncAction.CONFLICT
    assert d.state is not None and d.state.archived and d.state.qbo_deleted


def test_invoice_created_already_voided_or_paid() -> None:
    void = decide_invoice(None, qbo_invoice(total=D("0"), balance=D("0"), voided=True))
    paid = decide_invoice(None, qbo_invoice(balance=D("0")))
    assert void.state is not None and void.state.status == InvoiceStatus.VOID
    assert paid.state is not None and paid.state.status == InvoiceStatus.PAID
