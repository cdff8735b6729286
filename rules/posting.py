"""Platform → QBO payment rules (PRODUCT.md §3 "paid through the platform" / "voided" rows, §4).

Why pure: the posting activity must decide "post, or park with a reason" the same way on every retry and
replay; exactly-once rests on deterministic keys (`payment_ref_num`, `payment_request_id`) and on checking
the live QBO invoice before writing (no overpayment, no posting to a deleted, void or paid invoice).
"""

from __future__ import annotations

import base64
import hashlib
import re
import uuid
from collections.abc import Iterable
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from rules.attention import AttentionCode
from rules.dates import local_date
from rules.facts import Frozen, InvoiceStatus, PlatformInvoice, QboInvoiceFacts, QboTombstone
from rules.preferences import Preferences
from rules.values import ZERO, Currency, Instant, PositiveMoney

# QBO rejects longer PaymentRefNum values (Payment.PaymentRefNum, max 21 characters in Intuit's API
# reference; the same 21-char limit QBO enforces on DocNumber, error 2050 "Min:0 Max:21").
PAYMENT_REF_NUM_MAX = 21
_PASSTHROUGH = re.compile(r"[A-Za-z0-9_.-]{1,20}")
_HASH_PREFIX = "AP"
# Fixed namespace so request ids are stable across processes and releases (qbo-reference §7.5).
_REQUEST_NS = uuid.UUID("5b0c7f2e-3c1a-4f7e-9a51-0b9e1f6d2a10")


class PlatformPayment(Frozen):
    """A `payments` row, as far as posting needs it. `paid_at` is when the customer paid (UTC); only
    `build_payment` needs it, and it refuses a payment without one (the TxnDate is always sent)."""

    id: str
    invoice_id: str
    amount: PositiveMoney
    currency: Currency
    status: Literal["pending", "posted", "needs_attention", "not_synced"] = "pending"
    qbo_payment_id: str | None = None
    paid_at: Instant | None = None


def payment_ref_num(payment_id: str) -> str:
    """The PaymentRefNum for a platform payment: the natural key looked up before any create (§4).

    Ids of ≤ 20 characters from [A-Za-z0-9_.-] are used as they are, so bookkeepers see the platform id.
    Anything else (longer, or with characters a QBO query literal would have to escape) becomes
    "AP" + 19 base32 characters of SHA-256(id): exactly 21 characters, 95 bits. The two forms have
    different lengths, so they can never collide with each other; the full id also goes in PrivateNote.
    """
    if not payment_id:
        raise ValueError("payment id must not be empty")
    if _PASSTHROUGH.fullmatch(payment_id):
        return payment_id
    digest = base64.b32encode(hashlib.sha256(payment_id.encode()).digest()).decode()
    return _HASH_PREFIX + digest[: PAYMENT_REF_NUM_MAX - len(_HASH_PREFIX)]


def payment_request_id(payment_id: str, generation: int = 0) -> str:
    """QBO `requestid` for creating this payment: a UUID5 (36 chars, fits the ≤ 36 batch limit,
    qbo-reference §7.5), identical on every retry. Bump `generation` only when a person re-queues a
    payment that QBO rejected, so QBO does not replay the old failure."""
    return str(uuid.uuid5(_REQUEST_NS, f"payment:{payment_id}:{generation}"))


# --- Deciding whether to post ---------------------------------------------------------------------------


class PostingAction(StrEnum):
    POST = "post"
    ALREADY_POSTED = "already_posted"  # QBO has it (recorded id, or found by PaymentRefNum): record, don't create
    NEEDS_ATTENTION = "needs_attention"
    NOT_SYNCED = "not_synced"  # platform-created invoice: never sent to QBO (§3)


class PostingDecision(Frozen):
    action: PostingAction
    payment_id: str
    reason: str | None = None
    code: AttentionCode | None = None  # set with NEEDS_ATTENTION: the cause, so the workflow knows what may clear
    qbo_payment_id: str | None = None


class PostingFacts(Frozen):
    """Everything `decide_posting` looks at for one payment, read live just before posting."""

    payment: PlatformPayment
    invoice: PlatformInvoice
    qbo_invoice: QboInvoiceFacts | QboTombstone | None
    customer_active: bool | None
    existing_qbo_payment_id: str | None = None


