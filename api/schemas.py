"""Request and response models of the dashboard API (PRODUCT.md §6). Amounts are `Decimal`, written as
strings with two decimals ("12.50"); requests accept strings (or numbers with at most two decimals)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from rules.preferences import Preferences
from rules.values import Currency
from rules.values import NonNegativeMoney as _NonNegativeMoney
from rules.values import PositiveMoney as _PositiveMoney

_DECIMAL_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?")  # places and size are checked by `to_money`


def _plain_amount(value: Any) -> Any:
    """The API's amounts are plain decimal strings ("12.50") or JSON numbers. `to_money` (shared with the
    QBO parsers) also takes forms like "1e3", "1_000" or other scripts' digits; a dashboard should be told
    to send "1000.00" instead."""
    if isinstance(value, str) and not _DECIMAL_TEXT.fullmatch(value.strip()):
        raise ValueError('not a decimal amount: write it with ASCII digits and a point, like "12.50"')
    return value


PositiveMoney = Annotated[_PositiveMoney, BeforeValidator(_plain_amount)]
NonNegativeMoney = Annotated[_NonNegativeMoney, BeforeValidator(_plain_amount)]

# Dates outside these bounds are typing mistakes, not payments: refused rather than booked in QBO.
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
CLOCK_SKEW = timedelta(days=1)  # a payment can't be paid in the future, beyond the platform's clock drift
ARRIVAL_AHEAD = timedelta(days=366)  # a payout can be announced before it lands, not years before
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _paid_at(value: Any) -> Any:
    """An ISO 8601 instant with an offset ("2026-12-31T23:30:00-08:00"). A naive one is refused: which day
    the customer paid (the QBO TxnDate) depends on the zone it was meant in. Epoch numbers are refused too."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("paid_at must be an ISO 8601 string with a UTC offset, like \"2026-12-31T23:30:00-08:00\"")
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"paid_at {value[:40]!r} is not an ISO 8601 timestamp") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ValueError(f"paid_at {value[:40]!r} has no UTC offset; add one (\"Z\" or \"-08:00\")")
    if not EARLIEST <= parsed <= datetime.now(UTC) + CLOCK_SKEW:
        raise ValueError(f"paid_at {value[:40]!r} is not a plausible payment time: it must lie between "
                         f"{EARLIEST.date()} and now")
    return parsed.astimezone(UTC)


def _arrival_date(value: Any) -> Any:
    """A calendar day, "YYYY-MM-DD", not before 2000 and at most a year ahead."""
    if value is None:
        return None
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value.strip()):
        raise ValueError("arrival_date must be a date written YYYY-MM-DD, like \"2027-01-04\"")
    try:
        parsed = date.fromisoformat(value.strip())
    except ValueError:
        raise ValueError(f"arrival_date {value!r} is not a calendar date") from None
    if not EARLIEST.date() <= parsed <= (datetime.now(UTC) + ARRIVAL_AHEAD).date():
        raise ValueError(f"arrival_date {value!r} is not plausible: it must lie between {EARLIEST.date()} "
                         "and a year from now")
    return parsed


