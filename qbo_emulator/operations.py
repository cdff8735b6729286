"""The write and read operations of qbo-reference §1.2 / §7, on top of the entity types.

Each function runs inside the caller's store transaction and returns the entity document (or the
delete tombstone). Order matters: check the SyncToken, check the object may change (6540), build
the new document, apply side effects to other objects, save, then refresh customer balances.
"""

from __future__ import annotations

from qbo_emulator.entities import TYPES, EntityType
from qbo_emulator.entities.common import Ctx, check_sync_token, load, new_id, parse_id, save
from qbo_emulator.entities.customer import recompute_customers
from qbo_emulator.faults import QboFault, object_not_found, required_param, unsupported_operation
from qbo_emulator.wire import meta_time

# One per company, read-only through the API (qbo-reference §5.7, §15.5): read by path without an Id.
SINGLETONS = {"CompanyInfo", "Preferences"}


def _existing(ctx: Ctx, etype: EntityType, body: dict) -> dict:
    if "Id" not in body:
        raise required_param("Id")
    id_ = parse_id(body["Id"])
    old = load(ctx, etype.name, id_)
    if old is None:
        raise object_not_found(f"{etype.name} Id={id_}")
    if "SyncToken" not in body:
        raise required_param("SyncToken")
    check_sync_token(etype.name, old, body)
    return old


def create(ctx: Ctx, etype: EntityType, body: dict) -> dict:
    etype.check_properties(body)
    if etype.name in SINGLETONS:
        raise unsupported_operation(f"/v3/company/{ctx.realm}/{etype.name.lower()}")
    doc = etype.build(ctx, body, None)
    doc["Id"] = new_id(ctx, etype.name)
    etype.effects(ctx, None, doc)
    saved = save(ctx, etype, doc, None, operation="Create")
    recompute_customers(ctx)
    return saved


def update(ctx: Ctx, etype: EntityType, body: dict) -> dict:
    """Full update, or sparse with `"sparse": true` (only the fields sent change; a Line array replaces
    all lines, qbo-reference §7.2)."""
    etype.check_properties(body)
    if etype.name in SINGLETONS:
        raise unsupported_operation(f"/v3/company/{ctx.realm}/{etype.name.lower()}")
    old = _existing(ctx, etype, body)
    etype.check_mutable(ctx, old)
    merged = {**old, **body} if body.get("sparse") is True else body
    doc = etype.build(ctx, merged, old)
    etype.effects(ctx, old, doc)
    # the target may have been touched by effects (e.g. a payment re-applied to the same invoice)
    current = load(ctx, etype.name, int(old["Id"])) or old
    saved = save(ctx, etype, doc, current, operation="Update")
    recompute_customers(ctx)
    return saved


def delete(ctx: Ctx, etype: EntityType, body: dict) -> dict:
    """Transactions only; name lists are deactivated instead (§7.4). Tombstone as in fx:invoice_delete_response."""
    if not etype.deletable:
        raise QboFault("500", "Unsupported Operation",
                       f"Operation Delete is not supported for {etype.name}. Make it inactive instead.")
    if "Id" in body and ctx.store.is_deleted(ctx.realm, etype.name, parse_id(body["Id"])):
        raise object_not_found(f"{etype.name} Id={body['Id']} was deleted")
    old = _existing(ctx, etype, body)
    etype.check_mutable(ctx, old)
    etype.effects(ctx, old, None)
    ctx.store.delete(ctx.realm, etype.name, int(old["Id"]), ctx.now_ms)
    from qbo_emulator.entities.common import Event

    ctx.events.append(Event(ctx.realm, etype.name, old["Id"], "Delete", ctx.now_ms))
    recompute_customers(ctx)
    return {"domain": "QBO", "status": "Deleted", "Id": old["Id"]}


def void(ctx: Ctx, etype: EntityType, body: dict) -> dict:
    """Invoice `operation=void`, Payment `operation=update&include=void` (§7.3)."""
    if not etype.voidable:
        raise QboFault("500", "Unsupported Operation", f"Operation Void is not supported for {etype.name}")
    old = _existing(ctx, etype, body)
    etype.check_mutable(ctx, old)
    doc = etype.voided(ctx, old)
    etype.effects(ctx, old, doc)
    saved = save(ctx, etype, doc, old, operation="Void")
    recompute_customers(ctx)
    return saved


def read(ctx: Ctx, etype: EntityType, raw_id: str) -> str:
    """The stored JSON text, as served."""
    id_ = parse_id(raw_id)
    if etype.name in SINGLETONS:
        id_ = 1
    row = ctx.store.get(ctx.realm, etype.name, id_)
    if row is None:
        raise object_not_found(f"{etype.name} Id={id_}")
    return row[0]


def tombstone(entity: str, id_: int, deleted_ms: int) -> dict:
    """A deleted object as CDC reports it (fx:cdc_invoice_deleted.xml in JSON form, §4)."""
    return {"domain": "QBO", "status": "Deleted", "Id": str(id_), "MetaData": {"LastUpdatedTime": meta_time(deleted_ms)}}


__all__ = ["TYPES", "create", "update", "delete", "void", "read", "tombstone"]
