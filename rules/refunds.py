"""Refunds and chargebacks of platform payments (PRODUCT.md §4, §6; the decision and its sources are in
docs/refunds.md).

Why pure: the refund's booking must be decided the same way on every retry, and exactly-once rests on
deterministic keys (`refund_request_id`, `refund_memo`, the refund marker in the Payment's PrivateNote)
and on the live QBO Payment read before anything is written.

Where the refunded money is booked depends on where the payment is:
- never sent to QBO: netted (the payment is posted for what is left; not at all when nothing is);
- in QBO, not deposited: the Payment is reduced by the refund, voided when nothing would be left, so the
  invoice reopens by the refund in QBO as in the platform;
- in QBO and deposited (locked, 6540): a RefundReceipt from the refund clearing account; the invoice
  stays paid in both systems;
- on a platform-created invoice: never in QBO (`not_synced`).

Foreign currency (docs/currency.md, docs/refunds.md "Foreign currency"): a RefundReceipt is in its
customer's (= its invoice's) currency at the invoice's ExchangeRate, like the Payment it reverses; it is
never sent at QBO's default rate of 1, nor from an account QBO would refuse.
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from rules.attention import AttentionCode
from rules.facts import Frozen
from rules.values import ZERO, Currency, ExchangeRate, Money, PositiveMoney, to_money

_REQUEST_NS = uuid.UUID("0c2b6a51-4f0e-4d5c-9a3b-7e1f2d8c6b40")

#: The Other Current Asset account RefundReceipts are paid from and payout Deposits clear (GAZ-clr: a
#: clearing account always returns to zero). Found by name, created when first needed.
CLEARING_ACCOUNT_NAME = "Alternative Payments Refunds Clearing"
CLEARING_ACCOUNT_KEY = "qbo-refund-clearing-account"

RefundKind = Literal["refund", "chargeback"]


class RefundBooking(StrEnum):
    """Values of `refunds.booking` (migration 0013)."""

    NETTED = "netted"
    REDUCED = "reduced"
    VOIDED = "voided"
    REFUND_RECEIPT = "refund_receipt"


#: Bookings that take the refund out of the QBO Payment itself (its amount already excludes it).
AGAINST_PAYMENT = frozenset({RefundBooking.NETTED, RefundBooking.REDUCED, RefundBooking.VOIDED})


def clearing_account_body() -> dict[str, str]:
    return {"Name": CLEARING_ACCOUNT_NAME, "AccountType": "Other Current Asset",
            "AccountSubType": "OtherCurrentAssets"}


def refund_request_id(refund_id: str, generation: int = 0) -> str:
    """QBO `requestid` for this refund's write: stable across retries (qbo-reference §7.5)."""
    return str(uuid.uuid5(_REQUEST_NS, f"refund:{refund_id}:{generation}"))


def refund_memo(refund_id: str) -> str:
    """PrivateNote of the refund's RefundReceipt: the natural key looked up before a create is retried."""
    return f"Alternative Payments refund {refund_id}"


_MARKER = re.compile(r"\| refund (\S+) ")


def refund_marker(refund_id: str, amount: Any) -> str:
    """What a reduction appends to the Payment's PrivateNote: the refunds applied to it are listed on the
    Payment itself, so a retried reduction finds its own earlier success (a lookup before resending)."""
    return f" | refund {refund_id} {amount}"


def refunds_in_note(note: str | None) -> set[str]:
    return set(_MARKER.findall(note or ""))


# --- a new refund (API) ------------------------------------------------------------------------------------


class RefundRefused(ValueError):
    """The refund cannot be recorded; the message says why (the API answers 422)."""


class NewRefund(Frozen):
    """How a refund is recorded when it is created: `status`/`booking` of the refund row, `netted` when it is
    taken off the payment before the payment ever reached QBO, and the payment's new status if that left
    nothing to post."""

    status: Literal["pending", "posted", "not_synced"]
    booking: RefundBooking | None = None
    netted: bool = False
    payment_status: Literal["refunded"] | None = None


def decide_new_refund(*, payment_id: str, payment_status: str, attempts: int, payment_amount: Money,
                      refunded_amount: Money, amount: PositiveMoney) -> NewRefund:
    """Several refunds per payment, together at most what was paid. A payment QBO never saw (no attempt was
    ever recorded, so no request can be in flight) gets the refund netted in: it then never reaches QBO as
    a payment for the refunded part (PRODUCT.md §4)."""
    refundable = payment_amount - refunded_amount
    if amount > refundable:
        raise RefundRefused(
            f"amount {amount} is more than payment {payment_id} can still refund ({refundable}: paid "
            f"{payment_amount}, refunded {refunded_amount} so far)")
    if payment_status == "not_synced":
        return NewRefund(status="not_synced")
    if payment_status in ("pending", "needs_attention") and attempts == 0:
        return NewRefund(status="posted", booking=RefundBooking.NETTED, netted=True,
                         payment_status="refunded" if amount == refundable else None)
    return NewRefund(status="pending")


