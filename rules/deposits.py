"""Payout → QBO Deposit rules (PRODUCT.md §4; qbo-reference §5.4, §6).

One Deposit per payout to the bank account: one linked line per QBO Payment (no DetailType — QBO rejects
it on linked lines, qbo-reference §5.4), one negative fee line to the fee expense account, payout id in
PrivateNote. TotalAmt must equal the payout's net amount to the cent, so it is checked here rather than
discovered in the bank reconciliation.

Two kinds of payment can't be a linked line, and the Deposit is still built so the books match the bank:
- a payment on a platform-created invoice never reaches QBO (§3): its amount is an account line to
  `other_income_account_id` ("Alternative Payments Sales"), so the Deposit still equals the bank line;
- a payment QBO recorded straight to a bank account (deposits were off when it was posted, with
  `payment_account_id` a bank) is already in that account's register: QBO refuses to link it, and adding
  it again would count the money twice. The Deposit carries the other lines only, TotalAmt = net − those
  payments, and `DepositPlan.note` says so; the bank line then matches that Deposit plus those payments.
  When the other lines can't make a positive Deposit (only a fee is left), a person books it: needs
  attention with the reason.

A payout waits (WAIT, with the reason) while any payment is pending or needs attention: such a payment
can still be posted (by a retry), and its Deposit line needs the QBO Payment.

Refunds and chargebacks (docs/refunds.md): net = payments − refunds − fees. A payment's linked line is what
its QBO Payment holds now (`qbo_amount`: less the refunds netted into it or reduced from it), so a refund
booked against the payment and carried by the same payout needs no line. Every other refund is a negative
line to the refund clearing account (a RefundReceipt credited it, or the refund was booked against a
payment another payout carries); a payment whose against-payment refunds another payout carries
(`refunds_elsewhere`) gets them back as a positive clearing line, since this payout's bank line holds the
whole payment. Refunds of platform-invoice payments are negative other-income lines. The payout waits
while one of its refunds is not booked yet.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any, Literal

from pydantic import model_validator

from rules.attention import AttentionCode
from rules.facts import Frozen
from rules.preferences import Preferences
from rules.refunds import AGAINST_PAYMENT, RefundBooking
from rules.values import ZERO, Currency, ExchangeRate, Money, NonNegativeMoney, PositiveMoney

_REQUEST_NS = uuid.UUID("9f3d2c1b-7a6e-4b5d-8c4f-2e1a0b9c8d7e")
RATE_PLACES = Decimal("0.0000000001")  # a mean of rates: QBO's rates carry up to ~10 places (R-fx)


class DepositError(ValueError):
    """The payout cannot become a Deposit that matches it to the cent; the message says why."""


class PayoutFacts(Frozen):
    """A `payouts` row (0001_platform.sql: net = gross − fee). `arrival_date` is the day the money
    reaches the bank: the Deposit's TxnDate; `build_deposit` refuses a payout without one."""

    id: str
    gross_amount: PositiveMoney
    fee_amount: NonNegativeMoney
    net_amount: Money
    refund_amount: NonNegativeMoney = ZERO
    currency: Currency | None = None
    qbo_deposit_id: str | None = None
    arrival_date: date | None = None

    @model_validator(mode="after")
    def _net_is_gross_minus_refunds_and_fee(self) -> PayoutFacts:
        if self.net_amount != self.gross_amount - self.refund_amount - self.fee_amount:
            raise ValueError(f"net {self.net_amount} != gross {self.gross_amount} − refunds {self.refund_amount} "
                             f"− fee {self.fee_amount}")
        return self


class DepositPayment(Frozen):
    """A payment in the payout, with its posting status and QBO Payment Id once posted."""

    payment_id: str
    amount: PositiveMoney
    status: Literal["pending", "posted", "needs_attention", "not_synced", "refunded"] = "posted"
    qbo_payment_id: str | None = None
    deposited_to_bank: bool = False
    """QBO recorded it straight to a bank account (not Undeposited Funds): no Deposit can link it."""
    attention_reason: str | None = None
    exchange_rate: ExchangeRate | None = None
    """The rate its QBO Payment was posted at (its invoice's ExchangeRate); None for home-currency payments."""
    qbo_amount: NonNegativeMoney | None = None
    """What its QBO Payment holds now (amount less netted/reduced refunds); None = the whole amount."""
    refunds_elsewhere: NonNegativeMoney = ZERO
    """Refunds booked against this payment that this payout does not carry."""

    @property
    def linked_amount(self) -> Decimal:
        return self.amount if self.qbo_amount is None else self.qbo_amount


class DepositCurrency(Frozen):
    """The currencies a Deposit is built in (docs/currency.md): the company's home currency and the deposit
    account's (None on the account means home)."""

    home: Currency = "USD"
    bank: Currency = "USD"


