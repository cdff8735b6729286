"""Payout → QBO Deposit, one payout at a time (PRODUCT.md §4; the rules are in rules/deposits.py).

Exactly once: `qbo_request_id` is recorded before the create is sent, and once it is set the Deposit is
looked up by its PrivateNote (`deposit_memo`) before anything else. A payout put back in line (dashboard
retry, or a cleared cause) gets a new requestid generation, so QBO does not replay an old failure.

Deposits off: a pending payout is settled `not_synced` (no Deposit is ever created for it, also when
deposits are switched on later: a preference change applies from then on, PRODUCT §4).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import asyncpg

from activities.accounts import FEE_ACCOUNT_KEY, OTHER_INCOME_ACCOUNT_KEY, ensure_account
from qbo.client import QboCompany
from qbo.errors import QboStaleObject, QboValidationError
from qbo.models import Deposit
from rules.attention import AttentionCode, code_for_fault
from rules.deposits import (
    DepositAction,
    DepositDecision,
    DepositPayment,
    DepositRefund,
    PayoutFacts,
    build_deposit,
    decide_deposit,
    deposit_memo,
    deposit_request_id,
    needs_clearing,
)
from rules.faults import FaultAction, classify_fault
from rules.preferences import (
    FEE_ACCOUNT_NAME,
    OTHER_INCOME_ACCOUNT_NAME,
    Preferences,
    fee_account_body,
    other_income_account_body,
)
from rules.refunds import CLEARING_ACCOUNT_KEY, CLEARING_ACCOUNT_NAME, clearing_account_body
from store import posting_repo as repo


async def deposit_payout(pool: asyncpg.Pool, company: QboCompany, partner_id: str, row: asyncpg.Record) -> str:
    """One payout: returns deposited | waiting | needs_attention | not_synced."""
    payout = PayoutFacts(id=row["id"], gross_amount=row["gross_amount"], fee_amount=row["fee_amount"],
                         refund_amount=row["refund_amount"], net_amount=row["net_amount"],
                         qbo_deposit_id=row["qbo_deposit_id"], arrival_date=row["arrival_date"],
                         currency=row["currency"].strip() if row["currency"] else None)
    payments = [DepositPayment(payment_id=p["id"], amount=p["amount"], status=p["status"],
                               qbo_payment_id=p["qbo_payment_id"], deposited_to_bank=bool(p["deposited_to_bank"]),
                               attention_reason=p["attention_reason"], exchange_rate=p["exchange_rate"],
                               qbo_amount=p["qbo_amount"], refunds_elsewhere=p["refunds_elsewhere"])
                for p in await repo.payout_payments(pool, payout.id)]
    refunds = [DepositRefund(refund_id=r["id"], payment_id=r["payment_id"], amount=r["amount"], status=r["status"],
                             booking=r["booking"], payment_in_payout=r["payment_in_payout"],
                             attention_reason=r["attention_reason"])
               for r in await repo.payout_refunds(pool, payout.id)]
    existing = await find_deposit(company, payout.id) if row["qbo_request_id"] else None
    lines = _Lines(payments, refunds)
    if not existing and not payout.qbo_deposit_id and needs_clearing(payments, refunds):
        lines.clearing = await ensure_account(company, CLEARING_ACCOUNT_NAME, clearing_account_body(),
                                              CLEARING_ACCOUNT_KEY)
    prefs, decision = await _decide(pool, company, partner_id, payout, lines, existing)
    action = decision.action
    if action == DepositAction.ALREADY_DEPOSITED and decision.qbo_deposit_id:
        await repo.mark_deposited(pool, payout.id, decision.qbo_deposit_id)
        return "deposited"
    if action == DepositAction.WAIT:
        await repo.set_payout_waiting(pool, payout.id, decision.reason)
        return "waiting"
    if action == DepositAction.NOT_SYNCED:
        await repo.set_payout_status(pool, partner_id, payout.id, "not_synced", decision.reason)
        return "not_synced"
    if action == DepositAction.CREATE:
        return await _create_deposit(pool, company, partner_id, payout, lines, prefs, row["retry_generation"])
    await repo.set_payout_status(pool, partner_id, payout.id, "needs_attention", decision.reason,
                                 code=decision.code or AttentionCode.QBO_FAULT)
    return "needs_attention"


class _Lines:
    """What the Deposit is made of besides the payout row: its payments, its refunds, and the refund
    clearing account when a line needs it (found or created first, like the fee account)."""

    def __init__(self, payments: Sequence[DepositPayment], refunds: Sequence[DepositRefund]) -> None:
        self.payments, self.refunds = payments, refunds
        self.clearing: str | None = None


async def _decide(
    pool: asyncpg.Pool, company: QboCompany, partner_id: str, payout: PayoutFacts,
    lines: _Lines, existing: str | None,
) -> tuple[Preferences, DepositDecision]:
    """decide_deposit, creating the fee and the other-income account first when the decision asks for them
    (each found by name before it is created, with a deterministic requestid)."""
    for _ in range(len(_ACCOUNTS) + 1):
        prefs = await repo.load_preferences(pool, partner_id)
        currency = await repo.deposit_currency(pool, partner_id, prefs.deposit_account_id)
        decision = decide_deposit(payout, lines.payments, prefs, existing_qbo_deposit_id=existing, currency=currency,
                                  refunds=lines.refunds, clearing_account_id=lines.clearing)
        if decision.action not in _ACCOUNTS:
            return prefs, decision
        field, name, body, key = _ACCOUNTS[decision.action]
        try:
            account_id = await ensure_account(company, name, body(), key)
        except (QboValidationError, QboStaleObject) as exc:  # e.g. an inactive account of that name holds the name
            return prefs, DepositDecision(
                action=DepositAction.NEEDS_ATTENTION, code=AttentionCode.ACCOUNT_INACTIVE,
                reason=f"could not create the account {name!r}: {exc.detail or exc.message}; reactivate it in "
                       f"QBO or choose {field} in the preferences")
        await repo.save_account_pref(pool, partner_id, field, account_id)
    raise RuntimeError(f"payout {payout.id}: account creation did not settle")  # unreachable


_ACCOUNTS = {
    DepositAction.CREATE_FEE_ACCOUNT: ("fee_account_id", FEE_ACCOUNT_NAME, fee_account_body, FEE_ACCOUNT_KEY),
    DepositAction.CREATE_OTHER_INCOME_ACCOUNT: ("other_income_account_id", OTHER_INCOME_ACCOUNT_NAME,
                                                other_income_account_body, OTHER_INCOME_ACCOUNT_KEY),
}


async def _create_deposit(
    pool: asyncpg.Pool, company: QboCompany, partner_id: str, payout: PayoutFacts,
    lines: _Lines, prefs: Preferences, generation: int,
) -> str:
    plan = build_deposit(payout, lines.payments, prefs.deposit_account_id or "", prefs.fee_account_id,
                         other_income_account_id=prefs.other_income_account_id, refunds=lines.refunds,
                         clearing_account_id=lines.clearing,
                         currency=await repo.deposit_currency(pool, partner_id, prefs.deposit_account_id))
    request_id = deposit_request_id(payout.id, generation)
    await repo.record_deposit_attempt(pool, payout.id, request_id)
    try:
        created = await company.create("Deposit", plan.body, request_id)
    except (QboValidationError, QboStaleObject) as exc:
        fault = classify_fault(exc.code or "", detail=exc.detail or exc.message)
        if fault.action == FaultAction.NEEDS_ATTENTION:
            await repo.set_payout_status(pool, partner_id, payout.id, "needs_attention", fault.reason,
                                         code=code_for_fault(exc.code))
            return "needs_attention"
        raise
    total = created.TotalAmt if isinstance(created, Deposit) else None
    if total is None or Decimal(total) != plan.total_amt:
        reason = f"QBO Deposit {created.Id} TotalAmt {total} differs from the expected {plan.total_amt}"
        await repo.set_payout_status(pool, partner_id, payout.id, "needs_attention", reason, created.Id,
                                     code=AttentionCode.DEPOSIT_MISMATCH)
        return "needs_attention"
    partial = plan.total_amt if plan.note else None
    await repo.mark_deposited(pool, payout.id, created.Id, partial, plan.note)
    if plan.note:
        await repo.log_info(pool, partner_id, "Payout", payout.id, plan.note)
    return "deposited"


async def find_deposit(company: QboCompany, payout_id: str) -> str | None:
    """The natural-key lookup: a Deposit whose PrivateNote is the payout's memo."""
    memo = deposit_memo(payout_id)
    found = [d for d in await company.find("Deposit", [("PrivateNote", "=", memo)])
             if isinstance(d, Deposit) and d.PrivateNote == memo]
    return min(found, key=lambda d: int(d.Id) if d.Id.isdigit() else 0).Id if found else None