# --- posting a refund (activity) ---------------------------------------------------------------------------


class LivePayment(Frozen):
    """Our QBO Payment as read live before the refund is booked."""

    qbo_id: str
    sync_token: str
    total: Money
    voided: bool
    deposited: bool  # a Deposit links it: locked (6540, qbo-reference §15.1)
    private_note: str | None = None


def parse_live_payment(obj: dict[str, Any]) -> LivePayment:
    total = to_money(obj.get("TotalAmt", 0))
    note = obj.get("PrivateNote")
    return LivePayment(
        qbo_id=str(obj["Id"]), sync_token=str(obj.get("SyncToken", "0")), total=total,
        voided=total == 0 and str(note or "").startswith("Voided"),
        deposited=any(isinstance(lt, dict) and lt.get("TxnType") == "Deposit" for lt in obj.get("LinkedTxn") or []),
        private_note=note)


class RefundAction(StrEnum):
    WAIT = "wait"  # the payment is not in QBO yet (pending, or parked after an attempt)
    REDUCE = "reduce"
    VOID = "void"
    RECEIPT = "receipt"
    ALREADY_BOOKED = "already_booked"  # the lookup found it booked: record, send nothing
    NEEDS_ATTENTION = "needs_attention"


class RefundDecision(Frozen):
    action: RefundAction
    booking: RefundBooking | None = None
    new_total: Money | None = None  # REDUCE: the Payment's TotalAmt after it; ALREADY_BOOKED: what it holds
    reason: str | None = None
    code: AttentionCode | None = None


class RefundFacts(Frozen):
    id: str
    payment_id: str
    amount: PositiveMoney
    kind: RefundKind = "refund"


def decide_refund(refund: RefundFacts, *, payment_status: str, payment_changed_in_qbo: bool,
                  qbo_amount: Money | None, live: LivePayment | None,
                  found_receipt_id: str | None = None) -> RefundDecision:
    """What to do with a pending refund now. `qbo_amount`: what our QBO Payment held before this refund as
    we recorded it; `live`: that Payment read now (None: QBO no longer has it); `found_receipt_id`: the
    RefundReceipt found by `refund_memo` (only looked up once an attempt was recorded)."""
    if found_receipt_id:
        return RefundDecision(action=RefundAction.ALREADY_BOOKED, booking=RefundBooking.REFUND_RECEIPT)
    if payment_status in ("pending", "needs_attention") and not payment_changed_in_qbo:
        return RefundDecision(action=RefundAction.WAIT,
                              reason=f"waiting for payment {refund.payment_id} to reach QBO")
    if payment_status != "posted" or payment_changed_in_qbo or qbo_amount is None:
        return _attention(f"payment {refund.payment_id} is {payment_status}"
                          + (" and was changed in QuickBooks by a person" if payment_changed_in_qbo else "")
                          + "; book the refund by hand or fix the payment, then retry")
    if live is None:
        return _attention(f"QBO Payment of payment {refund.payment_id} no longer exists (deleted in QuickBooks)")
    if refund.id in refunds_in_note(live.private_note):
        return RefundDecision(action=RefundAction.ALREADY_BOOKED, booking=RefundBooking.REDUCED, new_total=live.total)
    if live.voided:
        if qbo_amount == refund.amount:  # our void went through before the crash
            return RefundDecision(action=RefundAction.ALREADY_BOOKED, booking=RefundBooking.VOIDED, new_total=ZERO)
        return _attention(f"QBO Payment {live.qbo_id} was voided in QuickBooks by a person")
    if live.deposited:
        return RefundDecision(action=RefundAction.RECEIPT, booking=RefundBooking.REFUND_RECEIPT)
    if live.total != qbo_amount:
        return _attention(f"QBO Payment {live.qbo_id} holds {live.total}, not the {qbo_amount} posted "
                          "(changed in QuickBooks); book the refund by hand, then retry")
    if refund.amount == live.total:
        return RefundDecision(action=RefundAction.VOID, booking=RefundBooking.VOIDED, new_total=ZERO)
    return RefundDecision(action=RefundAction.REDUCE, booking=RefundBooking.REDUCED,
                          new_total=live.total - refund.amount)


def _attention(reason: str) -> RefundDecision:
    return RefundDecision(action=RefundAction.NEEDS_ATTENTION, reason=reason, code=AttentionCode.CHANGED_IN_QBO)


