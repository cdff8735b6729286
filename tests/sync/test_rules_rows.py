"""One integration test per row of PRODUCT §3 (QBO → platform): emulator over HTTP + PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

from tests.sync.conftest import Synced


def _sparse(s: Synced, entity: str, qbo_id: str, **fields) -> dict:
    current = s.books.read(entity, qbo_id)
    return s.books.update(entity, {"Id": qbo_id, "SyncToken": current["SyncToken"], "sparse": True, **fields})


def _line(amount: str) -> list[dict]:
    return [{"Amount": Decimal(amount), "DetailType": "SalesItemLineDetail",
             "SalesItemLineDetail": {"ItemRef": {"value": "1", "name": "Services"}}}]


async def test_backfill_mirrors_qbo(synced: Synced) -> None:
    for qbo_id in ("1", "2", "3", "4", "5", "6"):
        qbo, row = synced.books.read("Invoice", qbo_id), await synced.invoice(qbo_id)
        assert row["amount"] == qbo["TotalAmt"] and row["balance"] == qbo["Balance"]
        assert isinstance(row["amount"], Decimal) and row["source"] == "qbo"
        assert row["doc_number"] == qbo.get("DocNumber") and str(row["due_date"]) == qbo.get("DueDate")
        customer = await synced.customer(qbo["CustomerRef"]["value"])
        assert row["customer_id"] == customer["id"]
    count = await synced.pool.fetchval("SELECT count(*) FROM customers WHERE partner_id = $1", synced.partner_id)
    assert count == 4


async def test_new_and_changed_customers(synced: Synced) -> None:
    new = synced.books.customer("Brand New Ltd", PrimaryEmailAddr={"Address": "new@example.com"})
    _sparse(synced, "Customer", "1", DisplayName="Renamed Co")
    _, summary = await synced.cycle()
    assert (summary.created, summary.updated) == (1, 1)
    row = await synced.customer(new["Id"])
    assert (row["name"], row["email"], row["source"], row["archived"]) == ("Brand New Ltd", "new@example.com",
                                                                            "qbo", False)
    assert (await synced.customer("1"))["name"] == "Renamed Co"


async def test_deactivated_then_reactivated_customer(synced: Synced) -> None:
    c = synced.books.customer("Short Lived")
    await synced.cycle()
    _sparse(synced, "Customer", c["Id"], Active=False)
    _, summary = await synced.cycle()
    assert summary.archived == 1 and (await synced.customer(c["Id"]))["archived"] is True
    _sparse(synced, "Customer", c["Id"], Active=True)
    _, summary = await synced.cycle()
    assert summary.unarchived == 1 and (await synced.customer(c["Id"]))["archived"] is False


async def test_new_invoice(synced: Synced) -> None:
    inv = synced.books.invoice("2", "250.10", DueDate="2030-01-31")
    _, summary = await synced.cycle()
    assert summary.created == 1
    row = await synced.invoice(inv["Id"])
    assert (row["amount"], row["balance"], row["currency"], str(row["due_date"]), row["status"]) == (
        Decimal("250.10"), Decimal("250.10"), "USD", "2030-01-31", "open")
    assert row["doc_number"] == inv["DocNumber"]
    assert row["customer_id"] == (await synced.customer("2"))["id"]


async def test_amount_and_due_date_edit_to_unpaid_invoice(synced: Synced) -> None:
    inv = synced.books.invoice("1", "100.00")
    await synced.cycle()
    _sparse(synced, "Invoice", inv["Id"], Line=_line("120.00"), DueDate="2031-05-01")
    _, summary = await synced.cycle()
    assert summary.updated == 1
    row = await synced.invoice(inv["Id"])
    assert (row["amount"], row["balance"], str(row["due_date"])) == (Decimal("120.00"), Decimal("120.00"),
                                                                      "2031-05-01")


async def test_edit_to_invoice_with_platform_payment_is_a_logged_conflict(synced: Synced) -> None:
    inv = synced.books.invoice("1", "100.00", DueDate="2030-01-01")
    await synced.cycle()
    row = await synced.invoice(inv["Id"])
    await synced.pool.execute(
        "INSERT INTO payments (id, partner_id, invoice_id, amount, currency, status) "
        "VALUES ($1, $2, $3, 40.00, 'USD', 'posted')", f"pay-{inv['Id']}-{synced.partner_id}",
        synced.partner_id, row["id"])
    _sparse(synced, "Invoice", inv["Id"], Line=_line("150.00"), DueDate="2031-01-01")
    fetch, summary = await synced.cycle()
    assert summary.conflicts == 1
    after = await synced.invoice(inv["Id"])
    assert after["amount"] == Decimal("100.00") and str(after["due_date"]) == "2030-01-01"
    logged = await synced.pool.fetch(
        "SELECT * FROM sync_log WHERE partner_id = $1 AND kind = 'conflict' AND qbo_id = $2",
        synced.partner_id, inv["Id"])
    assert len(logged) == 1 and logged[0]["sync_run_id"] == fetch.sync_run_id
    # The same version again (a retried apply, an overlapping window) is logged once.
    await synced.cycle(full_sweep=True)
    assert await synced.pool.fetchval(
        "SELECT count(*) FROM sync_log WHERE partner_id = $1 AND qbo_id = $2", synced.partner_id, inv["Id"]) == 1


async def test_partial_payment_then_credit_memo_in_qbo(synced: Synced) -> None:
    inv = synced.books.invoice("3", "100.00")
    await synced.cycle()
    synced.books.pay("3", "30.00", ("Invoice", inv["Id"], "30.00"))
    await synced.cycle()
    row = await synced.invoice(inv["Id"])
    assert (row["balance"], row["status"]) == (Decimal("70.00"), "partially_paid")
    memo = synced.books.create("CreditMemo", {"CustomerRef": {"value": "3"}, "Line": [
        {"Amount": "70.00", "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {}}]})
    synced.books.pay("3", "0", ("Invoice", inv["Id"], "70.00"), ("CreditMemo", memo["Id"], "70.00"))
    await synced.cycle()
    row = await synced.invoice(inv["Id"])
    assert (row["balance"], row["status"], row["amount"]) == (Decimal("0.00"), "paid", Decimal("100.00"))


async def test_void_in_qbo(synced: Synced) -> None:
    inv = synced.books.invoice("1", "80.00")
    await synced.cycle()
    current = synced.books.read("Invoice", inv["Id"])
    synced.books.update("Invoice", {"Id": inv["Id"], "SyncToken": current["SyncToken"]}, operation="void")
    _, summary = await synced.cycle()
    assert summary.voided == 1
    assert (await synced.invoice(inv["Id"]))["status"] == "void"


async def test_delete_in_qbo_archives(synced: Synced) -> None:
    inv = synced.books.invoice("1", "80.00")
    await synced.cycle()
    current = synced.books.read("Invoice", inv["Id"])
    r = synced.books.post("/invoice", {"Id": inv["Id"], "SyncToken": current["SyncToken"]}, operation="delete")
    assert r.status_code == 200, r.text
    _, summary = await synced.cycle()
    assert summary.archived == 1
    row = await synced.invoice(inv["Id"])
    assert row["archived"] is True and row["qbo_deleted"] is True and row["amount"] == Decimal("80.00")


async def test_delete_missed_while_cursor_blind_is_found_by_the_sweep(synced: Synced) -> None:
    await synced.pool.execute("UPDATE qbo_connections SET cdc_cursor = now() - interval '40 days' "
                              "WHERE partner_id = $1", synced.partner_id)
    current = synced.books.read("Invoice", "2")
    synced.books.post("/invoice", {"Id": "2", "SyncToken": current["SyncToken"]}, operation="delete")
    before = (await synced.calls())["by_operation"].get("cdc", 0)
    fetch, summary = await synced.cycle()
    assert (await synced.calls())["by_operation"].get("cdc", 0) == before  # no CDC beyond 29 days
    assert fetch.staged == 1 and summary.archived == 1
    assert (await synced.invoice("2"))["qbo_deleted"] is True


async def test_platform_created_records_untouched(synced: Synced) -> None:
    pid = synced.partner_id
    await synced.pool.execute("INSERT INTO customers (id, partner_id, source, name) VALUES ($1, $2, 'platform', "
                              "'Platform Person')", f"pc-{pid}", pid)
    await synced.pool.execute(
        "INSERT INTO invoices (id, partner_id, source, customer_id, amount, balance, status) "
        "VALUES ($1, $2, 'platform', $3, 10.00, 10.00, 'open')", f"pi-{pid}", pid, f"pc-{pid}")
    before = await synced.pool.fetch("SELECT * FROM invoices WHERE source = 'platform' AND partner_id = $1", pid)
    synced.books.customer("Platform Person")  # same name in QBO: never matched by name
    _sparse(synced, "Invoice", "1", DueDate="2032-02-02")
    await synced.cycle(full_sweep=True)
    after = await synced.pool.fetch("SELECT * FROM invoices WHERE source = 'platform' AND partner_id = $1", pid)
    assert [dict(r) for r in after] == [dict(r) for r in before]
    c = await synced.pool.fetchrow("SELECT * FROM customers WHERE id = $1", f"pc-{pid}")
    assert (c["source"], c["qbo_id"], c["updated_at"]) == ("platform", None, c["created_at"])


async def test_platform_archive_leaves_qbo_alone(synced: Synced) -> None:
    await synced.pool.execute("UPDATE invoices SET archived = true WHERE partner_id = $1 AND qbo_id = '4'",
                              synced.partner_id)
    qbo_before = synced.books.read("Invoice", "4")
    calls = await synced.calls()
    await synced.cycle()
    after = await synced.calls()
    assert after["by_operation"].get("cdc", 0) == calls["by_operation"].get("cdc", 0) + 1
    assert after["total"] == calls["total"] + 1  # the CDC call only: nothing written to QBO
    assert synced.books.read("Invoice", "4")["SyncToken"] == qbo_before["SyncToken"]
    assert (await synced.invoice("4"))["archived"] is True
