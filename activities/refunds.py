"""Book pending refunds and chargebacks in QBO, exactly once (docs/refunds.md; rules/refunds.py decides).

Run by the posting activity after its payments (`PostingActivities.post_payments`), under the same
per-partner lock, so no workflow command changes and a refund never races its payment's posting or the
payout's Deposit (create_deposits runs after it in the cycle, under its own lock).

Exactly once: the `refunds` row is the outbox. `attempts` and the requestid are committed before a write
leaves; once `attempts > 0` the refund is looked up first: a RefundReceipt by its PrivateNote, a
reduction by the refund's marker in the Payment's PrivateNote, a void by the Payment being voided when
this refund would have voided it. A write QBO rejects as stale (5010) is left pending: the next run reads
the Payment again. 6540 (deposited since it was read) books a RefundReceipt instead, in the same run.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

import asyncpg

from activities.accounts import ensure_account_object
from activities.errors import heartbeat
from qbo.client import QboCompany
from qbo.errors import QboNotFound, QboStaleObject, QboValidationError
from qbo.models import Invoice, Tombstone
from rules.attention import AttentionCode, code_for_fault
from rules.dates import local_date
from rules.refunds import (
    CLEARING_ACCOUNT_KEY,
    CLEARING_ACCOUNT_NAME,
    ReceiptCurrencyError,
    RefundAction,
    RefundBooking,
    RefundDecision,
    RefundFacts,
    RefundRefused,
    build_reduction,
    build_refund_receipt,
    clearing_account_body,
    decide_refund,
    invoice_item_id,
    parse_live_payment,
    receipt_currency,
    refund_memo,
    refund_request_id,
)
from store import posting_repo
from store import refunds_repo as repo

log = logging.getLogger("activities.refunds")

MAX_PER_RUN = 200
LOCKED = "6540"  # qbo-reference §5.3: the Payment is in a Deposit


class RefundRun:
    def __init__(self, pool: asyncpg.Pool, company: QboCompany, partner_id: str) -> None:
        self.pool, self.company, self.partner_id = pool, company, partner_id
        self.booked = self.attention = self.calls = 0

    async def execute(self) -> None:
        for row in await repo.pending_refunds(self.pool, self.partner_id, MAX_PER_RUN):
            heartbeat(row["id"])
            await self._one(row)

    async def _one(self, row: asyncpg.Record) -> None:
        refund = RefundFacts(id=row["id"], payment_id=row["payment_id"], amount=row["amount"], kind=row["kind"])
        if row["payment_status"] != "posted" or row["payment_qbo_change"]:
            await self._apply(row, refund, decide_refund(
                refund, payment_status=row["payment_status"], payment_changed_in_qbo=bool(row["payment_qbo_change"]),
                qbo_amount=row["qbo_amount"], live=None), None)
            return
        live_raw = await self._read_payment(row["qbo_payment_id"])
        found = await self._find_receipt(refund.id) if row["attempts"] > 0 else None
        decision = decide_refund(refund, payment_status="posted", payment_changed_in_qbo=False,
                                 qbo_amount=row["qbo_amount"],
                                 live=parse_live_payment(live_raw) if live_raw else None, found_receipt_id=found)
        await self._apply(row, refund, decision, live_raw, found)

    async def _apply(self, row: asyncpg.Record, refund: RefundFacts, decision: RefundDecision,
                     live: dict[str, Any] | None, found: str | None = None) -> None:
        action = decision.action
        if action == RefundAction.WAIT:
            return
        if action == RefundAction.NEEDS_ATTENTION:
            await self._park(row, decision.reason or "needs attention", decision.code or AttentionCode.QBO_FAULT)
        elif action == RefundAction.ALREADY_BOOKED:
            assert decision.booking is not None
            view = None if decision.booking == RefundBooking.REFUND_RECEIPT else await self._invoice_view(row)
            await repo.mark_refund_booked(self.pool, refund.id, decision.booking, qbo_total=decision.new_total,
                                          receipt_id=found, qbo_view=view)
            self.booked += 1
        elif action == RefundAction.RECEIPT:
            await self._receipt(row, refund)
        else:
            assert live is not None
            await self._change_payment(row, refund, decision, live)

    async def _change_payment(self, row: asyncpg.Record, refund: RefundFacts, decision: RefundDecision,
                              live: dict[str, Any]) -> None:
        """Reduce or void the QBO Payment; its invoice gets the refund back (qbo-reference §15.1)."""
        request_id = refund_request_id(refund.id, row["retry_generation"])
        try:
            if decision.action == RefundAction.VOID:
                body = None
            else:
                assert decision.new_total is not None
                body = build_reduction(live, refund, row["invoice_qbo_id"], decision.new_total)
        except RefundRefused as exc:
            await self._park(row, f"QBO Payment {live.get('Id')} can't take the refund: {exc}",
                             AttentionCode.CHANGED_IN_QBO)
            return
        await repo.record_refund_attempt(self.pool, refund.id, request_id)
        try:
            if body is None:
                updated = await self.company.void("Payment", live["Id"], live["SyncToken"], request_id)
            else:
                updated = await self.company.sparse_update("Payment", body, request_id)
            self.calls += 1
        except QboStaleObject:
            log.info("refund %s: QBO Payment %s changed meanwhile; read again next run", refund.id, live["Id"])
            return
        except QboValidationError as exc:
            if exc.code == LOCKED:  # deposited since it was read: the payment is locked, book a receipt
                await self._receipt(row, refund)
                return
            await self._park(row, f"QBO refused the refund: {exc.detail or exc.message}", code_for_fault(exc.code))
            return
        total = Decimal(str(updated.wire().get("TotalAmt", 0)))
        await repo.mark_refund_booked(self.pool, refund.id, decision.booking or RefundBooking.REDUCED,
                                      qbo_total=total, qbo_view=await self._invoice_view(row))
        self.booked += 1

    async def _receipt(self, row: asyncpg.Record, refund: RefundFacts) -> None:
        """The payment is deposited (locked): a RefundReceipt from the clearing account (docs/refunds.md)."""
        invoice = await self._read("Invoice", row["invoice_qbo_id"])
        item = invoice_item_id(invoice.wire()) if isinstance(invoice, Invoice) else None
        customer = invoice.CustomerRef.value if isinstance(invoice, Invoice) and invoice.CustomerRef else None
        if item is None or customer is None:
            await self._park(row, f"QBO Invoice {row['invoice_qbo_id']} has no item line or customer to refund "
                                  "against; book the refund by hand in QuickBooks", AttentionCode.QBO_FAULT)
            return
        clearing = await ensure_account_object(self.company, CLEARING_ACCOUNT_NAME, clearing_account_body(),
                                               CLEARING_ACCOUNT_KEY)
        try:  # docs/refunds.md "Foreign currency": the invoice's currency and rate, an account QBO accepts
            currency = receipt_currency(
                refund_id=refund.id, invoice_currency=invoice.CurrencyRef.value if invoice.CurrencyRef else None,
                invoice_rate=invoice.ExchangeRate, home=await posting_repo.home_currency(self.pool, self.partner_id),
                clearing_name=clearing.Name or CLEARING_ACCOUNT_NAME,
                clearing_currency=clearing.CurrencyRef.value if clearing.CurrencyRef else None)
        except ReceiptCurrencyError as exc:
            await self._park(row, str(exc), AttentionCode.CURRENCY_MISMATCH)
            return
        prefs = await posting_repo.load_preferences(self.pool, self.partner_id)
        body = build_refund_receipt(refund, customer_qbo_id=customer, item_id=item, clearing_account_id=clearing.Id,
                                    txn_date=local_date(row["created_at"], prefs.time_zone).isoformat(),
                                    currency=currency)
        request_id = refund_request_id(refund.id, row["retry_generation"])
        await repo.record_refund_attempt(self.pool, refund.id, request_id)
        try:
            created = await self.company.create("RefundReceipt", body, request_id)
            self.calls += 1
        except (QboValidationError, QboStaleObject) as exc:
            await self._park(row, f"QBO refused the RefundReceipt: {exc.detail or exc.message}",
                             code_for_fault(exc.code))
            return
        await repo.mark_refund_booked(self.pool, refund.id, RefundBooking.REFUND_RECEIPT, receipt_id=created.Id)
        self.booked += 1

    async def _read(self, entity: str, qbo_id: str) -> Any:
        try:
            obj = await self.company.read(entity, qbo_id)
        except QboNotFound:
            return None
        finally:
            self.calls += 1
        return None if isinstance(obj, Tombstone) else obj

    async def _read_payment(self, qbo_id: str) -> dict[str, Any] | None:
        obj = await self._read("Payment", qbo_id)
        return obj.wire() if obj is not None else None

    async def _invoice_view(self, row: asyncpg.Record) -> tuple[Decimal, Decimal] | None:
        """QBO's (Balance, TotalAmt) of the invoice after the Payment changed, read live."""
        invoice = await self._read("Invoice", row["invoice_qbo_id"])
        if not isinstance(invoice, Invoice) or invoice.Balance is None or invoice.TotalAmt is None:
            return None
        return invoice.Balance, invoice.TotalAmt

    async def _find_receipt(self, refund_id: str) -> str | None:
        memo = refund_memo(refund_id)
        found = [o for o in await self.company.find("RefundReceipt", [("PrivateNote", "=", memo)])
                 if getattr(o, "PrivateNote", None) == memo or o.wire().get("PrivateNote") == memo]
        self.calls += 1
        return min(found, key=lambda o: int(o.Id) if o.Id.isdigit() else 0).Id if found else None

    async def _park(self, row: asyncpg.Record, reason: str, code: AttentionCode | Any) -> None:
        await repo.mark_refund_attention(self.pool, self.partner_id, row["id"], reason, code, row["qbo_payment_id"])
        self.attention += 1


__all__ = ["RefundRun"]
