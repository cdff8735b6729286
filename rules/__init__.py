"""Pure sync rules (PRODUCT.md §3, §4): decisions with no I/O, no clock, no randomness.

Given what the platform holds and what QBO says, decide what to do. Imports only the standard library and
pydantic, so workflows, activities and tests can all use it.

Modules: `values` (Decimal money, UTC instants), `facts` (models + QBO JSON converters, `BadQboPayload`),
`customers` / `invoices` (QBO → platform decisions), `posting` (payments, platform voids), `deposits`
(payout → Deposit), `preferences` (§4 preferences), `faults` (QBO fault → retry or needs_attention).
Platform changes other than payments and voids never reach QBO (tests/api/test_connect.py proves it).
"""

from rules.customers import CustomerDecision, CustomerState, decide_customer
from rules.decisions import SyncAction
from rules.deposits import DepositPlan, build_deposit, decide_deposit
from rules.facts import (
    AccountFacts,
    BadQboPayload,
    InvoiceStatus,
    PlatformCustomer,
    PlatformInvoice,
    QboCustomerFacts,
    QboInvoiceFacts,
    QboTombstone,
    newest_change,
    parse_account,
    parse_customer,
    parse_invoice,
)
from rules.invoices import InvoiceDecision, InvoiceState, decide_invoice, derive_balance_status
from rules.posting import (
    PlatformPayment,
    build_payment,
    decide_platform_void,
    decide_posting,
    decide_postings,
    payment_ref_num,
    payment_request_id,
)
from rules.preferences import Preferences, default_preferences, validate_preferences

__all__ = [
    "AccountFacts", "BadQboPayload", "CustomerDecision", "CustomerState", "DepositPlan", "InvoiceDecision",
    "InvoiceState", "InvoiceStatus", "PlatformCustomer", "PlatformInvoice", "PlatformPayment", "Preferences",
    "QboCustomerFacts", "QboInvoiceFacts", "QboTombstone", "SyncAction", "build_deposit", "build_payment",
    "decide_customer", "decide_deposit", "decide_invoice", "decide_platform_void", "decide_posting",
    "decide_postings", "default_preferences", "derive_balance_status", "newest_change", "parse_account",
    "parse_customer", "parse_invoice", "payment_ref_num", "payment_request_id", "validate_preferences",
]
