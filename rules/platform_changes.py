"""What a change made in the platform does in QBO (PRODUCT.md §3, the platform → QBO rows).

One place that answers "does this platform change reach QBO?", so the API and the workflow cannot drift
from the spec: only payments (→ `rules.posting.decide_posting`) and voids of QBO-sourced invoices
(→ `rules.posting.decide_platform_void`) ever write to QBO; everything else stays in the platform.
"""

from __future__ import annotations

from enum import StrEnum

from rules.facts import Frozen


class PlatformChange(StrEnum):
    CREATE_CUSTOMER = "create_customer"
    CREATE_INVOICE = "create_invoice"
    ARCHIVE = "archive"
    EDIT_AMOUNT = "edit_amount"
    EDIT_DUE_DATE = "edit_due_date"
    PAYMENT = "payment"
    VOID = "void"


class QboEffect(StrEnum):
    NONE = "none"
    POST_PAYMENT = "post_payment"  # decide with rules.posting.decide_posting
    VOID_IF_ALLOWED = "void_if_allowed"  # decide with rules.posting.decide_platform_void


class QboEffectDecision(Frozen):
    effect: QboEffect
    reason: str


_EFFECTS: dict[PlatformChange, tuple[QboEffect, str]] = {
    PlatformChange.CREATE_CUSTOMER: (QboEffect.NONE, "created in the platform: never sent to QBO"),
    PlatformChange.CREATE_INVOICE: (QboEffect.NONE, "created in the platform: never sent to QBO"),
    PlatformChange.ARCHIVE: (QboEffect.NONE, "archived in the platform: nothing happens in QBO"),
    PlatformChange.EDIT_AMOUNT: (QboEffect.NONE, "amount edits are never sent to QBO; QBO stays the source of truth"),
    PlatformChange.EDIT_DUE_DATE: (QboEffect.NONE, "due-date edits are never sent to QBO; QBO stays the source of truth"),
    PlatformChange.PAYMENT: (QboEffect.POST_PAYMENT, "paid through the platform: the payment is posted to QBO (§4)"),
    PlatformChange.VOID: (QboEffect.VOID_IF_ALLOWED, "voided in the platform: a QBO-sourced invoice with no payments is voided in QBO"),
}


def qbo_effect(change: PlatformChange) -> QboEffectDecision:
    effect, reason = _EFFECTS[change]
    return QboEffectDecision(effect=effect, reason=reason)
