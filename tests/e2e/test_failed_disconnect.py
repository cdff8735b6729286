"""A disconnect whose revoke fails for good, with the real worker (activities, PostgreSQL, the emulator) on
the time-skipping server: Intuit's revoke endpoint answers 503 until the activity's 30 minutes are spent
(policies.DB_ONLY). The partner stays connected, the failure is its last_error, and the loop sleeps on to
the deadline of the sleep the disconnect interrupted: no cycle at the failure (patch
`failed-disconnect-keeps-waiting`), the next one on time."""

from __future__ import annotations

from datetime import timedelta

from temporalio.api.enums.v1 import EventType

from bench.common import activity_type
from starter import partners
from tests.helpers import eventually
from tests.workflows import probes
from worker import build_worker
from workflows.models import DisconnectRequest, IntegrationState
from workflows.partner import PartnerIntegrationWorkflow

INTERVAL = timedelta(hours=1)


def _scheduled(history, name: str) -> list:
    """The events that start (or, for a local activity such as a CDC fetch, record) `name`."""
    return [e for e in history.events if activity_type(e) == name]


async def _onboarded(client, pid: str, realm: str, task_queue: str):  # noqa: ANN001, ANN202
    """The partner's workflow started at the hourly interval, onboarded and through its first cycle."""
    await partners.start_or_reconnect(client, pid, realm, sync_interval_seconds=int(INTERVAL.total_seconds()),
                                      task_queue=task_queue)
    handle = partners.handle_for(client, pid)
    await eventually(lambda: probes.synced(handle), timeout=120, what="onboarding and the first cycle")
    return handle


async def test_a_revoke_failing_for_good_leaves_the_loop_asleep_until_its_timer(ts_env, task_queue, db_pool, api,
                                                                                 connect, emu) -> None:
    company = await connect(customers=2, invoices=2, random_seed=5)
    pid, realm, client = company.partner_id, company.realm_id, ts_env.client
    async with build_worker(client, db_pool, api, task_queue=task_queue):
        handle = await _onboarded(client, pid, realm, task_queue)
        history = await handle.fetch_history()
        asleep = [e for e in history.events if e.event_type is EventType.EVENT_TYPE_TIMER_STARTED]
        assert len(asleep) == 1 and len(_scheduled(history, "fetch_changes")) == 1
        deadline = asleep[0].event_time.ToDatetime() + INTERVAL

        await emu.config(realm, oauth_fault_status=503)  # Intuit's revoke endpoint down
        await handle.signal(PartnerIntegrationWorkflow.request_disconnect, DisconnectRequest(reason="partner asked"))
        await ts_env.sleep(timedelta(minutes=40))  # the activity's 30 minutes of retries, and 10 more
        done = await eventually(lambda: probes.commands_after_failed_revoke(handle), timeout=60,
                                what="the failed revoke acted on")
        assert "fetch_changes" not in done and done[-1].startswith("timer "), f"asleep again, no cycle: {done}"
        assert len(done) == 2 and "failed-disconnect-keeps-waiting" in done[0], done
        status = await probes.status(handle)
        assert status.state is IntegrationState.ACTIVE and "disconnect: " in (status.last_error or "")
        history = await handle.fetch_history()
        assert len(_scheduled(history, "revoke_connection")) == 1
        assert len(_scheduled(history, "fetch_changes")) == 1, "no cycle at the failure"

        await emu.config(realm, oauth_fault_status=0)
        await ts_env.sleep(timedelta(minutes=25))  # past the deadline of the interrupted sleep
        await eventually(lambda: probes.synced_after(handle, status.last_sync_at), timeout=60,
                         what="the scheduled cycle")
        fetches = _scheduled(await handle.fetch_history(), "fetch_changes")
        assert len(fetches) == 2
        # The workflow's deadline is its clock at the workflow task that started the sleep, a few ms before
        # the TimerStarted event's time: "on time" is within a minute either way (a new interval is 30 min).
        late = fetches[1].event_time.ToDatetime() - deadline
        assert abs(late) < timedelta(minutes=1), f"the next cycle {late} after the original deadline"
        assert (await probes.status(handle)).last_error is None  # a good cycle clears it, as ever
        await partners.disconnect(client, pid)


async def test_a_revoke_failing_for_good_in_needs_reconnect_keeps_waiting_for_the_reconnect(
        ts_env, task_queue, db_pool, api, connect, emu) -> None:
    """QBO refused the tokens (the grant revoked at Intuit): needs_reconnect. A disconnect whose revoke fails
    for good leaves it there, waiting for `reconnected`, with no activity for a day: before the patch it
    resumed (state active) and ran a cycle with the dead tokens."""
    company = await connect(customers=2, invoices=2, random_seed=6)
    pid, realm, client = company.partner_id, company.realm_id, ts_env.client
    async with build_worker(client, db_pool, api, task_queue=task_queue):
        handle = await _onboarded(client, pid, realm, task_queue)
        await emu.revoke(realm)
        await partners.sync_now(client, pid)
        await eventually(lambda: probes.state_is(handle, IntegrationState.NEEDS_RECONNECT), timeout=60,
                         what="needs_reconnect")
        await eventually(lambda: probes.waiting(handle), timeout=60, what="waiting for the reconnect")

        await emu.config(realm, oauth_fault_status=503)
        await handle.signal(PartnerIntegrationWorkflow.request_disconnect, DisconnectRequest(reason="partner asked"))
        await ts_env.sleep(timedelta(minutes=40))
        done = await eventually(lambda: probes.commands_after_failed_revoke(handle), timeout=60,
                                what="the failed revoke acted on")
        assert len(done) == 1 and "failed-disconnect-keeps-waiting" in done[0], f"waiting, nothing else: {done}"
        events = len((await handle.fetch_history()).events)
        await ts_env.sleep(timedelta(days=1))
        assert len((await handle.fetch_history()).events) == events, "a day without an activity or a timer"
        status = await probes.status(handle)
        assert status.state is IntegrationState.NEEDS_RECONNECT and "disconnect: " in (status.last_error or "")
        state = await db_pool.fetchval("SELECT state FROM qbo_connections WHERE partner_id = $1", pid)
        assert state == "needs_reconnect"

        await emu.config(realm, oauth_fault_status=0)
        final = await partners.disconnect(client, pid)  # a dead grant counts as revoked (qbo/tokens.py)
        assert final.state is IntegrationState.DISCONNECTED
