"""Bulk reads for the backfill (`QboCompany.raw_pages`, `qbo.pages`): every object once, kept as the JSON
QBO sent (amounts exact), the next page requested while the caller works on this one, and never a request
the caller did not ask for."""

from __future__ import annotations

from contextlib import aclosing
from decimal import Decimal

import pytest

from qbo.errors import QboServerError
from qbo.jsonio import loads
from qbo.pages import decode_answer, raw_objects
from tests.helpers import eventually


async def test_raw_pages_match_the_model_pages(connect) -> None:
    company = await connect(customers=20, invoices=23, payments=5)
    typed = [o async for p in company.query_pages("Invoice", page_size=10) for o in p.items]
    raw = [o async for p in company.raw_pages("Invoice", page_size=10) for o in p.items]
    assert [(o.qbo_id, o.sync_token, o.last_updated) for o in raw] == [
        (t.Id, t.sync_token, t.last_updated) for t in typed]
    for obj, model in zip(raw, typed, strict=True):
        data = loads(obj.json)
        assert isinstance(data["TotalAmt"], Decimal) and data["TotalAmt"] == model.TotalAmt
        assert data["Balance"] == model.Balance and not obj.deleted


async def test_the_next_page_is_requested_while_this_one_is_used(connect, emu) -> None:
    company = await connect(customers=3, invoices=50)
    realm = company.realm_id
    await emu.reset_requests(realm)

    async def queries() -> int:
        return (await emu.requests(realm))["by_operation"].get("query", 0)

    pages = 0
    async for page in company.raw_pages("Invoice", page_size=10, max_pages=3):
        pages += 1
        assert page.items
        if pages < 3:  # while the caller still holds this page, QBO receives the request for the next one
            await eventually(lambda n=pages: _at_least(queries, n + 1), timeout=10, what="the request ahead")
    # Bounded: 3 pages asked, 3 requests, nothing fetched past them.
    assert pages == 3 and await queries() == 3


async def _at_least(count, n: int) -> bool:  # noqa: ANN001
    return await count() >= n


async def test_stopping_early_cancels_the_request_ahead(connect, emu) -> None:
    company = await connect(customers=3, invoices=50)
    await emu.reset_requests(company.realm_id)
    async with aclosing(company.raw_pages("Invoice", page_size=10)) as pages:
        async for _ in pages:
            break
    # The first page, and at most the one requested ahead (cancelled, maybe already sent): never a third.
    assert (await emu.requests(company.realm_id))["by_operation"]["query"] in (1, 2)


def test_an_answer_keeps_each_object_as_sent() -> None:
    body = (b'{"QueryResponse": {"startPosition": 1, "Invoice": [{"Id": "7", "SyncToken": "3", "TotalAmt": 0.10,'
            b' "MetaData": {"LastUpdatedTime": "2020-09-29T05:58:07-07:00"}}, {"domain": "QBO", "status": '
            b'"Deleted", "Id": "8"}], "maxResults": 2}, "time": "2020-09-29T05:58:07.300-07:00"}')
    data = decode_answer(body)
    assert data["time"] == "2020-09-29T05:58:07.300-07:00"
    first, gone = raw_objects(data["QueryResponse"], "tid")
    assert (first.qbo_id, first.sync_token, first.deleted) == ("7", 3, False)
    assert first.last_updated is not None and first.last_updated.utcoffset() is not None
    assert loads(first.json)["TotalAmt"] == Decimal("0.10") and '"TotalAmt": 0.10' in first.json
    assert (gone.qbo_id, gone.sync_token, gone.deleted) == ("8", None, True)
    assert raw_objects(decode_answer(b'{"QueryResponse": {}}')["QueryResponse"], None) == []


@pytest.mark.parametrize("item", [
    b'{"SyncToken": "1"}',  # no Id
    b'{"Id": 7, "SyncToken": "1"}',  # Id not a string
    b'{"Id": "7", "SyncToken": "x1"}',  # SyncToken not a counter
    b'{"Id": "7"}',  # a live object without SyncToken
    b'{"Id": "7", "SyncToken": "1", "MetaData": {"LastUpdatedTime": "2020-09-29T05:58:07"}}',  # no offset
])
def test_an_object_staging_cannot_identify_is_a_server_error(item: bytes) -> None:
    data = decode_answer(b'{"QueryResponse": {"Invoice": [' + item + b"]}}")
    with pytest.raises(QboServerError):
        raw_objects(data["QueryResponse"], None)
