"""Facts: what QBO says and what the platform holds, as frozen pydantic models, plus the converters from
staged QBO JSON (qbo-reference §2, §5) into facts.

Why facts instead of raw dicts: the decisions in `rules.customers` / `rules.invoices` must be total and
deterministic, so every ambiguity of the wire format (string SyncTokens, Pacific offsets, amounts as
numbers or strings, properties left out when empty) is settled once, here. Anything malformed raises
`BadQboPayload` and nothing else, so a sync activity can log the one bad object and carry on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from enum import StrEnum
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from rules.values import (
    ZERO,
    Currency,
    ExchangeRate,
    Instant,
    NonNegativeMoney,
    QboId,
    SyncToken,
    to_currency,
    to_date,
    to_instant,
    to_money,
    to_qbo_id,
    to_rate,
    to_sync_token,
)


class BadQboPayload(ValueError):
    """A QBO object that cannot be turned into facts. The message names the entity, the field and why."""


class Frozen(BaseModel):
    """Base for every rules model: immutable, hashable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


F = TypeVar("F", bound=Frozen)


class InvoiceStatus(StrEnum):
    """PRODUCT.md §3: invoice status values; `archived` is a separate flag."""

    OPEN = "open"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    VOID = "void"


Source = Literal["qbo", "platform"]

# --- What QBO says --------------------------------------------------------------------------------------


class QboCustomerFacts(Frozen):
    """A live QBO Customer (qbo-reference §5.2). `active=False` is QBO's "delete" for a customer."""

    qbo_id: QboId
    sync_token: SyncToken
    display_name: str
    email: str | None = None
    active: bool = True
    last_updated: Instant


class QboInvoiceFacts(Frozen):
    """A live QBO Invoice (qbo-reference §5.1). `voided` is derived: TotalAmt == 0 and PrivateNote
    starts with "Voided" (a void is an ordinary update, not a delete, qbo-reference §4)."""

    qbo_id: QboId
    sync_token: SyncToken
    doc_number: str | None = None
    customer_qbo_id: QboId
    total: NonNegativeMoney
    balance: NonNegativeMoney
    currency: Currency
    exchange_rate: ExchangeRate | None = None  # as QBO sends it; absent in single-currency companies
    due_date: date | None = None
    voided: bool = False
    last_updated: Instant


class QboTombstone(Frozen):
    """A deleted QBO object: `status: "Deleted"`, the Id, maybe `MetaData.LastUpdatedTime`, and no SyncToken
    (qbo-reference §2, §4). A tombstone is final: it outranks every SyncToken of the same object."""

    entity: str
    qbo_id: QboId
    last_updated: Instant | None = None


class AccountFacts(Frozen):
    """A QBO Account (qbo-reference §5.5), as far as preference validation needs it."""

    qbo_id: QboId
    name: str
    account_type: str
    account_subtype: str | None = None
    active: bool = True
    currency: Currency | None = None  # CurrencyRef.value; None means the home currency (qbo-reference §15.5)


class CurrencyFacts(Frozen):
    """What the preference validator knows about currencies (PRODUCT.md §4, docs/currency.md): the company's
    Preferences.CurrencyPrefs and the currencies of the partner's invoices (the currencies its payments can
    be in). Carried in workflow state: every field has a default."""

    home_currency: Currency = "USD"
    multicurrency: bool = False
    invoice_currencies: tuple[Currency, ...] = ()


# --- What the platform holds ----------------------------------------------------------------------------


class PlatformCustomer(Frozen):
    """A `customers` row (0001_platform.sql, plus `qbo_active` / `qbo_deleted` from 0003_rules.sql)."""

    id: str
    source: Source
    qbo_id: QboId | None = None
    qbo_sync_token: SyncToken | None = None
    qbo_updated_at: Instant | None = None
    name: str
    email: str | None = None
    archived: bool = False
    qbo_active: bool | None = None
    qbo_deleted: bool = False


class PlatformInvoice(Frozen):
    """An `invoices` row plus two aggregates over its `payments` rows that the rules need:

    - `unposted_payments_total`: Σ amount of the invoice's platform payments not yet in QBO (status
      `pending` or `needs_attention`, but not one QBO had and a person deleted, voided or edited there:
      `payments.qbo_change`, rules/own_postings.py); QBO's Balance does not know them yet, so they are
      subtracted.
    - `has_platform_payments`: any payment recorded in the platform on it, posted or not. This is what
      "unpaid" means in §3 ("no payment recorded on it in the platform").
    """

    id: str
    source: Source
    qbo_id: QboId | None = None
    qbo_sync_token: SyncToken | None = None
    qbo_updated_at: Instant | None = None
    qbo_customer_id: QboId | None = None
    doc_number: str | None = None
    amount: NonNegativeMoney
    balance: NonNegativeMoney
    currency: Currency = "USD"
    exchange_rate: ExchangeRate | None = None
    due_date: date | None = None
    status: InvoiceStatus
    archived: bool = False
    qbo_deleted: bool = False
    unposted_payments_total: NonNegativeMoney = ZERO
    has_platform_payments: bool = False

    @model_validator(mode="after")
    def _unposted_implies_payments(self) -> PlatformInvoice:
        if self.unposted_payments_total > 0 and not self.has_platform_payments:
            raise ValueError("unposted_payments_total > 0 requires has_platform_payments")
        return self


