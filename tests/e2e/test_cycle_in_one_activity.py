"""The usual webhook cycle in one activity (the "cycle-applies-in-fetch" patch), with the real workflow and
activities, Temporal, PostgreSQL and the emulator over HTTP: a bookkeeper's edit reaches the platform by
`fetch_changes` alone, a cycle with payments to post still posts them (and records the run after them), and
what `status` adds up is what the sync run recorded."""

from __future__ import annotations

import uuid

import httpx
from temporalio.client import WorkflowHandle

from bench.common import activity_type
from starter import partners
from tests.helpers import eventually
from tests.workflows import probes
from worker import build_worker
from workflows.models import IntegrationState


async def _onboarded(handle: WorkflowHandle):
    await probes.state_is(handle, IntegrationState.ACTIVE)
    return await probes.synced(handle)


async def _edit_due_date(emu, emulator_url: str, realm: str, qbo_id: str, token: int) -> None:
    """A bookkeeper (another OAuth client) changes one invoice in QBO: a webhook's worth of change."""
    bookkeeper = (await emu.tokens(realm))["access_token"]
    async with httpx.AsyncClient(base_url=f"{emulator_url}/v3/company/{realm}",
                                 headers={"Authorization": f"Bearer {bookkeeper}", "Accept": "application/json"}) as http:
        resp = await http.post("/invoice", params={"minorversion": "75"}, json={
            "Id": qbo_id, "SyncToken": str(token), "sparse": True, "DueDate": "2031-01-31"})
        assert resp.status_code == 200, resp.text


async def _last_cycle_activities(handle: WorkflowHandle, since: int) -> list[str]:
    """The activities the last cycle after event `since` scheduled: from its fetch_changes to the sleep
    after it (asserted there, so `eventually` waits for the history to hold the whole cycle)."""
    names: list[str] = []
    for event in (await handle.fetch_history()).events[since:]:
        if (name := activity_type(event)) is not None:  # the fetch is a local activity: its marker
            names = [name] if name == "fetch_changes" else names + [name]
        elif event.HasField("timer_started_event_attributes"):
            names.append("(sleep)")
    assert names[:1] == ["fetch_changes"] and "(sleep)" in names, f"no whole cycle since event {since}: {names}"
    return names[:names.index("(sleep)")]


def _nonzero(counts: dict[str, int]) -> dict[str, int]:
    return {k: v for k, v in counts.items() if v}


def _added(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """What one cycle added to the counts `status` shows (summed over every cycle)."""
    return _nonzero({k: after.get(k, 0) - before.get(k, 0) for k in after})


async def _sync_and_wait(client, handle: WorkflowHandle, pid: str):
    """(status before, status after, history length before) around one sync_now cycle."""
    before, seen = await probes.status(handle), len((await handle.fetch_history()).events)
    await partners.sync_now(client, pid)
    after = await eventually(lambda: probes.synced_after(handle, before.last_sync_at), timeout=60,
                             what="the cycle after sync_now")
    return before, after, seen


async def _last_run_counts(db_pool, pid: str) -> dict[str, int]:
    row = await db_pool.fetchrow("SELECT status, counts FROM sync_runs WHERE partner_id = $1 ORDER BY id DESC LIMIT 1",
                                 pid)
    assert row["status"] == "succeeded"
    return dict(row["counts"])



async def _onboarded_partner(client, pid: str, realm: str, task_queue: str):  # noqa: ANN001, ANN202
    """The partner's workflow started (webhooks only: an hour's interval), onboarded and through a cycle."""
    await partners.start_or_reconnect(client, pid, realm, sync_interval_seconds=3600, task_queue=task_queue)
    handle = partners.handle_for(client, pid)
    await eventually(lambda: _onboarded(handle), timeout=120, what="onboarding and the first cycle")
    return handle


async def test_a_webhook_sized_change_is_one_activity(temporal_env, task_queue, db_pool, api, connect, emu,
                                                      emulator_url) -> None:
    company = await connect(customers=3, invoices=6, payments=0, random_seed=31)
    pid, realm = company.partner_id, company.realm_id
    client = temporal_env.client
    async with build_worker(client, db_pool, api, task_queue=task_queue):
        handle = await _onboarded_partner(client, pid, realm, task_queue)
        await _sync_and_wait(client, handle, pid)  # settles what onboarding's last writes left for CDC
        row = await db_pool.fetchrow("SELECT qbo_id, qbo_sync_token FROM invoices WHERE partner_id = $1 "
                                     "AND status = 'open' ORDER BY qbo_id LIMIT 1", pid)
        await _edit_due_date(emu, emulator_url, realm, row["qbo_id"], row["qbo_sync_token"])

        before, after, seen = await _sync_and_wait(client, handle, pid)
        due = await db_pool.fetchval("SELECT due_date::text FROM invoices WHERE partner_id = $1 AND qbo_id = $2",
                                     pid, row["qbo_id"])
        assert due == "2031-01-31"
        assert await eventually(lambda: _last_cycle_activities(handle, seen), what="the cycle in history") == ["fetch_changes"]
        recorded = await _last_run_counts(db_pool, pid)
        assert recorded == {"staged": 1, "updated": 1}
        assert _added(before.counts, after.counts) == recorded
        await partners.disconnect(client, pid)


async def test_a_cycle_with_payments_still_posts_them(temporal_env, task_queue, db_pool, api, connect, emu,
                                                      emulator_url) -> None:
    company = await connect(customers=3, invoices=6, payments=0, random_seed=32)
    pid, realm = company.partner_id, company.realm_id
    client = temporal_env.client
    async with build_worker(client, db_pool, api, task_queue=task_queue):
        handle = await _onboarded_partner(client, pid, realm, task_queue)
        await _sync_and_wait(client, handle, pid)
        invoices = await db_pool.fetch("SELECT id, qbo_id, qbo_sync_token FROM invoices WHERE partner_id = $1 "
                                       "AND status = 'open' AND balance > 10 ORDER BY qbo_id LIMIT 2", pid)
        paid, edited = invoices
        pay_id = f"pay-{uuid.uuid4().hex[:10]}"
        await db_pool.execute("INSERT INTO payments (id, partner_id, invoice_id, amount, currency, status)"
                              " VALUES ($1, $2, $3, 5.00, 'USD', 'pending')", pay_id, pid, paid["id"])
        await _edit_due_date(emu, emulator_url, realm, edited["qbo_id"], edited["qbo_sync_token"])

        before, after, seen = await _sync_and_wait(client, handle, pid)
        assert await db_pool.fetchval("SELECT status FROM payments WHERE id = $1", pay_id) == "posted"
        activities = await eventually(lambda: _last_cycle_activities(handle, seen), what="the cycle in history")
        assert activities == ["fetch_changes", "post_payments", "finish_sync_run"]
        recorded = await _last_run_counts(db_pool, pid)
        assert recorded == {"staged": 1, "updated": 1, "payments_posted": 1, "payments_needing_attention": 0}
        assert _added(before.counts, after.counts) == _nonzero(recorded)
        await partners.disconnect(client, pid)
