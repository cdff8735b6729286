"""Batch (qbo-reference §7.6): up to 30 items, run one after another and independently.

HTTP 200 even when items fail; each answer carries its `bId`. With a `requestid`, QBO joins it
with each bId and rejects the item with 6000 when the result is over 50 characters
(I:intuit/QuickBooks-V3-Java-SDK#180).
"""

from __future__ import annotations

from qbo_emulator import operations
from qbo_emulator.entities import OTHER_QBO_ENTITIES, TYPES
from qbo_emulator.entities.common import Ctx
from qbo_emulator.faults import QboFault, business_validation, unsupported_operation
from qbo_emulator.gateway import Outcome
from qbo_emulator.querying import query_response
from qbo_emulator.wire import dumps, envelope_time, loads

OPERATIONS = {"create", "update", "delete", "void"}


def run_batch(ctx: Ctx, raw: bytes, request_id: str | None) -> tuple[Outcome, int]:
    try:
        body = loads(raw.decode("utf-8"))
        items = body["BatchItemRequest"]
        assert isinstance(items, list)
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AssertionError):
        raise QboFault("2010", "Request has invalid or unsupported property",
                       "Error parsing object: expected {\"BatchItemRequest\":[...]}") from None
    if len(items) > ctx.cfg.batch_max_items:
        raise business_validation(f"The batch has {len(items)} items; at most {ctx.cfg.batch_max_items} are "
                                  "allowed in one batch request.")
    answers = [_item(ctx, item, request_id) for item in items]
    return Outcome(200, f'{{"BatchItemResponse":[{",".join(answers)}],"time":"{envelope_time()}"}}'), len(items)


def _item(ctx: Ctx, item: dict, request_id: str | None) -> str:
    bid = str(item.get("bId", ""))
    tail = f',"bId":{dumps(bid)}}}'
    try:
        if request_id and len(request_id) + len(bid) > 50:
            raise business_validation(
                f"You cannot enter more than 50 characters in the request_id field. You tried entering "
                f"{request_id}{bid}, which is {len(request_id) + len(bid)} characters.")
        if "Query" in item:
            return f'{{"QueryResponse":{query_response(ctx, str(item["Query"]))}' + tail
        operation = str(item.get("operation", "")).lower()
        names = [k for k in item if k not in ("bId", "operation", "optionsData")]
        if operation not in OPERATIONS or len(names) != 1:
            raise unsupported_operation(f"/v3/company/{ctx.realm}/batch")
        name = names[0]
        if name not in TYPES:
            if name in OTHER_QBO_ENTITIES:
                raise unsupported_operation(f"/v3/company/{ctx.realm}/{name.lower()}")
            raise QboFault("2010", "Request has invalid or unsupported property",
                           f"Property Name:Unrecognized field \"{name}\" in BatchItemRequest")
        if ctx.cfg.batch_item_fault_code is not None:
            raise item_fault(ctx.cfg.batch_item_fault_code)
        doc = _run(ctx, operation, name, item[name], item.get("optionsData"))
        return f'{{"{name}":{dumps(doc)}' + tail
    except QboFault as fault:
        return f'{{"Fault":{dumps(fault.fault_object())}' + tail


# The wording QBO uses for these codes (qbo-reference §8.1, §8.4): code → (type, message, detail).
_ITEM_FAULTS = {
    "3001": ("SERVICE", "message=ThrottleExceeded; errorCode=003001; statusCode=429",
             "The request limit was reached.  Try again later"),
    "3200": ("AUTHENTICATION", "message=AuthenticationFailed; errorCode=003200; statusCode=401", "Token expired"),
}


def item_fault(code: str) -> QboFault:
    """The `batch_item_fault_code` switch: the Fault a batch item answers instead of running."""
    kind, message, detail = _ITEM_FAULTS.get(code, (
        "SystemFault", "An application error has occurred while processing your request",
        "Fault injected by the emulator (batch_item_fault_code)"))
    return QboFault(code, message, detail, type=kind)


def _run(ctx: Ctx, operation: str, name: str, body: dict, options: object) -> dict:
    """One item in a savepoint, so a failing item leaves no partial change behind."""
    etype = TYPES[name]
    if not isinstance(body, dict):
        raise QboFault("2010", "Request has invalid or unsupported property", f"Expected a {name} object")
    include = set(ctx.include)
    if options and "allowduplicatedocnum" in dumps(options).lower():
        include.add("allowduplicatedocnum")
    item_ctx = Ctx(ctx.store, ctx.realm, ctx.cfg, ctx.now_ms, include=include)
    ctx.store.execute("SAVEPOINT batch_item")
    try:
        if operation == "delete":
            doc = operations.delete(item_ctx, etype, body)
        elif operation == "void" or (operation == "update" and options and "void" in dumps(options).lower()):
            doc = operations.void(item_ctx, etype, body)
        elif operation == "update":
            doc = operations.update(item_ctx, etype, body)
        else:
            doc = operations.create(item_ctx, etype, {k: v for k, v in body.items() if k not in ("Id", "SyncToken")})
    except BaseException:
        ctx.store.execute("ROLLBACK TO batch_item")
        ctx.store.execute("RELEASE batch_item")
        raise
    ctx.store.execute("RELEASE batch_item")
    ctx.events.extend(item_ctx.events)
    return doc