# --- Converters: staged QBO JSON → facts ----------------------------------------------------------------


def unwrap(raw: Any, entity: str) -> Mapping[str, Any]:
    """Accept the entity object itself or its read envelope `{"<Entity>": {...}, "time": ...}`."""
    if not isinstance(raw, Mapping):
        raise BadQboPayload(f"{entity}: expected a JSON object, got {type(raw).__name__}")
    inner = raw.get(entity)
    if "Id" not in raw and isinstance(inner, Mapping):
        return inner
    return raw


_PATHS: dict[str, tuple[str, ...]] = {}  # "CustomerRef.value" → ("CustomerRef", "value"), split once


def _split(path: str) -> tuple[str, ...]:
    keys = _PATHS[path] = tuple(path.split("."))
    return keys


def read_field(obj: Mapping[str, Any], entity: str, path: str, convert: Any, *, required: bool = True) -> Any:
    """Read `path` (dotted, e.g. "CustomerRef.value") and convert it; None when absent and not required."""
    value: Any = obj
    for key in _PATHS.get(path) or _split(path):
        # dict first: JSON decodes to dicts, and a Mapping (ABC) check costs several times more.
        value = value.get(key) if type(value) is dict or isinstance(value, Mapping) else None
    if value is None:
        if required:
            raise BadQboPayload(f"{entity}: {path} is missing")
        return None
    try:
        return convert(value)
    except (ValueError, TypeError, ArithmeticError) as exc:
        raise BadQboPayload(f"{entity}: {path}: {exc}") from None


def to_text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {type(value).__name__}")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r:.40}")
    return value