class DepositCurrencyError(DepositError):
    """The payout's currency is not the deposit account's: QBO would refuse the Deposit (a person must
    choose a bank account in that currency)."""


class DepositRefund(Frozen):
    """A refund or chargeback the payout carries, with how it was booked (rules/refunds.py)."""

    refund_id: str
    payment_id: str
    amount: PositiveMoney
    status: Literal["pending", "posted", "needs_attention", "not_synced"] = "posted"
    booking: RefundBooking | None = None
    payment_in_payout: bool = False
    attention_reason: str | None = None

    @property
    def inside_payment_line(self) -> bool:
        """Already out of its payment's linked line in this Deposit: no line of its own."""
        return self.payment_in_payout and self.booking in AGAINST_PAYMENT


def needs_clearing(payments: Sequence[DepositPayment], refunds: Sequence[DepositRefund]) -> bool:
    """Whether the Deposit has a line to the refund clearing account (the activity finds or creates it)."""
    return any(p.refunds_elsewhere > 0 for p in payments) or any(
        r.status != "not_synced" and not r.inside_payment_line for r in refunds)


class DepositPlan(Frozen):
    body: dict[str, Any]
    total_amt: Decimal
    """What QBO must compute as Deposit.TotalAmt: the payout's net amount, less payments already in a bank."""
    note: str | None = None
    """Set when the Deposit is not the whole net, saying why (shown on the payout)."""


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
    *,
    other_income_account_id: str | None = None,
    currency: DepositCurrency | None = None,
    refunds: Sequence[DepositRefund] = (),
    clearing_account_id: str | None = None,
) -> DepositPlan:
    """The QBO Deposit create body for `payout` (its id goes in PrivateNote) and its expected TotalAmt.
    TxnDate is the payout's arrival date, always sent (qbo-reference §15.4: QBO would use its today).

    Raises DepositError when the lines could not add up: a payment not yet in QBO, a duplicate, Σ payments
    ≠ gross, a fee without a fee account, platform payments without an income account, or a Deposit that
    would not be positive (QBO cannot record it; qbo-reference §6 step 3 needs a person).
    """
    _check_inputs(payout, payments, deposit_account_id, fee_account_id, other_income_account_id)
    _check_refunds(payout, refunds, clearing_account_id if needs_clearing(payments, refunds) else "-",
                   other_income_account_id)
    in_bank = [p for p in payments if p.status == "posted" and p.deposited_to_bank]
    lines = [line for p in payments if p not in in_bank
             for line in _payment_lines(p, other_income_account_id, clearing_account_id)]
    lines += [_refund_line(r, other_income_account_id, clearing_account_id) for r in refunds
              if not r.inside_payment_line]
    if payout.fee_amount > 0:
        lines.append(_account_line(-payout.fee_amount, fee_account_id))
    total = sum((line["Amount"] for line in lines), ZERO)
    expected = payout.net_amount - sum((p.linked_amount + p.refunds_elsewhere for p in in_bank), ZERO)
    if total != expected:  # by construction; kept as the contract's own check
        raise DepositError(f"deposit lines add up to {total}, expected {expected}")
    note = _bank_note(in_bank, total, payout) if in_bank else None
    if note and total <= 0:
        raise DepositError(f"{note} That leaves {total} for the Deposit, which QBO cannot record: book the rest "
                           "by hand (e.g. the fee as a bank charge), then mark the payout settled.")
    assert payout.arrival_date is not None  # _check_inputs raised DepositError otherwise
    body: dict[str, Any] = {
        "DepositToAccountRef": {"value": deposit_account_id},
        "PrivateNote": deposit_memo(payout.id),
        "TxnDate": payout.arrival_date.isoformat(),
        "Line": lines,
    }
    if currency is not None:
        body.update(_currency_fields(payout, payments, currency))
    elif payout.currency:
        body["CurrencyRef"] = {"value": payout.currency}
    return DepositPlan(body=body, total_amt=total, note=note)


def _currency_fields(payout: PayoutFacts, payments: Sequence[DepositPayment],
                     currency: DepositCurrency) -> dict[str, Any]:
    """A Deposit is in its bank account's currency and holds payments of that currency only (docs/currency.md).
    A foreign Deposit carries the payments' own rate (their amount-weighted mean when they differ), so it takes
    out of Undeposited Funds exactly the home value the Payments put in; QBO would otherwise book it at 1."""
    if payout.currency and payout.currency != currency.bank:
        raise DepositCurrencyError(
            f"payout {payout.id} is in {payout.currency} but the deposit account is in {currency.bank}: a QBO Deposit "
            f"is in its bank account's currency; choose a deposit account in {payout.currency}")
    fields: dict[str, Any] = {"CurrencyRef": {"value": currency.bank}}
    if currency.bank == currency.home:
        return fields
    rated = [p for p in payments if p.exchange_rate is not None]
    if not rated:
        raise DepositCurrencyError(f"payout {payout.id} is in {currency.bank}, not the home currency "
                                   f"{currency.home}, and none of its payments carries an exchange rate")
    amount = sum((p.amount for p in rated), ZERO)
    home_value = sum((p.amount * p.exchange_rate for p in rated if p.exchange_rate is not None), ZERO)
    fields["ExchangeRate"] = (home_value / amount).quantize(RATE_PLACES)
    return fields


