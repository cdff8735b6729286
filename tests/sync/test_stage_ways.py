"""Staging's two ways (store/sync_repo.py `stage`): up to STAGE_BY_PARAMETERS versions in one statement (a
sync cycle's CDC answer), more by COPY through a temporary table (a page). Both keep exactly the same versions:
the platform's known versions skipped, a version already staged once, tombstones, payloads to the digit."""

from __future__ import annotations

from decimal import Decimal

import pytest

from activities.backfill import raw_to_staged
from qbo.jsonio import loads
from store import sync_repo
from tests.sync.conftest import Synced


async def _staged(s: Synced) -> list[tuple]:
    rows = await s.pool.fetch("SELECT qbo_id, sync_token, last_updated, deleted, payload::text FROM qbo_staging "
                              "WHERE partner_id = $1 ORDER BY qbo_id, sync_token", s.partner_id)
    return [tuple(r) for r in rows]


async def test_both_ways_stage_the_same_versions(synced: Synced, monkeypatch: pytest.MonkeyPatch) -> None:
    company = synced.acts.qbo.company(synced.partner_id)
    known = [raw_to_staged(o) async for p in company.raw_pages("Invoice") for o in p.items]
    assert len(known) == 6
    first, second = known[0], known[1]
    newer = sync_repo.StagedObject(first.qbo_id, first.sync_token + 1, first.last_updated, False, first.payload)
    gone = sync_repo.StagedObject(second.qbo_id, sync_repo.TOMBSTONE_TOKEN, None, True,
                                  f'{{"domain":"QBO","status":"Deleted","Id":"{second.qbo_id}"}}')
    unseen = sync_repo.StagedObject("9001", 4, None, False, '{"Id":"9001","SyncToken":"4","TotalAmt":'
                                                            '1234567890123456.78,"Balance":1.5E+3}')
    objects = [*known, newer, gone, unseen, unseen, newer]  # the platform's 6, 3 new ones, 2 repeated
    results = []
    for limit in (len(objects), len(objects) - 1):  # all in one statement, then one object too many: COPY
        monkeypatch.setattr(sync_repo, "STAGE_BY_PARAMETERS", limit)
        async with synced.pool.acquire() as conn, conn.transaction():
            count = await sync_repo.stage(conn, synced.partner_id, synced.realm_id, "Invoice", objects)
            count += await sync_repo.stage(conn, synced.partner_id, synced.realm_id, "Invoice", objects)  # again
        results.append((count, await _staged(synced)))
        await synced.pool.execute("DELETE FROM qbo_staging WHERE partner_id = $1", synced.partner_id)
    assert results[0] == results[1]
    count, rows = results[0]
    assert count == 3 and [(r[0], r[1], r[3]) for r in rows] == [
        (first.qbo_id, first.sync_token + 1, False), (second.qbo_id, sync_repo.TOMBSTONE_TOKEN, True),
        ("9001", 4, False)]
    payload = loads(rows[2][4])
    assert (payload["TotalAmt"], payload["Balance"]) == (Decimal("1234567890123456.78"), Decimal("1.5E+3"))
