"""Paged lists (PRODUCT.md §6): `limit` (default 100, at most 1000) and an opaque `cursor`; the body is
`{"items": [...], "next_cursor": …}`, `next_cursor` null on the last page.

Keyset paging on (created_at, id), the lists' order, so a page costs the same however deep it is and rows
added meanwhile never shift a page. The cursor is base64url of that key; it is opaque to callers (only
ever sent back), and one that does not decode is refused with 422 before anything is read."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Query

from api.errors import ApiError

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


@dataclass(frozen=True)
class PageRequest:
    limit: int
    after: tuple[datetime, str] | None


def _decode(cursor: str) -> tuple[datetime, str]:
    try:
        created, ident = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        key = (datetime.fromisoformat(created), ident)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        key = None
    if key is None or not isinstance(key[1], str) or key[0].tzinfo is None:
        raise ApiError(422, "validation_error", "cursor: not a cursor this API issued; send back the "
                                                "next_cursor of the previous page, or leave it out for the first")
    return key


def page_request(limit: int = Query(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT, description="items per page"),
                 cursor: str | None = Query(None, max_length=300,
                                            description="next_cursor of the previous page")) -> PageRequest:
    return PageRequest(limit=limit, after=_decode(cursor) if cursor else None)


Paging = Annotated[PageRequest, Depends(page_request)]


def page(rows: list[Any], paging: PageRequest) -> tuple[list[dict[str, Any]], str | None]:
    """The repo fetched `limit + 1` rows: the extra one only says there is a next page."""
    items = [dict(r) for r in rows[: paging.limit]]
    if len(rows) <= paging.limit:
        return items, None
    last = items[-1]
    raw = json.dumps([last["created_at"].isoformat(), last["id"]]).encode()
    return items, base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
