"""Payout → QBO Deposit rules (PRODUCT.md §4; qbo-reference §5.4, §6).

One Deposit per payout to the bank account: one linked line per QBO Payment (no DetailType — QBO rejects
it on linked lines, qbo-reference §5.4), one negative fee line to the fee expense account, payout id in
PrivateNote. TotalAmt must equal the payout's net amount to the cent, so it is checked here rather than
discovered in the bank reconciliation.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import model_validator

from rules.facts import Frozen
from rules.preferences import Preferences
from rules.values import ZERO, Currency, Money, NonNegativeMoney, PositiveMoney

_REQUEST_NS = uuid.UUID("9f3d2c1b-7a6e-4b5d-8c4f-2e1a0b9c8d7e")


class DepositError(ValueError):
    """The payout cannot become a Deposit that matches it to the cent; the message says why."""


class PayoutFacts(Frozen):
    """A `payouts` row (0001_platform.sql: net = gross − fee). `arrival_date` is the day the money
    reaches the bank: the Deposit's TxnDate; `build_deposit` refuses a payout without one."""

    id: str
    gross_amount: PositiveMoney
    fee_amount: NonNegativeMoney
    net_amount: Money
    currency: Currency | None = None
    qbo_deposit_id: str | None = None
    arrival_date: date | None = None

    @model_validator(mode="after")
    def _net_is_gross_minus_fee(self) -> PayoutFacts:
        if self.net_amount != self.gross_amount - self.fee_amount:
            raise ValueError(f"net {self.net_amount} != gross {self.gross_amount} − fee {self.fee_amount}")
        return self


class DepositPayment(Frozen):
    """A payment in the payout, with its posting status and QBO Payment Id once posted."""

    payment_id: str
    amount: PositiveMoney
    status: Literal["pending", "posted", "needs_attention", "not_synced"] = "posted"
    qbo_payment_id: str | None = None


class DepositPlan(Frozen):
    body: dict[str, Any]
    total_amt: Decimal
    """What QBO must compute as Deposit.TotalAmt: the payout's net amount."""


def deposit_memo(payout_id: str) -> str:
    """PrivateNote of the payout's Deposit: carries the payout id (§4), the natural key looked up before a
    create is retried (qbo-reference §6 step 5)."""
    return f"Alternative Payments payout {payout_id}"


def deposit_request_id(payout_id: str, generation: int = 0) -> str:
    """QBO `requestid` for this payout's Deposit create: stable across retries (qbo-reference §7.5)."""
    return str(uuid.uuid5(_REQUEST_NS, f"deposit:{payout_id}:{generation}"))


def build_deposit(
    payout: PayoutFacts,
    payments: Sequence[DepositPayment],
    deposit_account_id: str,
    fee_account_id: str | None,
) -> DepositPlan:
    """The QBO Deposit create body for `payout` (its id goes in PrivateNote) and its expected TotalAmt.
    TxnDate is the payout's arrival date, always sent (qbo-reference §15.4: QBO would use its today).

    Raises DepositError when the lines could not add up to the net payout: a payment not yet in QBO, a
    duplicate, Σ payments ≠ gross, a fee without a fee account, or a negative net (QBO cannot record a
    negative deposit; qbo-reference §6 step 3 needs a person).
    """
    _check_inputs(payout, payments, deposit_account_id, fee_account_id)
    lines: list[dict[str, Any]] = [
        {"Amount": p.amount, "LinkedTxn": [{"TxnId": p.qbo_payment_id, "TxnType": "Payment", "TxnLineId": "0"}]}
        for p in payments
    ]
    if payout.fee_amount > 0:
        lines.append({
            "Amount": -payout.fee_amount,
            "DetailType": "DepositLineDetail",
            "DepositLineDetail": {"AccountRef": {"value": fee_account_id}},
        })
    total = sum((line["Amount"] for line in lines), ZERO)
    if total != payout.net_amount:  # by construction; kept as the contract's own check
        raise DepositError(f"deposit lines add up to {total}, net payout is {payout.net_amount}")
    body: dict[str, Any] = {
        "DepositToAccountRef": {"value": deposit_account_id},
        "PrivateNote": deposit_memo(payout.id),
        "TxnDate": payout.arrival_date.isoformat(),  # checked in _check_inputs
        "Line": lines,
    }
    if payout.currency:
        body["CurrencyRef"] = {"value": payout.currency}
    return DepositPlan(body=body, total_amt=total)


