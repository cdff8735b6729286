"""Typed QBO entities (pydantic) that keep every unknown field.

Field names are QBO's own (`Id`, `SyncToken`, `TotalAmt`) so a model dumps back to the wire shape without
alias bookkeeping. Intuit adds fields without a new minor version (qbo-reference §1.4), hence
`extra="allow"` everywhere. Money is `Decimal`: response bodies are decoded with
`json.loads(..., parse_float=Decimal)` (`qbo.faults.loads`), and a float reaching a money field is refused
rather than rounded. Timestamps are aware datetimes: QBO writes Pacific time with an offset (§2), and
aware values compare as instants.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr


def _exact_decimal(value: Any) -> Any:
    if isinstance(value, float):
        raise ValueError("money must not pass through float; decode JSON with parse_float=Decimal")
    return value


Money = Annotated[Decimal, BeforeValidator(_exact_decimal)]


class QboModel(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    def wire(self) -> dict[str, Any]:
        """The JSON-ready dict (Decimals kept; `qbo.jsonio.dumps` writes them as numbers)."""
        return self.model_dump(mode="python", exclude_none=True)


class Ref(QboModel):
    value: str
    name: str | None = None


class MetaData(QboModel):
    CreateTime: AwareDatetime | None = None
    LastUpdatedTime: AwareDatetime | None = None


class LinkedTxn(QboModel):
    TxnId: str
    TxnType: str
    TxnLineId: str | None = None


_MetaData = MetaData
_LinkedTxn = LinkedTxn


class Line(QboModel):
    Id: str | None = None
    LineNum: int | None = None
    Description: str | None = None
    Amount: Money | None = None
    DetailType: str | None = None
    LinkedTxn: list[_LinkedTxn] = Field(default_factory=list)


class EmailAddress(QboModel):
    Address: str | None = None


_Line = Line


class QboObject(QboModel):
    """Any QBO entity: identity, version and metadata. Used as is for entities without a model."""

    Id: str
    SyncToken: Annotated[str, Field(pattern=r"^[0-9]{1,18}$")] | None = None  # a counter (§7.2), read as int
    domain: str | None = None
    sparse: bool | None = None
    status: str | None = None
    MetaData: _MetaData | None = None
    _intuit_tid: str | None = PrivateAttr(default=None)

    @property
    def intuit_tid(self) -> str | None:
        """The trace id of the response this object came in (qbo-reference §1.3); not part of the data."""
        return self._intuit_tid

    def with_tid(self, tid: str | None) -> QboObject:
        self._intuit_tid = tid
        return self

    @property
    def sync_token(self) -> int | None:
        return int(self.SyncToken) if self.SyncToken is not None else None

    @property
    def last_updated(self) -> datetime | None:
        return self.MetaData.LastUpdatedTime if self.MetaData else None


class Tombstone(QboObject):
    """A deleted object: `{"domain":"QBO","status":"Deleted","Id":…}` plus `MetaData.LastUpdatedTime` in CDC
    (qbo-reference §2, §4; fx:invoice_delete_response, fx:cdc_invoice_deleted.xml). No SyncToken."""

    status: Literal["Deleted"] = "Deleted"


class Transaction(QboObject):
    DocNumber: str | None = None
    TxnDate: date | None = None
    CurrencyRef: Ref | None = None
    ExchangeRate: Decimal | None = None
    PrivateNote: str | None = None
    TotalAmt: Money | None = None
    Line: list[_Line] = Field(default_factory=list)
    LinkedTxn: list[_LinkedTxn] = Field(default_factory=list)

    @property
    def is_voided(self) -> bool:
        """QBO adds no status on void: amounts go to 0 and PrivateNote becomes "Voided" (§5.1)."""
        return self.TotalAmt == 0 and (self.PrivateNote or "").startswith("Voided")


class Customer(QboObject):
    DisplayName: str | None = None
    GivenName: str | None = None
    FamilyName: str | None = None
    CompanyName: str | None = None
    FullyQualifiedName: str | None = None
    Active: bool | None = None
    Balance: Money | None = None
    BalanceWithJobs: Money | None = None
    PrimaryEmailAddr: EmailAddress | None = None
    CurrencyRef: Ref | None = None
    ParentRef: Ref | None = None
    Job: bool | None = None


class Invoice(Transaction):
    CustomerRef: Ref | None = None
    DueDate: date | None = None
    Balance: Money | None = None
    EmailStatus: str | None = None
    PrintStatus: str | None = None
    BillEmail: EmailAddress | None = None


class CreditMemo(Transaction):
    CustomerRef: Ref | None = None
    Balance: Money | None = None
    RemainingCredit: Money | None = None


class Payment(Transaction):
    CustomerRef: Ref | None = None
    DepositToAccountRef: Ref | None = None
    ARAccountRef: Ref | None = None
    PaymentMethodRef: Ref | None = None
    PaymentRefNum: str | None = None
    UnappliedAmt: Money | None = None
    ProcessPayment: bool | None = None

    @property
    def deposit_ids(self) -> list[str]:
        """Deposits that swept this payment (top-level LinkedTxn, §5.3): once deposited it is locked (6540)."""
        return [t.TxnId for t in self.LinkedTxn if t.TxnType == "Deposit"]


class CashBack(QboModel):
    AccountRef: Ref | None = None
    Amount: Money | None = None
    Memo: str | None = None


_CashBack = CashBack


class Deposit(Transaction):
    DepositToAccountRef: Ref | None = None
    CashBack: _CashBack | None = None


class Account(QboObject):
    Name: str | None = None
    FullyQualifiedName: str | None = None
    Active: bool | None = None
    Classification: str | None = None
    AccountType: str | None = None
    AccountSubType: str | None = None
    CurrentBalance: Money | None = None
    CurrentBalanceWithSubAccounts: Money | None = None
    CurrencyRef: Ref | None = None
    SubAccount: bool | None = None
    ParentRef: Ref | None = None
    AcctNum: str | None = None


class CompanyInfo(QboObject):
    CompanyName: str | None = None
    LegalName: str | None = None
    Country: str | None = None
    CompanyStartDate: date | None = None


MODELS: dict[str, type[QboObject]] = {
    "Customer": Customer,
    "Invoice": Invoice,
    "Payment": Payment,
    "Deposit": Deposit,
    "Account": Account,
    "CreditMemo": CreditMemo,
    "CompanyInfo": CompanyInfo,
}

Entity = QboObject  # any parsed entity, including Tombstone


def canonical_entity(name: str) -> str:
    """`invoice`/`INVOICE` → `Invoice`: CDC answers in canonical case whatever was asked (§1.2)."""
    for known in MODELS:
        if known.lower() == name.lower():
            return known
    return name[:1].upper() + name[1:]


def parse_entity(entity: str, data: dict[str, Any]) -> QboObject:
    """One entity dict (from any envelope) → its model, or `Tombstone` when `status == "Deleted"`. Anything
    that is not a valid object (including a non-dict) raises pydantic's `ValidationError`."""
    if isinstance(data, dict) and data.get("status") == "Deleted":
        return Tombstone.model_validate(data)
    return MODELS.get(canonical_entity(entity), QboObject).model_validate(data)

