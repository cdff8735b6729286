"""Change Data Capture that never silently loses changes (qbo-reference §4).

CDC has no paging and caps an answer at 1000 objects across all entities asked; what happens beyond is
undocumented (the emulator can truncate or fault). So an answer with ≥ 1000 objects, or a cap fault, is
treated as possibly truncated:

1. ask again per entity (the cap is shared, so a single entity may fit: TAP does the same);
2. an entity that still does not fit is read with paged queries
   `MetaData.LastUpdatedTime >= changedSince ORDERBY MetaData.LastUpdatedTime` (inactive rows included),
   which pages and is complete for live objects. Deleted objects never appear in a query, so that entity is
   reported in `CdcResult.truncated` (its deletes may be incomplete; the caller's sweep reconciles them).

Tombstones CDC did return are always kept. Everything is deduped by (entity, Id, SyncToken). The look-back
is never more than 29 days (Nango uses 29; QBO documents 30): an older cursor raises
`QboCdcWindowTooOld` before any request, and the caller runs a full sweep instead.

Objects are read as the backfill reads query pages (`qbo.pages`): only Id, SyncToken, status and
LastUpdatedTime are decoded, each object's JSON is kept as QBO sent it, ready to stage. A sync cycle asks
from a few minutes before its cursor, so most of each answer is versions the platform has already (staging's
SQL drops them): decoding all of them into models only to write them back out was most of the worker's CPU
per webhook (issue 15 §4). An object without a usable Id or SyncToken is a `QboServerError`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from qbo.envelopes import server_time
from qbo.errors import QboCdcWindowTooOld, QboValidationError
from qbo.models import canonical_entity
from qbo.pages import RawObject, decode_answer, raw_cdc_objects
from qbo.query import LIST_ENTITIES

if TYPE_CHECKING:
    from qbo.client import QboCompany

CDC_CAP = 1000
MAX_LOOKBACK = timedelta(days=29)


@dataclass
class CdcResult:
    """Changes since `changed_since`, per entity (tombstones included, `RawObject.deleted`), deduped by
    (entity, Id, SyncToken).

    `server_time` is QBO's `time` on the first CDC answer: the safe next cursor (go back a few minutes and
    rely on the dedupe, §4). `truncated` lists entities whose CDC answer may have been cut at 1000 objects
    and were fetched again by paged `LastUpdatedTime` queries; for those, deletes (tombstones) may be
    missing, because a query never returns deleted objects: reconcile them with a sweep.
    """

    changed_since: datetime
    server_time: datetime | None = None
    objects: dict[str, list[RawObject]] = field(default_factory=dict)
    truncated: set[str] = field(default_factory=set)
    calls: int = 0

    @property
    def deletes_may_be_missing(self) -> set[str]:
        return set(self.truncated)

    def count(self) -> int:
        return sum(len(v) for v in self.objects.values())


def change_key(entity: str, obj: RawObject) -> tuple[str, str, int | None]:
    """The CDC dedupe key `(entity, Id, SyncToken)` (qbo-reference §4), `entity` in canonical case (as
    `iter_changes` yields it); a tombstone's version is None."""
    return (entity, obj.qbo_id, None if obj.deleted else obj.sync_token)


def _overflow_fault(exc: QboValidationError) -> bool:
    """A fault that means "too many changed objects" rather than a bad request (the emulator's `fault` mode;
    real QBO's answer is unknown, §14). Recognised by wording, since no code is documented."""
    text = f"{exc.message} {exc.detail or ''}".lower()
    return any(word in text for word in ("1000", "more than", "too many", "exceed", "maximum", "limit"))


class _Collector:
    def __init__(self, result: CdcResult) -> None:
        self.result = result
        self.seen: set[tuple[str, str, int | None]] = set()

    def add(self, entity: str, objects: Sequence[RawObject]) -> list[RawObject]:
        fresh = []
        for obj in objects:
            key = change_key(entity, obj)
            if key not in self.seen:
                self.seen.add(key)
                fresh.append(obj)
        return fresh


async def _ask(company: QboCompany, entities: list[str], since: datetime,
               result: CdcResult) -> tuple[dict[str, list[RawObject]], bool]:
    """One CDC call → (per-entity objects, possibly_truncated)."""
    params = {"entities": ",".join(entities), "changedSince": since.isoformat(timespec="seconds")}
    result.calls += 1
    try:
        resp = await company.call("GET", "cdc", params=params, parse=decode_answer)
    except QboValidationError as exc:
        if type(exc) is QboValidationError and _overflow_fault(exc):
            return {}, True
        raise
    if result.server_time is None:
        result.server_time = server_time(resp.data)
    data = resp.data if isinstance(resp.data, dict) else {}
    found = raw_cdc_objects(data.get("CDCResponse"), resp.intuit_tid)
    return found, sum(len(v) for v in found.values()) >= company.cdc_cap


def check_window(changed_since: datetime, now: datetime | None = None) -> None:
    if changed_since.tzinfo is None:
        raise ValueError("changed_since must be timezone-aware (QBO times are Pacific with an offset, §2)")
    now = now or datetime.now(UTC)
    if now - changed_since > MAX_LOOKBACK:
        raise QboCdcWindowTooOld(
            f"CDC cursor {changed_since.isoformat()} is more than 29 days old; run a full sweep instead",
            code="cdc_window",
        )


async def iter_changes(
    company: QboCompany, entities: Sequence[str], changed_since: datetime, result: CdcResult
) -> AsyncIterator[tuple[str, list[RawObject]]]:
    """Yield (entity, new objects) chunks; `result` collects the cursor, call count and truncation flags.
    Memory stays bounded by one answer or page plus the dedupe keys."""
    check_window(changed_since)
    names = [canonical_entity(e) for e in entities]
    seen = _Collector(result)
    found, truncated = await _ask(company, names, changed_since, result)
    for entity, objects in found.items():
        yield entity, seen.add(entity, objects)
    if not truncated:
        return
    for entity in names:
        if len(names) > 1:
            found, truncated = await _ask(company, [entity], changed_since, result)
            yield entity, seen.add(entity, found.get(entity, []))
            if not truncated:
                continue
        result.truncated.add(entity)
        pages = company.raw_pages(entity, where=[("MetaData.LastUpdatedTime", ">=", changed_since)],
                                  order_by="MetaData.LastUpdatedTime", include_inactive=entity in LIST_ENTITIES)
        async with aclosing(pages):
            async for page in pages:
                result.calls += 1
                if result.server_time is None:  # every CDC answer was a cap fault: the first page's time
                    result.server_time = page.server_time
                yield entity, seen.add(entity, page.items)


async def collect(company: QboCompany, entities: Sequence[str], changed_since: datetime) -> CdcResult:
    result = CdcResult(changed_since=changed_since)
    for name in entities:
        result.objects.setdefault(canonical_entity(name), [])
    async for entity, objects in iter_changes(company, entities, changed_since, result):
        result.objects.setdefault(entity, []).extend(objects)
    return result