def _payment_lines(p: DepositPayment, other_income_account_id: str | None,
                   clearing_account_id: str | None) -> list[dict[str, Any]]:
    if p.status == "not_synced":
        return [_account_line(p.amount, other_income_account_id,
                              f"Alternative Payments payment {p.payment_id} (platform invoice, not in QBO)")]
    lines = []
    if p.status == "posted" and p.linked_amount > 0:  # a voided or never-sent payment can't be linked
        lines.append({"Amount": p.linked_amount,
                      "LinkedTxn": [{"TxnId": p.qbo_payment_id, "TxnType": "Payment", "TxnLineId": "0"}]})
    if p.refunds_elsewhere > 0:
        lines.append(_account_line(p.refunds_elsewhere, clearing_account_id,
                                   f"Refunds of Alternative Payments payment {p.payment_id} paid out in another payout"))
    return lines


def _refund_line(r: DepositRefund, other_income_account_id: str | None,
                 clearing_account_id: str | None) -> dict[str, Any]:
    what = f"Alternative Payments refund {r.refund_id} of payment {r.payment_id}"
    if r.status == "not_synced":
        return _account_line(-r.amount, other_income_account_id, f"{what} (platform invoice, not in QBO)")
    return _account_line(-r.amount, clearing_account_id, what)


def _check_refunds(payout: PayoutFacts, refunds: Sequence[DepositRefund], clearing_account_id: str | None,
                   other_income_account_id: str | None) -> None:
    total = sum((r.amount for r in refunds), ZERO)
    if total != payout.refund_amount:
        raise DepositError(f"refunds add up to {total}, payout {payout.id} refunds are {payout.refund_amount}")
    if len({r.refund_id for r in refunds}) != len(refunds):
        raise DepositError(f"payout {payout.id} lists a refund twice")
    unbooked = [r.refund_id for r in refunds if r.status in ("pending", "needs_attention")]
    if unbooked:
        raise DepositError(f"refunds not yet booked in QBO: {', '.join(unbooked)}")
    if not clearing_account_id:
        raise DepositError("refund lines but no refund clearing account")
    if any(r.status == "not_synced" for r in refunds) and not other_income_account_id:
        raise DepositError("refunds of payments on platform invoices but no income account: create or choose "
                           "other_income_account_id")


def _account_line(amount: Decimal, account_id: str | None, description: str | None = None) -> dict[str, Any]:
    line: dict[str, Any] = {"Amount": amount, "DetailType": "DepositLineDetail",
                            "DepositLineDetail": {"AccountRef": {"value": account_id}}}
    if description:
        line["Description"] = description
    return line


def _bank_note(in_bank: Sequence[DepositPayment], total: Decimal, payout: PayoutFacts) -> str:
    listed = ", ".join(f"{p.payment_id} ({p.amount})" for p in in_bank)
    return (f"payments {listed} were recorded by QBO straight to a bank account while deposits were off, so no "
            f"Deposit can include them; the Deposit holds the other lines ({total}) and, with those payments, "
            f"makes the payout's net {payout.net_amount}.")


def _check_inputs(
    payout: PayoutFacts, payments: Sequence[DepositPayment], deposit_account_id: str, fee_account_id: str | None,
    other_income_account_id: str | None,
) -> None:
    """Everything that would make the Deposit differ from the payout, refused before a body exists."""
    if not deposit_account_id:
        raise DepositError("no deposit account: set deposit_account_id in the preferences")
    if payout.arrival_date is None:
        raise DepositError(f"payout {payout.id} has no arrival_date; its TxnDate would be the day of posting")
    if not payments:
        raise DepositError(f"payout {payout.id} has no payments")
    missing = [p.payment_id for p in payments if p.status not in ("not_synced", "refunded") and not p.qbo_payment_id]
    if missing:
        raise DepositError(f"payments not yet posted to QBO: {', '.join(missing)}")
    qbo_ids = [p.qbo_payment_id for p in payments if p.status not in ("not_synced", "refunded")]
    if len(set(qbo_ids)) != len(qbo_ids) or len({p.payment_id for p in payments}) != len(payments):
        raise DepositError(f"payout {payout.id} lists a payment twice")
    gross = sum((p.amount for p in payments), ZERO)
    if gross != payout.gross_amount:
        raise DepositError(f"payments add up to {gross}, payout {payout.id} gross is {payout.gross_amount}")
    if payout.net_amount < 0:
        raise DepositError(f"net payout {payout.net_amount} is negative; QBO cannot record a negative deposit")
    if payout.fee_amount > 0 and not fee_account_id:
        raise DepositError("fees to record but no fee account: create or choose fee_account_id")
    if any(p.status == "not_synced" for p in payments) and not other_income_account_id:
        raise DepositError("payments on platform invoices but no income account: create or choose "
                           "other_income_account_id")


