"""Entity types the emulator serves, by the names QBO uses in paths, queries and envelopes."""

from __future__ import annotations

from qbo_emulator.entities.account import ACCOUNT
from qbo_emulator.entities.common import EntityType
from qbo_emulator.entities.companyinfo import COMPANY_INFO
from qbo_emulator.entities.currency import PREFERENCES
from qbo_emulator.entities.customer import CUSTOMER
from qbo_emulator.entities.deposit import DEPOSIT
from qbo_emulator.entities.payment import PAYMENT
from qbo_emulator.entities.refund_receipt import REFUND_RECEIPT
from qbo_emulator.entities.sales import CREDIT_MEMO, INVOICE

TYPES: dict[str, EntityType] = {t.name: t for t in (CUSTOMER, INVOICE, PAYMENT, DEPOSIT, ACCOUNT, CREDIT_MEMO,
                                                     COMPANY_INFO, PREFERENCES, REFUND_RECEIPT)}
# Paths use the lower-case name (qbo-reference §1.2).
BY_PATH: dict[str, EntityType] = {name.lower(): t for name, t in TYPES.items()}

# Real QBO entities this emulator does not model: queries on them answer an empty page instead of the
# 4001 an unknown name gets, and writes answer "Unsupported Operation".
OTHER_QBO_ENTITIES = {
    "Attachable", "Bill", "BillPayment", "Budget", "Class", "CompanyCurrency", "CreditCardPayment", "Department",
    "Employee", "Estimate", "ExchangeRate", "Item", "JournalCode", "JournalEntry", "PaymentMethod",
    "Purchase", "PurchaseOrder", "RecurringTransaction", "SalesReceipt", "TaxAgency", "TaxCode",
    "TaxRate", "Term", "TimeActivity", "Transfer", "Vendor", "VendorCredit",
}

__all__ = ["TYPES", "BY_PATH", "OTHER_QBO_ENTITIES", "EntityType"]
