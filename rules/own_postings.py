"""Our own postings changed in QBO by a person (PRODUCT.md §3 last row; qbo-reference §4, §5.3, §15.1).

A bookkeeper can delete or void a Payment this service created, edit its amount or unapply it from the
invoice, or delete or edit the Deposit of a payout. QBO's invoice Balance then no longer holds our payment,
while the platform still says `posted`. The sync sees every such change in CDC (the same request that
carries invoices) and decides here, purely, whether our posting still stands:

- a tombstone (only the Id, qbo-reference §4) → `deleted`;
- TotalAmt 0 with PrivateNote "Voided" (a void keeps the object, qbo-reference §5.3, §15.1) → `voided`;
- a Payment whose TotalAmt, or the amount it applies to our invoice, is no longer the platform amount, or
  a Deposit whose TotalAmt is no longer the payout's net → `amount_changed`;
- anything else (a deposit linking it, a memo edit) → unchanged.

Why "changed" is final for the sync: nothing is re-posted automatically (a second Payment would pay the
invoice twice if the bookkeeper's change was deliberate); a person decides, then retries (§6). The reason
text names the QBO object and what happened, for the dashboard and the sync log.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from rules.facts import (
    BadQboPayload,
    Frozen,
    QboTombstone,
    build_facts,
    read_field,
    to_text,
    tombstone_of,
    unwrap,
)
from rules.refunds import refunds_in_note
from rules.values import ZERO, Instant, Money, QboId, to_instant, to_money, to_qbo_id, to_sync_token

PostingEntity = Literal["Payment", "Deposit"]


class QboChange(StrEnum):
    """Values of `payments.qbo_change` / `payouts.qbo_change` (migration 0007)."""

    DELETED = "deleted"
    VOIDED = "voided"
    AMOUNT_CHANGED = "amount_changed"


class OwnPosting(Frozen):
    """What this service posted: a `payments` row (amount, on `invoice_qbo_id`) or a `payouts` row (net)."""

    entity: PostingEntity
    platform_id: str
    qbo_id: QboId
    amount: Money
    invoice_qbo_id: QboId | None = None  # Payments: the invoice our Payment applies to
    # Payments: that invoice is void or deleted in QBO. Voiding or deleting an invoice leaves its payments as
    # unapplied credit (emulator sales.unlink_payments, QBO UI behaviour): a consequence, not an edit of our
    # Payment, and the invoice's own conflict already asks a person to act (rules/invoices.py).
    invoice_closed: bool = False
    # Payments: refunds sent to QBO against this Payment whose outcome is not recorded yet (the worker died
    # after QBO applied them): a reduction QBO shows with the refund's marker, or a void when the refund was
    # all that was left, is ours (docs/refunds.md), not a bookkeeper's.
    refunds_in_flight: dict[str, Money] = {}


class QboPostingFacts(Frozen):
    """A live QBO Payment or Deposit, as far as the check needs it."""

    entity: PostingEntity
    qbo_id: QboId
    sync_token: int
    total: Money
    voided: bool
    applied: dict[str, Money] = {}  # Payments: invoice QBO Id → amount applied to it
    last_updated: Instant | None = None
    note: str | None = None  # PrivateNote: carries the markers of the refunds that reduced our Payment


class OwnPostingDecision(Frozen):
    platform_id: str
    qbo_id: QboId
    change: QboChange | None  # None: our posting stands as we made it
    sync_token: int | None = None  # the version checked (None for a tombstone)
    reason: str | None = None


def parse_posting(raw: Any, entity: PostingEntity) -> QboPostingFacts | QboTombstone:
    """Staged QBO Payment / Deposit JSON → facts. Raises only BadQboPayload."""
    obj = unwrap(raw, entity)
    dead = tombstone_of(obj, entity)
    if dead is not None:
        return dead
    total = read_field(obj, entity, "TotalAmt", to_money)
    note = read_field(obj, entity, "PrivateNote", to_text, required=False) or ""
    return build_facts(
        QboPostingFacts, entity, entity=entity,
        qbo_id=read_field(obj, entity, "Id", to_qbo_id),
        sync_token=read_field(obj, entity, "SyncToken", to_sync_token),
        total=total,
        # qbo-reference §5.3/§15.1: a void zeroes the amounts and puts "Voided" in PrivateNote.
        voided=total == 0 and note.startswith("Voided"),
        applied=_applied(obj) if entity == "Payment" else {},
        last_updated=read_field(obj, entity, "MetaData.LastUpdatedTime", to_instant, required=False),
        note=note or None,
    )


def _applied(obj: Any) -> dict[str, Decimal]:
    """Σ Line.Amount per linked Invoice Id (qbo-reference §5.3: Line[].LinkedTxn applies the payment)."""
    out: dict[str, Decimal] = {}
    lines = obj.get("Line") or []
    if not isinstance(lines, list):
        raise BadQboPayload("Payment: Line is not a list")
    for line in lines:
        links = line.get("LinkedTxn") if isinstance(line, dict) else None
        for link in links or []:
            if isinstance(link, dict) and link.get("TxnType") == "Invoice":
                key = read_field(link, "Payment", "TxnId", to_qbo_id)
                out[key] = out.get(key, ZERO) + read_field(line, "Payment", "Amount", to_money)
    return out


def decide_own_posting(ours: OwnPosting, seen: QboPostingFacts | QboTombstone) -> OwnPostingDecision:
    """Does the QBO object `seen` still carry our posting `ours` as we made it? (Identity: the QBO Id.)"""
    if seen.qbo_id != ours.qbo_id or seen.entity != ours.entity:
        raise ValueError(f"identity mismatch: ours {ours.entity} {ours.qbo_id!r} vs QBO {seen.entity} {seen.qbo_id!r}")
    base = {"platform_id": ours.platform_id, "qbo_id": ours.qbo_id}
    if isinstance(seen, QboTombstone):
        return OwnPostingDecision(**base, change=QboChange.DELETED,
                                  reason=_reason(ours, "was deleted in QuickBooks", seen.last_updated))
    token = {"sync_token": seen.sync_token}
    if ours.refunds_in_flight:
        if seen.voided and ours.amount in ours.refunds_in_flight.values():
            return OwnPostingDecision(**base, **token, change=None)  # our void, not yet recorded
        landed = refunds_in_note(seen.note) & set(ours.refunds_in_flight)
        ours = ours.model_copy(update={"amount": ours.amount - sum((ours.refunds_in_flight[r] for r in landed), ZERO)})
    if seen.voided and ours.entity == "Payment" and ours.amount == 0:
        return OwnPostingDecision(**base, **token, change=None)  # refunded in full: we voided it (docs/refunds.md)
    if seen.voided:
        return OwnPostingDecision(**base, **token, change=QboChange.VOIDED,
                                  reason=_reason(ours, "was voided in QuickBooks", seen.last_updated))
    if seen.total != ours.amount:
        what = f"amount was changed in QuickBooks from {ours.amount} to {seen.total}"
        return OwnPostingDecision(**base, **token, change=QboChange.AMOUNT_CHANGED,
                                  reason=_reason(ours, what, seen.last_updated))
    applied = seen.applied.get(ours.invoice_qbo_id or "", ZERO)
    if ours.entity == "Payment" and not ours.invoice_closed and applied != ours.amount:
        what = (f"now applies {applied} instead of {ours.amount} to QBO Invoice {ours.invoice_qbo_id} "
                "(edited in QuickBooks)")
        return OwnPostingDecision(**base, **token, change=QboChange.AMOUNT_CHANGED,
                                  reason=_reason(ours, what, seen.last_updated))
    return OwnPostingDecision(**base, **token, change=None)


def _reason(ours: OwnPosting, what: str, when: Any) -> str:
    at = f" (QBO time {when.isoformat(timespec='seconds')})" if when is not None else ""
    if ours.entity == "Payment":
        effect = "the invoice's balance and status follow QBO; the payment was not re-posted"
    else:
        effect = f"the payout's net {ours.amount} is not deposited in QBO as posted; no Deposit was re-created"
    return (f"QBO {ours.entity} {ours.qbo_id} {what}{at}: {effect}. Fix it in QuickBooks, "
            "then retry from the dashboard")


__all__ = ["OwnPosting", "OwnPostingDecision", "QboChange", "QboPostingFacts", "decide_own_posting",
           "parse_posting"]
