"""Bulk reads for the backfill (`QboCompany.raw_pages`, `qbo.pages`): every object once, kept as the JSON
QBO sent (amounts exact), the next page requested while the caller works on this one, and never a request
the caller did not ask for. CDC answers are read the same way (`raw_cdc_objects`, the sync cycle's read)."""

from __future__ import annotations

from contextlib import aclosing
from decimal import Decimal

import pytest

from qbo.errors import QboServerError
from qbo.jsonio import loads
from qbo.pages import decode_answer, raw_cdc_objects, raw_objects
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


def test_a_cdc_answer_keeps_each_object_as_sent() -> None:
    """Per entity, matched by key in any case and order, `{}` for an entity with no changes (§4); every number
    as QBO wrote it, however many digits or however spelled; a tombstone as deleted."""
    body = (b'{"CDCResponse": [{"QueryResponse": [{}, {"customer": [{"Id": "1", "SyncToken": "0", "Balance": 1.5E+3}],'
            b' "startPosition": 1, "maxResults": 1}, {"Invoice": [{"Id": "7", "SyncToken": "12", "TotalAmt": '
            b'12345678901234567.89, "Balance": 0.10, "MetaData": {"LastUpdatedTime": "2020-09-29T05:58:07-07:00"}},'
            b' {"domain": "QBO", "status": "Deleted", "Id": "8", "MetaData": {"LastUpdatedTime": '
            b'"2020-09-29T05:59:07-07:00"}}]}]}, {"QueryResponse": [{"Payment": []}]}],'
            b' "time": "2020-09-29T05:58:07.300-07:00"}')
    data = decode_answer(body)
    assert data["time"] == "2020-09-29T05:58:07.300-07:00"
    found = raw_cdc_objects(data["CDCResponse"], "tid")
    assert {e: [o.qbo_id for o in objs] for e, objs in found.items()} == {
        "Customer": ["1"], "Invoice": ["7", "8"], "Payment": []}
    (customer,), (invoice, gone) = found["Customer"], found["Invoice"]
    assert '"Balance": 1.5E+3' in customer.json and loads(customer.json)["Balance"] == Decimal("1500")
    assert '"TotalAmt": 12345678901234567.89, "Balance": 0.10' in invoice.json
    assert loads(invoice.json)["TotalAmt"] == Decimal("12345678901234567.89")
    assert (invoice.sync_token, invoice.deleted, customer.sync_token) == (12, False, 0)
    assert (gone.qbo_id, gone.sync_token, gone.deleted) == ("8", None, True)
    assert gone.last_updated is not None and gone.last_updated.utcoffset() is not None


@pytest.mark.parametrize("cdc", [
    b'{"QueryResponse": []}',  # not a list
    b'[5]',  # an element that is not an object
    b'[{"QueryResponse": 5}]',  # no QueryResponse list
    b'[{"QueryResponse": [["Invoice"]]}]',  # an entity element that is not an object
    b'[{"QueryResponse": [{"Invoice": [{"Id": "7", "MetaData": {}}]}]}]',  # a live object without SyncToken
    b'[{"QueryResponse": [{"Invoice": [{"Id": "7", "SyncToken": "-1"}]}]}]',  # SyncToken not a counter
    b'[{"QueryResponse": [{"Invoice": [5]}]}]',  # an object that is not an object
])
def test_a_cdc_answer_staging_cannot_read_is_a_server_error(cdc: bytes) -> None:
    data = decode_answer(b'{"CDCResponse": ' + cdc + b', "time": "2020-09-29T05:58:07.300-07:00"}')
    with pytest.raises(QboServerError):
        raw_cdc_objects(data["CDCResponse"], None)
    with pytest.raises(QboServerError):  # the same answer when msgspec refused it (a lone surrogate elsewhere)
        raw_cdc_objects(loads(cdc), None)


def test_no_cdc_response_is_a_server_error() -> None:
    with pytest.raises(QboServerError, match="no CDCResponse"):
        raw_cdc_objects(decode_answer(b'{"time": "2020-09-29T05:58:07.300-07:00"}').get("CDCResponse"), None)
