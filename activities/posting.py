"""Platform → QBO: post pending payments (batches of ≤ 30, exactly once) and create deposits for payouts.

Exactly once (PRODUCT §4, qbo-reference §6.5, §7.5): the `payments` row is the outbox. Before a batch is
sent, each item's `attempts` is incremented and committed; an item with `attempts > 0` is looked up by its
PaymentRefNum before it is sent again, so a crash after QBO accepted a Payment, or a requestid QBO failed
to dedupe, cannot make a second Payment. Batch requests carry a requestid derived from their items. Deposits are in activities/deposits.py.

Never a dead end (PRODUCT §4): each run first puts back in line the parked items whose cause may have
cleared by itself (store/attention_repo.py: a cheap check against the mirror, no QBO call); they then go
through the same live decision as any pending item, and one whose cause has not cleared is parked again
without a second sync_log row and without a QBO write.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import asyncpg
from temporalio import activity

from activities.deposits import deposit_payout
from activities.errors import heartbeat, qbo_failures
from activities.refunds import RefundRun
from qbo.batch import MAX_BATCH_ITEMS, BatchOp
from qbo.client import QboApi, QboCompany, retry_request_id
from qbo.errors import QboError, QboStaleObject, QboValidationError
from qbo.models import Customer, Invoice, Payment, QboObject
from qbo.query import MAX_PAGE
from rules.attention import AttentionCode, code_for_fault
from rules.facts import PlatformInvoice, QboInvoiceFacts, QboTombstone, parse_invoice
from rules.faults import FaultAction, classify_fault
from rules.posting import (
    REQUEST_ID_NS,
    PlatformPayment,
    PostingAction,
    PostingDecision,
    PostingFacts,
    build_payment,
    decide_posting,
    decide_postings,
    payment_ref_num,
    payment_request_id,
)
from rules.preferences import Preferences
from store import attention_repo
from store import posting_repo as repo
from workflows.models import DepositSummary, PostingInput, PostingSummary

log = logging.getLogger("activities.posting")

MAX_PER_RUN = 600  # payments per activity run (20 batches); the rest is `remaining` for the next cycle


@dataclass
class _Item:
    """One pending payment with what the decision needs, read live."""

    row: asyncpg.Record
    payment: PlatformPayment
    invoice: PlatformInvoice
    qbo_invoice: QboInvoiceFacts | QboTombstone | None = None
    customer_active: bool | None = None
    existing: str | None = None
    existing_account: str | None = None  # the found Payment's DepositToAccountRef


class PostingActivities:
    def __init__(self, pool: asyncpg.Pool, qbo: QboApi) -> None:
        self.pool = pool
        self.qbo = qbo

    @activity.defn
    @qbo_failures
    async def post_payments(self, input: PostingInput) -> PostingSummary:
        async with repo.partner_lock(self.pool, input.partner_id, "payments") as locked:
            if not locked:
                return PostingSummary(remaining=await repo.count_pending_payments(self.pool, input.partner_id))
            requeued = await attention_repo.requeue_cleared_payments(self.pool, input.partner_id)
            if requeued:
                log.info("partner %s: %d parked payments back in line (cause may have cleared)",
                         input.partner_id, len(requeued))
            run = _PostingRun(self.pool, self.qbo.company(input.partner_id), input)
            await run.execute()
            # Refunds after the payments: a refund of a payment posted just now is booked against it.
            refunds = RefundRun(self.pool, run.company, input.partner_id)
            await refunds.execute()
        remaining = await repo.count_pending_payments(self.pool, input.partner_id)
        return PostingSummary(posted=run.posted, needs_attention=run.attention, remaining=remaining,
                              qbo_calls=run.calls + refunds.calls, refunds_booked=refunds.booked,
                              refunds_needs_attention=refunds.attention)

    @activity.defn
    @qbo_failures
    async def create_deposits(self, input: PostingInput) -> DepositSummary:
        async with repo.partner_lock(self.pool, input.partner_id, "deposits") as locked:
            summary = DepositSummary()
            if not locked:
                return summary
            company = self.qbo.company(input.partner_id)
            await attention_repo.requeue_cleared_payouts(self.pool, input.partner_id)
            for row in await repo.pending_payouts(self.pool, input.partner_id):
                heartbeat(row["id"])
                outcome = await deposit_payout(self.pool, company, input.partner_id, row)
                if outcome == "deposited":
                    summary.deposited += 1
                elif outcome == "waiting":
                    summary.waiting += 1
                elif outcome == "needs_attention":
                    summary.needs_attention += 1
            return summary


# --- payments ------------------------------------------------------------------------------------------


class _PostingRun:
    def __init__(self, pool: asyncpg.Pool, company: QboCompany, input: PostingInput) -> None:
        self.pool, self.company, self.partner_id = pool, company, input.partner_id
        self.posted = self.attention = self.calls = 0
        self.home = "USD"  # the company's home currency, read in execute()
        # QBO's (Balance, TotalAmt) per QBO invoice id as read live, lowered by each Payment this run
        # creates: what QBO's balance is after each posting, recorded with it (store/balances.py).
        self.qbo_view: dict[str, tuple[Decimal, Decimal]] = {}

    async def execute(self) -> None:
        rows = await repo.pending_payments(self.pool, self.partner_id, MAX_PER_RUN)
        if not rows:
            return
        prefs = await repo.load_preferences(self.pool, self.partner_id)
        self.home = await repo.home_currency(self.pool, self.partner_id)
        items = [_item(r) for r in rows]
        await self._load_live(items)
        decisions = decide_postings(
            PostingFacts(payment=i.payment, invoice=i.invoice, qbo_invoice=i.qbo_invoice,
                        customer_active=i.customer_active, existing_qbo_payment_id=i.existing) for i in items)
        to_post: list[tuple[_Item, dict[str, Any]]] = []
        for item, decision in zip(items, decisions, strict=True):
            if decision.action == PostingAction.POST:
                try:
                    to_post.append((item, self._body(item, prefs)))
                except ValueError as exc:  # a foreign invoice without an ExchangeRate (rules/posting.py)
                    await self._attention(item, str(exc), AttentionCode.CURRENCY_MISMATCH)
            else:
                await self._record(item, decision)
        for start in range(0, len(to_post), MAX_BATCH_ITEMS):
            heartbeat(start)
            await self._post_batch(to_post[start:start + MAX_BATCH_ITEMS], prefs)

    async def _load_live(self, items: list[_Item]) -> None:
        """Live QBO invoices and customers (one query each), and the PaymentRefNum lookup for every item
        that was sent before (attempts > 0)."""
        inv_ids = sorted({i.invoice.qbo_id for i in items if i.invoice.source == "qbo" and i.invoice.qbo_id})
        invoices = {o.Id: o for o in await self._find("Invoice", "Id", inv_ids) if isinstance(o, Invoice)}
        cust_ids = sorted({o.CustomerRef.value for o in invoices.values() if o.CustomerRef})
        customers = {o.Id: o for o in await self._find("Customer", "Id", cust_ids, inactive=True)
                     if isinstance(o, Customer)}
        retried = {payment_ref_num(i.payment.id): i for i in items if i.row["attempts"] > 0}
        for found in await self._find("Payment", "PaymentRefNum", sorted(retried)):
            # A voided Payment keeps our PaymentRefNum (qbo-reference §7): it no longer stands for the
            # payment, so a retry after a bookkeeper voided it posts afresh rather than "finding" it.
            if isinstance(found, Payment) and found.PaymentRefNum in retried and not found.is_voided:
                retried[found.PaymentRefNum].existing = found.Id
                ref = found.DepositToAccountRef
                retried[found.PaymentRefNum].existing_account = ref.value if ref else None
        for item in items:
            live = invoices.get(item.invoice.qbo_id or "")
            item.qbo_invoice = parse_invoice(live.wire(), home_currency=self.home) if live is not None else None
            self._see(item.qbo_invoice)
            cust = customers.get(live.CustomerRef.value) if live is not None and live.CustomerRef else None
            item.customer_active = None if cust is None else cust.Active is not False

    async def _find(self, entity: str, field: str, values: list[str], inactive: bool = False) -> list[QboObject]:
        out: list[QboObject] = []
        for start in range(0, len(values), MAX_PAGE):
            chunk = values[start:start + MAX_PAGE]
            out += await self.company.find(entity, [(field, "IN", chunk)], include_inactive=inactive)
            self.calls += 1
        return out

    def _see(self, live: QboInvoiceFacts | QboTombstone | None) -> None:
        if isinstance(live, QboInvoiceFacts):
            self.qbo_view[live.qbo_id] = (live.balance, live.total)

    async def _posted(self, item: _Item, qbo_payment_id: str, *, created: bool, account: str | None) -> None:
        """Record the payment as in QBO with its invoice's QBO balance after it: lowered by the amount
        when this run created it, as read when it was already there (found by PaymentRefNum after a
        crash: then the balance the sync applied already included it, and recomputing repairs that).
        `account`: the Payment's DepositToAccountRef (None = Undeposited Funds), kept because a payment
        recorded straight to a bank can never be linked into a Deposit (rules/deposits.py)."""
        key = item.invoice.qbo_id or ""
        view = self.qbo_view.get(key)
        if view is not None and created:
            view = self.qbo_view[key] = (view[0] - item.payment.amount, view[1])
        await repo.mark_posted(self.pool, item.payment.id, qbo_payment_id, view, account)
        self.posted += 1

    def _body(self, item: _Item, prefs: Preferences) -> dict[str, Any]:
        live = item.qbo_invoice
        assert isinstance(live, QboInvoiceFacts)
        return build_payment(item.payment, qbo_customer_id=live.customer_qbo_id, qbo_invoice_id=live.qbo_id,
                             prefs=prefs, home_currency=self.home, exchange_rate=live.exchange_rate)

    async def _record(self, item: _Item, decision: PostingDecision) -> None:
        pid = item.payment.id
        if decision.action == PostingAction.ALREADY_POSTED and decision.qbo_payment_id:
            await self._posted(item, decision.qbo_payment_id, created=False, account=item.existing_account)
        elif decision.action == PostingAction.NOT_SYNCED:
            await repo.mark_not_synced(self.pool, pid, decision.reason or "not synced")
        else:
            await self._attention(item, decision.reason or "needs attention", decision.code or AttentionCode.QBO_FAULT)

    async def _attention(self, item: _Item, reason: str, code: AttentionCode) -> None:
        await repo.mark_payment_attention(self.pool, self.partner_id, item.payment.id, reason, item.invoice.qbo_id,
                                          code)
        self.attention += 1

    async def _post_batch(self, chunk: list[tuple[_Item, dict[str, Any]]], prefs: Preferences) -> None:
        ids = [item.payment.id for item, _ in chunk]
        # QBO batch items carry no requestid of their own: the batch's is derived from its items (and their
        # retry generation), recorded on each row (what QBO saw), and committed before the request leaves.
        request_id = str(uuid.uuid5(REQUEST_ID_NS, "\n".join(_request_id(item) for item, _ in chunk)))
        amounts = await repo.record_attempts(self.pool, [(pid, request_id) for pid in ids])
        # The amount to send is frozen by the first recorded attempt (a refund netted in before it, under
        # the payment's row lock, lowers it; none can after, docs/refunds.md): send what was recorded.
        chunk = [(_frozen(item, amounts[item.payment.id]), _with_amount(body, amounts[item.payment.id]))
                 for item, body in chunk if item.payment.id in amounts]
        if not chunk:
            return
        ops = [BatchOp.create(item.payment.id, "Payment", body) for item, body in chunk]
        results = await self.company.batch(ops, request_id=request_id)
        self.calls += 1
        for (item, body), result in zip(chunk, results, strict=True):
            if result.ok and result.object is not None:
                await self._posted(item, result.object.Id, created=True, account=_account_of(body))
            elif result.error is not None:
                await self._item_fault(item, result.error, prefs)

    async def _item_fault(self, item: _Item, error: QboError, prefs: Preferences) -> None:
        decision = classify_fault(error.code or "", detail=error.detail or error.message)
        if not error.code or decision.action in (FaultAction.RETRY_LATER, FaultAction.REAUTHORIZE):
            log.info("payment %s stays pending: %s", item.payment.id, error)
            # The batch's answer is stored under its requestid and would be replayed, this fault included,
            # to a resend of the same batch: the next attempt must carry a new one (§7.5). Safe: a Fault
            # means this item was not applied, and a retried item is looked up by PaymentRefNum first.
            await repo.next_request_generation(self.pool, item.payment.id)
            return
        if decision.action == FaultAction.REREAD_AND_RETRY:
            await self._retry_stale(item, prefs)
            return
        await self._attention(item, decision.reason, code_for_fault(error.code))

    async def _retry_stale(self, item: _Item, prefs: Preferences) -> None:
        """5010: re-read the invoice, decide again, create once more (lookup first, then a new requestid)."""
        live = await self.company.read("Invoice", item.invoice.qbo_id or "")
        self.calls += 1
        item.qbo_invoice = parse_invoice(live.wire(), home_currency=self.home)
        self._see(item.qbo_invoice)
        decision = decide_posting(item.payment, item.invoice, item.qbo_invoice, item.customer_active)
        if decision.action != PostingAction.POST:
            await self._record(item, decision)
            return
        try:
            body = self._body(item, prefs)
        except ValueError as exc:
            await self._attention(item, str(exc), AttentionCode.CURRENCY_MISMATCH)
            return
        try:
            outcome = await self.company.create_payment(body, retry_request_id(_request_id(item)))
        except (QboValidationError, QboStaleObject) as exc:
            fault = classify_fault(exc.code or "", detail=exc.detail or exc.message, stale_retries_done=1)
            await self._attention(item, fault.reason, code_for_fault(exc.code))
            return
        await self._posted(item, outcome.object.Id, created=True, account=_account_of(body))


def _frozen(item: _Item, amount: Decimal) -> _Item:
    if amount != item.payment.amount:
        item.payment = item.payment.model_copy(update={"amount": amount})
    return item


def _with_amount(body: dict[str, Any], amount: Decimal) -> dict[str, Any]:
    """The Payment body for `amount`: its TotalAmt and its one invoice line (rules.posting.build_payment)."""
    if body["TotalAmt"] == amount:
        return body
    return {**body, "TotalAmt": amount, "Line": [{**body["Line"][0], "Amount": amount}]}


def _request_id(item: _Item) -> str:
    return payment_request_id(item.payment.id, item.row["retry_generation"])


def _account_of(body: dict[str, Any]) -> str | None:
    """Where the Payment body sends the money: its DepositToAccountRef (None = Undeposited Funds)."""
    ref = body.get("DepositToAccountRef")
    return ref.get("value") if isinstance(ref, dict) else None


def _item(row: asyncpg.Record) -> _Item:
    payment = PlatformPayment(id=row["id"], invoice_id=row["invoice_id"], amount=row["amount"] - row["netted_amount"],
                              currency=row["currency"].strip(), status=row["status"],
                              qbo_payment_id=row["qbo_payment_id"], paid_at=row["paid_at"])
    invoice = PlatformInvoice(id=row["invoice_id"], source=row["inv_source"], qbo_id=row["inv_qbo_id"],
                              amount=row["inv_amount"], balance=row["inv_balance"],
                              currency=row["inv_currency"].strip(), status=row["inv_status"],
                              qbo_deleted=row["inv_qbo_deleted"], has_platform_payments=True)
    return _Item(row=row, payment=payment, invoice=invoice)
