"""Our own postings changed in QBO by a bookkeeper (PRODUCT.md §3 last row): PostgreSQL, the emulator over
HTTP, the real sync and posting activities. Each case: the change is seen by the next cycle, the payment or
payout becomes `needs_attention` with the reason, one conflict is logged however often CDC shows it, the
invoice equals QBO, nothing is re-posted, and reconciliation counts it (and finds it before the sync did)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities.posting import PostingActivities
from rules.invoices import derive_balance_status
from rules.posting import payment_ref_num
from services.reconcile import reconcile
from tests.sync.conftest import Synced, make_synced
from workflows.models import PostingInput

D = Decimal


@pytest.fixture
async def s(connect, api, emu, db_pool, emulator_url) -> AsyncIterator[Synced]:
    synced = await make_synced(connect, api, emu, db_pool, emulator_url, customers=3, invoices=5, payments=0)
    await synced.full_backfill()
    yield synced
    synced.books.close()


async def _open_invoices(s: Synced, n: int) -> list[Any]:
    rows = await s.pool.fetch("SELECT id, qbo_id, balance FROM invoices WHERE partner_id = $1 AND status = 'open'"
                              " ORDER BY qbo_id::int LIMIT $2", s.partner_id, n)
    assert len(rows) == n
    return rows


async def _pay(s: Synced, invoice: Any) -> str:
    """A customer pays the whole invoice in the platform (what POST /payments does): pending, balance 0."""
    pid = f"pay-{uuid.uuid4().hex[:12]}"
    await s.pool.execute("INSERT INTO payments (id, partner_id, invoice_id, amount, currency, status)"
                         " VALUES ($1, $2, $3, $4, 'USD', 'pending')", pid, s.partner_id, invoice["id"],
                         invoice["balance"])
    await s.pool.execute("UPDATE invoices SET balance = 0, status = 'paid' WHERE id = $1", invoice["id"])
    return pid


async def _post(s: Synced, method: str = "post_payments"):
    acts = PostingActivities(s.pool, s.acts.qbo)
    return await ActivityEnvironment().run(getattr(acts, method), PostingInput(partner_id=s.partner_id))


async def _row(s: Synced, table: str, id_: str) -> Any:
    return await s.pool.fetchrow(f"SELECT * FROM {table} WHERE id = $1", id_)  # noqa: S608 (test-only table names)


async def _conflicts(s: Synced, platform_id: str) -> list[Any]:
    return await s.pool.fetch("SELECT * FROM sync_log WHERE partner_id = $1 AND platform_id = $2 AND kind = 'conflict'",
                              s.partner_id, platform_id)


async def _assert_invoice_equals_qbo(s: Synced, invoice: Any) -> None:
    live = s.books.read("Invoice", invoice["qbo_id"])
    row = await _row(s, "invoices", invoice["id"])
    expected = derive_balance_status(qbo_total=live["TotalAmt"], qbo_balance=live["Balance"], unposted=D(0),
                                     voided=False)
    assert (row["balance"], row["status"]) == (live["Balance"], expected.status.value)


async def _posted_and_settled(s: Synced) -> tuple[Any, str, dict]:
    """One open invoice paid in full through the platform, posted to QBO, and one sync cycle later."""
    invoice = (await _open_invoices(s, 1))[0]
    pid = await _pay(s, invoice)
    assert (await _post(s)).posted == 1
    _, summary = await s.cycle()
    assert summary.postings_changed_in_qbo == 0  # our own new Payment came back through CDC, unchanged
    row = await _row(s, "payments", pid)
    assert row["status"] == "posted" and row["qbo_sync_token"] == 0
    await _assert_invoice_equals_qbo(s, invoice)
    report = await reconcile(s.pool, s.acts.qbo, s.partner_id)
    assert (report["payments_checked"], report["payment_mismatches"], report["invoice_mismatches"]) == (1, 0, 0)
    return invoice, pid, s.books.read("Payment", row["qbo_payment_id"])


def _delete(s: Synced, qbo: dict) -> None:
    s.books.update("Payment", {"Id": qbo["Id"], "SyncToken": qbo["SyncToken"]}, operation="delete")


def _void(s: Synced, qbo: dict) -> None:
    s.books.update("Payment", {"Id": qbo["Id"], "SyncToken": qbo["SyncToken"], "sparse": True},
                   operation="update", include="void")


def _edit_amount(s: Synced, qbo: dict) -> None:
    less = qbo["TotalAmt"] - D("10.00")
    line = {**qbo["Line"][0], "Amount": less}
    s.books.update("Payment", {**qbo, "TotalAmt": less, "Line": [line]})


def _unapply(s: Synced, qbo: dict) -> None:
    s.books.update("Payment", {**qbo, "Line": []})  # same TotalAmt, now unapplied credit (qbo-reference §15.1)


@pytest.mark.parametrize(("change", "bookkeeper", "words"), [
    ("deleted", _delete, "was deleted in QuickBooks"),
    ("voided", _void, "was voided in QuickBooks"),
    ("amount_changed", _edit_amount, "amount was changed in QuickBooks"),
    ("amount_changed", _unapply, "now applies 0.00 instead of"),
])
async def test_bookkeeper_changes_our_payment(s: Synced, change: str, bookkeeper, words: str) -> None:
    invoice, pid, qbo = await _posted_and_settled(s)
    ref = payment_ref_num(pid)
    bookkeeper(s, qbo)

    # Reconciliation finds it before the sync does: the Payment and the invoice both disagree.
    before = await reconcile(s.pool, s.acts.qbo, s.partner_id)
    assert (before["payment_mismatches"], before["invoice_mismatches"]) == (1, 1), before["details"]

    _, summary = await s.cycle()
    assert summary.postings_changed_in_qbo == 1
    row = await _row(s, "payments", pid)
    assert (row["status"], row["qbo_change"], row["qbo_payment_id"]) == ("needs_attention", change, qbo["Id"])
    assert f"QBO Payment {qbo['Id']} {words}" in row["attention_reason"]
    assert "not re-posted" in row["attention_reason"]
    await _assert_invoice_equals_qbo(s, invoice)
    assert (await _row(s, "invoices", invoice["id"]))["status"] != "paid"

    # The next cycles (CDC overlap shows the same change again) and postings change and log nothing more.
    for _ in range(2):
        _, again = await s.cycle()
        assert again.postings_changed_in_qbo == 0
        posting = await _post(s)
        assert (posting.posted, posting.qbo_calls) == (0, 0)
    conflicts = await _conflicts(s, pid)
    assert len(conflicts) == 1 and conflicts[0]["qbo_id"] == qbo["Id"] and conflicts[0]["entity"] == "Payment"
    still = s.books.query(f"SELECT * FROM Payment WHERE PaymentRefNum = '{ref}'").get("Payment", [])
    assert len(still) == (0 if change == "deleted" else 1)  # never re-posted

    # A later edit of the invoice in QBO is applied again: the flagged payment is not "unposted" money.
    live = s.books.read("Invoice", invoice["qbo_id"])
    s.books.update("Invoice", {"Id": live["Id"], "SyncToken": live["SyncToken"], "sparse": True,
                               "PrivateNote": "checked by the bookkeeper"})
    _, later = await s.cycle()
    assert later.updated == 1
    await _assert_invoice_equals_qbo(s, invoice)

    after = await reconcile(s.pool, s.acts.qbo, s.partner_id)
    assert (after["invoice_mismatches"], after["payment_mismatches"], after["payments_changed_in_qbo"]) == (0, 0, 1)
    flagged = [d for d in after["details"] if d["kind"] == "changed_in_qbo"]
    assert [(d["id"], d["change"]) for d in flagged] == [(pid, change)]


async def _deposited(s: Synced) -> tuple[str, list[str], dict]:
    """Two invoices paid through the platform, posted, one payout with a 5.00 fee deposited, one cycle later."""
    bank = s.books.query("SELECT * FROM Account WHERE AccountType = 'Bank'")["Account"][0]["Id"]
    await s.pool.execute("UPDATE qbo_connections SET preferences = $2 WHERE partner_id = $1", s.partner_id,
                         {"create_deposits": True, "deposit_account_id": bank})
    pids = [await _pay(s, inv) for inv in await _open_invoices(s, 2)]
    assert (await _post(s)).posted == 2
    oid = f"po-{uuid.uuid4().hex[:10]}"
    gross = await s.pool.fetchval("SELECT sum(amount) FROM payments WHERE id = ANY($1)", pids)
    await s.pool.execute("INSERT INTO payouts (id, partner_id, gross_amount, fee_amount, net_amount, status)"
                         " VALUES ($1, $2, $3, 5.00, $4, 'pending')", oid, s.partner_id, gross, gross - D("5.00"))
    await s.pool.executemany("INSERT INTO payout_payments (payout_id, payment_id) VALUES ($1, $2)",
                             [(oid, p) for p in pids])
    assert (await _post(s, "create_deposits")).deposited == 1
    _, summary = await s.cycle()
    assert summary.postings_changed_in_qbo == 0
    row = await _row(s, "payouts", oid)
    assert row["status"] == "deposited" and row["qbo_sync_token"] == 0
    return oid, pids, s.books.read("Deposit", row["qbo_deposit_id"])


def _delete_deposit(s: Synced, dep: dict) -> None:
    s.books.update("Deposit", {"Id": dep["Id"], "SyncToken": dep["SyncToken"]}, operation="delete")


def _edit_deposit_fee(s: Synced, dep: dict) -> None:
    lines = [{**ln, "Amount": D("-7.00")} if ln.get("DetailType") else ln for ln in dep["Line"]]
    s.books.update("Deposit", {**dep, "Line": lines})


@pytest.mark.parametrize(("change", "bookkeeper", "words"), [
    ("deleted", _delete_deposit, "was deleted in QuickBooks"),
    ("amount_changed", _edit_deposit_fee, "amount was changed in QuickBooks"),
])
async def test_bookkeeper_changes_our_deposit(s: Synced, change: str, bookkeeper, words: str) -> None:
    oid, pids, dep = await _deposited(s)
    bookkeeper(s, dep)
    _, summary = await s.cycle()
    assert summary.postings_changed_in_qbo == 1
    row = await _row(s, "payouts", oid)
    assert (row["status"], row["qbo_change"], row["qbo_deposit_id"]) == ("needs_attention", change, dep["Id"])
    assert f"QBO Deposit {dep['Id']} {words}" in row["attention_reason"]
    statuses = await s.pool.fetch("SELECT status FROM payments WHERE id = ANY($1)", pids)
    assert [r["status"] for r in statuses] == ["posted", "posted"]  # the Payments themselves still stand

    for _ in range(2):
        _, again = await s.cycle()
        assert again.postings_changed_in_qbo == 0
        assert (await _post(s, "create_deposits")).deposited == 0
    assert len(await _conflicts(s, oid)) == 1
    deposits = s.books.query("SELECT * FROM Deposit").get("Deposit", [])
    assert len(deposits) == (0 if change == "deleted" else 1)  # never re-created

    report = await reconcile(s.pool, s.acts.qbo, s.partner_id)
    assert (report["payouts_changed_in_qbo"], report["deposit_mismatches"], report["invoice_mismatches"]) == (1, 0, 0)
    assert report["payment_mismatches"] == 0


@pytest.mark.parametrize("path, change", [("daily_sweep", "deleted"), ("cursor_too_old", "deleted"),
                                          ("cursor_too_old", "voided")])
async def test_sweep_cycles_still_see_a_changed_payment(s: Synced, path: str, change: str) -> None:
    """A sweep cycle asks CDC nothing for invoices: Payments and Deposits are asked by CDC alone, or, with a
    cursor too old for CDC, looked up by Id (a missing Id is a delete; a Payment QBO still has is staged as
    QBO sent it, `stage_by_lookup`, so a void is seen as a void)."""
    invoice, pid, qbo = await _posted_and_settled(s)
    (_delete if change == "deleted" else _void)(s, qbo)
    if path == "cursor_too_old":
        await s.pool.execute("UPDATE qbo_connections SET cdc_cursor = now() - interval '40 days'"
                             " WHERE partner_id = $1", s.partner_id)
    before = (await s.calls())["by_operation"]
    _, summary = await s.cycle(full_sweep=True)
    assert summary.postings_changed_in_qbo == 1
    row = await _row(s, "payments", pid)
    assert (row["status"], row["qbo_change"]) == ("needs_attention", change)
    if change == "deleted":
        await _assert_invoice_equals_qbo(s, invoice)
    after = (await s.calls())["by_operation"]
    assert after.get("cdc", 0) - before.get("cdc", 0) == (1 if path == "daily_sweep" else 0)


async def test_invoice_voided_in_qbo_leaves_our_payment_standing(s: Synced) -> None:
    """Voiding the invoice unapplies its payments by itself: the invoice's conflict covers it, our Payment is
    not flagged as changed (it still exists with its amount)."""
    invoice, pid, _ = await _posted_and_settled(s)
    live = s.books.read("Invoice", invoice["qbo_id"])
    s.books.update("Invoice", {"Id": live["Id"], "SyncToken": live["SyncToken"]}, operation="void")
    _, summary = await s.cycle()
    assert summary.postings_changed_in_qbo == 0 and summary.conflicts == 1
    assert (await _row(s, "payments", pid))["status"] == "posted"
    assert (await _row(s, "invoices", invoice["id"]))["status"] == "void"
    report = await reconcile(s.pool, s.acts.qbo, s.partner_id)
    assert (report["payment_mismatches"], report["payments_changed_in_qbo"], report["invoice_mismatches"]) == (0, 0, 0)


@pytest.mark.parametrize("bookkeeper", [_delete, _void], ids=["deleted", "voided"])
async def test_retry_after_a_bookkeeper_removed_our_payment_posts_it_again_once(s: Synced, bookkeeper) -> None:
    """The dashboard's retry once the bookkeeper's change is understood (PRODUCT.md §6): a new QBO Payment,
    exactly one, never the voided one "found" again by its PaymentRefNum."""
    from store import attention_repo

    invoice, pid, qbo = await _posted_and_settled(s)
    bookkeeper(s, qbo)
    await s.cycle()
    assert (await _row(s, "payments", pid))["status"] == "needs_attention"

    assert await attention_repo.retry(s.pool, s.partner_id, "payments", pid) == "queued"
    queued = await _row(s, "payments", pid)
    assert (queued["status"], queued["qbo_change"], queued["qbo_payment_id"]) == ("pending", None, None)
    for _ in range(2):  # a second run finds nothing left to do
        await _post(s)
    row = await _row(s, "payments", pid)
    assert row["status"] == "posted" and row["qbo_payment_id"] != qbo["Id"], dict(row)
    standing = [p for p in s.books.query(f"SELECT * FROM Payment WHERE PaymentRefNum = '{payment_ref_num(pid)}'")
                .get("Payment", []) if p["TotalAmt"] != 0]
    assert [p["Id"] for p in standing] == [row["qbo_payment_id"]]
    await s.cycle()
    assert (await _row(s, "payments", pid))["status"] == "posted"
    await _assert_invoice_equals_qbo(s, invoice)