def decide_posting(
    payment: PlatformPayment,
    invoice: PlatformInvoice,
    qbo_invoice: QboInvoiceFacts | QboTombstone | None,
    customer_active: bool | None,
    *,
    existing_qbo_payment_id: str | None = None,
    reserved: Decimal = ZERO,
) -> PostingDecision:
    """Post, or say why not (§4 conflicts: deleted / void / paid invoice, overpayment, inactive customer,
    currency mismatch). `qbo_invoice` is the live QBO invoice (None or a tombstone when deleted),
    `customer_active` the live QBO customer's Active (None: not found), `existing_qbo_payment_id` the
    result of the PaymentRefNum lookup, `reserved` what earlier postings in the same batch already take
    from this invoice's QBO balance. An existing QBO payment wins over every check: after a crash QBO's
    balance already includes it, and re-checking would call our own payment an overpayment."""
    pid = payment.id
    found = payment.qbo_payment_id or existing_qbo_payment_id
    if found:
        return PostingDecision(action=PostingAction.ALREADY_POSTED, payment_id=pid, qbo_payment_id=found,
                               reason="already in QBO; recorded, not created again")
    if invoice.source == "platform" or payment.status == "not_synced":
        return PostingDecision(action=PostingAction.NOT_SYNCED, payment_id=pid,
                               reason="platform-created invoice: never sent to QBO (§3)")
    blocked = _blocking_reason(payment, invoice, qbo_invoice, customer_active, reserved)
    if blocked:
        return PostingDecision(action=PostingAction.NEEDS_ATTENTION, payment_id=pid, code=blocked[0],
                               reason=blocked[1])
    return PostingDecision(action=PostingAction.POST, payment_id=pid)


def _blocking_reason(
    payment: PlatformPayment,
    invoice: PlatformInvoice,
    qbo_invoice: QboInvoiceFacts | QboTombstone | None,
    customer_active: bool | None,
    reserved: Decimal,
) -> tuple[AttentionCode, str] | None:
    code = AttentionCode
    if qbo_invoice is None or isinstance(qbo_invoice, QboTombstone) or invoice.qbo_deleted:
        return code.INVOICE_DELETED, "invoice deleted in QBO; the payment cannot be applied to it"
    if invoice.qbo_id != qbo_invoice.qbo_id:
        raise ValueError(f"QBO invoice {qbo_invoice.qbo_id!r} is not invoice {invoice.qbo_id!r}")
    if qbo_invoice.voided:
        return code.INVOICE_VOIDED, "invoice voided in QBO; the payment cannot be applied to it"
    if customer_active is None:
        return code.CUSTOMER_NOT_FOUND, f"customer {qbo_invoice.customer_qbo_id} of the invoice was not found in QBO"
    if not customer_active:
        return (code.CUSTOMER_INACTIVE,
                f"customer {qbo_invoice.customer_qbo_id} is inactive in QBO; reactivate it to post the payment")
    if payment.currency != qbo_invoice.currency:
        return (code.CURRENCY_MISMATCH,
                f"currency mismatch: payment in {payment.currency}, QBO invoice in {qbo_invoice.currency}")
    open_balance = qbo_invoice.balance - reserved
    if qbo_invoice.balance == 0:
        return (code.INVOICE_BALANCE_TOO_LOW,
                "invoice already paid in QBO (balance 0.00); posting would create an overpayment")
    if open_balance <= 0:
        return (code.INVOICE_BALANCE_TOO_LOW,
                f"earlier payments in this batch already cover the QBO balance ({qbo_invoice.balance}); "
                "posting would create an overpayment")
    if payment.amount > open_balance:
        return (code.INVOICE_BALANCE_TOO_LOW,
                f"amount {payment.amount} is larger than the open QBO balance {open_balance}; "
                "posting would create an overpayment")
    return None


def decide_postings(items: Iterable[PostingFacts]) -> list[PostingDecision]:
    """Decide a batch in order, so two payments on one invoice cannot together overpay it: each `post`
    reserves its amount against that invoice's QBO balance for the payments after it."""
    reserved: dict[str, Decimal] = {}
    decisions = []
    for item in items:
        key = item.invoice.qbo_id or item.invoice.id
        decision = decide_posting(
            item.payment, item.invoice, item.qbo_invoice, item.customer_active,
            existing_qbo_payment_id=item.existing_qbo_payment_id, reserved=reserved.get(key, ZERO),
        )
        if decision.action == PostingAction.POST:
            reserved[key] = reserved.get(key, ZERO) + item.payment.amount
        decisions.append(decision)
    return decisions