def _check_inputs(
    payout: PayoutFacts, payments: Sequence[DepositPayment], deposit_account_id: str, fee_account_id: str | None
) -> None:
    """Everything that would make the Deposit differ from the payout, refused before a body exists."""
    if not deposit_account_id:
        raise DepositError("no deposit account: set deposit_account_id in the preferences")
    if payout.arrival_date is None:
        raise DepositError(f"payout {payout.id} has no arrival_date; its TxnDate would be the day of posting")
    if not payments:
        raise DepositError(f"payout {payout.id} has no payments")
    missing = [p.payment_id for p in payments if not p.qbo_payment_id]
    if missing:
        raise DepositError(f"payments not yet posted to QBO: {', '.join(missing)}")
    qbo_ids = [p.qbo_payment_id for p in payments]
    if len(set(qbo_ids)) != len(qbo_ids) or len({p.payment_id for p in payments}) != len(payments):
        raise DepositError(f"payout {payout.id} lists a payment twice")
    gross = sum((p.amount for p in payments), ZERO)
    if gross != payout.gross_amount:
        raise DepositError(f"payments add up to {gross}, payout {payout.id} gross is {payout.gross_amount}")
    if payout.net_amount < 0:
        raise DepositError(f"net payout {payout.net_amount} is negative; QBO cannot record a negative deposit")
    if payout.fee_amount > 0 and not fee_account_id:
        raise DepositError("fees to record but no fee account: create or choose fee_account_id")


class DepositAction(StrEnum):
    CREATE = "create"
    ALREADY_DEPOSITED = "already_deposited"
    WAIT = "wait"  # some payments are not posted yet (§4: the payout waits for them)
    CREATE_FEE_ACCOUNT = "create_fee_account"  # fees > 0 and no fee account yet (§4: created if missing)
    NOT_SYNCED = "not_synced"  # create_deposits is off: no deposits at all
    NEEDS_ATTENTION = "needs_attention"


class DepositDecision(Frozen):
    action: DepositAction
    reason: str | None = None
    qbo_deposit_id: str | None = None


def decide_deposit(
    payout: PayoutFacts,
    payments: Sequence[DepositPayment],
    prefs: Preferences,
    *,
    existing_qbo_deposit_id: str | None = None,
) -> DepositDecision:
    """What to do with a payout now. `existing_qbo_deposit_id` is the PrivateNote lookup's result; like
    for payments, a Deposit already in QBO wins over everything (exactly once)."""
    found = payout.qbo_deposit_id or existing_qbo_deposit_id
    if found:
        return DepositDecision(action=DepositAction.ALREADY_DEPOSITED, qbo_deposit_id=found)
    if not prefs.create_deposits:
        return DepositDecision(action=DepositAction.NOT_SYNCED, reason="create_deposits is off")
    stuck = [p.payment_id for p in payments if p.status in ("needs_attention", "not_synced")]
    if stuck:
        return DepositDecision(action=DepositAction.NEEDS_ATTENTION,
                               reason=f"payments that will not reach QBO as they are: {', '.join(stuck)}")
    if any(p.status == "pending" or not p.qbo_payment_id for p in payments):
        return DepositDecision(action=DepositAction.WAIT, reason="waiting for its payments to be posted to QBO")
    if payout.fee_amount > 0 and not prefs.fee_account_id:
        return DepositDecision(action=DepositAction.CREATE_FEE_ACCOUNT,
                               reason="the fee account does not exist yet")
    if not prefs.deposit_account_id:
        return DepositDecision(action=DepositAction.NEEDS_ATTENTION, reason="no deposit_account_id set")
    try:
        build_deposit(payout, payments, prefs.deposit_account_id, prefs.fee_account_id)
    except DepositError as exc:
        return DepositDecision(action=DepositAction.NEEDS_ATTENTION, reason=str(exc))
    return DepositDecision(action=DepositAction.CREATE)
