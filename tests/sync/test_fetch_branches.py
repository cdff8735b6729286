"""fetch_changes and apply_staged branches no other test reaches (issue 18): a failed fetch recorded on its
sync run, Account changes arriving by CDC, a truncated CDC answer followed by the ids-only sweep, an
unreadable staged payload logged while the rest applies, and the CDC overlap window. Real PostgreSQL, the
emulator over HTTP (faults and switches through its admin endpoints), the activities in ActivityEnvironment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from activities.sync import CDC_OVERLAP, SyncActivities
from qbo.jsonio import dumps
from store import sync_repo
from tests.sync.conftest import Synced, make_synced


async def _cursor(s: Synced) -> datetime:
    return await s.pool.fetchval("SELECT cdc_cursor FROM qbo_connections WHERE partner_id = $1", s.partner_id)


async def test_a_failed_fetch_is_recorded_on_its_sync_run(synced: Synced) -> None:
    """QBO down for the CDC call: the activity fails (Temporal retries it), and the run it opened is closed
    `failed` with the error as Temporal sees it; the cursor stays, so the retry asks for the same window."""
    await synced.cycle()
    cursor, synced_at = await _cursor(synced), await synced.pool.fetchval(
        "SELECT last_synced_at FROM qbo_connections WHERE partner_id = $1", synced.partner_id)
    await synced.emu.faults(synced.realm_id, rate_503=1.0)
    try:
        with pytest.raises(Exception) as failed:
            await synced.fetch()
    finally:
        await synced.emu.faults(synced.realm_id)
    assert "QboServerError" in f"{type(failed.value).__name__} {getattr(failed.value, 'type', '')}"
    run = await synced.pool.fetchrow("SELECT * FROM sync_runs WHERE partner_id = $1 ORDER BY id DESC LIMIT 1",
                                     synced.partner_id)
    assert run["status"] == "failed" and run["finished_at"] is not None and run["errors"] == 1
    assert run["error"].startswith("fetch failed: QboServerError: "), run["error"]
    assert await _cursor(synced) == cursor
    assert await synced.pool.fetchval("SELECT last_synced_at FROM qbo_connections WHERE partner_id = $1",
                                      synced.partner_id) == synced_at, "a failed fetch is not a sync"
    again = await synced.fetch()  # QBO back: the next attempt opens a new run and succeeds
    assert again.sync_run_id != run["id"]


async def test_account_changes_arrive_by_cdc(synced: Synced) -> None:
    """An account created, then renamed, in QBO: the same CDC request that carries invoices brings it, the
    stored accounts follow, and the fetch says so (the workflow then reloads the dropdowns)."""
    await synced.cycle()  # the seed's accounts, seen once
    assert not (await synced.fetch()).accounts_changed
    created = synced.books.create("Account", {"Name": "Second Checking", "AccountType": "Bank"})
    fetch = await synced.fetch()
    assert fetch.accounts_changed and fetch.staged == 0
    row = await synced.pool.fetchrow("SELECT name, account_type, active FROM qbo_accounts "
                                     "WHERE partner_id = $1 AND qbo_id = $2", synced.partner_id, created["Id"])
    assert dict(row) == {"name": "Second Checking", "account_type": "Bank", "active": True}
    synced.books.update("Account", {**created, "Name": "Operating Checking", "sparse": True})
    assert (await synced.fetch()).accounts_changed
    assert await synced.pool.fetchval("SELECT name FROM qbo_accounts WHERE partner_id = $1 AND qbo_id = $2",
                                      synced.partner_id, created["Id"]) == "Operating Checking"
    assert not (await synced.fetch()).accounts_changed  # seen again in the overlap, unchanged: not a change


async def test_a_truncated_cdc_answer_is_followed_by_the_ids_only_sweep(connect, api, emu, db_pool, settings,
                                                                       emulator_url) -> None:
    """More changes than QBO's cap (here 5, the emulator and the client set alike): the answer keeps the
    oldest, so the newest change, a delete, is cut. The changes still arrive (the client's paged fallback)
    and the ids-only sweep finds the deleted invoice gone: archived, nothing staged twice."""
    from qbo.client import QboApi

    s = await make_synced(connect, api, emu, db_pool, emulator_url, customers=2, invoices=4)
    capped = QboApi(settings, db_pool, cdc_cap=5)
    try:
        s.acts = SyncActivities(db_pool, capped)
        await s.full_backfill()
        await s.cycle()
        await emu.config(s.realm_id, cdc_max_objects=5, cdc_overflow="truncate")
        new = [s.books.invoice("1", f"{10 + i}.00")["Id"] for i in range(6)]
        gone = s.books.read("Invoice", "2")
        deleted = s.books.post("/invoice", {"Id": "2", "SyncToken": gone["SyncToken"]}, operation="delete")
        assert deleted.status_code == 200, deleted.text
        queries = (await s.calls())["by_operation"].get("query", 0)
        fetch, summary = await s.cycle()
    finally:
        await emu.config(s.realm_id, cdc_max_objects=1000)
        await capped.aclose()
        s.books.close()
    assert (await s.calls())["by_operation"]["query"] > queries + 1, "no paged fallback and sweep"
    assert fetch.staged == 7 and (summary.created, summary.archived, summary.remaining) == (6, 1, 0)
    assert [i for i in new if await s.invoice(i) is None] == []
    assert (await s.invoice("2"))["qbo_deleted"] is True


async def test_an_unreadable_staged_payload_is_logged_and_the_rest_applies(synced: Synced) -> None:
    """One staged invoice QBO sent in a shape the rules can't read: logged as an `error` with its id and
    version, dropped from staging; the good change beside it is applied in the same batch."""
    good = synced.books.invoice("1", "42.00")
    broken = sync_repo.StagedObject("9001", 3, None, False, dumps({"Id": "9001", "SyncToken": "3",
                                                                   "TotalAmt": "lots", "Balance": []}))
    fetch = await synced.fetch()
    async with synced.pool.acquire() as conn:
        await sync_repo.stage(conn, synced.partner_id, synced.realm_id, "Invoice", [broken])
    summary = await synced.apply(fetch.sync_run_id)
    assert (summary.created, summary.remaining) == (1, 0)
    assert (await synced.invoice(good["Id"]))["amount"] == good["TotalAmt"]
    assert await synced.invoice("9001") is None
    log = await synced.pool.fetch("SELECT kind, entity, qbo_id, sync_run_id, reason, details FROM sync_log "
                                  "WHERE partner_id = $1 AND qbo_id = '9001'", synced.partner_id)
    assert len(log) == 1 and (log[0]["kind"], log[0]["entity"], log[0]["sync_run_id"]) == \
        ("error", "Invoice", fetch.sync_run_id)
    assert log[0]["reason"].startswith("unreadable QBO payload: ") and log[0]["details"] == {"sync_token": "3"}


async def test_cdc_asks_from_five_minutes_before_the_cursor(synced: Synced) -> None:
    """The cursor is QBO's server time of the last answer; a change committed just before it but made
    visible late would be missed by asking from the cursor itself (qbo-reference §4). A change 4 minutes
    before the cursor is fetched; one 6 minutes before it was fetched by an earlier cycle and is not."""
    assert CDC_OVERLAP == timedelta(minutes=5)
    await synced.cycle()
    inv = synced.books.invoice("1", "33.00")
    changed = datetime.fromisoformat(inv["MetaData"]["LastUpdatedTime"]).astimezone(UTC)

    async def fetch_with_cursor(offset: timedelta) -> int:
        await synced.pool.execute("UPDATE qbo_connections SET cdc_cursor = $2 WHERE partner_id = $1",
                                  synced.partner_id, changed + offset)
        await synced.pool.execute("DELETE FROM qbo_staging WHERE partner_id = $1", synced.partner_id)
        return (await synced.fetch()).staged

    assert await fetch_with_cursor(timedelta(minutes=6)) == 0
    assert await fetch_with_cursor(timedelta(minutes=4)) == 1
