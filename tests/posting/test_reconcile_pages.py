"""Reconciliation reads in pages (PRODUCT.md §6 "bounded, paged"): one `Id IN (…)` query per page of
platform rows, never one read per record, and the same findings whatever the page size."""

from __future__ import annotations

import pytest

from services import reconcile as reconcile_mod
from tests.posting.conftest import World


async def test_pages_find_the_same_with_one_query_per_page(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    for amount in ("10.00", "20.00", "30.00"):
        await world.new_invoice(amount)
    open_ = await world.pool.fetch(
        "SELECT id FROM invoices WHERE partner_id = $1 AND status = 'open' ORDER BY id LIMIT 3", world.partner)
    paid = [await world.pay(row["id"], "1.00") for row in open_]
    await world.post()
    bad = await world.pool.fetchval("SELECT id FROM invoices WHERE partner_id = $1 ORDER BY id DESC LIMIT 1",
                                    world.partner)
    await world.pool.execute("UPDATE invoices SET balance = balance + 1 WHERE id = $1", bad)

    whole = await world.reconcile()
    monkeypatch.setattr(reconcile_mod, "PAGE", 2)
    paged = await world.reconcile()
    invoices = whole["invoices_checked"]
    assert invoices == 7 and whole["payments_checked"] == len(paid) == 3
    for key in ("invoices_checked", "invoice_mismatches", "payments_checked", "payment_mismatches"):
        assert paged[key] == whole[key], key
    assert whole["invoice_mismatches"] == 1 and paged["details"][0]["id"] == bad
    # Invoices and payments: one query per page (4 + 2 of two rows), plus one page of Deposits.
    assert whole["qbo_calls"] == 1 + 1 + 1 and paged["qbo_calls"] == 4 + 2 + 1
