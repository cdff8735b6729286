"""Query pages and CDC answers for staging (the backfill, the sync cycle's CDC read and its fallbacks): each
object kept as the JSON text QBO sent, with only the identity, version and timestamp read out of it.

Why not `qbo.models`: a backfill page is 1,000 objects, and building a pydantic model of every object
(then dumping it back to JSON to stage it) cost more than fetching the page (issue 15's profile). A cycle's
CDC answer is small but mostly known already: it goes back `CDC_OVERLAP` (qbo-reference §4: ask a few
minutes back, dedupe by (Entity, Id, SyncToken)), so under webhook load each answer re-read ~7× more objects
than had changed, and the models were most of the worker's CPU per cycle (issue 15 §4). Staging and the
rules need the object's JSON and its identity; msgspec reads the identity without touching the rest, and
`msgspec.Raw` keeps each object's bytes exactly as they came (amounts included: no float, no rounding).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec

from qbo.envelopes import PagePosition
from qbo.errors import QboServerError
from qbo.jsonio import dumps, loads
from qbo.models import canonical_entity


class _Meta(msgspec.Struct):
    LastUpdatedTime: datetime | None = None


class _Head(msgspec.Struct):
    """What staging needs of an object (qbo-reference §2): the rest stays unread JSON."""

    Id: str
    SyncToken: str | None = None
    status: str | None = None
    MetaData: _Meta | None = None


class _CdcResponse(msgspec.Struct):
    """One element of `CDCResponse` (§4): its `QueryResponse` list, one element per entity, each read as far as
    its keys (the objects' list stays undecoded until `_listed`)."""

    QueryResponse: list[dict[str, msgspec.Raw]] | None = None


_ANSWER = msgspec.json.Decoder(dict[str, msgspec.Raw])
_OBJECTS = msgspec.json.Decoder(list[msgspec.Raw])
_HEAD = msgspec.json.Decoder(_Head)
_CDC = msgspec.json.Decoder(list[_CdcResponse | None])
_PAGE_KEYS = frozenset({"startPosition", "maxResults", "totalCount"})
_RAW_KEYS = frozenset({"QueryResponse", "CDCResponse"})


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
    server_time: datetime | None = None  # the envelope's `time`


def decode_answer(content: bytes) -> Any:
    """A query or CDC answer with its `QueryResponse` / `CDCResponse` left undecoded (`msgspec.Raw`) and
    everything else decoded as `qbo.jsonio.loads` would (so `Fault` checks and `server_time` see the same
    dict). Not an object: plain `loads`."""
    try:
        top = _ANSWER.decode(content)
    except (msgspec.DecodeError, RecursionError):
        return loads(content)
    return {k: v if k in _RAW_KEYS else loads(v) for k, v in top.items()}


def raw_objects(response: Any, tid: str | None) -> list[RawObject]:
    """The objects of a `QueryResponse` from `decode_answer` (`{}` past the end: none, §2)."""
    if isinstance(response, dict):  # `decode_answer` fell back to plain JSON
        return _listed(response, tid)[1]
    if not isinstance(response, msgspec.Raw):
        raise QboServerError("QBO answer has no QueryResponse", intuit_tid=tid)
    try:
        fields = _ANSWER.decode(response)
    except (msgspec.DecodeError, RecursionError):
        raise QboServerError("QBO answer's QueryResponse is not an object of lists", intuit_tid=tid) from None
    return _listed(fields, tid)[1]


def raw_cdc_objects(response: Any, tid: str | None) -> dict[str, list[RawObject]]:
    """The objects of a `CDCResponse` from `decode_answer`, per entity (canonical case), matched by key, not by
    position; an entity with no changes is `{}` (§4): `{"CDCResponse":[{"QueryResponse":[{"Invoice":[…],
    "startPosition":1,"maxResults":n}, {}]}]}`. Tombstones come as `RawObject.deleted`."""
    out: dict[str, list[RawObject]] = {}
    for fields in _query_responses(response, tid):
        entity, objects = _listed(fields, tid)
        if entity is not None:
            out.setdefault(canonical_entity(entity), []).extend(objects)
    return out


def _query_responses(response: Any, tid: str | None) -> list[dict[str, Any]]:
    """The `QueryResponse` elements of a `CDCResponse`, each a dict of its keys (values `msgspec.Raw`, or plain
    JSON when `decode_answer` fell back to `loads`)."""
    if isinstance(response, msgspec.Raw):
        try:
            return [qr for r in _CDC.decode(response) if r is not None for qr in r.QueryResponse or ()]
        except (msgspec.DecodeError, RecursionError):
            raise QboServerError("QBO CDCResponse is not a list of QueryResponse lists", intuit_tid=tid) from None
    if not isinstance(response, list):
        raise QboServerError("QBO answer has no CDCResponse", intuit_tid=tid)
    out: list[dict[str, Any]] = []
    for r in response:
        if r is not None and not isinstance(r, dict):
            raise QboServerError("QBO CDCResponse holds a non-object", intuit_tid=tid)
        qrs = (r or {}).get("QueryResponse")
        if not isinstance(qrs, list | None) or not all(isinstance(qr, dict) for qr in qrs or ()):
            raise QboServerError("QBO CDCResponse has no QueryResponse list of objects", intuit_tid=tid)
        out.extend(qrs or ())
    return out


def _listed(fields: dict[str, Any], tid: str | None) -> tuple[str | None, list[RawObject]]:
    """(entity key, its objects) of one `QueryResponse`: the first key holding a list (§2)."""
    for key, value in fields.items():
        if key in _PAGE_KEYS:
            continue
        if isinstance(value, list):  # plain JSON (the `loads` fallback): write each object back out
            return key, [_raw_object(_written(o, tid), tid) for o in value]
        if isinstance(value, msgspec.Raw) and bytes(memoryview(value)[:1]) == b"[":
            try:
                objects = _OBJECTS.decode(value)
            except (msgspec.DecodeError, RecursionError):  # checked JSON already: only nesting too deep
                raise QboServerError(f"QBO answer's {key[:40]!r} list can't be read", intuit_tid=tid) from None
            return key, [_raw_object(bytes(o), tid) for o in objects]
    return None, []


def _written(obj: Any, tid: str | None) -> bytes:
    """An object `loads` read (msgspec refused the answer: `json` reads lone surrogate escapes) as UTF-8 JSON
    again; text that is not Unicode can't be staged (PostgreSQL text is UTF-8), so it is QBO's error."""
    try:
        return dumps(obj).encode()
    except UnicodeEncodeError:
        raise QboServerError("QBO answered an object with text that is not Unicode (a lone surrogate)",
                             intuit_tid=tid) from None


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
