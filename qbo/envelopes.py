"""Reading QBO response envelopes (qbo-reference §2) into models and small result types."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from qbo.errors import QboServerError
from qbo.models import QboObject, canonical_entity, parse_entity


@dataclass
class QueryResult:
    """One QueryResponse. `items` is what came back: count it, never trust `maxResults` (§2, §12 item 14)."""

    entity: str | None
    items: list[QboObject]
    start_position: int | None = None
    total_count: int | None = None
    intuit_tid: str | None = None
    server_time: datetime | None = None  # the envelope's `time` (top-level answers only)


class PagePosition:
    """Where a page of a paged query started and where the next one starts (for resumable backfills:
    persist `next_start_position`). QBO pages by STARTPOSITION/MAXRESULTS; a short page is the last."""

    start_position: int
    items: Sequence[object]
    page_size: int

    @property
    def next_start_position(self) -> int:
        return self.start_position + len(self.items)

    @property
    def is_last(self) -> bool:
        return len(self.items) < self.page_size


@dataclass
class QueryPage(PagePosition):
    """One page of a paged query, its objects parsed into models."""

    entity: str
    start_position: int
    items: list[QboObject]
    page_size: int
    intuit_tid: str | None = None
    server_time: datetime | None = None


@dataclass
class CdcResult:
    """Changes since `changed_since`, per entity (tombstones included), deduped by (entity, Id, SyncToken).

    `server_time` is QBO's `time` on the first CDC answer: the safe next cursor (go back a few minutes and
    rely on the dedupe, §4). `truncated` lists entities whose CDC answer may have been cut at 1000 objects
    and were fetched again by paged `LastUpdatedTime` queries; for those, deletes (tombstones) may be
    missing, because a query never returns deleted objects: reconcile them with a sweep.
    """

    changed_since: datetime
    server_time: datetime | None = None
    objects: dict[str, list[QboObject]] = field(default_factory=dict)
    truncated: set[str] = field(default_factory=set)
    calls: int = 0

    @property
    def deletes_may_be_missing(self) -> set[str]:
        return set(self.truncated)

    def count(self) -> int:
        return sum(len(v) for v in self.objects.values())


def entity_from_envelope(entity: str, data: Any, tid: str | None) -> QboObject:
    """`{"Invoice": {...}, "time": ...}` → model (or Tombstone)."""
    if isinstance(data, dict):
        name = canonical_entity(entity)
        body = data.get(name)
        if not isinstance(body, dict):  # tolerate a different casing
            body = next(
                (v for k, v in data.items() if k.lower() == name.lower() and isinstance(v, dict)), None
            )
        if isinstance(body, dict):
            return parse_entity(name, body).with_tid(tid)
    raise QboServerError(f"QBO answer has no {entity} object", intuit_tid=tid)


def query_result(qr: Any, tid: str | None, entity_hint: str | None = None) -> QueryResult:
    """A `QueryResponse` object (top-level or inside batch). `{}` means no rows (fx:query_empty_page_past_end)."""
    if not isinstance(qr, dict):
        raise QboServerError("QBO answer has no QueryResponse", intuit_tid=tid)
    entity = None
    items: list[QboObject] = []
    for key, value in qr.items():
        if isinstance(value, list):
            entity = canonical_entity(key)
            items = [parse_entity(entity, obj).with_tid(tid) for obj in value]
            break
    return QueryResult(
        entity=entity or (canonical_entity(entity_hint) if entity_hint else None),
        items=items,
        start_position=qr.get("startPosition"),
        total_count=qr.get("totalCount"),
        intuit_tid=tid,
    )


def cdc_entities(data: Any, tid: str | None) -> dict[str, list[QboObject]]:
    """`{"CDCResponse":[{"QueryResponse":[{"Invoice":[…]}, {"Customer":[…]}, {}]}]}` → per entity, matched
    by key, not position; empty elements are `{}` (§4)."""
    out: dict[str, list[QboObject]] = {}
    responses = data.get("CDCResponse") if isinstance(data, dict) else None
    if not isinstance(responses, list):
        raise QboServerError("QBO answer has no CDCResponse", intuit_tid=tid)
    for response in responses:
        if response is not None and not isinstance(response, dict):
            raise QboServerError("QBO CDCResponse holds a non-object", intuit_tid=tid)
        qrs = (response or {}).get("QueryResponse")
        if not isinstance(qrs, list | None):
            raise QboServerError("QBO CDCResponse has no QueryResponse list", intuit_tid=tid)
        for qr in qrs or []:
            result = query_result(qr, tid)
            if result.entity:
                out.setdefault(result.entity, []).extend(result.items)
    return out


def server_time(data: Any) -> datetime | None:
    value = data.get("time") if isinstance(data, dict) else None
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None