def build_reduction(live: dict[str, Any], refund: RefundFacts, invoice_qbo_id: str, new_total: Money) -> dict[str, Any]:
    """The Payment update that lowers it by the refund (qbo-reference §15.1: send `TotalAmt`, `CustomerRef`
    and ALL lines, the line on our invoice reduced; a line left out would be unapplied). The refund's marker
    goes in PrivateNote. Raises RefundRefused when the Payment no longer applies enough to the invoice."""
    lines, reduced = [], False
    for line in live.get("Line") or []:
        links = line.get("LinkedTxn") or []
        amount = to_money(line.get("Amount", 0))
        if not reduced and any(lt.get("TxnType") == "Invoice" and str(lt.get("TxnId")) == invoice_qbo_id
                               for lt in links):
            if amount < refund.amount:
                raise RefundRefused(f"QBO Payment {live.get('Id')} applies only {amount} to invoice {invoice_qbo_id}")
            amount, reduced = amount - refund.amount, True
        if amount > 0:
            lines.append({"Amount": amount, "LinkedTxn": [{"TxnId": lt.get("TxnId"), "TxnType": lt.get("TxnType")}
                                                          for lt in links]})
    if not reduced:
        raise RefundRefused(f"QBO Payment {live.get('Id')} is not applied to invoice {invoice_qbo_id}")
    return {"Id": live["Id"], "SyncToken": live["SyncToken"], "sparse": True, "CustomerRef": live["CustomerRef"],
            "TotalAmt": new_total, "Line": lines,
            "PrivateNote": (live.get("PrivateNote") or "") + refund_marker(refund.id, refund.amount)}


class ReceiptCurrency(Frozen):
    """The currency fields of a RefundReceipt: `exchange_rate` only when `currency` is not home."""

    currency: Currency
    exchange_rate: ExchangeRate | None = None


class ReceiptCurrencyError(ValueError):
    """QBO would refuse the RefundReceipt, or book it at the wrong rate: the refund waits for a person
    (`currency_mismatch`); the message says what to fix."""


def receipt_currency(*, refund_id: str, invoice_currency: str | None, invoice_rate: Decimal | None, home: str,
                     clearing_name: str, clearing_currency: str | None) -> ReceiptCurrency:
    """A RefundReceipt is in its customer's currency, which is its invoice's (QBO refuses another,
    qbo-reference §15.5), at the invoice's ExchangeRate, the rate our Payment was posted at, so the income
    it reverses is the home value the invoice booked (QBO's default of 1 would not be: §15.5, always sent).
    It is paid from the clearing account, which QBO accepts only in home currency or the receipt's own
    (§15.5, H-fx); the account we create is in home currency, so only one a person made in a third
    currency under our name is refused here, before anything is sent."""
    currency = (invoice_currency or home).strip().upper()
    account_currency = (clearing_currency or home).strip().upper()
    if account_currency not in (home, currency):
        raise ReceiptCurrencyError(
            f"refund {refund_id} is in {currency} but the refund clearing account {clearing_name!r} is in "
            f"{account_currency}: QBO pays a {currency} refund only from an account in the home currency "
            f"({home}) or in {currency}; rename that account in QuickBooks (a {home} one is then created) "
            "and retry the refund")
    if currency == home:
        return ReceiptCurrency(currency=currency)
    if invoice_rate is None:
        raise ReceiptCurrencyError(
            f"refund {refund_id} is in {currency}, not the home currency {home}, and its QBO invoice carries no "
            "ExchangeRate: QBO would book the refund at 1; set the invoice's exchange rate in QuickBooks and retry")
    return ReceiptCurrency(currency=currency, exchange_rate=invoice_rate)


def build_refund_receipt(refund: RefundFacts, *, customer_qbo_id: str, item_id: str, clearing_account_id: str,
                         txn_date: str, currency: ReceiptCurrency | None = None) -> dict[str, Any]:
    """The RefundReceipt create body (qbo-reference §15.2; docs/refunds.md): positive amount, the item
    the invoice was sold with (its income account takes the debit), paid from the clearing account, in the
    currency `receipt_currency` decided (CurrencyRef always when given, ExchangeRate when foreign)."""
    what = "Chargeback" if refund.kind == "chargeback" else "Refund"
    fx: dict[str, Any] = {}
    if currency is not None:
        fx["CurrencyRef"] = {"value": currency.currency}
        if currency.exchange_rate is not None:
            fx["ExchangeRate"] = currency.exchange_rate
    return {
        **fx,
        "CustomerRef": {"value": customer_qbo_id},
        "DepositToAccountRef": {"value": clearing_account_id},
        "TxnDate": txn_date,
        "PrivateNote": refund_memo(refund.id),
        "PrintStatus": "NotSet",
        "Line": [{"Amount": refund.amount, "DetailType": "SalesItemLineDetail",
                  "Description": f"{what} of Alternative Payments payment {refund.payment_id}",
                  "SalesItemLineDetail": {"ItemRef": {"value": item_id}, "Qty": 1, "UnitPrice": refund.amount}}],
    }


def invoice_item_id(invoice: dict[str, Any]) -> str | None:
    """The first item the QBO invoice was sold with: a refund reverses that income (H-twice)."""
    for line in invoice.get("Line") or []:
        if line.get("DetailType") == "SalesItemLineDetail":
            ref = (line.get("SalesItemLineDetail") or {}).get("ItemRef") or {}
            if ref.get("value"):
                return str(ref["value"])
    return None
