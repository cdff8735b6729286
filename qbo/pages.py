"""Query pages for bulk reads (the backfill): each object kept as the JSON text QBO sent, with only the
identity, version and timestamp read out of it.

Why not `qbo.models`: a backfill page is 1,000 objects, and building a pydantic model of every object
(then dumping it back to JSON to stage it) cost more than fetching the page (issue 15's profile). Staging
and the rules need the object's JSON and its identity; msgspec reads the identity without touching the rest,
and `msgspec.Raw` keeps each object's bytes exactly as they came (amounts included: no float, no rounding).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from qbo.envelopes import PagePosition
from qbo.errors import QboServerError
from qbo.jsonio import dumps, loads


class _Meta(msgspec.Struct):
    LastUpdatedTime: datetime | None = None


class _Head(msgspec.Struct):
    """What staging needs of an object (qbo-reference §2): the rest stays unread JSON."""

    Id: str
    SyncToken: str | None = None
    status: str | None = None
    MetaData: _Meta | None = None


_ANSWER = msgspec.json.Decoder(dict[str, msgspec.Raw])
_OBJECTS = msgspec.json.Decoder(list[msgspec.Raw])
_HEAD = msgspec.json.Decoder(_Head)
_PAGE_KEYS = frozenset({"startPosition", "maxResults", "totalCount"})


@dataclass(frozen=True)
class RawObject:
    qbo_id: str
    sync_token: int | None  # None for a tombstone (it has no SyncToken, §4)
    last_updated: datetime | None
    deleted: bool
    json: str  # the object exactly as QBO sent it


@dataclass
class RawPage(PagePosition):
    """One page of a paged query, its objects kept as QBO's JSON text."""

    entity: str
    start_position: int
    items: list[RawObject]
    page_size: int
    intuit_tid: str | None = None


def decode_answer(content: bytes) -> Any:
    """A query answer with its `QueryResponse` left undecoded (`msgspec.Raw`) and everything else decoded as
    `qbo.jsonio.loads` would (so `Fault` checks see the same dict). Not an object: plain `loads`."""
    try:
        top = _ANSWER.decode(content)
    except (msgspec.DecodeError, RecursionError):
        return loads(content)
    return {k: v if k == "QueryResponse" else loads(v) for k, v in top.items()}


def raw_objects(response: Any, tid: str | None) -> list[RawObject]:
    """The objects of a `QueryResponse` from `decode_answer` (`{}` past the end: none, §2)."""
    if isinstance(response, dict):  # `decode_answer` fell back to plain JSON: write each object back out
        lists = [v for k, v in response.items() if isinstance(v, list)]
        return [_raw_object(dumps(o).encode(), tid) for o in (lists[0] if lists else [])]
    if not isinstance(response, msgspec.Raw):
        raise QboServerError("QBO answer has no QueryResponse", intuit_tid=tid)
    try:
        fields = _ANSWER.decode(response)
        objects = next((_OBJECTS.decode(v) for k, v in fields.items()
                        if k not in _PAGE_KEYS and bytes(memoryview(v)[:1]) == b"["), [])
    except (msgspec.DecodeError, RecursionError):
        raise QboServerError("QBO answer's QueryResponse is not an object of lists", intuit_tid=tid) from None
    return [_raw_object(bytes(o), tid) for o in objects]


def _raw_object(data: bytes, tid: str | None) -> RawObject:
    try:
        head = _HEAD.decode(data)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise QboServerError(f"QBO answered an object staging can't identify: {exc}", intuit_tid=tid) from None
    deleted = head.status == "Deleted"
    token = head.SyncToken
    if not deleted and (token is None or not (token.isascii() and token.isdigit() and len(token) <= 18)):
        raise QboServerError(f"QBO object {head.Id[:40]!r} has no usable SyncToken", intuit_tid=tid)
    updated = head.MetaData.LastUpdatedTime if head.MetaData else None
    if updated is not None and updated.tzinfo is None:
        raise QboServerError(f"QBO object {head.Id[:40]!r} has a LastUpdatedTime without offset", intuit_tid=tid)
    return RawObject(head.Id, None if deleted else int(token or 0), updated, deleted, data.decode())