def build_facts(model: type[F], label: str, /, **fields: Any) -> F:
    try:
        return model(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise BadQboPayload(f"{label}: {where}: {first.get('msg', 'invalid')}") from None


def tombstone_of(obj: Mapping[str, Any], entity: str) -> QboTombstone | None:
    """qbo-reference §4: a delete is `{"domain","status":"Deleted","Id"[, "MetaData"]}`."""
    if obj.get("status") != "Deleted":
        return None
    return build_facts(
        QboTombstone,
        entity,
        entity=entity,
        qbo_id=read_field(obj, entity, "Id", to_qbo_id),
        last_updated=read_field(obj, entity, "MetaData.LastUpdatedTime", to_instant, required=False),
    )


# The top-level keys of a QBO object each parser reads (with `unwrap`'s envelope key and `tombstone_of`'s
# `status`): a caller may hand the parser a dict of only these keys (activities/sync.py reads nothing else of
# an object's JSON, qbo.jsonio.object_reader). tests/rules/test_parser_keys.py fails when a parser reads a
# key that is not listed here.
CUSTOMER_KEYS = frozenset({"Customer", "Id", "status", "MetaData", "SyncToken", "DisplayName", "PrimaryEmailAddr",
                           "Active"})
INVOICE_KEYS = frozenset({"Invoice", "Id", "status", "MetaData", "SyncToken", "DocNumber", "CustomerRef", "TotalAmt",
                          "Balance", "CurrencyRef", "ExchangeRate", "DueDate", "PrivateNote"})


def parse_customer(raw: Any) -> QboCustomerFacts | QboTombstone:
    """Staged QBO Customer JSON → facts (qbo-reference §5.2). Raises only BadQboPayload."""
    obj = unwrap(raw, "Customer")
    dead = tombstone_of(obj, "Customer")
    if dead is not None:
        return dead
    return build_facts(
        QboCustomerFacts,
        "Customer",
        qbo_id=read_field(obj, "Customer", "Id", to_qbo_id),
        sync_token=read_field(obj, "Customer", "SyncToken", to_sync_token),
        display_name=read_field(obj, "Customer", "DisplayName", to_text),
        email=read_field(obj, "Customer", "PrimaryEmailAddr.Address", to_text, required=False),
        # Only properties with values are returned (qbo-reference §2); an absent Active means active.
        active=read_field(obj, "Customer", "Active", _flag, required=False) is not False,
        last_updated=read_field(obj, "Customer", "MetaData.LastUpdatedTime", to_instant),
    )


def parse_invoice(raw: Any, *, home_currency: str = "USD") -> QboInvoiceFacts | QboTombstone:
    """Staged QBO Invoice JSON → facts (qbo-reference §5.1). Raises only BadQboPayload.

    `home_currency` fills in a missing CurrencyRef (single-currency companies may leave it out).
    """
    obj = unwrap(raw, "Invoice")
    dead = tombstone_of(obj, "Invoice")
    if dead is not None:
        return dead
    total = read_field(obj, "Invoice", "TotalAmt", to_money)
    note = read_field(obj, "Invoice", "PrivateNote", to_text, required=False) or ""
    currency = read_field(obj, "Invoice", "CurrencyRef.value", to_currency, required=False)
    if currency is None:
        try:
            currency = to_currency(home_currency)
        except ValueError as exc:
            raise BadQboPayload(f"Invoice: home currency: {exc}") from None
    return build_facts(
        QboInvoiceFacts,
        "Invoice",
        qbo_id=read_field(obj, "Invoice", "Id", to_qbo_id),
        sync_token=read_field(obj, "Invoice", "SyncToken", to_sync_token),
        doc_number=read_field(obj, "Invoice", "DocNumber", to_text, required=False),
        customer_qbo_id=read_field(obj, "Invoice", "CustomerRef.value", to_qbo_id),
        total=total,
        balance=read_field(obj, "Invoice", "Balance", to_money),
        currency=currency,
        exchange_rate=read_field(obj, "Invoice", "ExchangeRate", to_rate, required=False),
        due_date=read_field(obj, "Invoice", "DueDate", to_date, required=False),
        # qbo-reference §5.1: "Detect a void as TotalAmt == 0 && PrivateNote startswith 'Voided'".
        voided=total == 0 and note.startswith("Voided"),
        last_updated=read_field(obj, "Invoice", "MetaData.LastUpdatedTime", to_instant),
    )


def parse_account(raw: Any) -> AccountFacts:
    """Staged QBO Account JSON → facts (qbo-reference §5.5). Raises only BadQboPayload."""
    obj = unwrap(raw, "Account")
    return build_facts(
        AccountFacts,
        "Account",
        qbo_id=read_field(obj, "Account", "Id", to_qbo_id),
        name=read_field(obj, "Account", "Name", to_text),
        account_type=read_field(obj, "Account", "AccountType", to_text),
        account_subtype=read_field(obj, "Account", "AccountSubType", to_text, required=False),
        active=read_field(obj, "Account", "Active", _flag, required=False) is not False,
        currency=read_field(obj, "Account", "CurrencyRef.value", to_currency, required=False),
    )


def parse_currency_prefs(raw: Any) -> tuple[str, bool]:
    """`GET …/preferences` → (home currency, multicurrency on) (qbo-reference §15.5). A company that sends
    no CurrencyPrefs is single-currency USD, as every company was read before. Raises only BadQboPayload."""
    obj = unwrap(raw, "Preferences")
    home = read_field(obj, "Preferences", "CurrencyPrefs.HomeCurrency.value", to_currency, required=False)
    multi = read_field(obj, "Preferences", "CurrencyPrefs.MultiCurrencyEnabled", _flag, required=False)
    return home or "USD", bool(multi)


Change = QboCustomerFacts | QboInvoiceFacts | QboTombstone


C = TypeVar("C", QboCustomerFacts, QboInvoiceFacts, QboTombstone, Change)


def newest_change(changes: Iterable[C]) -> C:
    """The change that wins for one object: a tombstone if any (final), else the highest SyncToken.

    Why: CDC windows overlap and the same object can be staged several times (qbo-reference §4); apply
    reduces each object's staged versions with this before deciding, so a tombstone is never undone by an
    older version that happens to be applied after it.
    """
    items = list(changes)
    if not items:
        raise ValueError("newest_change needs at least one change")
    if len({c.qbo_id for c in items}) != 1:
        raise ValueError("newest_change: changes of different QBO objects")
    for c in items:
        if isinstance(c, QboTombstone):
            return c
    # No tombstone is left here; the isinstance tells the type checker so, for every C.
    return max(items, key=lambda c: -1 if isinstance(c, QboTombstone) else c.sync_token)


__all__ = [
    "ZERO",
    "AccountFacts",
    "BadQboPayload",
    "CUSTOMER_KEYS",
    "INVOICE_KEYS",
    "Change",
    "InvoiceStatus",
    "PlatformCustomer",
    "PlatformInvoice",
    "QboCustomerFacts",
    "QboInvoiceFacts",
    "QboTombstone",
    "newest_change",
    "parse_account",
    "parse_customer",
    "parse_invoice",
]
