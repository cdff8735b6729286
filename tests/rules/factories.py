"""Small builders for rules tests: one valid object each, with overrides."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from rules.facts import (
    AccountFacts,
    InvoiceStatus,
    PlatformCustomer,
    PlatformInvoice,
    QboCustomerFacts,
    QboInvoiceFacts,
    QboTombstone,
)
from rules.posting import PlatformPayment
from tests.qbo_fixtures import QBO_FIXTURES as FIXTURES

T0 = datetime(2026, 1, 5, 17, 0, tzinfo=UTC)


def qbo_customer(**kw: Any) -> QboCustomerFacts:
    base: dict[str, Any] = dict(qbo_id="58", sync_token=0, display_name="Acme IT", email="ap@acme.test",
                                active=True, last_updated=T0)
    return QboCustomerFacts(**(base | kw))


def platform_customer(**kw: Any) -> PlatformCustomer:
    base: dict[str, Any] = dict(id="c-1", source="qbo", qbo_id="58", qbo_sync_token=0, qbo_updated_at=T0,
                                name="Acme IT", email="ap@acme.test", archived=False, qbo_active=True)
    return PlatformCustomer(**(base | kw))


def qbo_invoice(**kw: Any) -> QboInvoiceFacts:
    base: dict[str, Any] = dict(qbo_id="130", sync_token=0, doc_number="1001", customer_qbo_id="58",
                                total=Decimal("100.00"), balance=Decimal("100.00"), currency="USD",
                                due_date=date(2026, 2, 4), voided=False, last_updated=T0)
    return QboInvoiceFacts(**(base | kw))


def platform_invoice(**kw: Any) -> PlatformInvoice:
    base: dict[str, Any] = dict(id="i-1", source="qbo", qbo_id="130", qbo_sync_token=0, qbo_updated_at=T0,
                                qbo_customer_id="58", doc_number="1001", amount=Decimal("100.00"),
                                balance=Decimal("100.00"), currency="USD", due_date=date(2026, 2, 4),
                                status=InvoiceStatus.OPEN, archived=False, qbo_deleted=False)
    return PlatformInvoice(**(base | kw))


def tombstone(entity: str = "Invoice", qbo_id: str = "130") -> QboTombstone:
    return QboTombstone(entity=entity, qbo_id=qbo_id, last_updated=T0)


def payment(**kw: Any) -> PlatformPayment:
    base: dict[str, Any] = dict(id="pay-1", invoice_id="i-1", amount=Decimal("40.00"), currency="USD",
                                paid_at=T0)
    return PlatformPayment(**(base | kw))


def account(qbo_id: str, name: str, account_type: str, subtype: str | None = None, active: bool = True) -> AccountFacts:
    return AccountFacts(qbo_id=qbo_id, name=name, account_type=account_type, account_subtype=subtype, active=active)


CHART = [
    account("4", "Undeposited Funds", "Other Current Asset", "UndepositedFunds"),
    account("35", "Checking", "Bank", "Checking"),
    account("36", "Savings", "Bank", "Savings"),
    account("60", "Alternative Payments Fees", "Expense", "BankCharges"),
    account("61", "Old Fees (deleted)", "Expense", "BankCharges", active=False),
    account("62", "Cost of sales", "Cost of Goods Sold", "SuppliesMaterialsCogs"),
    account("79", "Services", "Income", "ServiceFeeIncome"),
    account("84", "Accounts Receivable (A/R)", "Accounts Receivable", "AccountsReceivable"),
]




def load_fixture(name: str) -> Any:
    """A real QBO payload from ../shared/qbo-fixtures, with amounts parsed as Decimal (never float)."""
    return json.loads((FIXTURES / name).read_text(), parse_float=Decimal)