PaidAt = Annotated[datetime | None, BeforeValidator(_paid_at)]
ArrivalDate = Annotated[date | None, BeforeValidator(_arrival_date)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*")
    @classmethod
    def _storable(cls, value: Any) -> Any:
        """PostgreSQL text can't hold NUL, which JSON can carry as an escape (unpaired surrogates, the other
        text it can't store, are already refused by pydantic)."""
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and "\x00" in text:
                raise ValueError("text must not contain NUL (\\u0000) characters")
        return value


class Created(BaseModel):
    id: str


class Error(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    error: Error


# --- partners and QBO ---------------------------------------------------------------------------------


class PartnerIn(Request):
    name: str = Field(min_length=1, max_length=200)


class PartnerOut(BaseModel):
    id: str
    name: str
    qbo_state: str = Field(description="onboarding, active, needs_reconnect, disconnected or not_connected")


class AuthorizeUrl(BaseModel):
    authorize_url: str = Field(description="Intuit's consent page; the browser that called connect carries its cookie")
    start_url: str = Field(description="for a dashboard on another origin: send the partner's browser here "
                                       "(top-level navigation); it sets the cookie and redirects to Intuit; good once")


class Account(BaseModel):
    id: str
    name: str
    type: str
    subtype: str | None


class Backfill(BaseModel):
    done: int
    total: int | None


class QboStatus(BaseModel):
    state: str
    realm_id: str | None
    company_name: str | None
    last_synced_at: datetime | None
    preferences: Preferences | None
    accounts: list[Account]
    counts: dict[str, int]
    last_error: str | None
    step: str | None = Field(None, description="the workflow's current step, when it runs")
    backfill: Backfill | None = None
    pending_postings: int | None = None
    source: str = Field(description="'workflow' when the running workflow answered, else 'database'")
    reconnect_before: datetime | None = Field(
        None, description="Intuit's hard expiry of the refresh token (5-year limit): ask the partner to "
                          "reconnect before then (qbo-reference §10.3)")


class Accepted(BaseModel):
    status: str


class RetryAccepted(BaseModel):
    id: str
    status: str = Field(description="'pending': back in line; the workflow was asked to sync now")


class DisconnectOut(BaseModel):
    state: str


class SyncRun(BaseModel):
    id: int
    trigger: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    counts: dict[str, Any]
    conflicts: int
    errors: int
    error: str | None


class ReconciliationRequested(BaseModel):
    run_id: int
    status: str  # requested | running (a run already under way is joined)


class Reconciliation(BaseModel):
    """The latest run. Counts are those of the finished run (0 until then); `details` lists at most 200
    mismatches (`details_truncated` when there were more; the counts are always complete)."""

    run_id: int
    status: str  # requested | running | finished
    realm_id: str | None = None
    requested_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    invoices_checked: int = 0
    invoice_mismatches: int = 0
    payouts_checked: int = 0
    deposit_mismatches: int = 0
    unknown_deposits: int = 0  # Deposits in QBO carrying our memo that no payout records
    qbo_calls: int = 0
    details_truncated: bool = False
    payments_checked: int = 0
    payment_mismatches: int = 0  # posted payments whose QBO Payment is gone, voided or edited, not yet flagged
    refunds_checked: int = 0
    refund_mismatches: int = 0  # refunds booked as RefundReceipts that QBO no longer holds as booked
    payments_changed_in_qbo: int = 0  # flagged needs_attention: a person changed our Payment in QBO
    payouts_changed_in_qbo: int = 0  # flagged needs_attention: a person deleted or changed our Deposit
    details: list[dict[str, Any]] = []


# --- platform data ------------------------------------------------------------------------------------


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list (PRODUCT.md §6): pass `next_cursor` back as `cursor` for the next; null at the end."""

    items: list[T]
    next_cursor: str | None


class CustomerIn(Request):
    name: str = Field(min_length=1, max_length=500)
    email: str | None = Field(None, max_length=320)


class CustomerOut(BaseModel):
    id: str
    qbo_id: str | None
    source: str
    name: str
    email: str | None
    archived: bool


class InvoiceIn(Request):
    customer_id: str = Field(min_length=1)
    amount: PositiveMoney
    due_date: date
    doc_number: str | None = Field(None, max_length=21)
    currency: Currency = "USD"


class InvoiceOut(BaseModel):
    id: str
    qbo_id: str | None
    source: str
    doc_number: str | None
    customer_id: str | None
    amount: Decimal
    balance: Decimal
    currency: str
    exchange_rate: Decimal | None = Field(None, description="QBO's ExchangeRate for a foreign-currency invoice: "
                                                            "home-currency units per unit of `currency` (null in "
                                                            "single-currency companies and platform invoices)")
    home_currency: str | None = Field(None, description="the QBO company's home currency, when read")
    due_date: date | None
    status: str
    archived: bool

    @field_validator("currency", "home_currency", mode="before")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return value.strip() if value else value


class VoidOut(BaseModel):
    id: str
    action: str
    voided: bool
    reason: str | None


class PaymentIn(Request):
    amount: PositiveMoney
    reference: str | None = Field(None, max_length=200)
    paid_at: PaidAt = Field(None, description="when the customer paid, ISO 8601 with offset; default now. "
                                              "The QBO Payment is dated this day in the partner's time_zone")


class PaymentCreated(BaseModel):
    id: str
    status: str
    qbo_payment_id: str | None
    paid_at: datetime


class PaymentOut(BaseModel):
    id: str
    invoice_id: str
    amount: Decimal
    currency: str
    reference: str | None
    status: str
    qbo_payment_id: str | None
    attention_reason: str | None
    attention_code: str | None = Field(None, description="machine-readable cause (rules/attention.py)")
    qbo_change: str | None = Field(None, description="what a person did in QBO to the Payment this service "
                                                     "posted: deleted | voided | amount_changed")
    payout_id: str | None
    paid_at: datetime
    created_at: datetime
    posted_at: datetime | None
    refunded_amount: Decimal = Field(Decimal("0.00"), description="Σ refunds and chargebacks of this payment")
    refunds: list[RefundListed] = Field(default_factory=list)

    @field_validator("currency", mode="before")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()


class RefundIn(Request):
    amount: PositiveMoney
    kind: Literal["refund", "chargeback"] = "refund"
    reason: str | None = Field(None, max_length=500)


class RefundOut(BaseModel):
    id: str
    payment_id: str
    amount: Decimal
    kind: str
    status: str = Field(description="pending (not booked in QBO yet), posted, needs_attention, or not_synced "
                                    "(the payment is on a platform-created invoice)")
    booking: str | None = Field(None, description="how QBO got it (docs/refunds.md): netted (taken off the "
                                                  "payment before it reached QBO), reduced or voided (the QBO "
                                                  "Payment), refund_receipt (after the payment was deposited)")


class RefundListed(RefundOut):
    reason: str | None
    qbo_refund_receipt_id: str | None
    attention_reason: str | None
    attention_code: str | None
    payout_id: str | None
    created_at: datetime
    posted_at: datetime | None


class PayoutIn(Request):
    payment_ids: list[str] = Field(min_length=1, max_length=1000)
    refund_ids: list[str] = Field(default_factory=list, max_length=1000,
                                  description="refunds and chargebacks taken out of this payout: net = payments "
                                              "− refunds − fee_amount (chargeback fees are part of the fee)")
    fee_amount: NonNegativeMoney
    arrival_date: ArrivalDate = Field(None, description="the day the payout reaches the bank, YYYY-MM-DD; "
                                                        "default today in the partner's time_zone. The QBO "
                                                        "Deposit is dated this day")

    @field_validator("payment_ids", "refund_ids")
    @classmethod
    def _unique(cls, ids: list[str]) -> list[str]:
        if len(set(ids)) != len(ids):
            raise ValueError("an id is listed more than once")
        return ids


class PayoutCreated(BaseModel):
    id: str
    gross_amount: Decimal
    refund_amount: Decimal = Decimal("0.00")
    fee_amount: Decimal
    net_amount: Decimal
    status: str
    qbo_deposit_id: str | None
    arrival_date: date
    currency: str | None = Field(None, description="the currency of its payments (one per payout); its Deposit "
                                                   "is in the deposit account's currency, which must be this one")

    @field_validator("currency", mode="before")
    @classmethod
    def _strip_currency(cls, value: str | None) -> str | None:
        return value.strip() if value else value


class PayoutOut(PayoutCreated):
    payment_ids: list[str]
    refund_ids: list[str] = Field(default_factory=list)
    attention_reason: str | None
    attention_code: str | None = Field(None, description="machine-readable cause (rules/attention.py)")
    qbo_change: str | None = Field(None, description="what a person did in QBO to the Deposit this service "
                                                     "created: deleted | voided | amount_changed")
    waiting_reason: str | None = Field(None, description="why a pending payout has no Deposit yet")
    deposit_note: str | None = Field(None, description="how the Deposit differs from the whole payout, if it does")
    created_at: datetime
