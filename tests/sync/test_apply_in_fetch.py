"""fetch_changes applying a few changes itself (`apply_small_changes`, the workflow's "cycle-applies-in-fetch"
patch): the same rows and the same recorded counts as fetch, apply_staged and finish_sync_run one after the
other; a retry after the apply applies and counts nothing twice; a retry after an attempt that died between
staging and applying applies what that attempt staged; more than fits is left to apply_staged."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from activities import sync as sync_module
from activities.sync import SyncActivities
from tests.sync.conftest import Synced, make_synced
from workflows.models import ApplySummary, FetchResult, SyncRunStart


class Crash(Exception):
    pass


async def _fetch_applying(s: Synced) -> FetchResult:
    return await s.run(s.acts.fetch_changes, SyncRunStart(partner_id=s.partner_id, trigger="test",
                                                          apply_small_changes=True))


async def _run(s: Synced, run_id: int):
    return await s.pool.fetchrow("SELECT status, counts, error, finished_at FROM sync_runs WHERE id = $1", run_id)


async def _staged(s: Synced) -> int:
    return int(await s.pool.fetchval("SELECT count(*) FROM qbo_staging WHERE partner_id = $1", s.partner_id))


async def _rows(s: Synced) -> list[tuple]:
    rows = await s.pool.fetch("SELECT qbo_id, qbo_sync_token, amount, balance, status, archived, due_date "
                              "FROM invoices WHERE partner_id = $1 ORDER BY qbo_id", s.partner_id)
    return [tuple(r) for r in rows]


def _bookkeeper_edits(s: Synced) -> None:
    """A webhook's worth: a new invoice, a new customer, an existing invoice's due date."""
    s.books.invoice("1", "55.55")
    s.books.customer("Apply In Fetch")
    inv = s.books.read("Invoice", "1")
    s.books.update("Invoice", {"Id": "1", "SyncToken": inv["SyncToken"], "sparse": True, "DueDate": "2031-01-31"})


async def _two_synced(connect, api, emu, db_pool, emulator_url) -> tuple[Synced, Synced]:
    pair = []
    for _ in range(2):
        s = await make_synced(connect, api, emu, db_pool, emulator_url, customers=4, invoices=6, payments=0,
                              random_seed=21)
        await s.full_backfill()
        await s.cycle()  # the first cycle after the backfill may see the seed's accounts
        pair.append(s)
    return pair[0], pair[1]


async def test_same_rows_and_counts_as_three_activities(connect, api, emu, db_pool, emulator_url) -> None:
    old, new = await _two_synced(connect, api, emu, db_pool, emulator_url)
    assert await _rows(old) == await _rows(new)
    for s in (old, new):
        _bookkeeper_edits(s)

    # Before the patch: fetch, apply_staged, then finish_sync_run with the counts the workflow built so.
    fetched = await old.fetch()
    assert (await _run(old, fetched.sync_run_id))["finished_at"] is None and fetched.applied is None
    summary = await old.apply(fetched.sync_run_id)
    expected = {"staged": fetched.staged} | {k: v for k, v in summary.model_dump().items() if v}
    assert expected["staged"] == 3 and expected["created"] == 2 and expected["updated"] == 1

    result = await _fetch_applying(new)
    assert result.applied == summary and result.run_finished and result.staged == fetched.staged
    run = await _run(new, result.sync_run_id)
    assert (run["status"], run["counts"], run["error"]) == ("succeeded", expected, None)
    assert await _staged(new) == 0
    assert await _rows(new) == await _rows(old)
    assert (await new.invoice("1"))["due_date"].isoformat() == "2031-01-31"
    old.books.close()
    new.books.close()


async def test_a_retry_after_the_apply_applies_and_counts_nothing_twice(synced: Synced) -> None:
    await synced.cycle()
    _bookkeeper_edits(synced)
    first = await _fetch_applying(synced)
    assert first.applied is not None and first.applied.created == 2 and first.applied.updated == 1
    rows, logged = await _rows(synced), await synced.pool.fetchval(
        "SELECT count(*) FROM sync_log WHERE partner_id = $1", synced.partner_id)
    # The attempt's result is lost (the worker died as it returned): Temporal runs the activity again. It
    # re-reads the same changes (the CDC overlap) and finds them the platform's already.
    synced.acts = SyncActivities(synced.pool, synced.acts.qbo)
    again = await _fetch_applying(synced)
    assert again.staged == 0 and again.applied == ApplySummary() and again.run_finished
    assert (await _run(synced, again.sync_run_id))["counts"] == {"staged": 0}
    assert (await _run(synced, first.sync_run_id))["counts"] == {"staged": 3, "created": 2, "updated": 1}
    assert await _rows(synced) == rows
    assert await synced.pool.fetchval("SELECT count(*) FROM sync_log WHERE partner_id = $1",
                                      synced.partner_id) == logged


async def test_a_retry_applies_what_a_dead_attempt_staged(synced: Synced) -> None:
    await synced.cycle()
    _bookkeeper_edits(synced)

    async def die(entity: str) -> None:
        raise Crash(f"worker killed applying {entity}s")

    synced.acts.after_snapshot = die
    with pytest.raises(Crash):
        await _fetch_applying(synced)
    failed = await synced.pool.fetchrow("SELECT * FROM sync_runs WHERE partner_id = $1 ORDER BY id DESC LIMIT 1",
                                        synced.partner_id)
    assert failed["status"] == "failed" and failed["error"].startswith("apply failed: worker killed")
    assert await _staged(synced) == 3  # the apply's transaction rolled back; the staging committed

    synced.acts = SyncActivities(synced.pool, synced.acts.qbo)  # the retry, on a fresh worker
    retry = await _fetch_applying(synced)
    # Nothing new to stage (the versions wait already), yet all three are applied, and the run says so.
    assert retry.staged == 0 and retry.applied is not None
    assert (retry.applied.created, retry.applied.updated, retry.applied.remaining) == (2, 1, 0)
    assert (await _run(synced, retry.sync_run_id))["counts"] == {"staged": 0, "created": 2, "updated": 1}
    assert await _staged(synced) == 0
    assert (await synced.invoice("1"))["due_date"].isoformat() == "2031-01-31"


async def test_more_than_fits_is_left_to_apply_staged(synced: Synced, monkeypatch) -> None:
    await synced.cycle()
    monkeypatch.setattr(sync_module, "APPLY_IN_FETCH", 2)
    _bookkeeper_edits(synced)
    result = await _fetch_applying(synced)
    assert result.staged == 3 and result.applied is None and not result.run_finished
    assert (await _run(synced, result.sync_run_id))["finished_at"] is None
    assert await _staged(synced) == 3
    assert (await synced.apply(result.sync_run_id)).created == 2


async def test_pending_payments_leave_the_run_to_the_workflow(synced: Synced) -> None:
    await synced.cycle()
    inv = await synced.pool.fetchrow("SELECT id FROM invoices WHERE partner_id = $1 AND status = 'open' "
                                     "AND balance > 10 ORDER BY qbo_id LIMIT 1", synced.partner_id)
    await synced.pool.execute("INSERT INTO payments (id, partner_id, invoice_id, amount, currency, status)"
                              " VALUES ('pay-apply-in-fetch', $1, $2, 5.00, 'USD', 'pending')",
                              synced.partner_id, inv["id"])
    _bookkeeper_edits(synced)
    result = await _fetch_applying(synced)
    # Applied (the posting that follows sees the new invoices), but the run is recorded after the posting.
    assert result.applied is not None and result.applied.created == 2 and result.pending_payments == 1
    assert not result.run_finished and (await _run(synced, result.sync_run_id))["finished_at"] is None


async def test_a_change_that_clears_a_parked_payment_is_posted_by_the_same_cycle(synced: Synced) -> None:
    """A payment parked because QBO's invoice balance was too low (the bookkeeper had recorded a payment on
    it in QBO by mistake); they delete that payment, QBO's balance is back. The cycle that applies the
    invoice's new version reports the parked payment pending (store/attention_repo.py requeues it), so the
    workflow posts it in that cycle: counted before the apply, it was reported by the next cycle only (an
    interval later when no webhook comes)."""
    s = synced
    await s.cycle()  # the first cycle after the backfill may see the seed's accounts
    invoice = await s.invoice("1")
    assert invoice["status"] == "open" and invoice["balance"] > 1
    theirs = s.books.pay(invoice["qbo_customer_id"], str(invoice["balance"] - 1 / D(2)),
                         ("Invoice", "1", str(invoice["balance"] - 1 / D(2))))
    await _fetch_applying(s)
    assert (await s.invoice("1"))["balance"] == D("0.50")
    await s.pool.execute(
        "INSERT INTO payments (id, partner_id, invoice_id, amount, currency, status, attention_code,"
        " attention_reason, attention_at) VALUES ($1, $2, $3, 1.00, 'USD', 'needs_attention',"
        " 'invoice_balance_too_low', 'QuickBooks has 0.50 open on the invoice', now())",
        f"pay-cleared-{s.partner_id}", s.partner_id, invoice["id"])
    untouched = await _fetch_applying(s)
    assert (untouched.staged, untouched.pending_payments, untouched.run_finished) == (0, 0, True)

    s.books.post("/payment", {"Id": theirs["Id"], "SyncToken": theirs["SyncToken"]}, operation="delete")
    result = await _fetch_applying(s)
    assert result.applied is not None and result.applied.updated == 1
    assert (await s.invoice("1"))["balance"] == invoice["balance"] - 1, "QBO's balance less the parked payment"
    assert result.pending_payments == 1, "the cleared payment is posted by this cycle, not the next"
    assert not result.run_finished, "the posting still follows: the workflow records the run"
    assert (await _run(s, result.sync_run_id))["status"] == "running"


@pytest.mark.parametrize("batch", [2, 3])
async def test_apply_goes_on_batch_after_batch_until_one_is_short(synced: Synced, monkeypatch, batch: int) -> None:
    """Five changed invoices, batches of 2 (2, 2, 1: the short one ends it) or of 3 (3, 2): every one is
    applied and nothing is left staged, whether the last batch is short or not."""
    await synced.cycle()
    monkeypatch.setattr(sync_module, "APPLY_BATCH", batch)
    for qbo_id in ("1", "2", "3", "4", "5"):
        inv = synced.books.read("Invoice", qbo_id)
        synced.books.update("Invoice", {"Id": qbo_id, "SyncToken": inv["SyncToken"], "sparse": True,
                                        "DocNumber": f"B-{qbo_id}"})
    fetch = await synced.run(synced.acts.fetch_changes, SyncRunStart(partner_id=synced.partner_id, trigger="test"))
    assert fetch.staged == 5 and fetch.applied is None
    summary = await synced.apply(fetch.sync_run_id)
    assert (summary.updated, summary.remaining) == (5, 0)
    docs = await synced.pool.fetch("SELECT qbo_id, doc_number FROM invoices WHERE partner_id = $1 AND qbo_id IN "
                                   "('1', '2', '3', '4', '5')", synced.partner_id)
    assert {r["qbo_id"]: r["doc_number"] for r in docs} == {q: f"B-{q}" for q in ("1", "2", "3", "4", "5")}
