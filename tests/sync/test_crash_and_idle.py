"""Crashes lose nothing and duplicate nothing; an idle cycle costs one QBO call."""

from __future__ import annotations

import pytest

from activities.sync import SyncActivities
from tests.sync.conftest import Synced, make_synced


class Crash(Exception):
    pass


async def _rows(s: Synced) -> list[tuple]:
    rows = await s.pool.fetch("SELECT id, qbo_id, qbo_sync_token, amount, balance, status, archived "
                              "FROM invoices WHERE partner_id = $1 ORDER BY id", s.partner_id)
    return [tuple(r) for r in rows]


async def test_crash_between_fetch_and_apply(synced: Synced) -> None:
    new = synced.books.invoice("1", "55.55")
    synced.books.customer("Crash Test Dummy")
    first = await synced.fetch()
    assert first.staged == 2
    # The worker dies here; the retried cycle fetches again (same versions: nothing new staged) and applies.
    synced.acts = SyncActivities(synced.pool, synced.acts.qbo)
    again = await synced.fetch()
    assert again.staged == 0
    assert await synced.pool.fetchval("SELECT count(*) FROM qbo_staging WHERE partner_id = $1",
                                      synced.partner_id) == 2
    summary = await synced.apply(first.sync_run_id)
    assert (summary.created, summary.remaining) == (2, 0)
    assert (await synced.invoice(new["Id"]))["amount"] == new["TotalAmt"]
    rows = await _rows(synced)
    assert (await synced.apply()).model_dump() == {k: 0 for k in summary.model_dump()}
    assert await _rows(synced) == rows and len(rows) == 7


async def test_backfill_killed_mid_chunk_resumes(connect, api, emu, db_pool, emulator_url) -> None:
    s = await make_synced(connect, api, emu, db_pool, emulator_url, page_size=10, customers=3, invoices=45)
    await s.full_backfill()  # customers and invoices in one go first, for the reference rows
    reference = await _rows(s)

    s2 = await make_synced(connect, api, emu, db_pool, emulator_url, page_size=10, customers=3, invoices=45)
    while not (await s2.backfill("Customer")).finished:
        pass
    await s2.apply()

    async def die_after_two(entity: str, pages: int) -> None:
        if pages == 2:
            raise Crash("worker killed")

    s2.acts.after_page = die_after_two
    queries_before = (await s2.calls())["by_operation"].get("query", 0)
    with pytest.raises(Crash):
        await s2.backfill("Invoice")
    progress = await db_pool.fetchrow("SELECT * FROM backfill_progress WHERE partner_id = $1 AND entity = 'Invoice'",
                                      s2.partner_id)
    assert (progress["next_position"], progress["fetched"], progress["total"]) == (21, 20, 45)
    s2.acts = SyncActivities(db_pool, api, page_size=10)  # a fresh worker
    chunk = await s2.backfill("Invoice")
    # The two pages before the crash committed with their position; the last three are inserted now, every
    # invoice new, so none is left staged.
    assert chunk.finished and (chunk.fetched_total, chunk.total, chunk.applied, chunk.staged) == (45, 45, 25, 0)
    # count + 2 pages before the crash, then the 3 remaining pages; the pipeline may also have fetched the two
    # pages after the last one written (one being decided, one requested ahead): at most those are read twice.
    assert (await s2.calls())["by_operation"]["query"] - queries_before in (1 + 2 + 3, 1 + 3 + 3, 1 + 4 + 3)
    summary = await s2.apply()
    assert summary.created == 0 and summary.remaining == 0
    mine = await _rows(s2)
    assert len(mine) == len({r[1] for r in mine}) == 45
    assert sorted(r[1:3] for r in mine) == sorted(r[1:3] for r in reference)
    assert (await s2.backfill("Invoice")).finished  # finished stays finished, no QBO call
    s.books.close()
    s2.books.close()


async def test_idle_fetch_is_one_call_and_finishes_its_run(synced: Synced) -> None:
    await synced.cycle()  # the first cycle after the backfill may see the seed's accounts
    before = await synced.calls()
    fetch = await synced.fetch()
    after = await synced.calls()
    assert after["total"] - before["total"] == 1
    assert after["by_operation"]["cdc"] - before["by_operation"]["cdc"] == 1
    assert (fetch.staged, fetch.accounts_changed, fetch.pending_payments, fetch.pending_payouts) == (0, False, 0, 0)
    run = await synced.pool.fetchrow("SELECT * FROM sync_runs WHERE id = $1", fetch.sync_run_id)
    assert run["status"] == "succeeded" and run["finished_at"] is not None
    assert await synced.pool.fetchval("SELECT last_synced_at FROM qbo_connections WHERE partner_id = $1",
                                      synced.partner_id) is not None


async def test_finish_sync_run_counts_conflicts(synced: Synced) -> None:
    from workflows.models import FinishSyncRun

    fetch = await synced.fetch()
    await synced.pool.execute(
        "INSERT INTO sync_log (partner_id, sync_run_id, kind, entity, qbo_id, reason) "
        "VALUES ($1, $2, 'conflict', 'Invoice', '1', 'test')", synced.partner_id, fetch.sync_run_id)
    await synced.run(synced.acts.finish_sync_run, FinishSyncRun(partner_id=synced.partner_id,
                                                               sync_run_id=fetch.sync_run_id, counts={"staged": 1}))
    run = await synced.pool.fetchrow("SELECT * FROM sync_runs WHERE id = $1", fetch.sync_run_id)
    assert (run["status"], run["conflicts"], run["counts"]) == ("succeeded", 1, {"staged": 1})
