"""Why an item needs attention, as a code a machine can act on (PRODUCT.md §4: `needs_attention` is never a
dead end).

The human sentence (`attention_reason`) is for people; the code (`attention_code`) is what lets the
workflow retry by itself the items whose cause clears without anyone touching the item: a customer or
account reactivated in QBO, an invoice whose QBO balance went back up, a reconnect. Everything else waits
for a person to press retry in the dashboard once they fixed the cause. Items a bookkeeper changed in QBO
(`changed_in_qbo`) are never retried by the workflow: re-posting over a person's decision is theirs to ask.
"""

from __future__ import annotations

from enum import StrEnum


class AttentionCode(StrEnum):
    CUSTOMER_INACTIVE = "customer_inactive"
    CUSTOMER_NOT_FOUND = "customer_not_found"
    ACCOUNT_INACTIVE = "account_inactive"  # QBO refused a reference (2500/610): an account, most likely
    INVOICE_BALANCE_TOO_LOW = "invoice_balance_too_low"  # paid in QBO, or less open than the payment
    INVOICE_VOIDED = "invoice_voided"
    INVOICE_DELETED = "invoice_deleted"
    CURRENCY_MISMATCH = "currency_mismatch"
    AUTH = "auth"
    CHANGED_IN_QBO = "changed_in_qbo"  # our Payment/Deposit deleted or edited in QBO by a person
    DEPOSIT_CANNOT_BALANCE = "deposit_cannot_balance"  # the lines can't make a Deposit equal to the payout
    DEPOSIT_MISMATCH = "deposit_mismatch"  # QBO computed another TotalAmt than we sent
    SETUP = "setup"  # a preference is missing (e.g. no deposit account)
    QBO_FAULT = "qbo_fault"  # any other QBO validation fault: a person reads the reason


# Causes that can clear by themselves; the store's cheap check says when one may have (store/attention_repo).
AUTO_RETRY: frozenset[AttentionCode] = frozenset({
    AttentionCode.CUSTOMER_INACTIVE,
    AttentionCode.CUSTOMER_NOT_FOUND,
    AttentionCode.ACCOUNT_INACTIVE,
    AttentionCode.INVOICE_BALANCE_TOO_LOW,
    AttentionCode.AUTH,
})

# QBO fault code → cause (qbo-reference §8.4). 2500 "invalid reference" and 610 "object not found" on a
# create whose invoice and customer were just read live point at an account (inactive or deleted).
_FAULTS: dict[str, AttentionCode] = {
    "2500": AttentionCode.ACCOUNT_INACTIVE,
    "610": AttentionCode.ACCOUNT_INACTIVE,
    "3200": AttentionCode.AUTH,
    "3100": AttentionCode.AUTH,
    "120": AttentionCode.AUTH,
}


def code_for_fault(qbo_code: str | None) -> AttentionCode:
    """The cause behind a QBO fault that parked an item."""
    return _FAULTS.get((qbo_code or "").strip(), AttentionCode.QBO_FAULT)


def auto_retryable(code: str | None) -> bool:
    """True when the workflow may put the item back in line by itself once its cause looks cleared."""
    return code is not None and code in AUTO_RETRY  # StrEnum members hash and compare as their value
