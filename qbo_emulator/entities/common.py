"""What every QBO entity shares: identity, SyncToken, MetaData, key order, and the save path.

Create, full update and sparse update all go through one `build(ctx, body, old)` per entity type:
a sparse update is `build(ctx, {**old, **body}, old)`, a full update is `build(ctx, body, old)`, so
fields left out of a full update fall back to defaults (qbo-reference §7.2). Side effects on other
objects (Balance, LinkedTxn) live in each type's `effects(ctx, old, new)`, which first reverts what
`old` did and then applies `new`; delete is `effects(old, None)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from qbo_emulator.config import EmulatorConfig
from qbo_emulator.faults import QboFault, invalid_id, object_not_found, stale_object, unsupported_property
from qbo_emulator.store import Store
from qbo_emulator.wire import dumps, loads, meta_time

CURRENCY_USD = {"value": "USD", "name": "United States Dollar"}

# Transactions share one Id sequence in QBO (sandbox: Invoice 12, CreditMemo 73, Payment 120, Deposit 121);
# name lists have their own.
SEQUENCE = {"Invoice": "txn", "CreditMemo": "txn", "Payment": "txn", "Deposit": "txn",
            "RefundReceipt": "txn",
            "Customer": "Customer", "Account": "Account", "CompanyInfo": "CompanyInfo"}


@dataclass
class Event:
    """A change a webhook reports (qbo-reference §11)."""

    realm: str
    entity: str
    id: str
    operation: str  # Create | Update | Delete | Void
    ms: int


@dataclass
class Ctx:
    """One API operation against one company, inside one store transaction."""

    store: Store
    realm: str
    cfg: EmulatorConfig
    now_ms: int
    include: set[str] = field(default_factory=set)
    events: list[Event] = field(default_factory=list)
    dirty_customers: set[int] = field(default_factory=set)


def ref(value: Any, name: str | None = None) -> dict:
    return {"value": str(value), "name": name} if name is not None else {"value": str(value)}


def parse_id(raw: Any) -> int:
    """Entity Ids are numeric strings; anything else is 2030 (fx:fault_400_invalid_id_2030)."""
    text = str(raw).strip()
    if not text.isdigit():
        raise invalid_id(text)
    return int(text)


def ref_id(reference: Any, what: str) -> int:
    if not isinstance(reference, dict) or "value" not in reference:
        from qbo_emulator.faults import required_param
        raise required_param(what)
    try:
        return parse_id(reference["value"])
    except QboFault:
        raise object_not_found(f"{what}={reference.get('value')}") from None


def load(ctx: Ctx, entity: str, id_: int) -> dict | None:
    row = ctx.store.get(ctx.realm, entity, id_)
    return loads(row[0]) if row else None


def require(ctx: Ctx, entity: str, id_: int) -> dict:
    doc = load(ctx, entity, id_)
    if doc is None:
        raise object_not_found(f"{entity} Id={id_}")
    return doc


class EntityType:
    """Behaviour of one entity type. Subclasses override `build`, `effects`, `voided`."""

    name: ClassVar[str]
    known: ClassVar[list[str]]  # writable + read-only properties; anything else is 2010
    order: ClassVar[list[str]]  # key order of QBO's JSON, from the fixtures
    deletable: ClassVar[bool] = True
    voidable: ClassVar[bool] = False
    has_active: ClassVar[bool] = False

    def check_properties(self, body: dict) -> None:
        allowed = set(self.known) | {"Id", "SyncToken", "sparse", "domain", "MetaData", "status"}
        for key in body:
            if key not in allowed:
                raise unsupported_property(self.name, key, self.known)

    def build(self, ctx: Ctx, body: dict, old: dict | None) -> dict:
        raise NotImplementedError

    def effects(self, ctx: Ctx, old: dict | None, new: dict | None) -> None:
        """Revert what `old` did to other objects, then apply `new` (validating it)."""

    def voided(self, ctx: Ctx, old: dict) -> dict:
        raise NotImplementedError

    def check_mutable(self, ctx: Ctx, old: dict) -> None:
        """Raise when `old` may not be updated, deleted or voided (Payment: 6540 once deposited)."""

    def columns(self, doc: dict) -> tuple[bool, str | None, int | None, str | None]:
        """(active, doc_number, customer_id, name_key) copied out of the document for indexes."""
        return True, None, None, None

    def ordered(self, doc: dict) -> dict:
        out = {k: doc[k] for k in self.order if k in doc}
        out.update((k, v) for k, v in doc.items() if k not in out)
        return out


_VOLATILE = ("SyncToken", "MetaData", "sparse")


def same_content(etype: EntityType, a: dict, b: dict) -> bool:
    def canonical(d: dict) -> str:
        return dumps(etype.ordered({k: v for k, v in d.items() if k not in _VOLATILE}))
    return canonical(a) == canonical(b)


def check_sync_token(entity: str, old: dict, body: dict) -> None:
    """A missing or stale SyncToken is 5010 (qbo-reference §7.2)."""
    if str(body.get("SyncToken", "")) != old["SyncToken"]:
        raise stale_object(entity, old["Id"])


def save(ctx: Ctx, etype: EntityType, doc: dict, old: dict | None, *, operation: str | None,
         bump: bool = True, touch: bool = True) -> dict:
    """Write `doc`. New objects get SyncToken "0"; effective changes bump it and LastUpdatedTime.

    A no-op update leaves SyncToken and LastUpdatedTime alone (fx:account_sparse_update_response).
    `bump=False` changes LastUpdatedTime only, as QBO does for a customer's Balance. `touch=False`
    changes neither, as QBO does when a Deposit links a Payment (fx:airbyte_record_payment_98: linked
    to deposit 121 a day later, SyncToken "0" and LastUpdatedTime = CreateTime).
    """
    now = meta_time(ctx.now_ms)
    doc = dict(doc)
    doc["domain"] = "QBO"
    doc["sparse"] = False
    if old is None:
        doc["SyncToken"] = "0"
        doc["MetaData"] = {"CreateTime": now, "LastUpdatedTime": now}
        created_ms = ctx.now_ms
    else:
        doc["Id"] = old["Id"]
        doc["SyncToken"] = old["SyncToken"]
        doc["MetaData"] = dict(old["MetaData"])
        if same_content(etype, doc, old):
            return old
        row = ctx.store.get(ctx.realm, etype.name, int(old["Id"]))
        created_ms = row[1] if row else ctx.now_ms
        if touch:
            if bump:
                doc["SyncToken"] = str(int(old["SyncToken"]) + 1)
            doc["MetaData"]["LastUpdatedTime"] = now
    updated_ms = ctx.now_ms if old is None or touch else (row[2] if row else ctx.now_ms)
    doc = etype.ordered(doc)
    active, doc_number, customer_id, name_key = etype.columns(doc)
    ctx.store.upsert(ctx.realm, etype.name, int(doc["Id"]), dumps(doc), active=active, created_ms=created_ms,
                     updated_ms=updated_ms, doc_number=doc_number, customer_id=customer_id, name_key=name_key)
    if operation:
        ctx.events.append(Event(ctx.realm, etype.name, doc["Id"], operation, ctx.now_ms))
    return doc


def new_id(ctx: Ctx, entity: str) -> str:
    return str(ctx.store.next_value(ctx.realm, SEQUENCE[entity]))
