"""Reads over real HTTP against the emulator: company info, read, paged queries, counts, escaping."""

from __future__ import annotations

from decimal import Decimal

from qbo.models import CompanyInfo, Customer, Invoice
from qbo.query import select


async def test_company_info_and_read(connect) -> None:
    company = await connect(customers=3, invoices=3)
    info = await company.company_info()
    assert isinstance(info, CompanyInfo) and info.CompanyName and info.intuit_tid is not None
    first = (await company.query(select("Invoice", max_results=1))).items[0]
    again = await company.read("Invoice", first.Id)
    assert isinstance(again, Invoice) and again.Id == first.Id and isinstance(again.TotalAmt, Decimal)
    assert again.last_updated is not None and again.last_updated.tzinfo is not None


async def test_paging_visits_every_row_once_with_bounded_pages(connect) -> None:
    company = await connect(customers=20, invoices=1234)
    total = await company.count("Invoice")
    assert total == 1234
    pages = [page async for page in company.query_pages("Invoice")]
    assert [len(p.items) for p in pages] == [1000, 234]
    assert [p.start_position for p in pages] == [1, 1001]
    ids = [inv.Id for p in pages for inv in p.items]
    assert len(ids) == len(set(ids)) == total
    assert all(isinstance(inv, Invoice) for p in pages for inv in p.items)


async def test_paging_on_an_exact_multiple_and_resuming(connect) -> None:
    company = await connect(customers=20, invoices=0)
    total = await company.count("Customer", include_inactive=True)
    size = total // 2 if total % 2 == 0 else total
    pages = [p async for p in company.query_pages("Customer", page_size=size, include_inactive=True)]
    # full pages, then the `{}` page past the end (fx:query_empty_page_past_end) ends the walk
    assert [len(p.items) for p in pages] == [size] * (total // size) + [0]
    all_ids = [c.Id for p in pages for c in p.items]
    assert len(set(all_ids)) == total
    resumed = [
        c.Id
        async for p in company.query_pages("Customer", start_position=6, page_size=5, include_inactive=True)
        for c in p.items
    ]
    assert resumed == all_ids[5:]


async def test_inactive_customers_only_when_asked(connect) -> None:
    company = await connect(customers=40, invoices=0)
    active = await company.count("Customer")
    everyone = await company.count("Customer", include_inactive=True)
    assert everyone > active, "the seed has inactive customers (issue 3)"
    rows = [c async for p in company.query_pages("Customer", include_inactive=True) for c in p.items]
    assert len(rows) == everyone and any(c.Active is False for c in rows)


async def test_names_with_quotes_and_ampersands_are_found_exactly(connect) -> None:
    company = await connect(customers=60, invoices=0)
    rows = [c async for p in company.query_pages("Customer", include_inactive=True) for c in p.items]
    tricky = [c for c in rows if "'" in (c.DisplayName or "") or "&" in (c.DisplayName or "")]
    assert tricky, "the seed has names with apostrophes/ampersands (issue 3)"
    for customer in tricky[:5]:
        found = await company.find(
            "Customer", [("DisplayName", "=", customer.DisplayName)], include_inactive=True
        )
        assert [c.Id for c in found] == [customer.Id]
        assert isinstance(found[0], Customer)
    # an injection attempt matches nothing instead of everything
    hostile = "x' OR DisplayName LIKE '%"
    assert await company.find("Customer", [("DisplayName", "=", hostile)], include_inactive=True) == []
