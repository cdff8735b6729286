"""CDC over real HTTP: tombstones, dedupe, the 29-day guard, and both truncation behaviours (§4, §14)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from qbo.batch import BatchOp
from qbo.cdc import change_key
from qbo.errors import QboCdcWindowTooOld
from qbo.jsonio import loads
from qbo.models import Invoice
from qbo.query import select

CAP = 50  # the emulator's cdc_max_objects and the client's cap for this test: QBO's 1000, scaled down


def rid() -> str:
    return uuid.uuid4().hex


def _recently() -> datetime:
    """A cursor just before the test's changes (the emulator runs on this machine's clock)."""
    return datetime.now(UTC) - timedelta(seconds=5)


def _invoice(customer_id: str, amount: str) -> dict:
    return {
        "CustomerRef": {"value": customer_id},
        "Line": [
            {
                "Amount": Decimal(amount),
                "DetailType": "SalesItemLineDetail",
                "SalesItemLineDetail": {"ItemRef": {"value": "1"}},
            }
        ],
    }


async def _make_changes(company, invoices: int, deletes: int) -> tuple[set[str], set[str], str]:
    """Create invoices in batches, delete some, rename a customer. Returns (live ids, deleted ids, customer id)."""
    customer = (await company.query(select("Customer", max_results=1))).items[0]
    created: list[Invoice] = []
    for start in range(0, invoices, 30):
        ops = [
            BatchOp.create(f"i{n}", "Invoice", _invoice(customer.Id, f"{n + 1}.25"))
            for n in range(start, min(start + 30, invoices))
        ]
        results = await company.batch(ops, request_id=rid()[:36])
        assert all(r.ok for r in results), [r.error for r in results if r.error]
        created += [r.object for r in results]
    deleted = set()
    for inv in created[-deletes:] if deletes else []:
        await company.delete("Invoice", inv.Id, inv.SyncToken, rid())
        deleted.add(inv.Id)
    fresh = await company.read("Customer", customer.Id)
    await company.sparse_update(
        "Customer", {"Id": fresh.Id, "SyncToken": fresh.SyncToken, "CompanyName": "Renamed Ltd"}, rid()
    )
    return {i.Id for i in created} - deleted, deleted, customer.Id


async def test_small_window_has_tombstones_and_changes(connect) -> None:
    company = await connect(customers=3, invoices=0)
    since = _recently()
    live, deleted, customer_id = await _make_changes(company, invoices=4, deletes=1)
    result = await company.cdc(["invoice", "Customer"], since)  # entity case does not matter
    assert result.calls == 1 and result.truncated == set()
    invoices = result.objects["Invoice"]
    assert {o.qbo_id for o in invoices if not o.deleted} == live
    assert {o.qbo_id for o in invoices if o.deleted} == deleted
    assert all(o.sync_token is None and loads(o.json)["status"] == "Deleted" for o in invoices if o.deleted)
    assert customer_id in {o.qbo_id for o in result.objects["Customer"]}
    assert result.server_time is not None and result.server_time.tzinfo is not None
    amounts = [loads(o.json)["TotalAmt"] for o in invoices if not o.deleted]
    assert {str(a) for a in amounts} == {"1.25", "2.25", "3.25"} and all(isinstance(a, Decimal) for a in amounts)


async def test_cursor_older_than_29_days_is_refused_before_any_request(connect, emu) -> None:
    company = await connect(customers=1, invoices=0)
    await emu.reset_requests()
    with pytest.raises(QboCdcWindowTooOld):
        await company.cdc(["Invoice"], datetime.now(UTC) - timedelta(days=29, minutes=1))
    assert (await emu.requests(company.realm_id))["total"] == 0
    with pytest.raises(ValueError):
        await company.cdc(["Invoice"], datetime.now() - timedelta(hours=1))  # naive: ambiguous


@pytest.mark.parametrize("overflow", ["truncate", "fault"])
async def test_possibly_truncated_cdc_falls_back_and_loses_no_live_change(
    connect, emu, settings, db_pool, overflow: str
) -> None:
    from qbo.client import QboApi

    seeded = await connect(customers=3, invoices=0)
    await emu.config(seeded.realm_id, cdc_max_objects=CAP, cdc_overflow=overflow)
    api = QboApi(settings, db_pool, cdc_cap=CAP)
    try:
        company = api.company(seeded.partner_id)
        since = _recently()
        live, deleted, customer_id = await _make_changes(company, invoices=CAP + 10, deletes=3)
        result = await company.cdc(["Invoice", "Customer"], since)
        alone = await company.cdc(["Invoice"], since)  # no second entity to answer: the pages give the cursor
    finally:
        await api.aclose()
    invoices = result.objects["Invoice"]
    assert {o.qbo_id for o in invoices if not o.deleted} == live  # complete despite the cap
    assert customer_id in {o.qbo_id for o in result.objects["Customer"]}
    assert result.truncated == {"Invoice"}  # Customer fitted when asked alone
    assert result.deletes_may_be_missing == {"Invoice"}
    tombstones = {o.qbo_id for o in invoices if o.deleted}
    assert tombstones <= deleted
    keys = [change_key(name, o) for name, objs in result.objects.items() for o in objs]
    assert len(keys) == len(set(keys))  # overlapping answers deduped by (entity, Id, SyncToken)
    assert result.calls >= 3  # all entities, then per entity, then paged queries
    assert result.server_time is not None and result.server_time > since  # a cursor for the next cycle
    assert alone.truncated == {"Invoice"} and {o.qbo_id for o in alone.objects["Invoice"] if not o.deleted} == live
    assert alone.server_time is not None and alone.server_time > since