class DepositAction(StrEnum):
    CREATE = "create"
    ALREADY_DEPOSITED = "already_deposited"
    WAIT = "wait"  # some payments are not in QBO yet but still can be (§4: the payout waits for them)
    CREATE_FEE_ACCOUNT = "create_fee_account"  # fees > 0 and no fee account yet (§4: created if missing)
    CREATE_OTHER_INCOME_ACCOUNT = "create_other_income_account"  # platform payments, no income account yet
    NOT_SYNCED = "not_synced"  # create_deposits is off: no deposits at all
    NEEDS_ATTENTION = "needs_attention"


class DepositDecision(Frozen):
    action: DepositAction
    reason: str | None = None
    code: AttentionCode | None = None
    qbo_deposit_id: str | None = None


def decide_deposit(
    payout: PayoutFacts,
    payments: Sequence[DepositPayment],
    prefs: Preferences,
    *,
    existing_qbo_deposit_id: str | None = None,
    currency: DepositCurrency | None = None,
    refunds: Sequence[DepositRefund] = (),
    clearing_account_id: str | None = None,
) -> DepositDecision:
    """What to do with a payout now. `existing_qbo_deposit_id` is the PrivateNote lookup's result; like
    for payments, a Deposit already in QBO wins over everything (exactly once)."""
    found = payout.qbo_deposit_id or existing_qbo_deposit_id
    if found:
        return DepositDecision(action=DepositAction.ALREADY_DEPOSITED, qbo_deposit_id=found)
    if not prefs.create_deposits:
        return DepositDecision(action=DepositAction.NOT_SYNCED, reason="create_deposits is off")
    waiting = waiting_reason(payments, refunds)
    if waiting:
        return DepositDecision(action=DepositAction.WAIT, reason=waiting)
    if payout.fee_amount > 0 and not prefs.fee_account_id:
        return DepositDecision(action=DepositAction.CREATE_FEE_ACCOUNT, reason="the fee account does not exist yet")
    platform_money = any(p.status == "not_synced" for p in payments) or any(r.status == "not_synced" for r in refunds)
    if platform_money and not prefs.other_income_account_id:
        return DepositDecision(action=DepositAction.CREATE_OTHER_INCOME_ACCOUNT,
                               reason="the income account for platform invoices does not exist yet")
    if not prefs.deposit_account_id:
        return DepositDecision(action=DepositAction.NEEDS_ATTENTION, code=AttentionCode.SETUP,
                               reason="no deposit_account_id set")
    try:
        build_deposit(payout, payments, prefs.deposit_account_id, prefs.fee_account_id,
                      other_income_account_id=prefs.other_income_account_id, currency=currency, refunds=refunds,
                      clearing_account_id=clearing_account_id)
    except DepositCurrencyError as exc:
        return DepositDecision(action=DepositAction.NEEDS_ATTENTION, code=AttentionCode.CURRENCY_MISMATCH,
                               reason=str(exc))
    except DepositError as exc:
        return DepositDecision(action=DepositAction.NEEDS_ATTENTION, code=AttentionCode.DEPOSIT_CANNOT_BALANCE,
                               reason=str(exc))
    return DepositDecision(action=DepositAction.CREATE)


def waiting_reason(payments: Sequence[DepositPayment], refunds: Sequence[DepositRefund] = ()) -> str | None:
    """Why the payout can't be deposited yet, naming each payment (or refund) it waits for; None when it
    need not wait."""
    booking = [f"refund {r.refund_id} (" + ("not booked in QBO yet" if r.status == "pending" else
                                              f"needs attention: {r.attention_reason or 'see the payment'}") + ")"
               for r in refunds if r.status in ("pending", "needs_attention")]
    parts = []
    for p in payments:
        if p.status == "pending" or (p.status == "posted" and not p.qbo_payment_id):
            parts.append(f"{p.payment_id} (not posted to QBO yet)")
        elif p.status == "needs_attention":
            parts.append(f"{p.payment_id} (needs attention: {p.attention_reason or 'see the payment'})")
    parts += booking
    return f"waiting for its payments to reach QBO: {'; '.join(parts)}" if parts else None
