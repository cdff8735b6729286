"""Invoice rules, QBO → platform (PRODUCT.md §3 rows 3–7; qbo-reference §5.1).

- Created in QBO → created with amount, balance, currency, due date, doc number, customer, status.
- Amount / due date (and currency, customer: the other money-bearing fields) of an invoice with no
  platform payment → applied. With platform payments → NOT applied; a conflict is logged, naming the
  fields kept. Balance and status still follow QBO either way.
- Balance = QBO Balance − platform payments not yet posted to QBO, floored at 0. A negative result means
  the platform holds more unposted money than QBO says is open: the floor keeps the row valid
  (`CHECK balance >= 0`) but the decision is a conflict that records the shortfall — never silent.
- Voided in QBO (TotalAmt 0 + PrivateNote "Voided") → status `void`. The void zeroes TotalAmt, which is
  an amount change like any other: applied when there are no platform payments, kept (conflict) otherwise.
- Deleted in QBO → archived (kept, with its history) and `qbo_deleted`; the tombstone is final.
- Stale SyncToken → ignored; equal → no change; platform-created invoices are never touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Literal

from rules.decisions import DecisionBase, SyncAction, not_newer, not_ours_to_change, tombstone_changes_nothing
from rules.facts import Frozen, InvoiceStatus, PlatformInvoice, QboInvoiceFacts, QboTombstone
from rules.values import ZERO, Currency, ExchangeRate, Instant, NonNegativeMoney, QboId


class InvoiceState(Frozen):
    """The full `invoices` row values QBO determines. `qbo_customer_id` is the QBO Id of the customer; the
    caller maps it to `customer_id` in the same upsert (a join on customers' QBO identity)."""

    source: Literal["qbo"] = "qbo"
    qbo_id: QboId
    qbo_sync_token: int | None
    qbo_updated_at: Instant | None
    qbo_customer_id: QboId | None
    doc_number: str | None
    amount: NonNegativeMoney
    balance: NonNegativeMoney
    currency: Currency
    due_date: date | None
    status: InvoiceStatus
    archived: bool
    qbo_deleted: bool
    exchange_rate: ExchangeRate | None = None
    """QBO's ExchangeRate, always as QBO last sent it (not protected: a Payment is posted at the rate the
    QBO invoice carries now, docs/currency.md)."""
    qbo_balance: NonNegativeMoney | None = None
    """QBO's Balance as applied (None: keep the stored one, e.g. for a tombstone); with `qbo_total`, what
    the platform balance is recomputed from when payments change (store/balances.py)."""
    qbo_total: NonNegativeMoney | None = None


class InvoiceDecision(DecisionBase):
    entity: str = "Invoice"
    state: InvoiceState | None = None
    shortfall: NonNegativeMoney = ZERO
    """How far QBO Balance − unposted platform payments went below zero (0 when it did not)."""

    def log_details(self) -> dict[str, str | list[str]]:
        details = super().log_details()
        if self.shortfall > 0:
            details["shortfall"] = str(self.shortfall)
        return details


class BalanceStatus(Frozen):
    balance: NonNegativeMoney
    status: InvoiceStatus
    shortfall: NonNegativeMoney


def derive_balance_status(
    *, qbo_total: Decimal, qbo_balance: Decimal, unposted: Decimal, voided: bool
) -> BalanceStatus:
    """Platform balance and status from QBO's view plus what the platform knows and QBO does not yet.

    balance = max(0, QBO Balance − unposted platform payments); status: `void` if voided, else `paid` at
    balance 0, `partially_paid` when 0 < balance < QBO TotalAmt, else `open` (§3). TotalAmt, not the
    platform's possibly-kept amount, is the yardstick, because the balance it is compared with is QBO's.
    """
    raw = qbo_balance - unposted
    balance = max(raw, ZERO)
    shortfall = max(-raw, ZERO)
    if voided:
        status = InvoiceStatus.VOID
    elif balance == 0:
        status = InvoiceStatus.PAID
    elif balance < qbo_total:
        status = InvoiceStatus.PARTIALLY_PAID
    else:
        status = InvoiceStatus.OPEN
    return BalanceStatus(balance=balance, status=status, shortfall=shortfall)


def decide_invoice(platform: PlatformInvoice | None, change: QboInvoiceFacts | QboTombstone) -> InvoiceDecision:
    """Decide what one QBO invoice change does to the platform row with the same QBO Id (or to none)."""
    if (skipped := not_ours_to_change(platform, change, InvoiceDecision, "invoice")) is not None:
        return skipped
    if isinstance(change, QboTombstone):
        return _decide_tombstone(platform, change)
    if platform is None:
        return _create(change)
    if (unchanged := not_newer(platform, change, InvoiceDecision)) is not None:
        return unchanged
    return _update(platform, change)


def _create(change: QboInvoiceFacts) -> InvoiceDecision:
    derived = derive_balance_status(
        qbo_total=change.total, qbo_balance=change.balance, unposted=ZERO, voided=change.voided
    )
    state = InvoiceState(
        qbo_id=change.qbo_id,
        qbo_sync_token=change.sync_token,
        qbo_updated_at=change.last_updated,
        qbo_customer_id=change.customer_qbo_id,
        doc_number=change.doc_number,
        amount=change.total,
        balance=derived.balance,
        currency=change.currency,
        exchange_rate=change.exchange_rate,
        due_date=change.due_date,
        status=derived.status,
        archived=False,
        qbo_deleted=False,
        qbo_balance=change.balance,
        qbo_total=change.total,
    )
    return InvoiceDecision(action=SyncAction.CREATE, qbo_id=change.qbo_id, sync_token=change.sync_token, state=state)


# Fields QBO owns but that must not move under a payment the platform already took (§3 row 4).
_PROTECTED = ("amount", "due_date", "currency", "qbo_customer_id")


def _update(platform: PlatformInvoice, change: QboInvoiceFacts) -> InvoiceDecision:
    incoming = {
        "amount": change.total,
        "due_date": change.due_date,
        "currency": change.currency,
        "qbo_customer_id": change.customer_qbo_id,
    }
    kept = {f: getattr(platform, f) for f in _PROTECTED}
    not_applied: tuple[str, ...] = ()
    if platform.has_platform_payments:
        not_applied = tuple(f for f in _PROTECTED if incoming[f] != kept[f])
        protected = kept
    else:
        protected = incoming
    derived = derive_balance_status(
        qbo_total=change.total, qbo_balance=change.balance,
        unposted=platform.unposted_payments_total, voided=change.voided,
    )
    state = InvoiceState(
        qbo_id=change.qbo_id,
        qbo_sync_token=change.sync_token,
        qbo_updated_at=change.last_updated,
        doc_number=change.doc_number,
        balance=derived.balance,
        status=derived.status,
        archived=platform.archived,  # a platform archive stays; only a QBO delete archives (§3)
        qbo_deleted=False,
        qbo_balance=change.balance,
        qbo_total=change.total,
        exchange_rate=change.exchange_rate,
        **protected,
    )
    reasons = _conflict_reasons(platform, change, not_applied, kept, incoming, derived.shortfall)
    if reasons:
        action = SyncAction.CONFLICT
    elif change.voided and platform.status != InvoiceStatus.VOID:
        action = SyncAction.MARK_VOID
    else:
        action = SyncAction.UPDATE
    return InvoiceDecision(
        action=action, qbo_id=change.qbo_id, sync_token=change.sync_token, state=state,
        reason="; ".join(reasons) or None, not_applied=not_applied, shortfall=derived.shortfall,
    )


def _conflict_reasons(
    platform: PlatformInvoice,
    change: QboInvoiceFacts,
    not_applied: tuple[str, ...],
    kept: Mapping[str, object],
    incoming: Mapping[str, object],
    shortfall: Decimal,
) -> list[str]:
    """Human-readable reasons, one per problem, for the sync log (a person resolves them)."""
    reasons: list[str] = []
    if change.voided and platform.has_platform_payments:
        reasons.append("voided in QBO while the platform holds payments on it; status set to void")
    if not_applied:
        edits = ", ".join(f"{f} {kept[f]} → {incoming[f]}" for f in not_applied)
        reasons.append(f"QBO changed {edits} on an invoice with platform payments; not applied (§3)")
    if shortfall > 0:
        reasons.append(
            f"platform payments not yet posted to QBO ({platform.unposted_payments_total}) exceed the QBO "
            f"balance ({change.balance}) by {shortfall}; platform balance floored at 0.00"
        )
    return reasons


def _decide_tombstone(platform: PlatformInvoice | None, change: QboTombstone) -> InvoiceDecision:
    if (nothing := tombstone_changes_nothing(platform, change, InvoiceDecision)) is not None:
        return nothing
    assert platform is not None  # tombstone_changes_nothing answered for a row the platform never saw
    assert platform.qbo_id is not None  # source=qbo rows always have one (CHECK in 0001_platform.sql)
    state = InvoiceState(
        qbo_id=platform.qbo_id,
        qbo_sync_token=platform.qbo_sync_token,
        qbo_updated_at=change.last_updated or platform.qbo_updated_at,
        qbo_customer_id=platform.qbo_customer_id,
        doc_number=platform.doc_number,
        amount=platform.amount,
        balance=platform.balance,
        currency=platform.currency,
        exchange_rate=platform.exchange_rate,
        due_date=platform.due_date,
        status=platform.status,
        archived=True,
        qbo_deleted=True,
    )
    if platform.has_platform_payments:
        return InvoiceDecision(
            action=SyncAction.CONFLICT, qbo_id=change.qbo_id, state=state,
            reason="deleted in QBO while the platform holds payments on it; archived, payments need attention",
        )
    return InvoiceDecision(
        action=SyncAction.ARCHIVE, qbo_id=change.qbo_id, state=state,
        reason="deleted in QBO: archived, kept with its history (§3)",
    )
