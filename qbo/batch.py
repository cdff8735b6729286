"""Batch requests (qbo-reference §7.6): ≤ 30 items, per-item results matched by `bId`, never by position.

A batch answers HTTP 200 even when items fail, and items run independently (not a transaction), so each
item gets its own result: the object, the query rows, or the mapped `QboError` (not raised). Callers keep
their own item keys; the wire `bId`s are short (`b0`…`b29`) because with a `requestid` QBO joins
requestid and bId into a 50-character field: requestid ≤ 36, bId ≤ 10 (§7.5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from qbo.envelopes import QueryResult, query_result
from qbo.errors import QboError, QboServerError
from qbo.faults import error_for_fault, fault_from_json
from qbo.models import QboObject, canonical_entity, parse_entity

MAX_BATCH_ITEMS = 30
MAX_BATCH_REQUEST_ID = 36


@dataclass(frozen=True)
class BatchOp:
    """One batch item. Build with the class methods; `key` is the caller's own id for the item."""

    key: str
    operation: str | None = None  # create | update | delete | void; None for a query
    entity: str | None = None
    body: dict[str, Any] | None = None
    query: str | None = None
    options: str | None = None  # optionsData, e.g. "void" or "allowduplicatedocnum" (§7.6)

    @classmethod
    def create(cls, key: str, entity: str, body: dict[str, Any]) -> BatchOp:
        return cls(key, "create", entity, body)

    @classmethod
    def sparse_update(cls, key: str, entity: str, body: dict[str, Any]) -> BatchOp:
        require_identity(body)
        return cls(key, "update", entity, {**body, "sparse": True})

    @classmethod
    def update(cls, key: str, entity: str, body: dict[str, Any]) -> BatchOp:
        require_identity(body)
        return cls(key, "update", entity, body)

    @classmethod
    def delete(cls, key: str, entity: str, id_: str, sync_token: str) -> BatchOp:
        return cls(key, "delete", entity, {"Id": id_, "SyncToken": sync_token})

    @classmethod
    def void(cls, key: str, entity: str, id_: str, sync_token: str) -> BatchOp:
        """Invoice: operation `void`. Payment and friends: sparse update with optionsData `void` (§7.3)."""
        if canonical_entity(entity) == "Invoice":
            return cls(key, "void", entity, {"Id": id_, "SyncToken": sync_token})
        return cls(
            key, "update", entity, {"Id": id_, "SyncToken": sync_token, "sparse": True}, options="void"
        )

    @classmethod
    def select(cls, key: str, statement: str) -> BatchOp:
        return cls(key, query=statement)


@dataclass
class BatchItemResult:
    key: str
    entity: str | None
    object: QboObject | None = None
    query: QueryResult | None = None
    error: QboError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def require_identity(body: dict[str, Any]) -> None:
    """An update names the version it replaces; QBO refuses one without (5010 on a stale one)."""
    if not body.get("Id") or body.get("SyncToken") is None:
        raise ValueError("an update needs the current Id and SyncToken (qbo-reference §7.2)")


def build_request(ops: list[BatchOp]) -> tuple[dict[str, Any], dict[str, BatchOp]]:
    """The wire body and the bId → op map."""
    if not ops:
        raise ValueError("empty batch")
    if len(ops) > MAX_BATCH_ITEMS:
        raise ValueError(f"a batch holds at most {MAX_BATCH_ITEMS} items (qbo-reference §7.6)")
    if len({op.key for op in ops}) != len(ops):
        raise ValueError("batch item keys must be unique")
    items, by_bid = [], {}
    for i, op in enumerate(ops):
        bid = f"b{i}"
        by_bid[bid] = op
        item: dict[str, Any] = {"bId": bid}
        if op.query is not None:
            item["Query"] = op.query
        else:
            if not op.operation or not op.entity or op.body is None:
                raise ValueError(f"batch item {op.key!r} needs an operation, an entity and a body")
            item["operation"] = op.operation
            item[canonical_entity(op.entity)] = op.body
        if op.options:
            item["optionsData"] = op.options
        items.append(item)
    return {"BatchItemRequest": items}, by_bid


def parse_response(data: Any, by_bid: dict[str, BatchOp], tid: str | None) -> list[BatchItemResult]:
    """Results in the callers' op order, matched by bId; an item QBO did not answer is a retryable error."""
    answers: dict[str, dict[str, Any]] = {}
    items = (data or {}).get("BatchItemResponse") if isinstance(data, dict | None) else False
    if not isinstance(items, list | None):
        raise QboServerError("QBO answer has no BatchItemResponse list", intuit_tid=tid)
    for item in items or []:
        if isinstance(item, dict) and "bId" in item:
            answers[str(item["bId"])] = item
    results = []
    for bid, op in by_bid.items():
        entity = canonical_entity(op.entity) if op.entity else None
        item = answers.get(bid)
        if item is None:
            err = QboServerError(f"batch item {op.key!r} got no answer", intuit_tid=tid)
            results.append(BatchItemResult(op.key, entity, error=err))
            continue
        fault = fault_from_json(item)
        if fault is not None:
            results.append(
                BatchItemResult(op.key, entity, error=error_for_fault(fault, status=400, intuit_tid=tid))
            )
        elif "QueryResponse" in item:
            qr = query_result(item["QueryResponse"], tid)
            results.append(BatchItemResult(op.key, qr.entity, query=qr))
        else:
            name, body = next(
                ((k, v) for k, v in item.items() if k != "bId" and isinstance(v, dict)), (None, None)
            )
            if body is None:
                err = QboServerError(f"batch item {op.key!r}: unreadable answer", intuit_tid=tid)
                results.append(BatchItemResult(op.key, entity, error=err))
            else:
                obj = parse_entity(name or entity or "", body).with_tid(tid)
                results.append(BatchItemResult(op.key, canonical_entity(name or entity or ""), object=obj))
    return results
