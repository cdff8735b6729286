"""Reading QBO response envelopes (qbo-reference §2) into models and small result types."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
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


def server_time(data: Any) -> datetime | None:
    value = data.get("time") if isinstance(data, dict) else None
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None