def build_payment(
    payment: PlatformPayment,
    *,
    qbo_customer_id: str,
    qbo_invoice_id: str,
    prefs: Preferences,
    undeposited_funds_account_id: str | None = None,
    home_currency: str = "USD",
    exchange_rate: Decimal | None = None,
) -> dict[str, Any]:
    """The QBO Payment create body (qbo-reference §5.3; §6 step 1). Amounts are Decimal.

    Currency (PRODUCT.md §4, docs/currency.md): the Payment is in its invoice's currency (`payment.currency`);
    when that is not `home_currency` it carries the invoice's `exchange_rate`, always sent, because QBO books
    a foreign Payment without one at 1 (qbo-reference §15.5). A foreign payment without a rate is refused
    (ValueError) rather than booked at 1.

    TxnDate: the day the customer paid (`paid_at`) in the company's zone (`prefs.time_zone`), never the
    day of posting; always sent, because QBO would otherwise use its server's today (qbo-reference §15.4).

    DepositToAccountRef: with deposits on, Undeposited Funds (so the payout's Deposit can sweep it); with
    them off, `prefs.payment_account_id`. When the wanted account is Undeposited Funds but its Id is not
    given, the ref is left out, which QBO defines as Undeposited Funds.
    """
    if payment.paid_at is None:
        raise ValueError(f"payment {payment.id} has no paid_at; its TxnDate would be the day of posting")
    account = undeposited_funds_account_id if prefs.create_deposits else (
        prefs.payment_account_id or undeposited_funds_account_id
    )
    body: dict[str, Any] = {
        "CustomerRef": {"value": qbo_customer_id},
        "TotalAmt": payment.amount,
        "CurrencyRef": {"value": payment.currency},
        "TxnDate": local_date(payment.paid_at, prefs.time_zone).isoformat(),
        "PaymentRefNum": payment_ref_num(payment.id),
        "PrivateNote": f"Alternative Payments payment {payment.id}",
        "ProcessPayment": False,  # qbo-reference §5.3: keep QBO Payments card processing out of it
        "Line": [{"Amount": payment.amount, "LinkedTxn": [{"TxnId": qbo_invoice_id, "TxnType": "Invoice"}]}],
    }
    if account:
        body["DepositToAccountRef"] = {"value": account}
    if payment.currency != home_currency:
        if exchange_rate is None:
            raise ValueError(f"payment {payment.id} is in {payment.currency}, not the home currency {home_currency}, "
                             "and its QBO invoice carries no ExchangeRate: QBO would book it at 1")
        body["ExchangeRate"] = exchange_rate
    return body


# --- Voiding from the platform --------------------------------------------------------------------------


#: Namespace of the `requestid`s of posting batches and invoice voids: fixed, because a retried request must
#: carry the id its first attempt carried (qbo-reference §7.5).
REQUEST_ID_NS = uuid.UUID("1d6f0b3e-8a4c-4e2b-9c7d-5f3a2b1e0c9d")


class VoidAction(StrEnum):
    VOID_IN_QBO = "void_in_qbo"
    VOID_LOCALLY = "void_locally"  # platform-created: voided in the platform only, never sent to QBO
    ALREADY_VOID = "already_void"
    REJECT = "reject"


class VoidDecision(Frozen):
    action: VoidAction
    reason: str | None = None


def decide_platform_void(invoice: PlatformInvoice) -> VoidDecision:
    """§3 "voided in the platform": a QBO-sourced invoice with no payments is voided in QBO; anything
    that carries money is refused with the reason, so nothing is voided on one side only."""
    if invoice.status == InvoiceStatus.VOID:
        return VoidDecision(action=VoidAction.ALREADY_VOID, reason="invoice is already void")
    if invoice.has_platform_payments:
        return VoidDecision(action=VoidAction.REJECT,
                            reason="invoice has payments recorded in the platform; refund them before voiding")
    if invoice.source == "platform":
        return VoidDecision(action=VoidAction.VOID_LOCALLY, reason="platform-created invoice: never sent to QBO")
    if invoice.qbo_deleted:
        return VoidDecision(action=VoidAction.REJECT, reason="invoice was deleted in QBO; there is nothing to void")
    if invoice.status in (InvoiceStatus.PAID, InvoiceStatus.PARTIALLY_PAID) or invoice.balance < invoice.amount:
        return VoidDecision(action=VoidAction.REJECT,
                            reason=f"invoice has payments or credits applied in QBO (balance {invoice.balance} "
                                   f"of {invoice.amount}); void it in QuickBooks after removing them")
    return VoidDecision(action=VoidAction.VOID_IN_QBO)
